"""Squeeze-and-Excitation (Hu et al., 2018) as a Keras layer."""

import keras
from keras import layers, ops

from keras_aw._validation import check_positive_int, standardize_data_format


@keras.saving.register_keras_serializable(package="keras_aw")
class SqueezeExcite(layers.Layer):
    """Channel attention: global average pool -> Dense(C/r, relu) -> Dense(C, sigmoid) -> scale.

    Both dense layers have biases (the SENet reference), so a C-channel module
    holds ``2 * C * (C // r) + C // r + C`` trainable parameters.

    Args:
        reduction: int, hidden width is ``max(C // reduction, 1)``. Defaults to 16.
        data_format: "channels_last", "channels_first" or None (Keras config).
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Example:

    >>> import numpy as np, keras_aw
    >>> se = keras_aw.layers.SqueezeExcite()
    >>> tuple(se(np.ones((2, 8, 8, 32), "float32")).shape)
    (2, 8, 8, 32)
    """

    def __init__(self, reduction=16, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.reduction = check_positive_int("reduction", reduction)
        self.data_format = standardize_data_format(data_format)
        self.channel_axis = -1 if self.data_format == "channels_last" else 1
        self.input_spec = layers.InputSpec(ndim=4)

    def build(self, input_shape):
        channels = channel_count(self, input_shape)
        common = dict(dtype=self.dtype_policy)
        self.squeeze = layers.Dense(
            max(channels // self.reduction, 1), activation="relu", name="squeeze", **common
        )
        self.excite = layers.Dense(channels, activation="sigmoid", name="excite", **common)
        self.squeeze.build((None, channels))
        self.excite.build((None, self.squeeze.units))
        self.input_spec = layers.InputSpec(ndim=4, axes={self.channel_axis: channels})

    def call(self, inputs):
        spatial = (1, 2) if self.data_format == "channels_last" else (2, 3)
        weights = self.excite(self.squeeze(ops.mean(inputs, axis=spatial)))
        return inputs * ops.expand_dims(ops.expand_dims(weights, spatial[0]), spatial[0])

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(reduction=self.reduction, data_format=self.data_format)
        return config


def channel_count(layer, input_shape):
    """The channel dimension of a 4-D input, validated (shared by SE and CBAM)."""
    input_shape = tuple(input_shape)
    if len(input_shape) != 4:
        raise ValueError(
            f"{type(layer).__name__} expects a 4-D input; received "
            f"input_shape={input_shape}"
        )
    channels = input_shape[layer.channel_axis]
    if channels is None:
        raise ValueError(
            f"{type(layer).__name__} needs a known channel dimension; received "
            f"input_shape={input_shape}"
        )
    return channels
