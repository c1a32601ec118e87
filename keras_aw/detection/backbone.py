"""keras_aw networks as keras-hub image encoders, and the encoder + FPN backbone.

- `ResNetEncoder`, `MobileNetEncoder`: the builders of `keras_aw.applications`
  (without their classifier) as `keras_hub.models.FeaturePyramidBackbone`s:
  their stage outputs are reachable as ``encoder.pyramid_outputs`` (``"P2"`` ..
  ``"P5"``), exactly as keras-hub's own ResNet backbone exposes them.
- `FPNBackbone`: an encoder + `keras_aw.detection.FeaturePyramid`, with the
  attributes `keras_hub.models.RetinaNetObjectDetector` reads (``image_shape``,
  ``min_level``, ``max_level``) and keras-hub's output dict (``"P3"`` ..), so
  it plugs into the detector unchanged. It is keras-hub's `RetinaNetBackbone`
  with our pyramid in place of keras-hub's.

This module needs keras-hub (``pip install keras-aw[detection]``).
"""

import keras

from keras_aw.applications import mobilenet, resnet
from keras_aw.detection._hub import require_keras_hub
from keras_aw.detection.fpn import FeaturePyramid
from keras_aw._validation import standardize_data_format

keras_hub = require_keras_hub()


def _image_shape(image_shape, data_format):
    if image_shape is None:
        return (None, None, 3) if data_format == "channels_last" else (3, None, None)
    if not isinstance(image_shape, (tuple, list)) or len(image_shape) != 3:
        raise ValueError(
            f"`image_shape` must be a tuple of 3 entries; received image_shape={image_shape!r}"
        )
    return tuple(None if s is None else int(s) for s in image_shape)


def resnet_pyramid_outputs(model, stack_blocks):
    """``{"P2": .., "P5": ..}``: the stage outputs (C2-C5) of a `keras_aw.applications` ResNet.

    Args:
        model: a model built by `keras_aw.applications.resnet.ResNet` (any variant).
        stack_blocks: the blocks per stage it was built with.

    Returns:
        A dict of Keras tensors, level ``i`` being ``2**i`` times smaller than the image.
    """
    return {f"P{s + 2}": model.get_layer(f"conv{s + 2}_block{n}_out").output
            for s, n in enumerate(stack_blocks)}


def mobilenet_pyramid_outputs(model, attention=None, blocks=mobilenet.BLOCKS):
    """``{"P1": .., "P5": ..}``: the last block output at each stride of a keras_aw MobileNet."""
    outputs, level = {}, 1  # conv1 has stride 2
    for i, (_, stride) in enumerate(blocks, start=1):
        level += stride == 2
        suffix = {None: "relu", "se": "se", "cbam": "cbam"}[attention]
        outputs[f"P{level}"] = model.get_layer(f"conv_pw_{i}_{suffix}").output
    return outputs


class _Encoder(keras_hub.models.FeaturePyramidBackbone):
    """What the keras_aw encoders share: a network, its pyramid outputs, its arguments.

    Subclasses build the network from their arguments and pass it here with
    ``pyramid`` (level name -> tensor) and ``options`` (every constructor
    argument but `dtype`), which become attributes and the config.
    """

    def __init__(self, net, pyramid, options, dtype=None, **kwargs):
        super().__init__(inputs=net.inputs, outputs=net.outputs, dtype=dtype, **kwargs)
        for key, value in options.items():
            setattr(self, key, value)
        self._options = dict(options)
        self.pyramid_outputs = pyramid

    def get_config(self):
        config = super().get_config()
        config.update({k: list(v) if k == "stack_blocks" else v
                       for k, v in self._options.items()})
        return config


@keras.saving.register_keras_serializable(package="keras_aw")
class ResNetEncoder(_Encoder):
    """A `keras_aw.applications` ResNet v1 (no classifier) as a keras-hub image encoder.

    ``pyramid_outputs`` maps ``"P2"`` .. ``"P5"`` to the outputs of stages
    conv2 .. conv5 (C2-C5, strides 4 .. 32); the model's own output is C5.

    Args:
        stack_blocks: blocks per stage, e.g. ``(3, 4, 23, 3)`` for ResNet-101
            (`keras_aw.applications.resnet.STACKS`), or fewer stages for a
            small demo network.
        aw: bool, AW-convolution in every bottleneck (the paper's Table 2 keeps
            the backbone plain: False).
        attention: None, "se" or "cbam" in every bottleneck.
        cbam: CBAM form, "full", "maxpool" or "spatial".
        image_shape: (H, W, 3); H and W may be None unless ``aw=True``.
        data_format: "channels_last", "channels_first" or None (Keras config).
        dtype: dtype or `keras.DTypePolicy`.
        **kwargs: `keras_hub.models.Backbone` arguments (`name`, ...).

    Example:

    >>> from keras_aw.detection import ResNetEncoder
    >>> enc = ResNetEncoder((1, 1, 1, 1), image_shape=(64, 64, 3))
    >>> {k: tuple(v.shape) for k, v in enc.pyramid_outputs.items()}
    {'P2': (None, 16, 16, 256), 'P3': (None, 8, 8, 512), 'P4': (None, 4, 4, 1024), 'P5': (None, 2, 2, 2048)}
    """

    def __init__(self, stack_blocks=resnet.STACKS[101], aw=False, attention=None, cbam="full",
                 image_shape=(None, None, 3), data_format=None, dtype=None, **kwargs):
        data_format = standardize_data_format(data_format)
        image_shape = _image_shape(image_shape, data_format)
        stack_blocks = tuple(int(b) if not isinstance(b, bool) else b for b in stack_blocks) \
            if isinstance(stack_blocks, (list, tuple)) else stack_blocks
        net = resnet.ResNet(stack_blocks, attention=attention, aw=aw, cbam=cbam,
                            include_top=False, input_shape=image_shape,
                            data_format=data_format, dtype=dtype)
        super().__init__(net, resnet_pyramid_outputs(net, stack_blocks),
                         dict(stack_blocks=stack_blocks, aw=aw, attention=attention, cbam=cbam,
                              image_shape=image_shape, data_format=data_format),
                         dtype=dtype, **kwargs)


@keras.saving.register_keras_serializable(package="keras_aw")
class MobileNetEncoder(_Encoder):
    """A `keras_aw.applications` MobileNet v1 (no classifier) as a keras-hub image encoder.

    ``pyramid_outputs`` maps ``"P1"`` .. ``"P5"`` to the output of the last
    separable block at each stride (2 .. 32).

    Args:
        alpha: width multiplier.
        aw, attention, cbam: as in `keras_aw.applications.mobilenet.MobileNetV1`.
        image_shape: (H, W, 3); H and W may be None unless ``aw=True``.
        data_format, dtype, **kwargs: as in `ResNetEncoder`.

    Example:

    >>> from keras_aw.detection import MobileNetEncoder
    >>> enc = MobileNetEncoder(alpha=0.25, image_shape=(64, 64, 3))
    >>> sorted(enc.pyramid_outputs)
    ['P1', 'P2', 'P3', 'P4', 'P5']
    """

    def __init__(self, alpha=1.0, aw=False, attention=None, cbam="full",
                 image_shape=(None, None, 3), data_format=None, dtype=None, **kwargs):
        data_format = standardize_data_format(data_format)
        image_shape = _image_shape(image_shape, data_format)
        net = mobilenet.MobileNetV1(input_shape=image_shape, alpha=alpha, include_top=False,
                                    attention=attention, aw=aw, cbam=cbam,
                                    data_format=data_format, dtype=dtype)
        super().__init__(net, mobilenet_pyramid_outputs(net, attention),
                         dict(alpha=alpha, aw=aw, attention=attention, cbam=cbam,
                              image_shape=image_shape, data_format=data_format),
                         dtype=dtype, **kwargs)


@keras.saving.register_keras_serializable(package="keras_aw")
class FPNBackbone(keras_hub.models.FeaturePyramidBackbone):
    """Image encoder + `FeaturePyramid`: a backbone for `keras_hub.models.RetinaNetObjectDetector`.

    keras-hub's `RetinaNetBackbone` with keras_aw's pyramid, so that the
    paper's FPN variants (plain, AW, SE, AW-SE, CBAM, AW-CBAM) can be used:
    the encoder's ``pyramid_outputs`` ``P{min_level}`` .. ``P{min(5, max_level)}``
    feed the pyramid, which outputs ``"P{min_level}"`` .. ``"P{max_level}"``.

    Args:
        image_encoder: a `keras_hub.models.FeaturePyramidBackbone` (e.g.
            `ResNetEncoder`, or keras-hub's own ResNet backbone) whose
            ``pyramid_outputs`` hold the needed levels.
        min_level, max_level: pyramid levels (RetinaNet: 3 and 7).
        filters: channels of the pyramid. Defaults to 256.
        aw: bool; AW-convolution in every lateral and output convolution.
        attention: None, "se" or "cbam" right before them.
        cbam: CBAM form ("full", "maxpool", "spatial").
        use_p5: see `FeaturePyramid`.
        image_shape: (H, W, 3), defaults to the encoder's. With ``aw=True`` H
            and W must be known (the per-sample convolution needs a static grid).
        data_format: "channels_last", "channels_first" or None.
        dtype: dtype or `keras.DTypePolicy`.
        **kwargs: `keras_hub.models.Backbone` arguments (`name`, ...).

    Example:

    >>> from keras_aw.detection import FPNBackbone, ResNetEncoder
    >>> enc = ResNetEncoder((1, 1, 1, 1), image_shape=(64, 64, 3))
    >>> bb = FPNBackbone(enc, 3, 5, filters=32, aw=True)
    >>> {k: tuple(v.shape) for k, v in bb.pyramid_outputs.items()}
    {'P3': (None, 8, 8, 32), 'P4': (None, 4, 4, 32), 'P5': (None, 2, 2, 32)}
    """

    def __init__(self, image_encoder, min_level=3, max_level=7, filters=256, aw=False,
                 attention=None, cbam="full", use_p5=False, image_shape=None,
                 data_format=None, dtype=None, **kwargs):
        data_format = standardize_data_format(data_format)
        outputs = getattr(image_encoder, "pyramid_outputs", None)
        if not isinstance(image_encoder, keras.Model) or not isinstance(outputs, dict) \
                or not outputs:
            raise TypeError(
                "`image_encoder` must be a keras-hub FeaturePyramidBackbone with "
                f"`pyramid_outputs` (e.g. ResNetEncoder); received image_encoder={image_encoder!r}"
            )
        fpn = FeaturePyramid(min_level, max_level, filters=filters, aw=aw, attention=attention,
                             cbam=cbam, use_p5=use_p5, data_format=data_format, dtype=dtype,
                             name="fpn")
        available = sorted(outputs, key=lambda k: int(k[1:]))
        # As keras-hub's RetinaNetBackbone: levels up to P5 come from the encoder,
        # the pyramid makes the ones above.
        needed = [f"P{i}" for i in range(min_level, max(min(max_level, 5), min_level) + 1)]
        missing = [level for level in needed if level not in outputs]
        if missing:
            raise ValueError(
                f"`image_encoder` lacks the pyramid levels {missing} needed for "
                f"min_level={min_level}, max_level={max_level}; it has {available}"
            )
        if image_shape is None:
            image_shape = tuple(image_encoder.inputs[0].shape[1:])
        image_shape = _image_shape(image_shape, data_format)
        if aw and None in image_shape:
            raise ValueError(
                "An AW pyramid needs a static image size (the per-sample convolution "
                f"is built for a fixed grid); received image_shape={image_shape}"
            )
        extractor = keras.Model(image_encoder.inputs, {k: outputs[k] for k in needed},
                                name="image_encoder_features")
        image_input = keras.layers.Input(image_shape, name="inputs")
        pyramid = fpn(extractor(image_input))
        super().__init__(inputs=image_input, outputs=pyramid, dtype=dtype, **kwargs)
        self.image_encoder = image_encoder
        self.feature_pyramid = fpn
        self.min_level = min_level
        self.max_level = max_level
        self.filters = filters
        self.aw = aw
        self.attention = attention
        self.cbam = cbam
        self.use_p5 = use_p5
        self.image_shape = image_shape
        self.data_format = data_format
        self.pyramid_outputs = pyramid

    def get_config(self):
        config = super().get_config()
        config.update(
            image_encoder=keras.layers.serialize(self.image_encoder),
            min_level=self.min_level, max_level=self.max_level, filters=self.filters,
            aw=self.aw, attention=self.attention, cbam=self.cbam, use_p5=self.use_p5,
            image_shape=self.image_shape, data_format=self.data_format,
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("image_encoder"), dict):
            config["image_encoder"] = keras.layers.deserialize(config["image_encoder"])
        return super().from_config(config)


