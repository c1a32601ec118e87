"""ImageNet-pretrained image encoders for the detectors, and the usual fine-tuning freezes.

- `load_encoder(encoder_weights, image_shape, ...)`: an encoder for `encoder=` of
  `build_retinanet` and of every registered detector, from

  * a keras-hub preset name (``"resnet_50_imagenet"``, ``"resnet_101_imagenet"``, a
    ``kaggle://`` / ``hf://`` handle; keras-hub downloads it where the user is online)
    or a local preset directory (``save_to_preset``): keras-hub's `ResNetBackbone` (any
    keras-hub `FeaturePyramidBackbone` with P3..P5), as it is;
  * a ResNet weights file in keras.applications' layout (``.h5``: what
    ``keras.applications.ResNet101(weights="imagenet")`` downloads, with or without the
    top, or a ``.weights.h5`` written by Keras 3's ``save_weights`` of a
    keras.applications ResNet50/101/152 or of a plain keras_aw `ResNet` /
    `ResNetEncoder`): loaded into the package's v1 `ResNetEncoder`;
  * a keras_aw classifier ``.keras`` file (`encoder_from_classifier`, as before).

  The encoder takes the detector's RGB images and normalizes them itself, first layer
  ``input_normalization`` (a `keras.layers.Rescaling` with per-channel scale and
  offset): ``pixels * scale + offset`` with ``pixels = images * input_scale`` (0..255).
  keras.applications weights expect "caffe" inputs (BGR, ImageNet mean subtracted, no
  scaling): the mean is subtracted in RGB order and the first convolution's kernel is
  flipped along its input channels, so the network sees exactly what keras.applications
  would. keras-hub presets expect their `ImageConverter`'s ``x * scale + offset``
  (ImageNet mean/std on [0, 1] pixels): read from the preset, so the same numbers.
- `freeze_encoder(encoder, batchnorm=True, stages=1)`: Detectron2's fine-tuning choices
  (``FREEZE_AT=2``, frozen BatchNorm): every BatchNormalization of the encoder in
  inference mode (``trainable=False``), the stem and the first `stages` stages not
  trainable. Call it before ``compile``.

This module needs keras-hub (``pip install keras-aw[detection]``).
"""

import os
import re

import h5py
import numpy as np

import keras

from keras_aw.applications import resnet
from keras_aw.detection._hub import require_keras_hub
from keras_aw.detection.backbone import GraphBackbone, ResNetEncoder, encoder_from_classifier

keras_hub = require_keras_hub()

#: keras.applications' "caffe" mean, in RGB order (its preprocess_input subtracts it in BGR).
CAFFE_MEAN_RGB = (123.68, 116.779, 103.939)
#: ImageNet mean and std of [0, 1] pixels (torchvision, timm, keras-hub's ResNet presets).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
NORMALIZATIONS = ("auto", "caffe", "imagenet", None)
#: Convolutions of a keras.applications-layout ResNet by depth: stem + 3 per block + 1 per stage.
_CONVS = {1 + 3 * sum(blocks) + len(blocks): depth for depth, blocks in resnet.STACKS.items()}
_HANDLES = ("kaggle://", "hf://", "modelscope://", "gs://")


def _error_value(argument, value, problem):
    return ValueError(f"`{argument}` {problem}; received {argument}={value!r}")


# --- normalization --------------------------------------------------------------------


def _scale_offset(normalization, input_scale, converter=None):
    """Per-channel (scale, offset): ``images * scale + offset`` is what the weights expect."""
    if normalization == "caffe":
        scale, offset = [1.0] * 3, [-m for m in CAFFE_MEAN_RGB]
    elif normalization == "imagenet":
        scale = [1.0 / (255.0 * s) for s in IMAGENET_STD]
        offset = [-m / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)]
    elif normalization == "converter":
        scale = np.broadcast_to(np.asarray(converter.scale if converter.scale is not None
                                           else 1.0, "float64"), (3,)).tolist()
        offset = np.broadcast_to(np.asarray(converter.offset if converter.offset is not None
                                            else 0.0, "float64"), (3,)).tolist()
    else:
        scale, offset = [1.0] * 3, [0.0] * 3
    return [float(s) * input_scale for s in scale], [float(o) for o in offset]


def _wrap(trunk_inputs, pyramid, image_shape, scale, offset, name):
    """`GraphBackbone`: images -> ``input_normalization`` -> the trunk's P2..P5."""
    levels = sorted((k for k in pyramid if 2 <= int(k[1:]) <= 5), key=lambda k: int(k[1:]))
    trunk = keras.Model(trunk_inputs, {k: pyramid[k] for k in levels}, name=f"{name}_trunk")
    images = keras.Input(tuple(image_shape), name="images")
    x = images
    if scale != [1.0] * 3 or offset != [0.0] * 3:
        x = keras.layers.Rescaling(scale, offset, name="input_normalization")(x)
    network = keras.Model(images, trunk(x), name=f"{name}_network")
    return GraphBackbone(network, name=name)


# --- keras-hub presets ----------------------------------------------------------------


def _is_preset_name(value):
    if value.startswith(_HANDLES):
        return True
    return value in keras_hub.models.Backbone.presets


def _from_preset(preset, image_shape, stack_blocks, input_scale, normalization, name):
    try:
        backbone = keras_hub.models.Backbone.from_preset(preset, image_shape=tuple(image_shape))
    except Exception as e:  # noqa: BLE001 - keras-hub raises many types (network, files, ...)
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"cannot load the keras-hub preset encoder_weights={preset!r}: "
                         f"{first}") from e
    pyramid = getattr(backbone, "pyramid_outputs", None) or {}
    missing = [k for k in ("P3", "P4", "P5") if k not in pyramid]
    if missing:
        raise ValueError(f"the keras-hub preset encoder_weights={preset!r} is a "
                         f"{type(backbone).__name__} without the pyramid levels {missing}")
    blocks = getattr(backbone, "stackwise_num_blocks", None)
    if stack_blocks is not None and blocks is not None \
            and tuple(blocks) != tuple(_stack_blocks(stack_blocks)):
        raise ValueError(f"the keras-hub preset encoder_weights={preset!r} has blocks per "
                         f"stage {tuple(blocks)}, not stack_blocks={stack_blocks!r}")
    converter = None
    if normalization == "auto":
        try:
            converter = keras_hub.layers.ImageConverter.from_preset(preset)
            normalization = "converter"
        except Exception:  # noqa: BLE001 - a preset without image_converter.json
            normalization = "imagenet"
    scale, offset = _scale_offset(normalization, input_scale, converter)
    return _wrap(backbone.inputs, pyramid, image_shape, scale, offset, name)


# --- ResNet weights files in keras.applications' layout -------------------------------


def _natural(key):
    """``"conv2d_12"`` -> ("conv2d", 12): Keras 3 numbers same-class layers in model order."""
    match = re.fullmatch(r"(.*?)(?:_(\d+))?", key)
    return match.group(1), int(match.group(2) or 0)


def read_weights_file(path):
    """The layers of a Keras weights file: a list of ``(layer key, [arrays])`` in model order.

    Reads both formats with h5py: Keras 3's ``.weights.h5`` (``layers/<key>/vars/<i>``,
    keys named after the layer class: ``conv2d``, ``conv2d_1``, ...) and the legacy HDF5
    format of keras.applications' downloads (root attribute ``layer_names``, each layer's
    ``weight_names``; the real layer names). Layers without weights are left out.
    """
    with h5py.File(path, "r") as f:
        if "layer_names" in f.attrs or "model_weights" in f:
            group = f["model_weights"] if "model_weights" in f else f
            out = []
            for raw in group.attrs["layer_names"]:
                key = raw.decode() if isinstance(raw, bytes) else str(raw)
                names = [n.decode() if isinstance(n, bytes) else str(n)
                         for n in group[key].attrs["weight_names"]]
                if names:
                    out.append((key, [np.asarray(group[key][n]) for n in names]))
            return out
        if "layers" not in f:
            raise ValueError(f"`encoder_weights` is no Keras weights file (no 'layers' group "
                             f"nor 'layer_names'); received encoder_weights={path!r}")
        out = []
        for key in sorted(f["layers"].keys(), key=_natural):
            layer = f["layers"][key]
            if set(layer.keys()) - {"vars"}:  # nested sublayers: not a plain ResNet
                out.append((key, None))
                continue
            arrays = [np.asarray(layer["vars"][str(i)]) for i in range(len(layer["vars"]))]
            if arrays:
                out.append((key, arrays))
        return out


def _kind(arrays):
    if arrays is None:
        return "other"
    if arrays[0].ndim == 4 and len(arrays) in (1, 2):
        return "conv"
    if len(arrays) == 4 and all(a.ndim == 1 for a in arrays):
        return "bn"
    if arrays[0].ndim == 2 and len(arrays) in (1, 2):
        return "dense"
    return "other"


def _stack_blocks(stack_blocks):
    if isinstance(stack_blocks, int) and not isinstance(stack_blocks, bool):
        if stack_blocks not in resnet.STACKS:
            raise _error_value("stack_blocks", stack_blocks,
                               f"must be a depth in {tuple(resnet.STACKS)} or blocks per stage")
        return resnet.STACKS[stack_blocks]
    if not isinstance(stack_blocks, (tuple, list)) or not stack_blocks or not all(
            isinstance(b, int) and not isinstance(b, bool) and b > 0 for b in stack_blocks):
        raise _error_value("stack_blocks", stack_blocks,
                           "must be a depth (50, 101, 152) or a tuple of positive ints")
    return tuple(stack_blocks)


def _from_weights_file(path, image_shape, stack_blocks, input_scale, normalization, name):
    layers = read_weights_file(path)
    other = [key for key, arrays in layers if _kind(arrays) == "other"]
    if other:
        raise ValueError(f"`encoder_weights` {path!r} is not a plain ResNet in "
                         f"keras.applications' layout: layer {other[0]!r} is neither a "
                         "convolution, a BatchNormalization nor the classifier")
    convs = [(k, a) for k, a in layers if _kind(a) == "conv"]
    bns = [(k, a) for k, a in layers if _kind(a) == "bn"]
    if stack_blocks is None:
        if len(convs) not in _CONVS:
            raise ValueError(f"`encoder_weights` {path!r} holds {len(convs)} convolutions, no "
                             f"ResNet depth of {tuple(resnet.STACKS)}: pass `stack_blocks`")
        stack_blocks = resnet.STACKS[_CONVS[len(convs)]]
    stack_blocks = _stack_blocks(stack_blocks)
    encoder = ResNetEncoder(stack_blocks, image_shape=tuple(image_shape),
                            data_format="channels_last", name=f"{name}_resnet")
    enc_convs = [layer for layer in encoder.layers if isinstance(layer, keras.layers.Conv2D)]
    enc_bns = [layer for layer in encoder.layers
               if isinstance(layer, keras.layers.BatchNormalization)]
    if (len(convs), len(bns)) != (len(enc_convs), len(enc_bns)):
        raise ValueError(
            f"`encoder_weights` {path!r} holds a ResNet of {len(convs)} convolutions "
            f"({_depth_name(len(convs))}), not the {len(enc_convs)} of "
            f"stack_blocks={stack_blocks} ({_depth_name(len(enc_convs))})")
    biases = {}
    for (key, arrays), layer in zip(convs, enc_convs):
        _check_layer(path, key, layer, arrays[:1])
        if len(arrays) == 2:  # keras.applications' convolutions have a bias: see below
            biases[layer.name[:-len("_conv")] + "_bn"] = arrays[1]
    for (key, arrays), layer in zip(bns, enc_bns):
        _check_layer(path, key, layer, arrays)
    if normalization == "auto":
        normalization = "caffe" if biases else None
    for (key, arrays), layer in zip(convs, enc_convs):
        kernel = arrays[0]
        if normalization == "caffe" and layer is enc_convs[0]:
            kernel = kernel[:, :, ::-1, :]  # BGR -> RGB: the images stay RGB
        layer.set_weights([kernel])
    for (key, arrays), layer in zip(bns, enc_bns):
        gamma, beta, mean, variance = arrays
        # BN(conv(x) + b) = BN'(conv(x)) with moving mean m - b, exactly; in training mode the
        # batch mean absorbs b, so the bias-free layout computes the same function.
        layer.set_weights([gamma, beta, mean - biases.get(layer.name, 0.0), variance])
    scale, offset = _scale_offset(normalization, input_scale)
    return _wrap(encoder.inputs, encoder.pyramid_outputs, image_shape, scale, offset, name)


def _depth_name(num_convs):
    return f"ResNet{_CONVS[num_convs]}" if num_convs in _CONVS else "no standard depth"


def _check_layer(path, key, layer, arrays):
    """A ValueError naming the file and the first layer whose shapes or name differ."""
    expected = [tuple(w.shape) for w in layer.weights][:len(arrays)] \
        if isinstance(layer, keras.layers.Conv2D) else [tuple(w.shape) for w in layer.weights]
    found = [tuple(a.shape) for a in arrays]
    named = not re.fullmatch(r"(conv2d|batch_normalization)(_\d+)?", key)
    if found != expected or (named and key != layer.name):
        raise ValueError(
            f"`encoder_weights` {path!r} does not match the v1 ResNet layout at its layer "
            f"{key!r} (shapes {found}): the encoder's layer {layer.name!r} has {expected}")


# --- the entry point ------------------------------------------------------------------


def load_encoder(encoder_weights, image_shape, stack_blocks=None, input_scale=1.0,
                 normalization="auto", name="image_encoder", **classifier_kwargs):
    """A pretrained image encoder for the detectors (`build_retinanet`'s ``encoder=``).

    How `encoder_weights` is recognised, in this order:

    1. an existing directory: a keras-hub preset directory (``config.json``;
       `keras_hub.models.Backbone.from_preset`);
    2. an existing ``.keras`` file: a keras_aw classifier (`encoder_from_classifier`;
       `classifier_kwargs` go there);
    3. an existing ``.h5`` file (``.weights.h5`` included): a ResNet in
       keras.applications' layer layout, read with h5py and loaded into the package's
       v1 `ResNetEncoder` -- convolution by convolution and BatchNorm by BatchNorm in
       model order, each shape checked (and each name, where the file has names);
       keras.applications' convolution biases are folded into the following
       BatchNorm's moving mean (exact);
    4. a keras-hub preset name (``keras_hub.models.Backbone.presets``, e.g.
       ``"resnet_50_imagenet"``, ``"resnet_101_imagenet"``) or a ``kaggle://`` /
       ``hf://`` handle: downloaded by keras-hub (needs the network).

    Args:
        encoder_weights: str or path-like, see above.
        image_shape: (H, W, 3) of the detector's images (channels last).
        stack_blocks: optional depth (50, 101, 152) or blocks per stage; checked against
            the file or preset (a ValueError when they differ). None: the file's.
        input_scale: factor taking the detector's images to 0..255 pixels (1.0 for
            0..255 images, 255.0 for [0, 1] images).
        normalization: "auto" (the weights' own: "caffe" for keras.applications files,
            the preset's `ImageConverter` for keras-hub, none for keras_aw encoder
            files), "caffe", "imagenet" (mean/std of [0, 1] pixels) or None.
        name: the encoder's name.
        **classifier_kwargs: `encoder_from_classifier` arguments, for ``.keras`` only.

    Returns:
        A `GraphBackbone` (keras-hub `FeaturePyramidBackbone`) with ``pyramid_outputs``
        P2..P5 (the `.keras` path: the levels its strides give), normalization inside.

    Raises:
        ValueError: an unknown name, a missing file, another depth than `stack_blocks`,
            a file not in the ResNet layout (naming the first mismatching layer).
        TypeError: `encoder_weights` is not a string or path.
    """
    if not isinstance(encoder_weights, (str, os.PathLike)):
        raise TypeError("`encoder_weights` must be a keras-hub preset name, a preset "
                        "directory or a weights file path; received "
                        f"encoder_weights={encoder_weights!r}")
    value = os.fspath(encoder_weights)
    if not isinstance(image_shape, (tuple, list)) or len(image_shape) != 3 \
            or image_shape[-1] != 3 or not all(isinstance(s, int) and s > 0
                                               for s in image_shape):
        raise _error_value("image_shape", image_shape, "must be (H, W, 3) with known H and W")
    if isinstance(input_scale, bool) or not isinstance(input_scale, (int, float)) \
            or input_scale <= 0:
        raise _error_value("input_scale", input_scale, "must be a positive number")
    if normalization not in NORMALIZATIONS:
        raise _error_value("normalization", normalization, f"must be one of {NORMALIZATIONS}")
    if stack_blocks is not None:
        _stack_blocks(stack_blocks)
    if classifier_kwargs and not value.endswith(".keras"):
        raise TypeError(f"{sorted(classifier_kwargs)}: arguments of `encoder_from_classifier`, "
                        f"only for a .keras file; received encoder_weights={value!r}")
    input_scale = float(input_scale)
    if os.path.isdir(value):
        if not os.path.isfile(os.path.join(value, "config.json")):
            raise _error_value("encoder_weights", value,
                               "is a directory without config.json, no keras-hub preset")
        return _from_preset(value, image_shape, stack_blocks, input_scale, normalization, name)
    if value.endswith((".keras", ".h5")):
        if not os.path.isfile(value):
            raise _error_value("encoder_weights", value, "names no file")
        if value.endswith(".keras"):
            if normalization not in ("auto", None) or stack_blocks is not None:
                raise ValueError("a .keras classifier carries its own preprocessing and "
                                 "depth: `normalization` and `stack_blocks` are for weights "
                                 f"files and presets; received encoder_weights={value!r}")
            return encoder_from_classifier(value, image_shape=tuple(image_shape),
                                           input_scale=input_scale, name=name,
                                           **classifier_kwargs)
        return _from_weights_file(value, image_shape, stack_blocks, input_scale,
                                  normalization, name)
    if os.path.exists(value):
        raise _error_value("encoder_weights", value,
                           "is neither a .keras, a .h5 file nor a preset directory")
    if _is_preset_name(value):
        return _from_preset(value, image_shape, stack_blocks, input_scale, normalization, name)
    resnets = sorted(k for k in keras_hub.models.ResNetBackbone.presets)
    raise _error_value("encoder_weights", value,
                       "is no file, preset directory nor keras-hub preset (ResNet presets: "
                       f"{', '.join(resnets)})")


# --- freezing -------------------------------------------------------------------------

_STEM = re.compile(r"(conv\d+_(pad|conv|bn|relu)|pool1_(pad|pool))")
_STAGE = re.compile(r"(?:conv(\d+)|stack(\d+))_block\d+_.*")


def _stage(layer_name):
    """0 for the stem, k for the k-th stage (res2 = 1), None for other layers."""
    if _STEM.fullmatch(layer_name):
        return 0
    match = _STAGE.fullmatch(layer_name)
    if match is None:
        return None
    return int(match.group(1)) - 1 if match.group(1) else int(match.group(2)) + 1


def _graph_layers(model):
    """The layers of `model`, nested functional models walked into (not custom layers)."""
    for layer in model.layers:
        if isinstance(layer, keras.Model) and hasattr(layer, "layers"):
            yield from _graph_layers(layer)
        else:
            yield layer


def _find_encoder(model):
    backbone = getattr(model, "backbone", None)
    if backbone is not None and hasattr(backbone, "image_encoder"):
        return backbone.image_encoder  # a RetinaNet on an FPNBackbone
    return getattr(model, "image_encoder", model)  # an FPNBackbone, or the encoder itself


def freeze_encoder(encoder, batchnorm=True, stages=1):
    """Freezes a detector's image encoder the way Detectron2 fine-tunes an ImageNet ResNet.

    - ``batchnorm=True``: every `keras.layers.BatchNormalization` of the encoder is set
      ``trainable=False``, which in Keras puts it in inference mode (its moving
      statistics are used and not updated, gamma and beta do not train): Detectron2's
      ``FrozenBN``. BatchNorms inside other layers (AW-convolution's attention, CBAM)
      are left alone, and nothing outside the encoder (FPN, heads) is touched.
    - ``stages=k``: the stem and the first k stages are not trainable (Detectron2's
      ``FREEZE_AT = k + 1``: ``stages=1`` is ``FREEZE_AT=2``, stem + res2); ``0``
      freezes the stem only, None no layer. Stages are found by layer name: the
      keras_aw / keras.applications ResNet (``conv1_*``, ``pool1_*``,
      ``conv{k+1}_block*``) and keras-hub's `ResNetBackbone` (``stack{k-1}_block*``).

    Call it before ``compile`` (Keras reads ``trainable`` when it compiles).

    Args:
        encoder: the encoder (`load_encoder`, `ResNetEncoder`, keras-hub's
            `ResNetBackbone`, ...), an `FPNBackbone`, or a detector on one (its
            ``backbone.image_encoder`` is frozen).
        batchnorm: bool, freeze the encoder's BatchNorms.
        stages: None or an int >= 0, see above.

    Returns:
        The encoder.

    Raises:
        TypeError: `encoder` is not a Keras model; a non-bool `batchnorm`.
        ValueError: a bad `stages`, or ``stages`` given for an encoder whose stages
            cannot be told by name, or more stages than it has.

    Example:

    >>> from keras_aw.detection import ResNetEncoder
    >>> enc = freeze_encoder(ResNetEncoder((1, 1, 1, 1), image_shape=(64, 64, 3)))
    >>> [enc.get_layer(n).trainable for n in ("conv1_conv", "conv2_block1_1_conv",
    ...                                        "conv3_block1_1_conv", "conv3_block1_1_bn")]
    [False, False, True, False]
    """
    if not isinstance(encoder, keras.Model):
        raise TypeError(f"`encoder` must be a Keras model (an encoder, an FPNBackbone or a "
                        f"detector); received encoder={encoder!r}")
    if not isinstance(batchnorm, bool):
        raise TypeError(f"`batchnorm` must be a bool; received batchnorm={batchnorm!r}")
    if stages is not None and (isinstance(stages, bool) or not isinstance(stages, int)
                               or stages < 0):
        raise _error_value("stages", stages, "must be None or an int >= 0")
    encoder = _find_encoder(encoder)
    layers = list(_graph_layers(encoder))
    if stages is not None:
        found = {_stage(layer.name) for layer in layers if layer.weights} - {None}
        if 0 not in found or len(found) < 2:  # a stem and stages, by ResNet names
            raise ValueError(f"`stages`: the stages of {encoder.name!r} cannot be told by layer "
                             "name (a ResNet layout is needed); pass stages=None; received "
                             f"stages={stages!r}")
        if stages > max(found):
            raise _error_value("stages", stages, f"exceeds the {max(found)} stages of "
                               f"{encoder.name!r}")
    for layer in layers:
        if batchnorm and isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
        stage = _stage(layer.name)
        if stages is not None and stage is not None and stage <= stages:
            layer.trainable = False
    return encoder
