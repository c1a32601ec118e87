"""Small demonstration CNNs for 32x32 images (the quick start's networks).

`SmallCNN` is four blocks of 3x3 conv -> BatchNorm -> ReLU -> 2x2 max pool, a
global average pool and a Dense classifier (it is also the family's generic
builder); `AWSmallCNN` is the same network whose deeper 3x3 convolutions are
`AWConv2D` layers. Both are declared as data in `MODELS` and registered in
`keras_aw.registry` (family "small_cnn"); they take keras.applications-style
arguments.
"""

import keras
from keras import layers

from keras_aw.layers import AWConv2D
from keras_aw.registry import register_models

#: Blocks of the small networks whose 3x3 convolution is an AWConv2D.
AW_SMALL_BLOCKS = (2, 3)


def SmallCNN(
    input_shape=None,
    classes=10,
    widths=(32, 64, 128, 128),
    aw_blocks=(),
    input_tensor=None,
    classifier_activation="softmax",
    name="small_cnn",
    **aw_kwargs,
):
    """SmallCNN: a small CNN for 32x32 images, blocks of 3x3 conv -> BN -> ReLU -> 2x2 max pool.

    Not in the paper: the quick start's network, and the generic builder of its family.

    Args:
        input_shape: shape of one image, e.g. (32, 32, 3); needed unless
            `input_tensor` is given.
        classes: number of classes.
        widths: filters of each block.
        aw_blocks: indices of the blocks whose convolution is an `AWConv2D`.
        input_tensor: optional Keras tensor to build on (keras.applications style).
        classifier_activation: activation of the last Dense layer.
        name: model name.
        **aw_kwargs: extra `AWConv2D` arguments (e.g. `attention_reduction`).

    Returns:
        A functional `keras.Model` (inputs are used as given: scale them first).
    """
    if input_tensor is None:
        if input_shape is None:
            raise ValueError("SmallCNN needs `input_shape` or `input_tensor`")
        inputs = layers.Input(input_shape)
        x = inputs
    else:
        inputs = keras.utils.get_source_inputs(input_tensor)
        inputs = inputs[0] if len(inputs) == 1 else inputs
        x = input_tensor
    for i, width in enumerate(widths):
        block = f"block{i + 1}"
        if i in aw_blocks:
            conv = AWConv2D(width, 3, padding="same", use_bias=False, name=f"{block}_awconv",
                            **aw_kwargs)
        else:
            conv = layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"{block}_conv")
        x = conv(x)
        x = layers.BatchNormalization(momentum=0.9, name=f"{block}_bn")(x)
        x = layers.ReLU(name=f"{block}_relu")(x)
        if x.shape[1] is None or min(x.shape[1], x.shape[2]) >= 2:
            x = layers.MaxPooling2D(name=f"{block}_pool")(x)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)


def AWSmallCNN(input_shape=None, classes=10, widths=(32, 64, 128, 128), aw_blocks=AW_SMALL_BLOCKS,
               input_tensor=None, classifier_activation="softmax", name="aw_small_cnn",
               **aw_kwargs):
    """AW-SmallCNN: `SmallCNN` whose deeper 3x3 convolutions (`aw_blocks`) are `AWConv2D` layers.

    Not in the paper: the quick start's network.

    Args:
        input_shape: shape of one image, e.g. (32, 32, 3); needed unless
            `input_tensor` is given.
        classes: number of classes.
        widths: filters of each block.
        aw_blocks: indices of the blocks whose convolution is an `AWConv2D`
            (the last two by default).
        input_tensor: optional Keras tensor to build on (keras.applications style).
        classifier_activation: activation of the last Dense layer.
        name: model name.
        **aw_kwargs: extra `AWConv2D` arguments (e.g. `attention_reduction`).

    Returns:
        A functional `keras.Model`.

    Example:

    >>> from keras_aw import applications
    >>> model = applications.AWSmallCNN((32, 32, 3), classes=10, widths=(8, 8, 8, 8))
    >>> model.get_layer("block3_awconv").__class__.__name__, model.output_shape
    ('AWConv2D', (None, 10))
    """
    return SmallCNN(input_shape, classes, widths, aw_blocks, input_tensor,
                    classifier_activation, name, **aw_kwargs)


#: The small CNNs: name -> (family, variant, `SmallCNN` arguments, paper rows: none).
#: `SmallCNN` is the family's generic builder and a named model itself.
MODELS = {
    "SmallCNN": ("small_cnn", "plain", {}, []),
    "AWSmallCNN": ("small_cnn", "aw", {"aw_blocks": AW_SMALL_BLOCKS}, []),
}

register_models(MODELS, SmallCNN, [SmallCNN, AWSmallCNN])
