"""A Feature Pyramid Network layer with the AW / SE / CBAM variants of the paper's Table 2.

Plain Keras and keras_aw layers only (no keras-hub import): the layer is the
drop-in counterpart of keras-hub's RetinaNet ``FeaturePyramid`` (same inputs,
same outputs, same top-down pathway and extra levels), with the paper's §4.2
changes:

- ``aw=True``: every lateral (1x1) and output (3x3) convolution is an
  `AWConv2D` (the residual form ``K + A * K``, attention reduction 16);
- ``attention="se"`` / ``"cbam"``: a `SqueezeExcite` / `CBAM` module right
  before each lateral and each output convolution (reduction 16), made by the
  builders' attention factory (`keras_aw.layers.factory`).

The extra levels above the backbone (P6, P7 for RetinaNet) are made as
keras-hub's RetinaNet makes them: a plain stride-2 3x3 convolution from P5 (or
from C5 with ``use_p5=True``), then ReLU and another stride-2 3x3 convolution.
They are **not** AW and get no attention module: the paper's FPN (Faster
R-CNN) has no such convolutions (its P6 is a max-pool of P5), so §4.2 says
nothing about them, and keeping them plain keeps the FPN and AW-FPN variants
identical outside the convolutions the paper changes.
"""

import keras
from keras import layers

from keras_aw._validation import check_choice, check_positive_int, standardize_data_format
from keras_aw.layers import AWConv2D
from keras_aw.layers.factory import attention_factory
from keras_aw.vocabulary import ATTENTIONS, CBAM_MODES


def _level(name):
    """``"P3"`` -> 3, validated."""
    if not (isinstance(name, str) and name[:1] == "P" and name[1:].isdigit()):
        raise ValueError(
            f"FeaturePyramid inputs must be a dict keyed 'P2', 'P3', ...; received key {name!r}"
        )
    return int(name[1:])


@keras.saving.register_keras_serializable(package="keras_aw")
class FeaturePyramid(layers.Layer):
    """Feature Pyramid Network (Lin et al., 2017) with AW-convolution, SE or CBAM.

    Input: a dict ``{"P2": c2, "P3": c3, ...}`` of backbone feature maps, level
    ``i`` being ``2**i`` times smaller than the image (keras-hub's
    ``pyramid_outputs`` format). Levels ``min_level`` .. ``min(max input level,
    max_level)`` must be present. Output: a dict ``{"P{min_level}": ..,
    "P{max_level}": ..}`` of maps with `filters` channels.

    For every backbone level ``i`` (top to bottom): ``L_i = lateral_i(att(C_i))
    + upsample2x(L_{i+1})``, then ``P_i = output_i(att(L_i))`` (``att`` is the
    identity without attention). Levels above the backbone:
    ``P_{b+1} = coarser(P_b)`` (or ``coarser(C_b)`` with ``use_p5=True``) and
    ``P_{j} = coarser(relu(P_{j-1}))`` beyond, all plain stride-2 3x3
    convolutions (never AW, no attention; see the module docstring).

    Layer names: ``lateral_conv_P{i}``, ``output_conv_P{i}``, ``coarser_P{j}``,
    and the attention modules ``lateral_se_P{i}`` / ``output_se_P{i}`` (or
    ``_cbam_``).

    Args:
        min_level: int >= 1, the finest output level (3 for RetinaNet).
        max_level: int >= min_level, the coarsest output level (7 for RetinaNet).
        filters: int, channels of every output map. Defaults to 256.
        aw: bool; True makes every lateral and output convolution an `AWConv2D`.
        attention: None, "se" or "cbam": the module put right before every
            lateral and output convolution.
        cbam: "full", "maxpool" or "spatial", the CBAM form (with
            ``attention="cbam"``).
        attention_reduction: int, reduction ratio of the AW branch of every
            `AWConv2D` (its own ``attention_reduction``). Defaults to 16.
        use_p5: bool, keras-hub's flag: True makes the first extra level from
            the backbone's top input (C5), False (default) from the FPN's P5.
        kernel_initializer: initializer of every convolution kernel
            (keras-hub's FPN default "VarianceScaling").
        bias_initializer: initializer of every convolution bias.
        data_format: "channels_last", "channels_first" or None (Keras config).
        reduction: int, reduction ratio of the SE / CBAM MLPs (their own
            ``reduction``). Defaults to 16. A layer saved by keras_aw 0.2.0,
            whose `attention_reduction` set both ratios, loads with
            ``reduction=attention_reduction``.
        **kwargs: base layer arguments (`name`, `dtype`, `trainable`, ...).

    Raises:
        TypeError: a non-bool `aw` or `use_p5`, a non-int level, width or ratio.
        ValueError: a value out of range or an unknown `attention` / `cbam`.

    Example:

    >>> import numpy as np
    >>> from keras_aw.detection import FeaturePyramid
    >>> fpn = FeaturePyramid(3, 5, filters=16, aw=True, attention="se")
    >>> feats = {f"P{i}": np.random.rand(2, 64 // 2**i, 64 // 2**i, 32).astype("float32")
    ...          for i in (3, 4, 5)}
    >>> {k: tuple(v.shape) for k, v in fpn(feats).items()}
    {'P3': (2, 8, 8, 16), 'P4': (2, 4, 4, 16), 'P5': (2, 2, 2, 16)}
    >>> type(fpn.lateral_convs["P3"]).__name__, type(fpn.output_attention["P3"]).__name__
    ('AWConv2D', 'SqueezeExcite')
    """

    def __init__(
        self,
        min_level,
        max_level,
        filters=256,
        aw=False,
        attention=None,
        cbam="full",
        attention_reduction=16,
        use_p5=False,
        kernel_initializer="VarianceScaling",
        bias_initializer="zeros",
        data_format=None,
        reduction=16,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_positive_int("min_level", min_level)
        check_positive_int("max_level", max_level)
        if min_level > max_level:
            raise ValueError(
                "`min_level` must be <= `max_level`; received "
                f"min_level={min_level}, max_level={max_level}"
            )
        self.min_level = min_level
        self.max_level = max_level
        self.filters = check_positive_int("filters", filters)
        if not isinstance(aw, bool):
            raise TypeError(f"`aw` must be a bool; received aw={aw!r}")
        self.aw = aw
        self.attention = check_choice("attention", attention, ATTENTIONS)
        self.cbam = check_choice("cbam", cbam, CBAM_MODES)
        self.attention_reduction = check_positive_int("attention_reduction", attention_reduction)
        self.reduction = check_positive_int("reduction", reduction)
        if not isinstance(use_p5, bool):
            raise TypeError(f"`use_p5` must be a bool; received use_p5={use_p5!r}")
        self.use_p5 = use_p5
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.data_format = standardize_data_format(data_format)
        self.channel_axis = -1 if self.data_format == "channels_last" else 1

    # --- construction -------------------------------------------------------

    def _backbone_levels(self, names):
        levels = sorted(_level(n) for n in names)
        top = min(max(levels), self.max_level)
        missing = [f"P{i}" for i in range(self.min_level, top + 1) if i not in levels]
        if self.min_level > max(levels) or missing:
            raise ValueError(
                f"FeaturePyramid(min_level={self.min_level}, max_level={self.max_level}) "
                f"needs the backbone levels P{self.min_level}..P{max(top, self.min_level)}; "
                f"received levels {sorted(names, key=_level)}"
                + (f" (missing {missing})" if missing else "")
            )
        return top

    def _conv(self, cls, kernel_size, name, strides=1):
        kwargs = dict(
            filters=self.filters, kernel_size=kernel_size, strides=strides, padding="same",
            data_format=self.data_format,
            kernel_initializer=keras.initializers.get(
                keras.initializers.serialize(self.kernel_initializer)),
            bias_initializer=keras.initializers.get(
                keras.initializers.serialize(self.bias_initializer)),
            dtype=self.dtype_policy, name=name,
        )
        if cls is AWConv2D:
            kwargs["attention_reduction"] = self.attention_reduction
        return cls(**kwargs)

    def _attention_layer(self, name):
        make = attention_factory(self.attention, self.cbam, self.data_format, self.dtype_policy,
                                 reduction=self.reduction)
        return make(name)

    def _with_channels(self, shape, channels):
        shape = list(shape)
        shape[self.channel_axis] = channels
        return tuple(shape)

    def build(self, input_shape):
        if not isinstance(input_shape, dict):
            raise ValueError(
                "FeaturePyramid expects a dict of feature maps keyed 'P2', 'P3', ...; "
                f"received input_shape={input_shape!r}"
            )
        shapes = {k: tuple(v) for k, v in input_shape.items()}
        top = self._backbone_levels(shapes)
        conv_cls = AWConv2D if self.aw else layers.Conv2D
        self.backbone_max_level = top
        self.lateral_convs, self.output_convs, self.coarser_convs = {}, {}, {}
        self.lateral_attention, self.output_attention = {}, {}
        for i in range(self.min_level, top + 1):
            level = f"P{i}"
            shape = shapes[level]
            if len(shape) != 4 or shape[self.channel_axis] is None:
                raise ValueError(
                    f"FeaturePyramid needs 4-D inputs with a known channel dimension; "
                    f"received {level} of shape {shape}"
                )
            if self.attention is not None:
                self.lateral_attention[level] = self._attention_layer(f"lateral_{{}}_{level}")
                self.lateral_attention[level].build(shape)
                self.output_attention[level] = self._attention_layer(f"output_{{}}_{level}")
                self.output_attention[level].build(self._with_channels(shape, self.filters))
            self.lateral_convs[level] = self._conv(conv_cls, 1, f"lateral_conv_{level}")
            self.lateral_convs[level].build(shape)
            self.output_convs[level] = self._conv(conv_cls, 3, f"output_conv_{level}")
            self.output_convs[level].build(self._with_channels(shape, self.filters))
        for i in range(top + 1, self.max_level + 1):
            level = f"P{i}"
            self.coarser_convs[level] = self._conv(layers.Conv2D, 3, f"coarser_{level}", 2)
            source = shapes[f"P{top}"] if (i == top + 1 and self.use_p5) else \
                self._with_channels(shapes[f"P{top}"], self.filters)
            self.coarser_convs[level].build(self._with_channels(source, source[self.channel_axis]))
        self.upsample = layers.UpSampling2D(2, data_format=self.data_format,
                                            dtype=self.dtype_policy, name="upsampling")
        self.built = True

    # --- forward ------------------------------------------------------------

    def call(self, inputs, training=None):
        if not isinstance(inputs, dict):
            raise ValueError(
                "FeaturePyramid expects a dict of feature maps keyed 'P2', 'P3', ...; "
                f"received {type(inputs).__name__}"
            )
        top = self.backbone_max_level
        merged = {}
        for i in range(top, self.min_level - 1, -1):
            level = f"P{i}"
            x = inputs[level]
            if self.attention is not None:
                x = self.lateral_attention[level](x, training=training)
            x = self.lateral_convs[level](x, training=training)
            if i < top:
                x = x + self.upsample(merged[f"P{i + 1}"])
            merged[level] = x
        outputs = {}
        for i in range(top, self.min_level - 1, -1):
            level = f"P{i}"
            x = merged[level]
            if self.attention is not None:
                x = self.output_attention[level](x, training=training)
            outputs[level] = self.output_convs[level](x, training=training)
        for i in range(top + 1, self.max_level + 1):
            level = f"P{i}"
            if i == top + 1:
                x = inputs[f"P{top}"] if self.use_p5 else outputs[f"P{top}"]
            else:
                x = keras.ops.relu(outputs[f"P{i - 1}"])
            outputs[level] = self.coarser_convs[level](x)
        return {f"P{i}": outputs[f"P{i}"] for i in range(self.min_level, self.max_level + 1)}

    def compute_output_shape(self, input_shape):
        shapes = {k: tuple(v) for k, v in input_shape.items()}
        top = self._backbone_levels(shapes)
        out = {}
        for i in range(self.min_level, top + 1):
            out[f"P{i}"] = self._with_channels(shapes[f"P{i}"], self.filters)
        shape = list(out.get(f"P{top}", self._with_channels(shapes[f"P{top}"], self.filters)))
        spatial = (1, 2) if self.data_format == "channels_last" else (2, 3)
        for i in range(top + 1, self.max_level + 1):
            for axis in spatial:
                shape[axis] = None if shape[axis] is None else -(-shape[axis] // 2)
            out[f"P{i}"] = tuple(shape)
        return {f"P{i}": out[f"P{i}"] for i in range(self.min_level, self.max_level + 1)}

    def get_config(self):
        config = super().get_config()
        config.update(
            min_level=self.min_level,
            max_level=self.max_level,
            filters=self.filters,
            aw=self.aw,
            attention=self.attention,
            cbam=self.cbam,
            attention_reduction=self.attention_reduction,
            reduction=self.reduction,
            use_p5=self.use_p5,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
            bias_initializer=keras.initializers.serialize(self.bias_initializer),
            data_format=self.data_format,
        )
        return config

    @classmethod
    def from_config(cls, config):
        # keras_aw 0.2.0 had no `reduction`: its `attention_reduction` set the SE / CBAM
        # ratio too, so a 0.2.0 config loads with reduction = attention_reduction.
        config = dict(config)
        config.setdefault("reduction", config.get("attention_reduction", 16))
        return super().from_config(config)
