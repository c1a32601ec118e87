"""MobileNet (v1) with AW-convolution and SE/CBAM attention.

One generic builder, `MobileNetV1`, and one separable block parameterized by
the pointwise convolution class (`Conv2D` or `AWConv2D`) and an attention
factory (None, SE or CBAM). The named builders (`MobileNet`, `AWMobileNet`,
..., `AWCBAMMobileNet`) are declared as data in `MODELS` (name -> family,
variant, `MobileNetV1` arguments, the paper's Table 1 rows); each one is a
written function calling `MobileNetV1` with its row of the table, and the table
is registered in `keras_aw.registry`.

Builder arguments (every named builder; keras.applications' signature):
    input_shape: optional 3-tuple with 3 channels, height and width >= 32;
        defaults to (224, 224, 3) with the top or with AW-convolutions (a static
        size is needed), else (None, None, 3).
    alpha: positive width multiplier (1.0 is the paper's network).
    depth_multiplier: positive int, the depthwise channel multiplier.
    dropout: dropout rate before the classifier, in [0, 1).
    include_top: whether to add the classifier.
    weights: None (random initialization) or the path of a weights file to load.
        "imagenet" raises a ValueError saying how to warm-start instead: no
        ImageNet weights exist for these networks.
    input_tensor: optional Keras tensor (output of `keras.Input`) to use as the
        image input.
    pooling: None, "avg" or "max", the pooling of the last feature map when
        ``include_top=False``.
    classes: number of classes.
    classifier_activation: activation of the classifier (None for logits).
    name: name of the model; None gives keras.applications' pattern, e.g.
        ``"aw_se_mobilenet_1.00_224"``.

Layout (docs/design.md): keras.applications' MobileNet (``conv1``, then 13 blocks
``conv_dw_i`` / ``conv_pw_i``, each convolution bias-free with BatchNorm and
ReLU6). In AW variants every pointwise (1x1) convolution is an `AWConv2D`;
depthwise convolutions stay plain. SE/CBAM modules follow the depthwise and
the pointwise convolution of every block, after its ReLU6 (layers
``conv_dw_i_se`` and ``conv_pw_i_se``, or ``_cbam``); this placement gives the
paper's +0.84 M parameters for SE-MobileNet.

Initialization is keras.applications.MobileNet's (Keras defaults: Glorot
uniform kernels, BatchNorm gamma 1 / beta 0, zero classifier bias), and so are
the BatchNorm settings (epsilon 1e-3, momentum 0.99).

Reference:
    Howard et al., MobileNets: Efficient Convolutional Neural Networks for
    Mobile Vision Applications, 2017.
    Zhu et al., An Attention Module for Convolutional Neural Networks,
    ICANN 2021.
"""

import numbers

import keras
from keras import layers

import keras_aw.applications.builder_utils as builder_utils
import keras_aw.applications.imagenet_utils as imagenet_utils
from keras_aw._validation import check_positive_int, standardize_data_format
from keras_aw.layers import AWConv2D
from keras_aw.registry import register_models, table1
from keras_aw.vocabulary import variant_arguments

# (pointwise filters at alpha=1, stride of the depthwise convolution) per block.
BLOCKS = (
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1),
)


def separable_block(x, pointwise_filters, alpha, depth_multiplier, stride, block_id,
                    conv_cls, attention, bn_axis, data_format, dtype):
    """One separable block: depthwise 3x3 (stride), BN, ReLU6, [attention], pointwise 1x1, BN,
    ReLU6, [attention].

    Args:
        x: input tensor.
        pointwise_filters: output channels at ``alpha = 1``.
        alpha: width multiplier.
        depth_multiplier: depthwise channel multiplier.
        stride: stride of the depthwise convolution (1 or 2).
        block_id: int, names the layers ``conv_dw_{id}``, ``conv_pw_{id}``, ...
        conv_cls: class of the pointwise convolution, `Conv2D` or `AWConv2D`.
        attention: None or a factory ``name -> layer`` (SE or CBAM).
        bn_axis, data_format, dtype: passed to every layer.

    Returns:
        Output tensor.
    """
    common = dict(data_format=data_format, dtype=dtype)
    if stride == 1:
        padding = "same"
    else:
        x = layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"conv_pad_{block_id}", **common)(x)
        padding = "valid"
    x = layers.DepthwiseConv2D(3, padding=padding, depth_multiplier=depth_multiplier,
                               strides=stride, use_bias=False, name=f"conv_dw_{block_id}",
                               **common)(x)
    x = layers.BatchNormalization(axis=bn_axis, name=f"conv_dw_{block_id}_bn", dtype=dtype)(x)
    x = layers.ReLU(6.0, name=f"conv_dw_{block_id}_relu", dtype=dtype)(x)
    if attention is not None:
        x = attention(f"conv_dw_{block_id}")(x)
    x = conv_cls(int(pointwise_filters * alpha), 1, padding="same", use_bias=False,
                 name=f"conv_pw_{block_id}", **common)(x)
    x = layers.BatchNormalization(axis=bn_axis, name=f"conv_pw_{block_id}_bn", dtype=dtype)(x)
    x = layers.ReLU(6.0, name=f"conv_pw_{block_id}_relu", dtype=dtype)(x)
    if attention is not None:
        x = attention(f"conv_pw_{block_id}")(x)
    return x


def MobileNetV1(
    input_shape=None,
    alpha=1.0,
    depth_multiplier=1,
    dropout=1e-3,
    include_top=True,
    weights=None,
    input_tensor=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name=None,
    attention=None,
    aw=False,
    cbam="full",
    blocks=BLOCKS,
    data_format=None,
    dtype=None,
):
    """Builds a MobileNet v1, optionally with AW / SE / CBAM attention.

    Args:
        input_shape: optional 3-tuple, 3 channels; height and width at least
            32. Defaults to (224, 224, 3) with the top or with AW
            convolutions, else (None, None, 3).
        alpha: positive width multiplier (1.0 is the paper's network).
        depth_multiplier: positive int, the depthwise channel multiplier.
        dropout: dropout rate before the classifier, in [0, 1).
        include_top: whether to add the classifier (average pool, dropout,
            1x1 conv ``conv_preds``, ``predictions`` activation).
        weights: None (random initialization) or the path of a weights file
            to load. "imagenet" raises a ValueError: no ImageNet weights exist
            for these networks.
        input_tensor: optional Keras tensor (output of `keras.Input`) or
            backend tensor to use as the image input.
        pooling: None, "avg" or "max": pooling of the last feature map when
            ``include_top=False``.
        classes: number of classes.
        classifier_activation: activation of the classifier (None for logits).
        name: name of the model; None gives keras.applications' pattern,
            e.g. ``"aw_se_mobilenet_1.00_224"``.
        attention: None, "se" or "cbam": the module after the depthwise and
            the pointwise convolution of every block.
        aw: bool; True makes every pointwise convolution an `AWConv2D`.
        cbam: "full", "maxpool" or "spatial" (used when ``attention="cbam"``).
        blocks: sequence of ``(pointwise_filters, stride)`` pairs, one per
            separable block (at ``alpha = 1``); defaults to MobileNet v1's 13.
        data_format: "channels_last", "channels_first" or None (Keras config).
        dtype: dtype or `keras.DTypePolicy` of every layer; None uses the
            global policy.

    Returns:
        A `keras.Model`.

    Example:

    >>> from keras_aw.applications import mobilenet
    >>> model = mobilenet.MobileNetV1((32, 32, 3), alpha=0.25, attention="cbam",
    ...                               aw=True, cbam="spatial", classes=10)
    >>> model.get_layer("conv_pw_5").__class__.__name__
    'AWConv2D'
    >>> model.output_shape
    (None, 10)
    """
    builder_utils.validate_common_args(weights, pooling, classes, attention, cbam)
    builder_utils.check_positive_number("alpha", alpha)
    check_positive_int("depth_multiplier", depth_multiplier)
    if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) \
            or not 0 <= dropout < 1:
        raise ValueError(f"`dropout` must be a number in [0, 1); received dropout={dropout!r}")
    if not isinstance(aw, bool):
        raise TypeError(f"`aw` must be a bool; received aw={aw!r}")
    if isinstance(blocks, (str, bytes)) or not hasattr(blocks, "__len__") or not blocks or any(
        not isinstance(b, (tuple, list)) or len(b) != 2 or b[1] not in (1, 2) for b in blocks
    ):
        raise ValueError(
            "`blocks` must be a non-empty sequence of (pointwise_filters, stride) pairs "
            f"with stride 1 or 2; received blocks={blocks!r}"
        )
    for filters, _ in blocks:
        check_positive_int("blocks", filters)
    data_format = standardize_data_format(data_format)
    bn_axis = -1 if data_format == "channels_last" else 1
    img_input, inputs = builder_utils.model_input(
        input_tensor, input_shape, data_format, require_flatten=include_top, static=aw,
    )
    common = dict(data_format=data_format, dtype=dtype)

    x = layers.Conv2D(int(32 * alpha), 3, padding="same", strides=2, use_bias=False,
                      name="conv1", **common)(img_input)
    x = layers.BatchNormalization(axis=bn_axis, name="conv1_bn", dtype=dtype)(x)
    x = layers.ReLU(6.0, name="conv1_relu", dtype=dtype)(x)
    conv_cls = AWConv2D if aw else layers.Conv2D
    attention_layer = builder_utils.attention_factory(attention, cbam, data_format, dtype)
    for block_id, (filters, stride) in enumerate(blocks, start=1):
        x = separable_block(x, filters, alpha, depth_multiplier, stride, block_id, conv_cls,
                            attention_layer, bn_axis, **common)

    if include_top:
        x = layers.GlobalAveragePooling2D(keepdims=True, name="global_average_pooling2d",
                                          **common)(x)
        x = layers.Dropout(dropout, name="dropout", dtype=dtype)(x)
        x = layers.Conv2D(classes, 1, padding="same", name="conv_preds", **common)(x)
        x = layers.Reshape((classes,), name="reshape_2", dtype=dtype)(x)
        x = layers.Activation(classifier_activation, name="predictions", dtype=dtype)(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D(name="global_average_pooling2d", **common)(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D(name="global_max_pooling2d", **common)(x)

    if name is None:
        rows = tuple(img_input.shape)[2 if data_format == "channels_first" else 1]
        prefix = ("aw_" if aw else "") + (f"{attention}_" if attention else "")
        name = f"{prefix}mobilenet_{alpha:0.2f}_{rows}"
    model = keras.Model(inputs, x, name=name)
    return builder_utils.finish(model, weights)


# --- the named MobileNets: a table of data, one written function per name --------

#: The named MobileNets: name -> (family, variant, `MobileNetV1` arguments besides the
#: variant's, the paper's Table 1 rows).
MODELS = {
    "MobileNet": ("mobilenet", "plain", {}, [table1("MobileNet", 31.39, 11.51, 0.569, 4.23)]),
    "AWMobileNet": ("mobilenet", "aw", {}, []),
    "SEMobileNet": ("mobilenet", "se", {}, [table1("SE-MobileNet", 29.97, 10.63, 0.581, 5.07)]),
    "AWSEMobileNet": ("mobilenet", "aw-se", {},
                      [table1("AW-SE-MobileNet", 29.41, 10.59, 0.623, 5.52)]),
    "CBAMMobileNet": ("mobilenet", "cbam", {},
                      [table1("CBAM-MobileNet", 29.01, 9.99, 0.611, 5.07, cbam="full")]),
    "AWCBAMMobileNet": ("mobilenet", "aw-cbam", {}, [
        table1("AW-CBAM-MobileNet (Spatial)", 28.82, 9.98, 0.652, 5.52, cbam="spatial")]),
}


def _build(name, arguments):
    """Builds the named MobileNet of `MODELS` with the caller's arguments (its ``locals()``)."""
    _, variant, fixed, _ = MODELS[name]
    return MobileNetV1(**fixed, **variant_arguments(variant), **arguments)


def MobileNet(input_shape=None, alpha=1.0, depth_multiplier=1, dropout=1e-3, include_top=True,
              weights=None, input_tensor=None, pooling=None, classes=1000,
              classifier_activation="softmax", name=None):
    """MobileNet: the plain MobileNet v1, the baseline of the variants.

    The paper's Table 1 row "MobileNet". Same signature as `keras.applications.MobileNet`,
    except that `weights` defaults to None (no ImageNet weights exist).

    Args:
        input_shape, alpha, depth_multiplier, dropout, include_top, weights, input_tensor,
            pooling, classes, classifier_activation, name: keras.applications' arguments, see
            "Builder arguments" in the module docstring.

    Returns:
        A `keras.Model`.

    Example:

    >>> from keras_aw import applications
    >>> model = applications.MobileNet((32, 32, 3), alpha=0.25, classes=10)
    >>> model.output_shape
    (None, 10)
    """
    return _build("MobileNet", locals())


def AWMobileNet(input_shape=None, alpha=1.0, depth_multiplier=1, dropout=1e-3,
                include_top=True, weights=None, input_tensor=None, pooling=None, classes=1000,
                classifier_activation="softmax", name=None):
    """AW-MobileNet: MobileNet v1 with AW pointwise convolutions.

    The paper reports no row for it. Same signature as `keras.applications.MobileNet`,
    except that `weights` defaults to None (no ImageNet weights exist).

    Args:
        input_shape, alpha, depth_multiplier, dropout, include_top, weights, input_tensor,
            pooling, classes, classifier_activation, name: keras.applications' arguments, see
            "Builder arguments" in the module docstring.

    Returns:
        A `keras.Model`.

    Example:

    >>> from keras_aw import applications
    >>> model = applications.AWMobileNet((32, 32, 3), alpha=0.25, classes=10)
    >>> model.output_shape
    (None, 10)
    """
    return _build("AWMobileNet", locals())


def SEMobileNet(input_shape=None, alpha=1.0, depth_multiplier=1, dropout=1e-3,
                include_top=True, weights=None, input_tensor=None, pooling=None, classes=1000,
                classifier_activation="softmax", name=None):
    """SE-MobileNet: MobileNet v1 with Squeeze-and-Excitation in every block.

    The paper's Table 1 row "SE-MobileNet". Same signature as
    `keras.applications.MobileNet`, except that `weights` defaults to None (no ImageNet
    weights exist).

    Args:
        input_shape, alpha, depth_multiplier, dropout, include_top, weights, input_tensor,
            pooling, classes, classifier_activation, name: keras.applications' arguments, see
            "Builder arguments" in the module docstring.

    Returns:
        A `keras.Model`.

    Example:

    >>> from keras_aw import applications
    >>> model = applications.SEMobileNet((32, 32, 3), alpha=0.25, classes=10)
    >>> model.output_shape
    (None, 10)
    """
    return _build("SEMobileNet", locals())


def AWSEMobileNet(input_shape=None, alpha=1.0, depth_multiplier=1, dropout=1e-3,
                  include_top=True, weights=None, input_tensor=None, pooling=None,
                  classes=1000, classifier_activation="softmax", name=None):
    """AW-SE-MobileNet: MobileNet v1 with AW pointwise convolutions and SE in every block.

    The paper's Table 1 row "AW-SE-MobileNet". Same signature as
    `keras.applications.MobileNet`, except that `weights` defaults to None (no ImageNet
    weights exist).

    Args:
        input_shape, alpha, depth_multiplier, dropout, include_top, weights, input_tensor,
            pooling, classes, classifier_activation, name: keras.applications' arguments, see
            "Builder arguments" in the module docstring.

    Returns:
        A `keras.Model`.

    Example:

    >>> from keras_aw import applications
    >>> model = applications.AWSEMobileNet((32, 32, 3), alpha=0.25, classes=10)
    >>> model.output_shape
    (None, 10)
    """
    return _build("AWSEMobileNet", locals())


def CBAMMobileNet(input_shape=None, alpha=1.0, depth_multiplier=1, dropout=1e-3,
                  include_top=True, weights=None, input_tensor=None, pooling=None,
                  classes=1000, classifier_activation="softmax", name=None, *, cbam="full"):
    """CBAM-MobileNet: MobileNet v1 with CBAM in every block.

    The paper's Table 1 row "CBAM-MobileNet" (``cbam="full"``). Same signature as
    `keras.applications.MobileNet`, except that `weights` defaults to None (no ImageNet
    weights exist).

    Args:
        input_shape, alpha, depth_multiplier, dropout, include_top, weights, input_tensor,
            pooling, classes, classifier_activation, name: keras.applications' arguments, see
            "Builder arguments" in the module docstring.
        cbam: the CBAM form, "full", "maxpool" or "spatial" (keyword-only).

    Returns:
        A `keras.Model`.

    Example:

    >>> from keras_aw import applications
    >>> model = applications.CBAMMobileNet((32, 32, 3), alpha=0.25, classes=10, cbam="spatial")
    >>> model.output_shape
    (None, 10)
    """
    return _build("CBAMMobileNet", locals())


def AWCBAMMobileNet(input_shape=None, alpha=1.0, depth_multiplier=1, dropout=1e-3,
                    include_top=True, weights=None, input_tensor=None, pooling=None,
                    classes=1000, classifier_activation="softmax", name=None, *, cbam="full"):
    """AW-CBAM-MobileNet: MobileNet v1 with AW pointwise convolutions and CBAM.

    The paper's Table 1 row "AW-CBAM-MobileNet (Spatial)" (``cbam="spatial"``). Same
    signature as `keras.applications.MobileNet`, except that `weights` defaults to None (no
    ImageNet weights exist).

    Args:
        input_shape, alpha, depth_multiplier, dropout, include_top, weights, input_tensor,
            pooling, classes, classifier_activation, name: keras.applications' arguments, see
            "Builder arguments" in the module docstring.
        cbam: the CBAM form, "full", "maxpool" or "spatial" (keyword-only).

    Returns:
        A `keras.Model`.

    Example:

    >>> from keras_aw import applications
    >>> model = applications.AWCBAMMobileNet((32, 32, 3), alpha=0.25, classes=10, cbam="spatial")
    >>> model.output_shape
    (None, 10)
    """
    return _build("AWCBAMMobileNet", locals())


register_models(MODELS, MobileNetV1, [
    MobileNet, AWMobileNet, SEMobileNet,
    AWSEMobileNet, CBAMMobileNet, AWCBAMMobileNet,
])


def preprocess_input(x, data_format=None):
    """Preprocesses RGB images in [0, 255] for MobileNet ("tf" mode: scaled to [-1, 1]).

    Exactly `keras.applications.mobilenet.preprocess_input`.

    Args:
        x: float NumPy array or tensor, 3-D or 4-D.
        data_format: "channels_last", "channels_first" or None (Keras config).

    Returns:
        The preprocessed array or tensor.
    """
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


decode_predictions = imagenet_utils.decode_predictions
