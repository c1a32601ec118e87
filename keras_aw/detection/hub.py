"""Warm starts from keras-hub models: AW backbones and AW-FPN RetinaNets with trained weights.

- `as_pyramid_backbone`: what `keras_aw.convert_to_aw` returns for a keras-hub
  `FeaturePyramidBackbone` (e.g. `keras_hub.models.ResNetBackbone`, random or
  ``from_preset``): the converted graph as a `GraphBackbone` with the source's
  ``pyramid_outputs``, usable wherever the source was (`ImageClassifier`,
  `RetinaNetBackbone`, `FPNBackbone`), saving and loading as `.keras`.
- `retinanet_to_aw`: a keras-hub `RetinaNetObjectDetector` with keras-hub's own
  FPN (a COCO preset in real use) becomes the same detector on keras_aw's
  `FeaturePyramid` with AW lateral and output convolutions, every trained
  weight kept. With ``identity_start`` (default) every AW branch starts at the
  constant attention 1e-6, so the detector's outputs equal the original's up
  to that scale before fine-tuning (the residual form ``K + A K`` of
  `keras_aw.convert_to_aw`).

Needs keras-hub (``pip install keras-aw[detection]``).
"""

import keras
import numpy as np

from keras_aw._graph import tensor_in
from keras_aw.detection._hub import require_keras_hub
from keras_aw.detection.backbone import FPNBackbone, GraphBackbone
from keras_aw.detection.tasks import FPNRetinaNetObjectDetector
from keras_aw.detection.upstream import batch_agnostic_decoder
from keras_aw.layers import AWConv2D
from keras_aw.layers.identity import identity_init, identity_value

keras_hub = require_keras_hub()


def as_pyramid_backbone(source, converted):
    """`converted` (a functional clone of keras-hub backbone `source`) as a `GraphBackbone`.

    Args:
        source: a `keras_hub.models.FeaturePyramidBackbone` (its ``pyramid_outputs``
            name the levels).
        converted: a functional copy of `source` with the same layer names
            (what `keras.models.clone_model` returns, e.g. inside `convert_to_aw`).

    Returns:
        A `GraphBackbone` with the same ``pyramid_outputs`` keys and output.
    """
    pyramid = getattr(source, "pyramid_outputs", None)
    if not isinstance(pyramid, dict) or not pyramid:
        raise TypeError("`source` must be a keras-hub FeaturePyramidBackbone with "
                        f"`pyramid_outputs`; received source={source!r}")
    if len(converted.inputs) != 1 or len(converted.outputs) != 1:
        raise ValueError("only single-input, single-output backbones can be wrapped; "
                         f"{source.name!r} has {len(converted.inputs)} inputs and "
                         f"{len(converted.outputs)} outputs")
    outputs = {level: tensor_in(converted, t) for level, t in pyramid.items()}
    outputs["output"] = converted.outputs[0]
    network = keras.Model(converted.inputs[0], outputs, name=f"{source.name}_network")
    return GraphBackbone(network, dtype=source.dtype_policy, name=source.name)


def _copy_layer(source, target):
    """Copies `source`'s kernel and bias into `target` (numpy copies)."""
    target.kernel.assign(np.array(keras.ops.convert_to_numpy(source.kernel), copy=True))
    if source.use_bias:
        target.bias.assign(np.array(keras.ops.convert_to_numpy(source.bias), copy=True))


def _copy_model(model):
    """A new instance of a keras-hub model/layer with `model`'s weights."""
    copy = model.__class__.from_config(model.get_config())
    copy.set_weights(model.get_weights())
    return copy


def retinanet_to_aw(detector, aw=True, attention=None, cbam="full", identity_start=True):
    """A keras-hub RetinaNet with keras-hub's FPN, rebuilt on an AW-FPN, weights kept.

    The new detector is a `keras_hub.models.RetinaNetObjectDetector` with the
    same image encoder (a copy, with its weights), anchors, label encoder,
    heads (copied weights) and NMS settings, on an `FPNBackbone` whose
    `keras_aw.detection.FeaturePyramid` takes keras-hub's FPN weights: the
    lateral (1x1) and output (3x3) convolutions become `AWConv2D` with the same
    kernel and bias, the P6/P7 convolutions stay plain (as in keras-hub and in
    keras_aw's AW-FPN). The source detector is not changed.

    Args:
        detector: a `keras_hub.models.RetinaNetObjectDetector` whose backbone is
            a keras-hub `RetinaNetBackbone` without FPN BatchNorm (keras-hub's
            default and its COCO presets).
        aw: bool, AW-convolutions in the pyramid (True).
        attention: None, "se" or "cbam" right before those convolutions. SE and
            CBAM gate the features with a sigmoid, which has no identity start:
            with them the outputs change from the first step.
        cbam: CBAM form ("full", "maxpool", "spatial").
        identity_start: True, False or a float in (0, 0.5), as in
            `keras_aw.convert_to_aw`: True starts every AW attention at 1e-6, so
            the outputs equal the source's before fine-tuning.

    Returns:
        The new detector, a `keras_aw.detection.FPNRetinaNetObjectDetector` (keras-hub's
        `RetinaNetObjectDetector` on an `FPNBackbone`; not compiled).

    Raises:
        TypeError: `detector` is not a keras-hub RetinaNet with a `RetinaNetBackbone`.
        ValueError: the FPN uses BatchNorm, or `identity_start` is out of range.

    Example:

    >>> import keras_hub
    >>> from keras_aw.detection import ResNetEncoder
    >>> enc = ResNetEncoder((1, 1, 1, 1), image_shape=(64, 64, 3))
    >>> bb = keras_hub.models.RetinaNetBackbone(enc, 3, 5, use_p5=False,
    ...                                         image_shape=(64, 64, 3))
    >>> det = keras_hub.models.RetinaNetObjectDetector(bb, num_classes=3,
    ...                                                pre_logits_num_conv_layers=1)
    >>> aw = retinanet_to_aw(det)
    >>> type(aw.backbone.feature_pyramid.lateral_convs["P3"]).__name__
    'AWConv2D'
    """
    if not isinstance(detector, keras_hub.models.RetinaNetObjectDetector) or not isinstance(
            detector.backbone, keras_hub.models.RetinaNetBackbone):
        raise TypeError(
            "`detector` must be a keras_hub.models.RetinaNetObjectDetector on a keras-hub "
            f"RetinaNetBackbone (keras-hub's FPN); received detector={detector!r}")
    source = detector.backbone
    if source.use_fpn_batch_norm:
        raise ValueError("retinanet_to_aw supports keras-hub's FPN without BatchNorm "
                         "(use_fpn_batch_norm=False, keras-hub's default); received a "
                         "backbone with use_fpn_batch_norm=True")
    a0 = identity_value(identity_start)
    hub_fpn = source.feature_pyramid
    backbone = FPNBackbone(
        _copy_model(source.image_encoder), source.min_level, source.max_level,
        filters=hub_fpn.num_filters, aw=aw, attention=attention, cbam=cbam,
        use_p5=source.use_p5,
        image_shape=source.image_shape, data_format=hub_fpn.data_format,
        dtype=source.dtype_policy, name=source.name)
    fpn = backbone.feature_pyramid
    for level, conv in fpn.lateral_convs.items():
        _copy_layer(hub_fpn.lateral_conv_layers[level], conv)
    for level, conv in {**fpn.output_convs, **fpn.coarser_convs}.items():
        _copy_layer(hub_fpn.output_conv_layers[level], conv)
    if a0 is not None:
        for conv in (*fpn.lateral_convs.values(), *fpn.output_convs.values()):
            if isinstance(conv, AWConv2D):
                identity_init(conv, a0, conv.residual)

    decoder = detector.prediction_decoder
    if isinstance(decoder, keras_hub.layers.NonMaxSuppression):
        decoder = batch_agnostic_decoder(decoder)
    else:
        decoder = keras.layers.deserialize(keras.layers.serialize(decoder))
    new = FPNRetinaNetObjectDetector(
        backbone=backbone, num_classes=detector.num_classes,
        bounding_box_format=detector.bounding_box_format,
        anchor_generator=keras.layers.deserialize(
            keras.layers.serialize(detector.anchor_generator)),
        label_encoder=keras.layers.deserialize(keras.layers.serialize(detector.label_encoder)),
        use_prediction_head_norm=detector.use_prediction_head_norm,
        pre_logits_num_conv_layers=detector.pre_logits_num_conv_layers,
        preprocessor=detector.preprocessor, activation=detector.activation,
        prediction_decoder=decoder, dtype=detector.dtype_policy, name=detector.name,
    )
    new.box_head.set_weights(detector.box_head.get_weights())
    new.classification_head.set_weights(detector.classification_head.get_weights())
    return new


__all__ = ["as_pyramid_backbone", "retinanet_to_aw"]
