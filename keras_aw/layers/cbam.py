"""CBAM (Woo et al., 2018) and the paper's two reduced variants."""

import keras
from keras import layers, ops

from keras_aw._validation import check_choice, check_positive_int, standardize_data_format
from keras_aw.layers.squeeze_excite import channel_count
from keras_aw.vocabulary import CBAM_MODES


@keras.saving.register_keras_serializable(package="keras_aw")
class CBAM(layers.Layer):
    """Convolutional Block Attention Module, in the three forms of the AW paper.

    - ``"full"``: channel gate fed by average- and max-pooled descriptors through
      one shared MLP (C -> C/r -> C, with biases), summed, sigmoid; then a
      spatial gate: channel-wise max and mean -> 7x7 conv (no bias) ->
      BatchNorm -> sigmoid.
    - ``"maxpool"``: the channel gate with both descriptors, no spatial gate.
    - ``"spatial"``: the channel gate with the average descriptor only, plus
      the spatial gate.

    Args:
        mode: "full", "maxpool" or "spatial". Defaults to "full".
        reduction: int, hidden width of the MLP is ``max(C // reduction, 1)``.
        spatial_kernel_size: int, size of the spatial gate's convolution (7).
        data_format: "channels_last", "channels_first" or None (Keras config).
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Example:

    >>> import numpy as np, keras_aw
    >>> cbam = keras_aw.layers.CBAM(mode="spatial")
    >>> tuple(cbam(np.ones((2, 8, 8, 32), "float32")).shape)
    (2, 8, 8, 32)
    """

    def __init__(self, mode="full", reduction=16, spatial_kernel_size=7,
                 data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.mode = check_choice("mode", mode, CBAM_MODES)
        self.reduction = check_positive_int("reduction", reduction)
        self.spatial_kernel_size = check_positive_int("spatial_kernel_size", spatial_kernel_size)
        self.data_format = standardize_data_format(data_format)
        self.channel_axis = -1 if self.data_format == "channels_last" else 1
        self.input_spec = layers.InputSpec(ndim=4)

    def build(self, input_shape):
        channels = channel_count(self, input_shape)
        common = dict(dtype=self.dtype_policy)
        self.mlp_hidden = layers.Dense(
            max(channels // self.reduction, 1), activation="relu", name="mlp_hidden", **common
        )
        self.mlp_out = layers.Dense(channels, name="mlp_out", **common)
        self.mlp_hidden.build((None, channels))
        self.mlp_out.build((None, self.mlp_hidden.units))
        if self.mode != "maxpool":
            # The 7x7 gate convolution runs channels-last whatever the layer's data
            # format (TensorFlow's CPU Conv2D has no channels-first kernel); its
            # kernel (k, k, 2, 1) is the same either way.
            self.spatial_conv = layers.Conv2D(
                1, self.spatial_kernel_size, padding="same", use_bias=False,
                data_format="channels_last", name="spatial_conv", **common,
            )
            self.spatial_bn = layers.BatchNormalization(
                axis=self.channel_axis, name="spatial_bn", **common
            )
            spatial = self._spatial_dims(input_shape)
            self.spatial_conv.build((None,) + spatial + (2,))
            pooled = list(input_shape)
            pooled[self.channel_axis] = 1
            self.spatial_bn.build(tuple(pooled))
        self.input_spec = layers.InputSpec(ndim=4, axes={self.channel_axis: channels})

    def call(self, inputs, training=None):
        spatial = (1, 2) if self.data_format == "channels_last" else (2, 3)
        logits = self.mlp_out(self.mlp_hidden(ops.mean(inputs, axis=spatial)))
        if self.mode != "spatial":
            logits = logits + self.mlp_out(self.mlp_hidden(ops.max(inputs, axis=spatial)))
        gate = ops.sigmoid(logits)
        x = inputs * ops.expand_dims(ops.expand_dims(gate, spatial[0]), spatial[0])
        if self.mode == "maxpool":
            return x
        axis = self.channel_axis
        pooled = ops.concatenate(
            [ops.max(x, axis=axis, keepdims=True), ops.mean(x, axis=axis, keepdims=True)],
            axis=axis,
        )
        if self.data_format == "channels_first":
            conv = ops.transpose(self.spatial_conv(ops.transpose(pooled, (0, 2, 3, 1))),
                                 (0, 3, 1, 2))
        else:
            conv = self.spatial_conv(pooled)
        gate = ops.sigmoid(self.spatial_bn(conv, training=training))
        return x * gate

    def _spatial_dims(self, shape):
        return tuple(shape[1:3]) if self.data_format == "channels_last" else tuple(shape[2:4])

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(mode=self.mode, reduction=self.reduction,
                      spatial_kernel_size=self.spatial_kernel_size,
                      data_format=self.data_format)
        return config
