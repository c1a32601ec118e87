"""ResNet-50/101/152 (v1) with AW-convolution and SE/CBAM attention.

One generic builder, `ResNet`, and one bottleneck block parameterized by the
3x3 convolution class (`Conv2D` or `AWConv2D`) and an attention factory
(None, SE or CBAM). The named builders (`ResNet50`, `AWSEResNet50`, ...,
`AWCBAMResNet152`) are declared as data in `MODELS` (name -> family, variant,
`ResNet` arguments, the paper's Table 1 rows); each one is a written function
calling `ResNet` with its row of the table, and the table is registered in
`keras_aw.registry`.

Builder arguments (every named builder; keras.applications' signature):
    include_top: whether to add the global-average-pool + Dense classifier.
    weights: None (random initialization) or the path of a weights file to load
        (`.weights.h5` or `.keras`). "imagenet" raises a ValueError saying how
        to warm-start instead: no ImageNet weights exist for these networks.
    input_tensor: optional Keras tensor (output of `keras.Input`) to use as the
        image input.
    input_shape: optional 3-tuple with 3 channels, height and width >= 32;
        defaults to (224, 224, 3) with the top or with AW-convolutions (a static
        size is needed), else (None, None, 3).
    pooling: None, "avg" or "max", the pooling of the last feature map when
        ``include_top=False``.
    classes: number of classes of the classifier.
    classifier_activation: activation of the classifier (None for logits).
    name: name of the model.

Layout (docs/design.md): the original ResNet v1 of keras.applications and the SENet
reference, with the stride on the first 1x1 convolution of a downsampling
block (so every AWConv2D runs at stride 1), convolutions without bias, each
followed by BatchNormalization. In AW variants the 3x3 convolution of every
bottleneck is an `AWConv2D`; SE/CBAM modules sit on the residual branch after
the last BatchNormalization and before the addition.

Initialization follows torchvision's ResNet: convolution kernels (AW kernels
included) are He-normal with fan-out (``VarianceScaling(2.0, "fan_out",
"untruncated_normal")``), BatchNorm gammas 1 and betas 0; the classifier is
Keras's default Dense initialization (Glorot uniform, zero bias), as in
keras.applications. BatchNorm epsilon is keras.applications' 1.001e-5.

Reference:
    He et al., Deep Residual Learning for Image Recognition, CVPR 2016.
    Zhu et al., An Attention Module for Convolutional Neural Networks,
    ICANN 2021.
"""

import keras
from keras import layers

import keras_aw.applications.builder_utils as builder_utils
import keras_aw.applications.imagenet_utils as imagenet_utils
from keras_aw._validation import check_positive_int, standardize_data_format
from keras_aw.layers import AWConv2D
from keras_aw.registry import register_models, table1
from keras_aw.vocabulary import variant_arguments

STACKS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}
BN_EPSILON = 1.001e-5


def conv_initializer():
    """torchvision's ResNet convolution init: He normal, fan-out (a fresh instance per layer)."""
    return keras.initializers.VarianceScaling(2.0, "fan_out", "untruncated_normal")


def bottleneck(x, filters, stride, conv_shortcut, name, conv_cls, attention,
               bn_axis, data_format, dtype):
    """A ResNet v1 bottleneck: 1x1 (stride) -> 3x3 -> 1x1 (x4), attention, add, ReLU.

    Args:
        x: input tensor.
        filters: width of the bottleneck; the block outputs ``4 * filters``.
        stride: stride of the first 1x1 convolution and of the projection.
        conv_shortcut: True for a 1x1 projection shortcut, False for identity.
        name: block name prefix, e.g. ``"conv3_block2"``.
        conv_cls: class of the 3x3 convolution, `Conv2D` or `AWConv2D`.
        attention: None or a factory ``name -> layer`` (SE or CBAM).
        bn_axis, data_format, dtype: passed to every layer.

    Returns:
        Output tensor.
    """
    common = dict(data_format=data_format, dtype=dtype)

    def batch_norm(suffix):
        return layers.BatchNormalization(axis=bn_axis, epsilon=BN_EPSILON,
                                         name=name + suffix, dtype=dtype)

    if conv_shortcut:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, use_bias=False,
                                 kernel_initializer=conv_initializer(),
                                 name=name + "_0_conv", **common)(x)
        shortcut = batch_norm("_0_bn")(shortcut)
    else:
        shortcut = x
    x = layers.Conv2D(filters, 1, strides=stride, use_bias=False,
                      kernel_initializer=conv_initializer(), name=name + "_1_conv",
                      **common)(x)
    x = batch_norm("_1_bn")(x)
    x = layers.Activation("relu", name=name + "_1_relu", dtype=dtype)(x)
    x = conv_cls(filters, 3, padding="same", use_bias=False,
                 kernel_initializer=conv_initializer(), name=name + "_2_conv", **common)(x)
    x = batch_norm("_2_bn")(x)
    x = layers.Activation("relu", name=name + "_2_relu", dtype=dtype)(x)
    x = layers.Conv2D(4 * filters, 1, use_bias=False, kernel_initializer=conv_initializer(),
                      name=name + "_3_conv", **common)(x)
    x = batch_norm("_3_bn")(x)
    if attention is not None:
        x = attention(name)(x)
    x = layers.Add(name=name + "_add", dtype=dtype)([shortcut, x])
    return layers.Activation("relu", name=name + "_out", dtype=dtype)(x)


def ResNet(
    stack_blocks,
    attention=None,
    aw=False,
    cbam="full",
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="resnet",
    data_format=None,
    dtype=None,
):
    """Builds a ResNet v1 with bottleneck blocks, optionally with AW / SE / CBAM attention.

    Args:
        stack_blocks: sequence of positive ints, the number of bottleneck blocks
            per stage (e.g. ``(3, 4, 6, 3)`` for ResNet-50). Stage ``i`` has
            width ``64 * 2**i`` (output ``4x`` that) and is named
            ``conv{i + 2}``.
        attention: None, "se" or "cbam": the activation attention module put
            on the residual branch of every block.
        aw: bool; True makes the 3x3 convolution of every block an `AWConv2D`.
        cbam: "full", "maxpool" or "spatial" (used when ``attention="cbam"``),
            the CBAM variants of the paper's Table 1.
        include_top: whether to add the global-average-pool + Dense classifier.
        weights: None (random initialization) or the path of a weights file
            to load (`.weights.h5` or `.keras`). "imagenet" raises a
            ValueError: no ImageNet weights exist for these networks.
        input_tensor: optional Keras tensor (output of `keras.Input`) or
            backend tensor to use as the image input.
        input_shape: optional 3-tuple, 3 channels; height and width at least
            32. Defaults to (224, 224, 3) with the top or with AW
            convolutions, else (None, None, 3).
        pooling: None, "avg" or "max": pooling of the last feature map when
            ``include_top=False``.
        classes: number of classes of the classifier.
        classifier_activation: activation of the classifier ("softmax",
            None for logits, ...).
        name: name of the model.
        data_format: "channels_last", "channels_first" or None (Keras config).
        dtype: dtype or `keras.DTypePolicy` of every layer; None uses the
            global policy.

    Returns:
        A `keras.Model`.

    Example:

    >>> from keras_aw.applications import resnet
    >>> model = resnet.ResNet((1, 1, 1, 1), attention="se", aw=True,
    ...                       input_shape=(32, 32, 3), classes=10)
    >>> model.get_layer("conv3_block1_2_conv").__class__.__name__
    'AWConv2D'
    >>> model.output_shape
    (None, 10)
    """
    if isinstance(stack_blocks, (str, bytes)) or not hasattr(stack_blocks, "__len__") \
            or len(stack_blocks) == 0:
        raise ValueError(
            "`stack_blocks` must be a non-empty sequence of positive ints; "
            f"received stack_blocks={stack_blocks!r}"
        )
    for blocks in stack_blocks:
        check_positive_int("stack_blocks", blocks)
    builder_utils.validate_common_args(weights, pooling, classes, attention, cbam)
    if not isinstance(aw, bool):
        raise TypeError(f"`aw` must be a bool; received aw={aw!r}")
    data_format = standardize_data_format(data_format)
    bn_axis = -1 if data_format == "channels_last" else 1
    img_input, inputs = builder_utils.model_input(
        input_tensor, input_shape, data_format, require_flatten=include_top, static=aw,
        dtype=None,
    )
    common = dict(data_format=data_format, dtype=dtype)

    x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)), name="conv1_pad", **common)(img_input)
    x = layers.Conv2D(64, 7, strides=2, use_bias=False, kernel_initializer=conv_initializer(),
                      name="conv1_conv", **common)(x)
    x = layers.BatchNormalization(axis=bn_axis, epsilon=BN_EPSILON, name="conv1_bn",
                                  dtype=dtype)(x)
    x = layers.Activation("relu", name="conv1_relu", dtype=dtype)(x)
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name="pool1_pad", **common)(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool", **common)(x)

    conv_cls = AWConv2D if aw else layers.Conv2D
    attention_layer = builder_utils.attention_factory(attention, cbam, data_format, dtype)
    for stage, blocks in enumerate(stack_blocks):
        for block in range(blocks):
            x = bottleneck(
                x,
                filters=64 * 2**stage,
                stride=2 if block == 0 and stage > 0 else 1,
                conv_shortcut=block == 0,
                name=f"conv{stage + 2}_block{block + 1}",
                conv_cls=conv_cls,
                attention=attention_layer,
                bn_axis=bn_axis,
                **common,
            )

    x = builder_utils.classifier_or_pooling(x, include_top, pooling, classes,
                                            classifier_activation, data_format, dtype)
    model = keras.Model(inputs, x, name=name)
    return builder_utils.finish(model, weights)


# --- the named ResNets: a table of data, one written function per name ----------

#: The named ResNets: name -> (family, variant, `ResNet` arguments besides the variant's,
#: the paper's Table 1 rows). A variant stands for its ``aw`` and ``attention`` arguments
#: (`keras_aw.vocabulary.VARIANT_ARGUMENTS`).
MODELS = {
    "ResNet50": ("resnet50", "plain", {"stack_blocks": STACKS[50]},
                 [table1("ResNet50", 24.56, 7.50, 3.86, 25.56)]),
    "AWResNet50": ("resnet50", "aw", {"stack_blocks": STACKS[50]},
                   [table1("AW-ResNet50", 23.38, 6.79, 3.87, 25.72)]),
    "SEResNet50": ("resnet50", "se", {"stack_blocks": STACKS[50]},
                   [table1("SE-ResNet50", 23.14, 6.70, 3.87, 28.09)]),
    "AWSEResNet50": ("resnet50", "aw-se", {"stack_blocks": STACKS[50]},
                     [table1("AW-SE-ResNet50", 22.72, 6.47, 3.88, 28.25)]),
    "CBAMResNet50": ("resnet50", "cbam", {"stack_blocks": STACKS[50]}, []),
    "AWCBAMResNet50": ("resnet50", "aw-cbam", {"stack_blocks": STACKS[50]}, [
        table1("AW-CBAM-ResNet50 (MaxPool)", 22.82, 6.41, 3.89, 28.25, cbam="maxpool"),
        table1("AW-CBAM-ResNet50 (Spatial)", 23.20, 6.58, 3.90, 28.25, cbam="spatial"),
    ]),
    "ResNet101": ("resnet101", "plain", {"stack_blocks": STACKS[101]},
                  [table1("ResNet101", 23.38, None, 7.57, 44.55)]),
    "AWResNet101": ("resnet101", "aw", {"stack_blocks": STACKS[101]},
                    [table1("AW-ResNet101", 22.38, 6.21, 7.58, 44.95)]),
    "SEResNet101": ("resnet101", "se", {"stack_blocks": STACKS[101]},
                    [table1("SE-ResNet101", 22.35, 6.19, 7.58, 49.33)]),
    "AWSEResNet101": ("resnet101", "aw-se", {"stack_blocks": STACKS[101]},
                      [table1("AW-SE-ResNet101", 21.78, 5.74, 7.59, 49.73)]),
    "CBAMResNet101": ("resnet101", "cbam", {"stack_blocks": STACKS[101]}, []),
    "AWCBAMResNet101": ("resnet101", "aw-cbam", {"stack_blocks": STACKS[101]}, [
        table1("AW-CBAM-ResNet101 (MaxPool)", 21.64, 5.76, 7.60, 49.73, cbam="maxpool"),
        table1("AW-CBAM-ResNet101 (Spatial)", 22.32, 6.18, 7.61, 49.73, cbam="spatial"),
    ]),
    "ResNet152": ("resnet152", "plain", {"stack_blocks": STACKS[152]}, []),
    "AWResNet152": ("resnet152", "aw", {"stack_blocks": STACKS[152]}, []),
    "SEResNet152": ("resnet152", "se", {"stack_blocks": STACKS[152]}, []),
    "AWSEResNet152": ("resnet152", "aw-se", {"stack_blocks": STACKS[152]}, []),
    "CBAMResNet152": ("resnet152", "cbam", {"stack_blocks": STACKS[152]}, []),
    "AWCBAMResNet152": ("resnet152", "aw-cbam", {"stack_blocks": STACKS[152]}, []),
}


def _build(name, arguments):
    """Builds the named ResNet of `MODELS` with the caller's arguments (its ``locals()``)."""
    _, variant, fixed, _ = MODELS[name]
    return ResNet(**fixed, **variant_arguments(variant), **arguments)


def ResNet50(include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,
             classes=1000, classifier_activation="softmax", name="resnet50"):
    """ResNet50: the plain ResNet-50 v1, the baseline of the variants.

    The paper's Table 1 row "ResNet50". Same signature as `keras.applications.ResNet50`,
    except that `weights` defaults to None (no ImageNet weights exist).

    Args:
        include_top, weights, input_tensor, input_shape, pooling, classes,
            classifier_activation, name: keras.applications' arguments, see "Builder arguments"
            in the module docstring.

    Returns:
        A `keras.Model`.
    """
    return _build("ResNet50", locals())


def AWResNet50(include_top=True, weights=None, input_tensor=None, input_shape=None,
               pooling=None, classes=1000, classifier_activation="softmax",
               name="aw_resnet50"):
    """AW-ResNet50: ResNet-50 v1 with AW-convolution in every bottleneck.

    The paper's Table 1 row "AW-ResNet50". Same signature as `keras.applications.ResNet50`,
    except that `weights` defaults to None (no ImageNet weights exist).

    Args:
        include_top, weights, input_tensor, input_shape, pooling, classes,
            classifier_activation, name: keras.applications' arguments, see "Builder arguments"
            in the module docstring.

    Returns:
        A `keras.Model`.
    """
    return _build("AWResNet50", locals())


def SEResNet50(include_top=True, weights=None, input_tensor=None, input_shape=None,
               pooling=None, classes=1000, classifier_activation="softmax",
               name="se_resnet50"):
    """SE-ResNet50: ResNet-50 v1 with Squeeze-and-Excitation in every bottleneck.

    The paper's Table 1 row "SE-ResNet50". Same signature as `keras.applications.ResNet50`,
    except that `weights` defaults to None (no ImageNet weights exist).

    Args:
        include_top, weights, input_tensor, input_shape, pooling, classes,
            classifier_activation, name: keras.applications' arguments, see "Builder arguments"
            in the module docstring.

    Returns:
        A `keras.Model`.
    """
    return _build("SEResNet50", locals())


def AWSEResNet50(include_top=True, weights=None, input_tensor=None, input_shape=None,
                 pooling=None, classes=1000, classifier_activation="softmax",
                 name="aw_se_resnet50"):
    """AW-SE-ResNet50: ResNet-50 v1 with AW-convolution and SE in every bottleneck.

    The paper's Table 1 row "AW-SE-ResNet50". Same signature as
    `keras.applications.ResNet50`, except that `weights` defaults to None (no ImageNet
    weights exist).

    Args:
        include_top, weights, input_tensor, input_shape, pooling, classes,
            classifier_activation, name: keras.applications' arguments, see "Builder arguments"
            in the module docstring.

    Returns:
        A `keras.Model`.
    """
    return _build("AWSEResNet50", locals())


def CBAMResNet50(include_top=True, weights=None, input_tensor=None, input_shape=None,
                 pooling=None, classes=1000, classifier_activation="softmax",
                 name="cbam_resnet50", *, cbam="full"):
    """CBAM-ResNet50: ResNet-50 v1 with CBAM in every bottleneck.

    The paper reports no row for it. Same signature as `keras.applications.ResNet50`,
    except that `weights` defaults to None (no ImageNet weights exist).

    Args:
        include_top, weights, input_tensor, input_shape, pooling, classes,
            classifier_activation, name: keras.applications' arguments, see "Builder arguments"
            in the module docstring.
        cbam: the CBAM form, "full", "maxpool" or "spatial" (keyword-only).

    Returns:
        A `keras.Model`.
    """
    return _build("CBAMResNet50", locals())


def AWCBAMResNet50(include_top=True, weights=None, input_tensor=None, input_shape=None,
                   pooling=None, classes=1000, classifier_activation="softmax",
                   name="aw_cbam_resnet50", *, cbam="full"):
    """AW-CBAM-ResNet50: ResNet-50 v1 with AW-convolution and CBAM in every bottleneck.

    The paper's Table 1 rows "AW-CBAM-ResNet50 (MaxPool)" (``cbam="maxpool"``) and
    "AW-CBAM-ResNet50 (Spatial)" (``cbam="spatial"``). Same signature as
    `keras.applications.ResNet50`, except that `weights` defaults to None (no ImageNet
    weights exist).

    Args:
        include_top, weights, input_tensor, input_shape, pooling, classes,
            classifier_activation, name: keras.applications' arguments, see "Builder arguments"
            in the module docstring.
        cbam: the CBAM form, "full", "maxpool" or "spatial" (keyword-only).

    Returns:
        A `keras.Model`.
    """
    return _build("AWCBAMResNet50", locals())


def ResNet101(include_top=True, weights=None, input_tensor=None, input_shape=None,
              pooling=None, classes=1000, classifier_activation="softmax", name="resnet101"):
    """ResNet101: the plain ResNet-101 v1, the baseline of the variants.

    The paper's Table 1 row "ResNet101". Same signature as `keras.applications.ResNet101`,
    except that `weights` defaults to None (no ImageNet weights exist).

    Args:
        include_top, weights, input_tensor, input_shape, pooling, classes,
            classifier_activation, name: keras.applications' arguments, see "Builder arguments"
            in the module docstring.

    Returns:
        A `keras.Model`.
    """
    return _build("ResNet101", locals())


def AWResNet101(include_top=True, weights=None, input_tensor=None, input_shape=None,
                pooling=None, classes=1000, classifier_activation="softmax",
                name="aw_resnet101"):
    """AW-ResNet101: ResNet-101 v1 with AW-convolution in every bottleneck.

    The paper's Table 1 row "AW-ResNet101". Same signature as
    `keras.applications.ResNet101`, except that `weights` defaults to None (no ImageNet
    weights exist).

    Args:
        include_top, weights, input_tensor, input_shape, pooling, classes,
            classifier_activation, name: keras.applications' arguments, see "Builder arguments"
            in the module docstring.

    Returns:
        A `keras.Model`.
    """
    return _build("AWResNet101", locals())


def SEResNet101(include_top=True, weights=None, input_tensor=None, input_shape=None,
                pooling=None, classes=1000, classifier_activation="softmax",
                name="se_resnet101"):
    """SE-ResNet101: ResNet-101 v1 with Squeeze-and-Excitation in every bottleneck.

    The paper's Table 1 row "SE-ResNet101". Same signature as
    `keras.applications.ResNet101`, except that `weights` defaults to None (no ImageNet
    weights exist).

    Args:
        include_top, weights, input_tensor, input_shape, pooling, classes,
            classifier_activation, name: keras.applications' arguments, see "Builder arguments"
            in the module docstring.

    Returns:
        A `keras.Model`.
    """
    return _build("SEResNet101", locals())


def AWSEResNet101(include_top=True, weights=None, input_tensor=None, input_shape=None,
                  pooling=None, classes=1000, classifier_activation="softmax",
                  name="aw_se_resnet101"):
    """AW-SE-ResNet101: ResNet-101 v1 with AW-convolution and SE in every bottleneck.

    The paper's Table 1 row "AW-SE-ResNet101". Same signature as
    `keras.applications.ResNet101`, except that `weights` defaults to None (no ImageNet
    weights exist).

    Args:
        include_top, weights, input_tensor, input_shape, pooling, classes,
            classifier_activation, name: keras.applications' arguments, see "Builder arguments"
            in the module docstring.

    Returns:
        A `keras.Model`.
    """
    return _build("AWSEResNet101", locals())


def CBAMResNet101(include_top=True, weights=None, input_tensor=None, input_shape=None,
                  pooling=None, classes=1000, classifier_activation="softmax",
                  name="cbam_resnet101", *, cbam="full"):
    """CBAM-ResNet101: ResNet-101 v1 with CBAM in every bottleneck.

    The paper reports no row for it. Same signature as `keras.applications.ResNet101`,
    except that `weights` defaults to None (no ImageNet weights exist).

    Args:
        include_top, weights, input_tensor, input_shape, pooling, classes,
            classifier_activation, name: keras.applications' arguments, see "Builder arguments"
            in the module docstring.
        cbam: the CBAM form, "full", "maxpool" or "spatial" (keyword-only).

    Returns:
        A `keras.Model`.
    """
    return _build("CBAMResNet101", locals())


def AWCBAMResNet101(include_top=True, weights=None, input_tensor=None, input_shape=None,
                    pooling=None, classes=1000, classifier_activation="softmax",
                    name="aw_cbam_resnet101", *, cbam="full"):
    """AW-CBAM-ResNet101: ResNet-101 v1 with AW-convolution and CBAM in every bottleneck.

    The paper's Table 1 rows "AW-CBAM-ResNet101 (MaxPool)" (``cbam="maxpool"``) and
    "AW-CBAM-ResNet101 (Spatial)" (``cbam="spatial"``). Same signature as
    `keras.applications.ResNet101`, except that `weights` defaults to None (no ImageNet
    weights exist).

    Args:
        include_top, weights, input_tensor, input_shape, pooling, classes,
            classifier_activation, name: keras.applications' arguments, see "Builder arguments"
            in the module docstring.
        cbam: the CBAM form, "full", "maxpool" or "spatial" (keyword-only).

    Returns:
        A `keras.Model`.
    """
    return _build("AWCBAMResNet101", locals())


def ResNet152(include_top=True, weights=None, input_tensor=None, input_shape=None,
              pooling=None, classes=1000, classifier_activation="softmax", name="resnet152"):
    """ResNet152: the plain ResNet-152 v1, the baseline of the variants.

    The paper reports no row for it. Same signature as `keras.applications.ResNet152`,
    except that `weights` defaults to None (no ImageNet weights exist).

    Args:
        include_top, weights, input_tensor, input_shape, pooling, classes,
            classifier_activation, name: keras.applications' arguments, see "Builder arguments"
            in the module docstring.

    Returns:
        A `keras.Model`.
    """
    return _build("ResNet152", locals())


def AWResNet152(include_top=True, weights=None, input_tensor=None, input_shape=None,
                pooling=None, classes=1000, classifier_activation="softmax",
                name="aw_resnet152"):
    """AW-ResNet152: ResNet-152 v1 with AW-convolution in every bottleneck.

    The paper reports no row for it. Same signature as `keras.applications.ResNet152`,
    except that `weights` defaults to None (no ImageNet weights exist).

    Args:
        include_top, weights, input_tensor, input_shape, pooling, classes,
            classifier_activation, name: keras.applications' arguments, see "Builder arguments"
            in the module docstring.

    Returns:
        A `keras.Model`.
    """
    return _build("AWResNet152", locals())


def SEResNet152(include_top=True, weights=None, input_tensor=None, input_shape=None,
                pooling=None, classes=1000, classifier_activation="softmax",
                name="se_resnet152"):
    """SE-ResNet152: ResNet-152 v1 with Squeeze-and-Excitation in every bottleneck.

    The paper reports no row for it. Same signature as `keras.applications.ResNet152`,
    except that `weights` defaults to None (no ImageNet weights exist).

    Args:
        include_top, weights, input_tensor, input_shape, pooling, classes,
            classifier_activation, name: keras.applications' arguments, see "Builder arguments"
            in the module docstring.

    Returns:
        A `keras.Model`.
    """
    return _build("SEResNet152", locals())


def AWSEResNet152(include_top=True, weights=None, input_tensor=None, input_shape=None,
                  pooling=None, classes=1000, classifier_activation="softmax",
                  name="aw_se_resnet152"):
    """AW-SE-ResNet152: ResNet-152 v1 with AW-convolution and SE in every bottleneck.

    The paper reports no row for it. Same signature as `keras.applications.ResNet152`,
    except that `weights` defaults to None (no ImageNet weights exist).

    Args:
        include_top, weights, input_tensor, input_shape, pooling, classes,
            classifier_activation, name: keras.applications' arguments, see "Builder arguments"
            in the module docstring.

    Returns:
        A `keras.Model`.
    """
    return _build("AWSEResNet152", locals())


def CBAMResNet152(include_top=True, weights=None, input_tensor=None, input_shape=None,
                  pooling=None, classes=1000, classifier_activation="softmax",
                  name="cbam_resnet152", *, cbam="full"):
    """CBAM-ResNet152: ResNet-152 v1 with CBAM in every bottleneck.

    The paper reports no row for it. Same signature as `keras.applications.ResNet152`,
    except that `weights` defaults to None (no ImageNet weights exist).

    Args:
        include_top, weights, input_tensor, input_shape, pooling, classes,
            classifier_activation, name: keras.applications' arguments, see "Builder arguments"
            in the module docstring.
        cbam: the CBAM form, "full", "maxpool" or "spatial" (keyword-only).

    Returns:
        A `keras.Model`.
    """
    return _build("CBAMResNet152", locals())


def AWCBAMResNet152(include_top=True, weights=None, input_tensor=None, input_shape=None,
                    pooling=None, classes=1000, classifier_activation="softmax",
                    name="aw_cbam_resnet152", *, cbam="full"):
    """AW-CBAM-ResNet152: ResNet-152 v1 with AW-convolution and CBAM in every bottleneck.

    The paper reports no row for it. Same signature as `keras.applications.ResNet152`,
    except that `weights` defaults to None (no ImageNet weights exist).

    Args:
        include_top, weights, input_tensor, input_shape, pooling, classes,
            classifier_activation, name: keras.applications' arguments, see "Builder arguments"
            in the module docstring.
        cbam: the CBAM form, "full", "maxpool" or "spatial" (keyword-only).

    Returns:
        A `keras.Model`.
    """
    return _build("AWCBAMResNet152", locals())


register_models(MODELS, ResNet, [
    ResNet50, AWResNet50, SEResNet50, AWSEResNet50, CBAMResNet50, AWCBAMResNet50,
    ResNet101, AWResNet101, SEResNet101, AWSEResNet101, CBAMResNet101, AWCBAMResNet101,
    ResNet152, AWResNet152, SEResNet152, AWSEResNet152, CBAMResNet152, AWCBAMResNet152,
])


def preprocess_input(x, data_format=None):
    """Preprocesses RGB images in [0, 255] for the ResNets ("caffe" mode).

    The images are converted from RGB to BGR, then each channel is
    zero-centered with the ImageNet means, without scaling; exactly
    `keras.applications.resnet.preprocess_input`.

    Args:
        x: float NumPy array or tensor, 3-D or 4-D.
        data_format: "channels_last", "channels_first" or None (Keras config).

    Returns:
        The preprocessed array or tensor.
    """
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="caffe")


decode_predictions = imagenet_utils.decode_predictions
