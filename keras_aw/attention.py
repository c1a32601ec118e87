"""The attention maps of a model's AWConv2D layers, as NumPy arrays.

For one image, every `AWConv2D` layer of a model computes an attention map A
with the kernel's shape (kh, kw, C1, C2); sample n is convolved with
``K + A ⊙ K``. `attention_maps` returns A of every layer for one image,
`attention_summary` A averaged over input channels for a batch. Pictures of
them are drawn by `keras_aw_tools.plots.plot_attention` (the tooling).

Example:

>>> import numpy as np
>>> from keras_aw import attention
>>> from keras_aw.applications import small_cnn
>>> model = small_cnn.AWSmallCNN((32, 32, 3), widths=(8, 16, 16, 16))
>>> maps = attention.attention_maps(model, np.zeros((32, 32, 3), "float32"))
>>> [(name, a.shape) for name, a in maps]
[('block3_awconv', (3, 3, 16, 16)), ('block4_awconv', (3, 3, 16, 16))]
"""

import keras
import numpy as np

from keras_aw.layers import AWConv2D


def _contains_aw(layer):
    if isinstance(layer, AWConv2D):
        return True
    if isinstance(layer, keras.Model):
        return any(_contains_aw(sub) for sub in layer.layers)
    return False


def aw_layer_inputs(model, images, batch_size=64):
    """Returns [(name, layer, input)] for every AWConv2D of `model` (nested models too).

    `images` is a batch for the model's input; `input` is the NumPy array each
    layer receives, computed in inference mode (with `Model.predict`, compiled
    once, in batches of `batch_size`).
    """
    targets = [layer for layer in model.layers if _contains_aw(layer)]
    if not targets:
        return []
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    probe = keras.Model(inputs, [layer.input for layer in targets])
    values = probe.predict(images, batch_size=batch_size, verbose=0)
    if not isinstance(values, (list, tuple)):
        values = [values]
    found = []
    for layer, value in zip(targets, values):
        if isinstance(layer, AWConv2D):
            found.append((layer.name, layer, value))
        else:
            found.extend(
                (f"{layer.name}/{name}", sub, v) for name, sub, v in aw_layer_inputs(layer, value)
            )
    return found


def attention_maps(model, image):
    """The attention A (kh, kw, C1, C2) of every AWConv2D layer for one image.

    Args:
        model: a Keras model containing AWConv2D layers.
        image: one image (H, W, C) in the model's input range.

    Returns:
        A list of (layer name, NumPy array of shape (kh, kw, C1, C2)).
    """
    batch = np.asarray(image, dtype="float32")[None]
    return [
        (name, keras.ops.convert_to_numpy(layer.attention_maps(x, training=False))[0]
         .astype("float32"))
        for name, layer, x in aw_layer_inputs(model, batch)
    ]


def attention_summary(model, images, chunk=32):
    """Per AWConv2D layer, A averaged over input channels, for a batch of images.

    Returns a list of (layer name, NumPy array (N, kh, kw, C2)); memory stays
    bounded by computing A in chunks of `chunk` images.
    """
    images = np.asarray(images, dtype="float32")
    result = []
    for name, layer, x in aw_layer_inputs(model, images):
        parts = [
            keras.ops.convert_to_numpy(layer.attention_maps(x[i:i + chunk], training=False))
            .astype("float32").mean(axis=3)
            for i in range(0, len(x), chunk)
        ]
        result.append((name, np.concatenate(parts)))
    return result
