"""AWConv2D: a Conv2D whose kernel is modulated per sample by attention."""

import keras
from keras import layers, ops

from keras_aw.ops.adaptive_pool import adaptive_average_pool2d, pooling_tensor
from keras_aw.ops.per_sample_conv import per_sample_conv2d
from keras_aw._validation import check_positive_int


@keras.saving.register_keras_serializable(package="keras_aw")
class AWConv2D(layers.Conv2D):
    """2D AW-convolution (Zhu et al., ICANN 2021): a drop-in for `Conv2D`.

    An attention branch computes, for every sample ``n``, an attention map
    ``A[n]`` with the kernel's shape ``(kh, kw, C1, C2)``; sample ``n`` is
    then convolved with its own kernel ``K + A[n] * K`` (``residual=True``,
    the paper's default) or ``A[n] * K``. The branch is: adaptive average
    pooling of the input to ``(kh, kw)`` -> 1x1 conv (C1 -> C1 // r) ->
    BatchNorm -> ReLU -> 1x1 conv (-> (C1 / r_C1) * (C2 / r_C2)) -> BatchNorm
    -> sigmoid, each value repeated ``r_C1`` times along input channels and
    ``r_C2`` times along output channels.

    Args:
        filters, kernel_size, strides, padding, data_format, dilation_rate,
            activation, use_bias, kernel_initializer, bias_initializer,
            kernel_regularizer, bias_regularizer, activity_regularizer,
            kernel_constraint, bias_constraint: as in `keras.layers.Conv2D`.
        groups: must be 1 (kept for signature compatibility with `Conv2D`).
        lora_rank, lora_alpha: LoRA, as in `Conv2D` (also `enable_lora` on a
            built layer): the kernel is frozen and `kernel` is
            ``K + (lora_alpha / lora_rank) * A @ B``, which AW then modulates per
            sample. The attention branch stays trainable, like the bias.
        attention_reduction: int, the reduction ``r`` of the attention
            branch's hidden width, ``max(C1 // r, 1)``. Defaults to 16.
        reduction_c1: int dividing the input channels, or None (= C1, the
            attention is shared along input channels, the paper's setting).
        reduction_c2: int dividing `filters`. Defaults to 1.
        residual: bool; True computes ``K + A * K``, False ``A * K``.
        **kwargs: base layer arguments (`name`, `dtype`, `trainable`, ...).

    Example:

    >>> import numpy as np, keras_aw
    >>> layer = keras_aw.layers.AWConv2D(8, 3, padding="same")
    >>> y = layer(np.random.rand(2, 16, 16, 4).astype("float32"))
    >>> tuple(y.shape), tuple(layer.kernel.shape)
    ((2, 16, 16, 8), (3, 3, 4, 8))
    >>> a = layer.attention_maps(np.random.rand(2, 16, 16, 4).astype("float32"))
    >>> tuple(a.shape)
    (2, 3, 3, 4, 8)
    """

    def __init__(
        self,
        filters,
        kernel_size,
        strides=(1, 1),
        padding="valid",
        data_format=None,
        dilation_rate=(1, 1),
        groups=1,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        lora_rank=None,
        lora_alpha=None,
        attention_reduction=16,
        reduction_c1=None,
        reduction_c2=1,
        residual=True,
        **kwargs,
    ):
        check_positive_int("filters", filters)
        check_positive_int("kernel_size", kernel_size, length=2)
        check_positive_int("strides", strides, length=2)
        check_positive_int("dilation_rate", dilation_rate, length=2)
        if groups != 1:
            raise ValueError(
                f"AWConv2D supports only `groups=1`; received groups={groups!r}"
            )
        if isinstance(padding, str) and padding.lower() not in ("valid", "same"):
            raise ValueError(
                f'`padding` must be "valid" or "same"; received padding={padding!r}'
            )
        super().__init__(
            filters=filters,
            kernel_size=kernel_size,
            strides=strides,
            padding=padding,
            data_format=data_format,
            dilation_rate=dilation_rate,
            groups=groups,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
            lora_rank=lora_rank,
            lora_alpha=lora_alpha,
            **kwargs,
        )
        self.attention_reduction = check_positive_int(
            "attention_reduction", attention_reduction
        )
        if reduction_c1 is not None:
            check_positive_int("reduction_c1", reduction_c1)
        self.reduction_c1 = reduction_c1
        self.reduction_c2 = check_positive_int("reduction_c2", reduction_c2)
        if filters % reduction_c2:
            raise ValueError(
                f"`reduction_c2` must divide `filters`; received "
                f"reduction_c2={reduction_c2} with filters={filters}"
            )
        if not isinstance(residual, bool):
            raise TypeError(f"`residual` must be a bool; received residual={residual!r}")
        self.residual = residual
        self.input_spec = keras.layers.InputSpec(ndim=4)

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != 4:
            raise ValueError(
                f"AWConv2D expects a 4-D input; received input_shape={input_shape}"
            )
        channels = input_shape[-1 if self.data_format == "channels_last" else 1]
        if channels is None:
            raise ValueError(
                "AWConv2D needs a known channel dimension; received "
                f"input_shape={input_shape}"
            )
        rc1 = channels if self.reduction_c1 is None else self.reduction_c1
        if channels % rc1:
            raise ValueError(
                f"`reduction_c1` must divide the input channels; received "
                f"reduction_c1={self.reduction_c1} with {channels} input channels"
            )
        # `Conv2D.build` ends by enabling LoRA (when `lora_rank` is set), which locks
        # the layer's tracker: the attention branch could not be created after it.
        # LoRA is enabled below, once the branch exists, in the same order of
        # weight creation as without LoRA.
        lora_rank, self.lora_rank = self.lora_rank, None
        try:
            super().build(input_shape)
        finally:
            self.lora_rank = lora_rank
        self.input_spec = keras.layers.InputSpec(
            ndim=4, axes={-1 if self.data_format == "channels_last" else 1: channels}
        )
        self._groups_in = channels // rc1
        self._groups_out = self.filters // self.reduction_c2
        kh, kw = self.kernel_size
        # The branch always runs on channels-last data, whatever Keras's global format.
        common = dict(dtype=self.dtype_policy)
        branch = dict(common, data_format="channels_last")
        self.attention_conv1 = layers.Conv2D(
            max(channels // self.attention_reduction, 1), 1, use_bias=False,
            name="attention_conv1", **branch,
        )
        self.attention_bn1 = layers.BatchNormalization(axis=-1, name="attention_bn1", **common)
        self.attention_conv2 = layers.Conv2D(
            self._groups_in * self._groups_out, 1, use_bias=False,
            name="attention_conv2", **branch,
        )
        self.attention_bn2 = layers.BatchNormalization(axis=-1, name="attention_bn2", **common)
        pooled = (None, kh, kw, channels)
        self.attention_conv1.build(pooled)
        hidden = self.attention_conv1.compute_output_shape(pooled)
        self.attention_bn1.build(hidden)
        self.attention_conv2.build(hidden)
        self.attention_bn2.build(self.attention_conv2.compute_output_shape(hidden))
        if self.lora_rank:
            self.enable_lora(self.lora_rank, lora_alpha=self.lora_alpha)
        self._make_pooling_matrices(input_shape)

    def _make_pooling_matrices(self, input_shape):
        """Makes the attention pooling's constants now, on the layer's device, so that
        calls find them made (no host work in a call; no variables: nothing saved)."""
        h, w = input_shape[1:3] if self.data_format == "channels_last" else input_shape[2:4]
        # PyTorch: the device Keras put the layer's variables on (that of its inputs).
        device = getattr(self._kernel.value, "device", None)
        for length, size in ((h, self.kernel_size[0]), (w, self.kernel_size[1])):
            if length is not None and self.kernel_size != (1, 1):
                pooling_tensor(length, size, self.compute_dtype, device)

    def _to_channels_last(self, inputs):
        if self.data_format == "channels_first":
            return ops.transpose(inputs, (0, 2, 3, 1))
        return inputs

    def _attention(self, x, training):
        """Grouped attention (N, kh, kw, G1, G2) of a channels-last input."""
        a = adaptive_average_pool2d(x, self.kernel_size)
        a = ops.relu(self.attention_bn1(self.attention_conv1(a), training=training))
        a = ops.sigmoid(self.attention_bn2(self.attention_conv2(a), training=training))
        kh, kw = self.kernel_size
        return ops.reshape(a, (-1, kh, kw, self._groups_in, self._groups_out))

    def attention_maps(self, inputs, training=False):
        """The attention A, shape (N,) + kernel.shape, for a batch of inputs."""
        inputs = ops.convert_to_tensor(inputs, dtype=self.compute_dtype)
        if not self.built:
            self.build(inputs.shape)
        a = self._attention(self._to_channels_last(inputs), training)
        kh, kw, c1, c2 = self._kernel.shape
        a = ops.repeat(a, c1 // self._groups_in, axis=3)
        return ops.repeat(a, c2 // self._groups_out, axis=4)

    def call(self, inputs, training=None):
        x = self._to_channels_last(inputs)
        a = self._attention(x, training)
        modulation = 1.0 + a if self.residual else a
        outputs = per_sample_conv2d(
            x,
            self.kernel,
            modulation,
            strides=self.strides,
            padding=self.padding,
            dilation_rate=self.dilation_rate,
        )
        if self.use_bias:
            outputs = outputs + self.bias
        if self.activation is not None:
            outputs = self.activation(outputs)
        if self.data_format == "channels_first":
            outputs = ops.transpose(outputs, (0, 3, 1, 2))
        return outputs

    def get_config(self):
        config = super().get_config()
        config.update(
            attention_reduction=self.attention_reduction,
            reduction_c1=self.reduction_c1,
            reduction_c2=self.reduction_c2,
            residual=self.residual,
        )
        return config
