"""keras-hub task classes for keras_aw's backbones, so that keras-hub presets load by class.

keras-hub's `from_preset` of a task class (``keras_hub.models.ImageClassifier``,
``ObjectDetector``, ``RetinaNetObjectDetector``, ...) reads the backbone class
of a preset's ``config.json`` and picks the registered subclass of the called
class whose ``backbone_cls`` is that backbone class: keras-hub's own
``ResNetImageClassifier`` for a ``ResNetBackbone``, and so on. These are the
keras_aw ones, one per keras_aw backbone class, as keras-hub pairs its own:

================================  ====================================  =====================
task class                        keras-hub base                        ``backbone_cls``
================================  ====================================  =====================
`GraphImageClassifier`            ``keras_hub.models.ImageClassifier``  `GraphBackbone`
`ResNetEncoderImageClassifier`    ``keras_hub.models.ImageClassifier``  `ResNetEncoder`
`MobileNetEncoderImageClassifier` ``keras_hub.models.ImageClassifier``  `MobileNetEncoder`
`FPNRetinaNetObjectDetector`      ``RetinaNetObjectDetector``           `FPNBackbone`
================================  ====================================  =====================

Each takes exactly its keras-hub base's arguments (`build_retinanet` and
`keras_aw.detection.hub.retinanet_to_aw` return `FPNRetinaNetObjectDetector`).
A model built from one of them saves with ``save_to_preset`` and loads with
``from_preset`` of its own class or of any keras-hub base class above it, with
its weights. keras_aw's models take images as they are: ``preprocessor_cls`` is
None, and a preprocessor given to the task is saved in the preset's
``task.json`` and comes back with it.

A task built from the keras-hub base class itself (``ImageClassifier(backbone=
graph_backbone, num_classes=3)``) saves a preset that keras-hub cannot match to
a task class, as for its own backbones; `keras_aw.export` with
``format="preset"`` (and ``keras-aw export --format preset``) saves it as the
class above.

Importing this module registers these classes and keras_aw's backbones with
Keras (keras-hub's `from_preset` needs them registered); every keras-hub name
of `keras_aw.detection` imports it. Needs keras-hub (``pip install
"keras-aw[detection]"``).
"""

import keras

from keras_aw.detection._hub import require_keras_hub
from keras_aw.detection.backbone import FPNBackbone, GraphBackbone, MobileNetEncoder, ResNetEncoder

keras_hub = require_keras_hub()


def _check(task_cls, backbone, num_classes):
    """Clear errors for a task built without `num_classes` or on another backbone class."""
    if num_classes is None:
        raise ValueError(
            f"{task_cls.__name__} needs `num_classes`; received num_classes=None. A preset "
            f"saved from keras-hub's base class (e.g. keras_hub.models.ImageClassifier) holds "
            f"no {task_cls.__name__}: load it with num_classes=N (the backbone's weights, a "
            f"new head), or save the model with keras_aw.export(model, path, "
            f"format='preset'), which saves it as {task_cls.__name__}")
    if not isinstance(backbone, task_cls.backbone_cls):
        raise TypeError(
            f"{task_cls.__name__} takes a {task_cls.backbone_cls.__name__} backbone; received "
            f"backbone={backbone!r}")


@keras.saving.register_keras_serializable(package="keras_aw")
class GraphImageClassifier(keras_hub.models.ImageClassifier):
    """keras-hub's `ImageClassifier` on a `GraphBackbone` (e.g. a converted keras-hub backbone).

    Same arguments as ``keras_hub.models.ImageClassifier``; ``num_classes`` is
    required. Its presets load with ``keras_hub.models.ImageClassifier.from_preset``.

    Example:

    >>> import keras
    >>> inputs = keras.Input((32, 32, 3))
    >>> c2 = keras.layers.Conv2D(4, 3, strides=4, padding="same")(inputs)
    >>> bb = GraphBackbone(keras.Model(inputs, {"P2": c2}))
    >>> clf = GraphImageClassifier(bb, num_classes=3)
    >>> tuple(clf.output.shape)
    (None, 3)
    """

    backbone_cls = GraphBackbone
    preprocessor_cls = None

    def __init__(self, backbone, num_classes=None, **kwargs):
        _check(type(self), backbone, num_classes)
        super().__init__(backbone, num_classes, **kwargs)


@keras.saving.register_keras_serializable(package="keras_aw")
class ResNetEncoderImageClassifier(keras_hub.models.ImageClassifier):
    """keras-hub's `ImageClassifier` on a `ResNetEncoder`; arguments as `GraphImageClassifier`."""

    backbone_cls = ResNetEncoder
    preprocessor_cls = None

    def __init__(self, backbone, num_classes=None, **kwargs):
        _check(type(self), backbone, num_classes)
        super().__init__(backbone, num_classes, **kwargs)


@keras.saving.register_keras_serializable(package="keras_aw")
class MobileNetEncoderImageClassifier(keras_hub.models.ImageClassifier):
    """keras-hub's `ImageClassifier` on a `MobileNetEncoder`; arguments as `GraphImageClassifier`.
    """

    backbone_cls = MobileNetEncoder
    preprocessor_cls = None

    def __init__(self, backbone, num_classes=None, **kwargs):
        _check(type(self), backbone, num_classes)
        super().__init__(backbone, num_classes, **kwargs)


@keras.saving.register_keras_serializable(package="keras_aw")
class FPNRetinaNetObjectDetector(keras_hub.models.RetinaNetObjectDetector):
    """keras-hub's `RetinaNetObjectDetector` on an `FPNBackbone`: keras_aw's detectors.

    Same arguments as ``keras_hub.models.RetinaNetObjectDetector``;
    ``num_classes`` is required. Its presets load with
    ``keras_hub.models.ObjectDetector.from_preset`` and
    ``keras_hub.models.RetinaNetObjectDetector.from_preset``.
    """

    backbone_cls = FPNBackbone
    preprocessor_cls = None

    def __init__(self, backbone, num_classes=None, **kwargs):
        _check(type(self), backbone, num_classes)
        super().__init__(backbone, num_classes, **kwargs)

    def compile_from_config(self, config):
        """Compiles a loaded detector as it was saved: its optimizer (and state) and losses.

        Keras skips a custom ``compile`` when loading, so a loaded keras-hub
        detector kept the compile its constructor makes (keras-hub's defaults)
        and a resumed run lost its optimizer; keras-hub's ``compile`` takes the
        losses by name, which this maps from the saved ``loss`` dict.
        """
        config = keras.saving.deserialize_keras_object(config)
        losses = config.get("loss") or {}
        options = {k: config[k] for k in ("run_eagerly", "steps_per_execution", "jit_compile")
                   if k in config}
        self.compile(optimizer=config.get("optimizer") or "auto",
                     box_loss=losses.get("bbox_regression", "auto"),
                     classification_loss=losses.get("cls_logits", "auto"), **options)
        if self.built:
            self.optimizer.build(self.trainable_variables)


#: keras_aw's keras-hub task classes, by the backbone class they pair with.
TASKS = {cls.backbone_cls: cls for cls in (GraphImageClassifier, ResNetEncoderImageClassifier,
                                          MobileNetEncoderImageClassifier,
                                          FPNRetinaNetObjectDetector)}

__all__ = ["FPNRetinaNetObjectDetector", "GraphImageClassifier",
           "MobileNetEncoderImageClassifier", "ResNetEncoderImageClassifier", "TASKS"]
