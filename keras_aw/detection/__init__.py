"""Object detection with AW-FPN (the paper's Table 2) on keras-hub's RetinaNet.

- `FeaturePyramid`: the FPN layer with the paper's variants (AW lateral and
  output convolutions, SE / CBAM right before them). Plain Keras.
- `ResNetEncoder`, `MobileNetEncoder`, `FPNBackbone`: keras_aw networks as
  keras-hub image encoders, and encoder + pyramid as a RetinaNet backbone
  (need keras-hub).
- `FPNRetinaNet` and the registered variants (`FPNResNet101`,
  `AWFPNResNet101`, ..., `AWCBAMFPNResNetSmall`): RetinaNet detectors.
- `encoder_from_classifier`, `GraphBackbone`: a trained classifier as an encoder.
- `correct_retinanet`, `initialize_retinanet_heads`, `BatchNonMaxSuppression`:
  keras-hub 0.32's RetinaNet corrected (head biases of the focal-loss paper,
  `predict` at any batch size on TensorFlow); the builders apply them.
- `keras_aw.detection.hub.retinanet_to_aw`: a keras-hub RetinaNet (keras-hub's
  FPN) to AW-FPN with its trained weights and outputs kept.
- `export_detector`: raw predictions to SavedModel / TFLite, checked for parity.
- `profile_table2`: parameters and GFLOPs of the Table 2 backbones.
- `coco`: COCO AP / AP50 / AP75 with pycocotools; `evaluate_detector`.

keras-hub and pycocotools are the optional extra: ``pip install keras-aw[detection]``.
Without them, ``import keras_aw.detection`` still works; the names that need
them raise an ImportError saying how to install them.
"""

import importlib.util

from keras_aw.detection import detectors
from keras_aw.detection.detectors import *  # noqa: F401,F403  (registers the builders)
from keras_aw.detection.detectors import FPNRetinaNet, build_encoder
from keras_aw.detection.export import DetectorExport, export_detector
from keras_aw.detection.fpn import FeaturePyramid
from keras_aw.detection.heads import initialize_retinanet_heads
from keras_aw.detection.profile import format_table2_profile, profile_table2

_HUB_NAMES = ("ResNetEncoder", "MobileNetEncoder", "FPNBackbone", "resnet_pyramid_outputs",
              "mobilenet_pyramid_outputs", "GraphBackbone", "encoder_from_classifier",
              "stride_levels")
_UPSTREAM_NAMES = ("BatchNonMaxSuppression", "correct_retinanet")
_COCO_NAMES = ("coco_metrics", "evaluate_detector", "predict_detections",
               "check_targets", "to_xyxy")

if importlib.util.find_spec("keras_hub") is not None:
    # Registers the encoder/backbone classes for deserialization of saved detectors.
    from keras_aw.detection.backbone import (  # noqa: F401
        FPNBackbone, MobileNetEncoder, ResNetEncoder, mobilenet_pyramid_outputs,
        resnet_pyramid_outputs,
    )
    from keras_aw.detection.upstream import BatchNonMaxSuppression  # noqa: F401


def __getattr__(name):
    if name in _HUB_NAMES:
        from keras_aw.detection import backbone

        return getattr(backbone, name)
    if name in _UPSTREAM_NAMES:
        from keras_aw.detection import upstream

        return getattr(upstream, name)
    if name in _COCO_NAMES:
        from keras_aw.detection import evaluation

        return getattr(evaluation, name)
    raise AttributeError(f"module 'keras_aw.detection' has no attribute {name!r}")


__all__ = ["FeaturePyramid", "FPNRetinaNet", "initialize_retinanet_heads", "build_encoder",
           "detectors", "export_detector",
           "DetectorExport", "profile_table2", "format_table2_profile",
           *_HUB_NAMES, *_UPSTREAM_NAMES, *_COCO_NAMES, *detectors.__all__]
