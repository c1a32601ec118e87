"""The detection task of `keras-aw train` and `evaluate` (`keras_aw_tools.training.TASKS`).

- `load_data`: the embedded Shapes-Detect set (``dataset="shapes"``,
  `keras_aw.datasets.load_detection_data`), or tfds COCO (``"tfds:coco/2017"``):
  train2017 through `keras_aw.datasets.coco.load_coco` (``training=True``: the
  recipe's flip; ``part``: this process's share), val2017 through
  `keras_aw.datasets.coco.load_coco_evaluation`; pixels scaled by
  `keras_aw.vocabulary.DETECTOR_INPUT_SCALE` as for Shapes.
- `new_model`: a registered detector compiled with the run's recipe
  (`keras_aw_tools.recipe.compile_detector_with_recipe`: ``demo``: keras-hub's
  loss and Adam; ``coco-1x``: Detectron2's loss, `TorchSGD`); with
  ``encoder_weights`` and a detector recipe, a pretrained encoder
  (`keras_aw.detection.load_encoder`) frozen as the recipe says
  (`keras_aw.detection.freeze_encoder`).
- `evaluate`: Shapes: `keras_aw.detection.evaluate_detector` (AP, AP50, AP75);
  COCO: `keras_aw.detection.evaluation.evaluate_coco` into a `CocoEvaluator`
  (pycocotools; AP, AP50, AP75, APs, APm, APl), written to `COCO_METRICS_FILE`
  by the callers, the detections to `COCO_DETECTIONS_FILE`.

keras-hub and pycocotools are imported when a detector is built or evaluated.
"""

from keras_aw.convert import constant_attention_start
from keras_aw.datasets import coco as coco_data
from keras_aw.datasets import load_detection_data, parse_dataset
from keras_aw.vocabulary import DETECTOR_INPUT_SCALE
from keras_aw_tools import recipe

#: The COCO metrics of a run on tfds COCO (``keras-aw train`` and ``evaluate``).
COCO_METRICS_FILE = "coco_metrics.json"
#: The detections behind them, as a COCO results JSON (original pixels, COCO category ids).
COCO_DETECTIONS_FILE = "coco_detections.json"


def load_data(dataset, image_size, batch_size, num_train, num_test, seed, training,
              drop_remainder, repeat, shuffle_seed, part=None):
    if parse_dataset(dataset).kind == "tfds":
        return _coco_data(dataset, image_size, batch_size, seed, training, repeat, shuffle_seed,
                          part)
    return load_detection_data(dataset, image_size, batch_size, num_train, num_test, seed,
                               training=training, drop_remainder=drop_remainder, repeat=repeat,
                               shuffle_seed=shuffle_seed)


def _scaled(image, target):
    return image * DETECTOR_INPUT_SCALE, target  # 0-255 pixels -> the detectors' [0, 1]


def _coco_data(dataset, image_size, batch_size, seed, training, repeat, shuffle_seed, part):
    """tfds COCO: train2017 (training) and val2017 for the end-of-run COCO evaluation.

    The training split is `keras_aw.datasets.coco.load_coco` with the recipe's flip
    (``training=True``), this process's `part`, shuffled, repeated (the
    iteration schedule's infinite sampler), batched; "test" is the split's
    `load_coco_evaluation` pipeline (unbatched; `evaluate` batches
    it), whose ground truth goes to the evaluator.
    """
    spec = parse_dataset(dataset)
    if (spec.name or "").split("/")[0] != "coco":
        raise ValueError("detectors train on the embedded Shapes-Detect set ('shapes') or "
                         f"tfds COCO ('tfds:coco/2017'); received dataset={str(dataset)!r}")
    out = {"num_classes": len(coco_data.COCO_CLASS_NAMES),
           "class_names": list(coco_data.COCO_CLASS_NAMES), "coco": True,
           "test": coco_data.load_coco_evaluation(
               "validation", image_size=image_size, data_dir=None,
               part=part).map(_scaled)}
    if training:
        seed = seed if shuffle_seed is None else shuffle_seed
        train = coco_data.load_coco(spec.split or "train", image_size=image_size,
                                    data_dir=None, shuffle_files=True, training=True,
                                    seed=seed, part=part)
        train = train.shuffle(8 * batch_size, seed=seed)
        if repeat:
            train = train.repeat()
        out["train"] = train.batch(batch_size, drop_remainder=True).map(_scaled).prefetch(2)
    return out


def new_model(spec, image_size, num_classes, resolved, encoder_weights=None, aw_start="paper"):
    image_shape = (image_size, image_size, 3)
    kwargs = {}
    if encoder_weights is not None:
        # A pretrained encoder (`keras_aw.detection.load_encoder`): a classifier trained by
        # `keras-aw train` (the paper's way), a keras-hub preset, a keras.applications ResNet
        # weights file or an encoder's weights; it takes the detectors' [0, 1] images.
        from keras_aw.detection import freeze_encoder, load_encoder

        encoder = load_encoder(encoder_weights, image_shape,
                               input_scale=1.0 / DETECTOR_INPUT_SCALE)
        detection = resolved.get("detection")
        if detection is not None:
            # Frozen as the recipe says (coco-1x: Detectron2's FrozenBN and FREEZE_AT=2).
            # A randomly initialised encoder is never frozen.
            frozen = detection["freeze"]
            encoder = freeze_encoder(encoder, batchnorm=frozen["backbone_batchnorm"],
                                     stages=frozen["frozen_stages"])
        kwargs["encoder"] = encoder
    model = spec.build(num_classes=num_classes, image_shape=image_shape, **kwargs)
    if aw_start == "plain":
        # Every AW convolution starts as its plain convolution (docs/table2.md's study).
        try:
            constant_attention_start(model, 0.5, rescale_kernel=True)
        except ValueError as e:
            raise ValueError(f"aw_start='plain' needs an AW detector; {spec} has no AWConv2D "
                             f"({e})") from e
    return recipe.compile_detector_with_recipe(model, resolved)


def evaluate(model, data, dataset, batch_size, verbose, resolved=None, detections_path=None):
    """The task's metrics; COCO: also writes the detections to `detections_path` (if given)."""
    from keras_aw.detection import evaluate_detector

    if data.get("coco"):
        evaluator = coco_evaluator(model, data, batch_size)
        if detections_path is not None:
            evaluator.write_detections(detections_path)
        return coco_results(evaluator)
    xt, yt = data["test"]
    return evaluate_detector(model, xt, yt["boxes"], yt["labels"], batch_size=batch_size)


def coco_evaluator(model, data, batch_size):
    """A `CocoEvaluator` fed with `model`'s detections on COCO's "test" pipeline of `data`.

    Under a cluster `data` holds this process's part of the split; the processes'
    evaluators merge into the whole split's (`keras_aw_tools.distributed_fit`).
    """
    from keras_aw.detection.evaluation import CocoEvaluator, evaluate_coco

    evaluator = CocoEvaluator(num_classes=data["num_classes"],
                              category_ids=coco_data.COCO_CATEGORY_IDS)
    return evaluate_coco(model, data["test"], batch_size, evaluator=evaluator)


def coco_results(evaluator):
    """The evaluator's AP, AP50, AP75, APs, APm, APl as plain floats."""
    return {key: float(value) for key, value in evaluator.result().items()}


__all__ = ["coco_evaluator", "coco_results", "COCO_DETECTIONS_FILE", "COCO_METRICS_FILE", "evaluate", "load_data", "new_model"]
