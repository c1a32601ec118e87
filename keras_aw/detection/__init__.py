"""Object detection with AW-FPN (the paper's Table 2) on keras-hub's RetinaNet.

- `FeaturePyramid`: the FPN layer with the paper's variants (AW lateral and
  output convolutions, SE / CBAM right before them). Plain Keras.
- `ResNetEncoder`, `MobileNetEncoder`, `FPNBackbone`: keras_aw networks as
  keras-hub image encoders, and encoder + pyramid as a RetinaNet backbone
  (module `keras_aw.detection.backbone`; need keras-hub).
- `build_retinanet` and the registered variants (`FPNResNet101`,
  `AWFPNResNet101`, ..., `AWCBAMFPNResNetSmall`): RetinaNet detectors.
- `encoder_from_classifier`, `GraphBackbone`: a trained classifier as an encoder.
- `load_encoder`, `freeze_encoder`: an ImageNet-pretrained encoder (keras-hub preset,
  keras.applications ResNet weights file, keras_aw weights or classifier) and
  Detectron2's fine-tuning freezes (module `keras_aw.detection.pretrained`).
- `GraphImageClassifier`, `ResNetEncoderImageClassifier`,
  `MobileNetEncoderImageClassifier`, `FPNRetinaNetObjectDetector`: keras-hub
  tasks on those backbones, so that keras-hub presets load by class (module
  `keras_aw.detection.tasks`; the builders return `FPNRetinaNetObjectDetector`).
- `correct_retinanet`, `initialize_retinanet_heads`, `BatchNonMaxSuppression`:
  keras-hub 0.32's RetinaNet corrected (head biases of the focal-loss paper,
  `predict` at any batch size on TensorFlow); the builders apply them.
- `keras_aw.detection.hub.retinanet_to_aw`: a keras-hub RetinaNet (keras-hub's
  FPN) to AW-FPN with its trained weights and outputs kept.
- `export_detector`: raw predictions to SavedModel / TFLite, checked for parity
  (`keras_aw.deploy`, the implementation of `keras_aw.export`).
- `profile_table2`: parameters and GFLOPs of the Table 2 backbones.
- `coco_metrics`, `evaluate_detector`: COCO AP / AP50 / AP75 with pycocotools;
  `CocoEvaluator`, `evaluate_coco`: streaming COCO evaluation of a split.

keras-hub and pycocotools are the optional extra: ``pip install "keras-aw[detection]"``.
Importing this package imports neither (``import keras_aw`` imports it, so the
registry lists the detectors); the names that need them import them when first
used and raise an ImportError saying how to install them.

Loading a saved detector works once `keras_aw` is imported: the keras-hub
classes of `keras_aw.detection.backbone` (`ResNetEncoder`, `MobileNetEncoder`,
`FPNBackbone`) are registered with Keras under their names by stand-ins that
import that module (and keras-hub) when a file holding one is loaded; importing
`keras_aw.detection.backbone` registers the classes themselves. keras-hub's
`from_preset` looks the classes up without loading a file: in a new process,
``import keras_aw.detection.tasks`` (which every keras-hub name here imports)
before it.
"""

import keras

from keras_aw.detection import detectors
from keras_aw.detection.detectors import *  # noqa: F401,F403  (the named detectors)
from keras_aw.detection.detectors import build_encoder, build_retinanet
from keras_aw.deploy import DetectorExport, export_detector  # the one export path
from keras_aw.detection.fpn import FeaturePyramid
from keras_aw.detection.heads import initialize_retinanet_heads
from keras_aw.detection.profile import format_table2_profile, profile_table2

_HUB_NAMES = ("ResNetEncoder", "MobileNetEncoder", "FPNBackbone", "resnet_pyramid_outputs",
              "mobilenet_pyramid_outputs", "GraphBackbone", "encoder_from_classifier",
              "stride_levels")
_TASK_NAMES = ("GraphImageClassifier", "ResNetEncoderImageClassifier",
               "MobileNetEncoderImageClassifier", "FPNRetinaNetObjectDetector")
_UPSTREAM_NAMES = ("BatchNonMaxSuppression", "correct_retinanet")
_PRETRAINED_NAMES = ("load_encoder", "freeze_encoder")
_COCO_NAMES = ("coco_metrics", "evaluate_detector", "predict_detections", "check_targets",
               "to_xyxy", "CocoEvaluator", "evaluate_coco")


class _LoadedWithBackbone:
    """Stands in for a class of `keras_aw.detection.backbone` in Keras's registry.

    `keras.saving.load_model` finds it under the class's registered name and calls
    `from_config`, which imports the module (keras-hub with it; importing it
    registers the real class in this one's place) and builds the real object.
    Backbones and tasks come from `keras_aw.detection.tasks`, which registers both.
    """

    def __init__(self, name, module="backbone"):
        self.__name__ = name
        self.module = module

    def from_config(self, config):
        import importlib

        if self.module in ("backbone", "tasks"):
            importlib.import_module("keras_aw.detection.tasks")
        module = importlib.import_module(f"keras_aw.detection.{self.module}")
        return getattr(module, self.__name__).from_config(config)


for _name, _module in (("ResNetEncoder", "backbone"), ("MobileNetEncoder", "backbone"),
                       ("FPNBackbone", "backbone"), ("GraphBackbone", "backbone"),
                       ("BatchNonMaxSuppression", "upstream"),
                       # coco-1x's Detectron2 loss and matching (`upstream.detectron2_loss`)
                       ("SigmoidFocalLoss", "upstream"), ("SmoothL1Loss", "upstream"),
                       ("LowQualityBoxMatcher", "upstream"),
                       ("Detectron2LabelEncoder", "upstream"),
                       *((name, "tasks") for name in _TASK_NAMES)):
    keras.saving.get_custom_objects().setdefault(f"keras_aw>{_name}",
                                                 _LoadedWithBackbone(_name, _module))
del _name, _module


def __getattr__(name):
    if name in _HUB_NAMES or name in _TASK_NAMES:
        from keras_aw.detection import backbone, tasks  # tasks: keras-hub finds them by class

        return getattr(tasks if name in _TASK_NAMES else backbone, name)
    if name in _PRETRAINED_NAMES:
        from keras_aw.detection import pretrained, tasks  # noqa: F401  (tasks: as above)

        return getattr(pretrained, name)
    if name in _UPSTREAM_NAMES:
        from keras_aw.detection import upstream

        return getattr(upstream, name)
    if name in _COCO_NAMES:
        from keras_aw.detection import evaluation

        return getattr(evaluation, name)
    raise AttributeError(f"module 'keras_aw.detection' has no attribute {name!r}")


__all__ = ["FeaturePyramid", "build_retinanet", "build_encoder", "export_detector",
           "initialize_retinanet_heads",
           "DetectorExport", "profile_table2", "format_table2_profile",
           *_HUB_NAMES, *_TASK_NAMES, *_PRETRAINED_NAMES, *_UPSTREAM_NAMES, *_COCO_NAMES,
           *detectors.MODELS]


def __dir__():
    return sorted(__all__)
