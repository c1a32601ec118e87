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
- `encoder_from_classifier`: any keras_aw classifier (a model, or a ``.keras``
  file from ``keras-aw train``) as an encoder with its trained weights, the
  pyramid levels where its strides say (`stride_levels`), wrapped as a
  `GraphBackbone` (a functional network with named levels as a keras-hub
  backbone; also what `keras_aw.convert_to_aw` returns for keras-hub backbones).

This module needs keras-hub (``pip install keras-aw[detection]``).
"""

import keras

from keras_aw import registry
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
        # One output tensor, not a list of one, as keras-hub's backbones (ImageClassifier
        # pools the output).
        outputs = net.outputs[0] if len(net.outputs) == 1 else net.outputs
        super().__init__(inputs=net.inputs, outputs=outputs, dtype=dtype, **kwargs)
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




# --- any keras_aw classifier as a detector's encoder ------------------------------------


def _spatial_size(tensor, data_format):
    shape = tuple(tensor.shape)
    if len(shape) != 4:
        return None
    return shape[1:3] if data_format == "channels_last" else shape[2:4]


def stride_levels(model, data_format="channels_last"):
    """``{"P1": layer name, ...}``: the last layer of `model` at each stride ``2**i``.

    The stride of a layer is the image size over its output's spatial size
    (both from the model's static shapes, so the model needs a known image
    size). Layers are taken in the functional graph's order, so the last one
    at a stride is where the network leaves that resolution (e.g. a ResNet
    stage's output, or the ReLU before a max pool).

    Args:
        model: a functional `keras.Model` with one 4-D image input of static size.
        data_format: "channels_last" or "channels_first".

    Returns:
        A dict from level name ``"P{i}"`` (``i >= 1``) to layer name.

    Raises:
        ValueError: the image size is not static.

    Example:

    >>> from keras_aw.applications import SmallCNN
    >>> stride_levels(SmallCNN((32, 32, 3), widths=(8, 8, 8)))
    {'P1': 'block2_relu', 'P2': 'block3_relu', 'P3': 'block3_pool'}
    """
    size = _spatial_size(model.inputs[0], data_format)
    if size is None or None in size:
        raise ValueError(
            "the classifier needs a static image size to find its strides; its input "
            f"shape is {tuple(model.inputs[0].shape)} (pass `image_shape=`)"
        )
    levels = {}
    for layer in model.layers:
        try:
            outputs = layer.output
        except (AttributeError, ValueError):  # a layer called more than once
            continue
        if not hasattr(outputs, "shape"):
            continue
        out = _spatial_size(outputs, data_format)
        if out is None or None in out or min(out) < 1:
            continue
        if size[0] % out[0] or size[1] % out[1] or size[0] // out[0] != size[1] // out[1]:
            continue
        stride = size[0] // out[0]
        level = stride.bit_length() - 1
        if level >= 1 and stride == 2**level:
            levels[f"P{level}"] = layer.name
    return dict(sorted(levels.items(), key=lambda kv: int(kv[0][1:])))


def _load_classifier(model, image_shape, builder_kwargs):
    if isinstance(model, keras.Model):
        return model
    if isinstance(model, str) and model.endswith(".keras"):
        import os

        if not os.path.isfile(model):
            raise ValueError(f"`model` names no .keras file: {model!r}")
        try:
            return keras.saving.load_model(model, compile=False)
        except Exception as e:  # noqa: BLE001 - Keras raises many types
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ValueError(f"cannot load the classifier {model!r}: {first}") from e
    if isinstance(model, str):
        if image_shape is None:
            raise ValueError(f"building the registered classifier {model!r} needs `image_shape`")
        return registry.create_model(model, input_shape=tuple(image_shape), **builder_kwargs)
    raise TypeError(
        "`model` must be a keras.Model, a .keras file path or a registered classifier "
        f"name; received model={model!r}"
    )


def _at_image_shape(model, image_shape):
    """`model` rebuilt from its config for images of `image_shape`, with its weights."""
    current = tuple(model.inputs[0].shape[1:])
    if image_shape is None or tuple(image_shape) == current:
        return model
    if len(model.inputs) != 1:
        raise ValueError(f"the classifier must have one image input; it has {len(model.inputs)}")
    config = model.get_config()
    input_layers = [layer for layer in config["layers"] if layer["class_name"] == "InputLayer"]
    if len(input_layers) != 1:
        raise ValueError("the classifier must be a functional model with one InputLayer to be "
                         f"rebuilt for image_shape={tuple(image_shape)}")
    input_layers[0]["config"]["batch_shape"] = (None, *image_shape)
    rebuilt = model.__class__.from_config(config)
    rebuilt.set_weights(model.get_weights())
    return rebuilt


@keras.saving.register_keras_serializable(package="keras_aw")
class GraphBackbone(keras_hub.models.FeaturePyramidBackbone):
    """A functional network with named feature maps as a keras-hub `FeaturePyramidBackbone`.

    Holds ``network``, a functional model from the image to a dict of
    ``"P{i}"`` feature maps (stride ``2**i``) and, optionally, ``"output"``
    (the backbone's own output; the deepest level if absent), and exposes the
    levels as keras-hub's ``pyramid_outputs``. So a classifier's trunk
    (`encoder_from_classifier`) or a converted keras-hub backbone
    (`keras_aw.convert_to_aw`) is usable wherever keras-hub takes a backbone:
    `FPNBackbone`, keras-hub's `RetinaNetBackbone`,
    `keras_hub.models.ImageClassifier`. Saves and loads as a `.keras` file.

    Args:
        network: the functional model (or its serialized form).
        input_scale: factor applied to the images before `network` (e.g. 255
            for a classifier that takes 0-255 pixels inside a detector fed
            [0, 1] images); 1.0 applies none.
        dtype: dtype or `keras.DTypePolicy`.
        **kwargs: `keras_hub.models.Backbone` arguments (`name`, ...).

    Example:

    >>> import keras
    >>> inputs = keras.Input((32, 32, 3))
    >>> c2 = keras.layers.Conv2D(4, 3, strides=4, padding="same")(inputs)
    >>> c3 = keras.layers.Conv2D(8, 3, strides=2, padding="same")(c2)
    >>> bb = GraphBackbone(keras.Model(inputs, {"P2": c2, "P3": c3}))
    >>> {k: tuple(v.shape) for k, v in bb.pyramid_outputs.items()}
    {'P2': (None, 8, 8, 4), 'P3': (None, 4, 4, 8)}
    """

    def __init__(self, network, input_scale=1.0, dtype=None, **kwargs):
        if isinstance(network, dict):
            network = keras.saving.deserialize_keras_object(network)
        outputs = getattr(network, "output", None) if isinstance(network, keras.Model) else None
        levels = sorted((k for k in outputs if k != "output"), key=lambda k: int(k[1:])) \
            if isinstance(outputs, dict) else []
        if not levels or not all(k[:1] == "P" and k[1:].isdigit() for k in levels):
            raise TypeError("`network` must be a functional keras.Model returning a dict of "
                            "pyramid levels 'P2', 'P3', ... (and optionally 'output'); "
                            f"received network={network!r}")
        if isinstance(input_scale, bool) or not isinstance(input_scale, (int, float)) \
                or input_scale <= 0:
            raise ValueError(f"`input_scale` must be a positive number; received "
                             f"input_scale={input_scale!r}")
        image_input = keras.layers.Input(tuple(network.inputs[0].shape[1:]), name="images")
        x = image_input
        if input_scale != 1.0:
            x = keras.layers.Rescaling(float(input_scale), name="input_scale")(x)
        features = network(x)
        output = features["output"] if "output" in features else features[levels[-1]]
        super().__init__(inputs=image_input, outputs=output, dtype=dtype, **kwargs)
        self.network = network
        self.input_scale = float(input_scale)
        self.image_shape = tuple(network.inputs[0].shape[1:])
        self.pyramid_outputs = {k: features[k] for k in levels}

    def get_config(self):
        config = super().get_config()
        config.update(network=keras.saving.serialize_keras_object(self.network),
                      input_scale=self.input_scale)
        return config


def encoder_from_classifier(model, image_shape=None, levels=None, input_scale=1.0,
                            min_level=1, max_level=5, name="image_encoder", **builder_kwargs):
    """Any keras_aw classifier (with its trained weights) as a detector's image encoder.

    The pyramid levels are taken where the network's strides say: level ``i``
    is the output of the last layer whose output is ``2**i`` times smaller than
    the image (`stride_levels`). Everything after the deepest level (global
    pooling, the classifier) is dropped; the weights are the classifier's own
    (shared with `model` when it is given as a model at the same image size).

    Args:
        model: a classifier `keras.Model` (e.g. from a registered builder or
            `keras_aw_tools.training.build_model`, rescaling layer included),
            the path of a `.keras` file written by ``keras-aw train``, or a
            registered classifier name (built with random weights, for tests).
        image_shape: (H, W, C) of the detector's images. Defaults to the
            classifier's own; another size rebuilds the classifier from its
            config for that size and copies its weights (convolutional weights
            do not depend on the image size).
        levels: optional dict ``{"P3": layer name, ...}`` overriding the
            stride search.
        input_scale: factor applied to the detector's images before the
            classifier (e.g. ``255.0`` for a ``keras-aw train`` classifier, which
            takes 0-255 pixels, inside a detector fed [0, 1] images).
        min_level, max_level: the levels kept (of those found).
        name: the encoder's name.
        **builder_kwargs: arguments of the registered builder when `model` is a name.

    Returns:
        A `GraphBackbone` (a `keras_hub.models.FeaturePyramidBackbone`)
        for `encoder=` of the detector builders, or `FPNBackbone`.

    Raises:
        TypeError: `model` is none of the above.
        ValueError: an unreadable file, a layer name not in the model, no level
            in ``[min_level, max_level]``, or an input of unknown size.

    Example:

    >>> from keras_aw.applications import SmallCNN
    >>> cnn = SmallCNN((32, 32, 3), widths=(8, 16, 16, 16, 16))
    >>> enc = encoder_from_classifier(cnn, image_shape=(64, 64, 3), min_level=3)
    >>> {k: tuple(v.shape) for k, v in enc.pyramid_outputs.items()}
    {'P3': (None, 8, 8, 16), 'P4': (None, 4, 4, 16), 'P5': (None, 2, 2, 16)}
    """
    classifier = _load_classifier(model, image_shape, builder_kwargs)
    if not isinstance(classifier, keras.Model) or not hasattr(classifier, "layers") \
            or len(classifier.inputs) != 1:
        raise TypeError("`model` must be a functional classifier with one image input; "
                        f"received model={model!r}")
    if image_shape is not None:
        image_shape = _image_shape(image_shape, "channels_last")
    classifier = _at_image_shape(classifier, image_shape)
    data_format = "channels_last" if classifier.inputs[0].shape[-1] in (1, 3, 4) \
        else "channels_first"
    if levels is None:
        found = stride_levels(classifier, data_format)
        levels = {k: v for k, v in found.items() if min_level <= int(k[1:]) <= max_level}
    if not isinstance(levels, dict) or not levels:
        raise ValueError(
            f"no pyramid level in P{min_level}..P{max_level} found in {classifier.name!r} "
            f"(its strides give {stride_levels(classifier, data_format)}); pass `levels=` "
            "or another image_shape"
        )
    names = {layer.name for layer in classifier.layers}
    unknown = {k: v for k, v in levels.items() if v not in names}
    if unknown:
        raise ValueError(f"`levels` names layers not in {classifier.name!r}: {unknown}")
    network = keras.Model(classifier.inputs[0],
                          {k: classifier.get_layer(v).output for k, v in levels.items()},
                          name=f"{classifier.name}_trunk")
    return GraphBackbone(network, input_scale=input_scale, name=name)
