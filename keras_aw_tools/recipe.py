"""Training recipes: named, as data, resolved per run; the optimizers, schedules and compiles.

A recipe (`Recipe`) holds every value of a training protocol: optimizer,
learning rate and how it scales with the global batch, momentum, weight decay
and the weights it applies to, schedule, warm-up, epochs, label smoothing,
training augmentation, evaluation preprocessing, input normalization, metrics,
checkpoint selection, and the protocol it follows. `RECIPES` names them:

- ``demo``: the package's own quick recipe (below), for the embedded data sets.
- ``imagenet``: the classic ResNet ImageNet recipe of the CBAM authors' code,
  which the paper's Table 1 used (also torchvision's classic ResNet recipe):
  SGD with PyTorch's rule (`keras_aw.optimizers.TorchSGD`), momentum 0.9,
  0.1 per 256 images scaled linearly, L2 weight decay 1e-4 on every weight,
  x0.1 every 30 epochs, 100 epochs; RandomResizedCrop 224 + flip; resize 256,
  center crop 224; ImageNet mean/std; top-1 and top-5; last + best checkpoints.
- ``coco-1x``: RetinaNet's 1x schedule as Detectron2 defines it, for detectors
  on COCO (`keras_aw_tools.detection_recipe`: its values, and how steps,
  epochs and the global batch relate).

`get_recipe(name)` looks one up; `resolve(recipe, global_batch_size, ...)`
gives every value resolved for one run (the learning rate after scaling,
schedule boundaries in epochs and in steps, the user's overrides) as a plain
dict for the run's ``recipe.json``; `build_optimizer(resolved)`,
`recipe_callbacks(resolved)`, `recipe_metrics(resolved)`,
`input_normalization(resolved)` and `compile_with_recipe(model, resolved)` turn
it into Keras objects; `format_recipes()` is the table ``keras-aw recipes``
prints and `format_resolved(resolved)` what a run prints at its start.

The ``demo`` recipe (`optimizer`, `cosine_schedule`, `compile_classifier`,
`compile_detector`; what `keras-aw train`, the examples and the benchmarks use):

- **Optimizer**: Adam (`optimizer`); detectors clip the global gradient norm at
  `DETECTOR_CLIPNORM`, as keras-hub's RetinaNet examples do.
- **Schedule**: a per-epoch cosine decay, ``lr(e) = base * (1 + cos(pi * e / E)) / 2``
  for epochs ``e = 0 .. E - 1`` (`cosine_learning_rate`), set at the start of
  every epoch by the `cosine_schedule` callback. The learning rate depends only
  on the epoch index and the total, so a run resumed from a checkpoint (or
  extended to more epochs) continues on the schedule without any saved state,
  and it needs no step count (unknown for a `tf.data` set of unknown length).
- **Compile**: `compile_classifier` (sparse categorical cross-entropy and
  accuracy) and `compile_detector` (the keras-hub detector's own losses).

A cosine decay inside the optimizer, per step, is available through
``decay_steps`` (and ``warmup_steps``): `benchmarks/accuracy.py`'s
pre-registered protocol (ACCURACY.md: "cosine decay to 0 over the run") and
`examples/detection.py`'s measured recipe (docs/table2.md) use it, so their
published results keep their protocol. With ``decay_steps`` the
`cosine_schedule` callback is not used.

Example:

>>> import numpy as np
>>> import keras_aw
>>> from keras_aw_tools import recipe
>>> model = recipe.compile_classifier(
...     keras_aw.create_model("SmallCNN", input_shape=(16, 16, 3)), learning_rate=1e-3)
>>> x, y = np.zeros((8, 16, 16, 3), "float32"), np.zeros(8, "int32")
>>> history = model.fit(x, y, epochs=2, verbose=0,
...                     callbacks=[recipe.cosine_schedule(1e-3, epochs=2)])
>>> [round(float(lr), 6) for lr in history.history["learning_rate"]]
[0.001, 0.0005]
"""

import dataclasses
import json
from typing import Optional

import keras

from keras_aw.datasets import imagenet as imagenet_data
from keras_aw.datasets.pipelines import parse_dataset
from keras_aw.optimizers import StepDecay, TorchSGD, norm_variable_paths
from keras_aw_tools import detection_recipe
from keras_aw_tools.recipe_pipelines import augmentation as _augmentation
from keras_aw_tools.recipe_pipelines import eval_preprocessing as _eval_preprocessing
from keras_aw_tools.recipe_pipelines import normalization as _normalization

from keras_aw_tools.demo_recipe import (  # noqa: F401 (the demo recipe's names, here too)
    DEFAULT_LEARNING_RATE, DETECTOR_CLIPNORM, _check_positive, compile_classifier,
    compile_detector, cosine_learning_rate, cosine_schedule, optimizer)


# --------------------------------------------------------------------------
# Named recipes as data
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Every value of a training protocol (see `RECIPES`; `resolve` applies it to one run).

    Attributes:
        name: the recipe's name (a key of `RECIPES`).
        reference: the protocol it follows, in words.
        optimizer: "adam" (Keras Adam) or "sgd" (`TorchSGD`: PyTorch's rule).
        learning_rate: the base learning rate, at `reference_batch_size` images a step.
        reference_batch_size: the global batch of `learning_rate`; the rate is
            scaled linearly with the global batch (None: not scaled).
        momentum, nesterov: SGD's momentum (None for Adam).
        weight_decay: PyTorch's L2 weight decay (0: none).
        weight_decay_applies_to: which weights it applies to, in words.
        schedule: "cosine-per-epoch" (`cosine_learning_rate`) or "step" (x
            `decay_factor` every `decay_period_epochs` epochs, per epoch).
        decay_factor, decay_period_epochs: the step schedule's values.
        warmup_epochs: epochs of linear warm-up from 0 (0: none).
        epochs: the default number of epochs.
        label_smoothing: of the cross-entropy (0: none).
        image_size: the default training and evaluation crop.
        train_augmentation, eval_preprocessing: the pipeline's kinds
            ("squash-crop-flip" / "squash": `keras_aw.datasets.load_data`'s;
            "random-resized-crop-flip" / "resize-center-crop":
            `keras_aw.datasets.imagenet`'s).
        normalization: "[-1, 1]" (a Rescaling layer) or "imagenet-mean-std" (a
            Normalization layer), the model's first layer (`input_normalization`).
        metrics: "top1" and/or "top5".
        checkpoints: which checkpoints are kept and reported ("last", "best-val-top1").
        notes: what the recipe decides where its reference is silent.
        max_iterations, decay_iterations, warmup_iterations, warmup_factor: the
            "multistep-iters" schedule at `reference_batch_size`
            (`keras_aw_tools.detection_recipe`).
        weight_decay_norm: the decay of normalization layers' weights (None: `weight_decay`).
        gradient_clip_norm: the global gradient norm's bound (None: none).
        freeze_backbone_batchnorm, frozen_stages: detectors: the encoder's
            BatchNorms in inference mode; its stem and first stages not trained.
        box_loss, box_loss_beta, focal_alpha, focal_gamma, anchor_matching:
            detectors: "keras-hub" (its own loss), or Detectron2's values.
    """

    name: str
    reference: str
    optimizer: str
    learning_rate: float
    reference_batch_size: Optional[int]
    momentum: Optional[float]
    nesterov: bool
    weight_decay: float
    weight_decay_applies_to: str
    schedule: str
    decay_factor: Optional[float]
    decay_period_epochs: Optional[int]
    warmup_epochs: float
    epochs: int
    label_smoothing: float
    image_size: int
    train_augmentation: str
    eval_preprocessing: str
    normalization: str
    metrics: tuple
    checkpoints: tuple
    notes: str = ""
    max_iterations: Optional[int] = None
    decay_iterations: tuple = ()
    warmup_iterations: int = 0
    warmup_factor: Optional[float] = None
    weight_decay_norm: Optional[float] = None
    gradient_clip_norm: Optional[float] = None
    freeze_backbone_batchnorm: bool = False
    frozen_stages: int = 0
    box_loss: str = "keras-hub"
    box_loss_beta: Optional[float] = None
    focal_alpha: Optional[float] = None
    focal_gamma: Optional[float] = None
    anchor_matching: str = "keras-hub"


RECIPES = {
    "demo": Recipe(
        name="demo",
        reference="keras_aw's quick recipe for the embedded data sets (not a published one)",
        optimizer="adam", learning_rate=DEFAULT_LEARNING_RATE, reference_batch_size=None,
        momentum=None, nesterov=False, weight_decay=0.0, weight_decay_applies_to="none",
        schedule="cosine-per-epoch", decay_factor=None, decay_period_epochs=None,
        warmup_epochs=0, epochs=5, label_smoothing=0.0, image_size=32,
        train_augmentation="squash-crop-flip", eval_preprocessing="squash",
        normalization="[-1, 1]", metrics=("top1",), checkpoints=("last",),
        notes="Shapes (NumPy) is not augmented; tfds sets are squashed to size + size // 8, "
              "randomly cropped to size and flipped; evaluation squashes to size."),
    "imagenet": Recipe(
        name="imagenet",
        reference="the CBAM authors' ImageNet code (the paper's Table 1: 'produced using the "
                  "source code' of its reference [29]) = torchvision's classic ResNet recipe; "
                  "100 epochs as the CBAM ResNet50 launch script (8 GPUs, batch 256)",
        optimizer="sgd", learning_rate=0.1, reference_batch_size=256, momentum=0.9,
        nesterov=False, weight_decay=1e-4,
        weight_decay_applies_to="every trainable weight: kernels, biases, BatchNorm gamma and "
                                "beta, AW and attention weights (PyTorch SGD's L2 gradient "
                                "term, through momentum)",
        schedule="step", decay_factor=0.1, decay_period_epochs=30, warmup_epochs=0,
        epochs=100, label_smoothing=0.0, image_size=224,
        train_augmentation="random-resized-crop-flip", eval_preprocessing="resize-center-crop",
        normalization="imagenet-mean-std", metrics=("top1", "top5"),
        checkpoints=("last", "best-val-top1"),
        notes="The learning rate is x0.1 every 30 epochs whatever --epochs is (the "
              "reference's lr * 0.1 ** (epoch // 30)): 100 epochs decay at 30, 60, 90 (CBAM "
              "script), 90 epochs at 30, 60 (torchvision's classic). MobileNets use this same "
              "recipe: the paper and [29] give no MobileNet protocol, and the MobileNet "
              "paper's (RMSprop, asynchronous training on many workers) states no learning "
              "rate or schedule, so it cannot be reproduced value by value; one recipe keeps "
              "all Table 1 rows comparable."),
    "coco-1x": Recipe(**detection_recipe.COCO_1X),
}

#: The recipe a data set gets when none is named (`default_recipe_name`).
IMAGENET_DATASETS = ("imagenet2012", "imagenet2012_subset", "imagenet2012_real")
#: tfds COCO sets: recipe ``coco-1x`` by default.
COCO_DATASETS = ("coco",)


def get_recipe(name):
    """The `Recipe` named `name` (a `Recipe` is returned unchanged).

    Raises:
        ValueError: an unknown name, naming it and the choices.
    """
    if isinstance(name, Recipe):
        return name
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; choose one of {sorted(RECIPES)}; "
                         f"received recipe={name!r}")
    return RECIPES[name]


def default_recipe_name(dataset):
    """``"imagenet"`` for the tfds ImageNet-2012 sets (`IMAGENET_DATASETS`), ``"coco-1x"``
    for tfds ``coco/...`` (`COCO_DATASETS`), else ``"demo"``."""
    spec = parse_dataset(dataset)
    base = (spec.name or "").split("/")[0]
    if spec.kind == "tfds" and base in COCO_DATASETS:
        return "coco-1x"
    return "imagenet" if spec.kind == "tfds" and base in IMAGENET_DATASETS else "demo"


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be a positive int; received {name}={value!r}")
    return value


def resolve(recipe, global_batch_size, epochs=None, steps_per_epoch=None, learning_rate=None,
            image_size=None):
    """Every value of `recipe` resolved for one run, as a plain (JSON-ready) dict.

    Args:
        recipe: a name of `RECIPES` or a `Recipe`.
        global_batch_size: images per optimizer step, over all processes.
        epochs: the run's epochs (None: the recipe's).
        steps_per_epoch: optimizer steps per epoch (None: unknown; the step
            boundaries are then None and `build_optimizer` refuses a step schedule).
        learning_rate: the user's learning rate, used as it is (no scaling);
            None: the recipe's, scaled linearly with the global batch.
        image_size: the user's image size (None: the recipe's).

    Returns:
        A dict: "recipe", "reference", "notes", "optimizer" (name, class,
        momentum, nesterov, weight decay and its rule and weights),
        "learning_rate" (base, reference batch, global batch, scaling,
        value), "schedule" (kind, factor, period, boundaries in epochs and
        steps, or the per-epoch values of the cosine), "warmup" (epochs,
        steps), "epochs", "steps_per_epoch", "global_batch_size",
        "label_smoothing", "image_size", "train_augmentation",
        "eval_preprocessing", "normalization", "metrics", "checkpoints", and
        "overrides" (the values the user gave, which replaced the recipe's).

    Example:

    >>> from keras_aw_tools.recipe import resolve
    >>> r = resolve("imagenet", global_batch_size=1024, steps_per_epoch=1251)
    >>> r["learning_rate"]["value"], r["schedule"]["boundaries_epochs"]
    (0.4, [30, 60, 90])
    >>> r["schedule"]["boundaries_steps"], r["eval_preprocessing"]["resize_shorter_side"]
    ([37530, 75060, 112590], 256)
    """
    recipe = get_recipe(recipe)
    _positive_int("global_batch_size", global_batch_size)
    overrides = {}
    for key, value in (("epochs", epochs), ("learning_rate", learning_rate),
                       ("image_size", image_size)):
        if value is not None:
            overrides[key] = value
    epochs = recipe.epochs if epochs is None else _positive_int("epochs", epochs)
    image_size = recipe.image_size if image_size is None else _positive_int("image_size",
                                                                            image_size)
    if steps_per_epoch is not None:
        _positive_int("steps_per_epoch", steps_per_epoch)
    if learning_rate is None:
        scale = (1.0 if recipe.reference_batch_size is None
                 else global_batch_size / recipe.reference_batch_size)
        value = recipe.learning_rate * scale
        scaling = ("none" if recipe.reference_batch_size is None else
                   f"linear: {recipe.learning_rate} * global_batch_size / "
                   f"{recipe.reference_batch_size}")
    else:
        _check_positive("learning_rate", learning_rate)
        value, scaling = float(learning_rate), "none: given by the user"
    value = float(round(value, 12))
    steps = steps_per_epoch
    warmup = None
    if recipe.schedule == "multistep-iters":
        schedule, warmup, steps = detection_recipe.resolve_iterations(
            recipe, global_batch_size, epochs, steps_per_epoch, value)
    elif recipe.schedule == "step":
        period = recipe.decay_period_epochs
        bounds = list(range(period, epochs, period))
        schedule = {"kind": "step", "factor": recipe.decay_factor, "period_epochs": period,
                    "period_scales_with_epochs": False, "boundaries_epochs": bounds,
                    "boundaries_steps": None if steps is None else [b * steps for b in bounds],
                    "values": [float(round(value * recipe.decay_factor ** i, 12))
                               for i in range(len(bounds) + 1)]}
    else:
        per_epoch = cosine_learning_rate(value, epochs)
        schedule = {"kind": "cosine-per-epoch", "formula": "lr * (1 + cos(pi * e / E)) / 2",
                    "values_per_epoch": [float(round(per_epoch(e), 12)) for e in range(epochs)]}
    if warmup is None:
        warmup = {"epochs": recipe.warmup_epochs,
                  "steps": None if steps is None else int(round(recipe.warmup_epochs * steps))}
    sgd = recipe.optimizer == "sgd"
    resolved = {
        "recipe": recipe.name, "reference": recipe.reference, "notes": recipe.notes,
        "optimizer": {
            "name": recipe.optimizer,
            "class": "keras_aw.optimizers.TorchSGD" if sgd else "keras.optimizers.Adam",
            "momentum": recipe.momentum, "nesterov": recipe.nesterov,
            "weight_decay": recipe.weight_decay,
            "weight_decay_rule": ("L2 gradient term before momentum (PyTorch SGD)"
                                  if recipe.weight_decay else "none"),
            "weight_decay_applies_to": recipe.weight_decay_applies_to,
            "weight_decay_norm": (recipe.weight_decay if recipe.weight_decay_norm is None
                                  else recipe.weight_decay_norm)},
        "learning_rate": {"base": recipe.learning_rate,
                          "reference_batch_size": recipe.reference_batch_size,
                          "global_batch_size": global_batch_size, "scaling": scaling,
                          "value": value},
        "schedule": schedule,
        "warmup": warmup,
        "epochs": epochs, "steps_per_epoch": steps, "global_batch_size": global_batch_size,
        "label_smoothing": recipe.label_smoothing, "image_size": image_size,
        "train_augmentation": _augmentation(recipe.train_augmentation, image_size),
        "eval_preprocessing": _eval_preprocessing(recipe.eval_preprocessing, image_size),
        "normalization": _normalization(recipe.normalization),
        "metrics": list(recipe.metrics),
        "checkpoints": {"kept": list(recipe.checkpoints),
                        "best_monitor": ("val_accuracy (top-1), max"
                                         if "best-val-top1" in recipe.checkpoints else None)},
        "overrides": overrides,
    }
    detection = detection_recipe.detection_values(recipe)
    if detection is not None:
        resolved["detection"] = detection
    return resolved


# --------------------------------------------------------------------------
# From a resolved recipe to Keras objects
# --------------------------------------------------------------------------


def learning_rate_schedule(resolved):
    """A resolved recipe's learning rate: a float, or a `StepDecay` ("step", "multistep-iters").

    Raises:
        ValueError: a step schedule or a warm-up whose ``steps_per_epoch`` is unknown.
    """
    value = resolved["learning_rate"]["value"]
    schedule, warmup = resolved["schedule"], resolved["warmup"]
    if warmup["epochs"] and warmup["steps"] is None:
        raise ValueError("a warm-up needs `steps_per_epoch`; resolve the recipe with it")
    if schedule["kind"] not in ("step", "multistep-iters"):
        return value
    if schedule["boundaries_steps"] is None:
        raise ValueError(f"recipe {resolved['recipe']!r} has a step schedule: resolve it "
                         "with `steps_per_epoch`; received steps_per_epoch=None")
    return StepDecay(value, schedule["boundaries_steps"], schedule["factor"],
                     warmup["steps"] or 0, warmup_factor=warmup.get("factor"))


def build_optimizer(resolved, model=None):
    """The optimizer (its learning-rate schedule inside) of a resolved recipe.

    `model`: needed when normalization layers get another weight decay
    (``coco-1x``: none, `keras_aw.optimizers.norm_variable_paths`).

    Raises:
        ValueError: a step schedule or a warm-up whose ``steps_per_epoch`` is
            unknown; a norm decay without `model`, or other than 0 or the decay.
    """
    rate = learning_rate_schedule(resolved)
    opt = resolved["optimizer"]
    if opt["name"] == "sgd":
        # TorchSGD, not keras.optimizers.SGD(weight_decay=...): Keras's decay is
        # decoupled, and its momentum buffer keeps the old rate after a drop; see
        # keras_aw.optimizers for both, and its tests for the PyTorch rule.
        exclude = ()
        norm = opt.get("weight_decay_norm", opt["weight_decay"])
        if norm != opt["weight_decay"]:
            if norm != 0 or model is None:
                raise ValueError("a weight decay of normalization layers other than the "
                                 "decay must be 0 and needs the model; received "
                                 f"weight_decay_norm={norm!r}, model={model!r}")
            exclude = norm_variable_paths(model)
        return TorchSGD(rate, momentum=opt["momentum"] or 0.0, nesterov=opt["nesterov"],
                        l2=opt["weight_decay"], l2_exclude=exclude)
    return keras.optimizers.Adam(rate)


def compile_detector_with_recipe(model, resolved):
    """Compiles a keras-hub detector with a resolved recipe (``demo``: `compile_detector`)."""
    if resolved["recipe"] == "demo":
        return compile_detector(model, resolved["learning_rate"]["value"])
    return detection_recipe.compile_detector(model, resolved, build_optimizer(resolved, model))


def recipe_callbacks(resolved):
    """The callbacks the recipe's schedule needs: the per-epoch cosine (demo), else none."""
    if resolved["schedule"]["kind"] == "cosine-per-epoch":
        return [cosine_schedule(resolved["learning_rate"]["value"], resolved["epochs"])]
    return []


def recipe_metrics(resolved):
    """The recipe's metrics: top-1 named "accuracy" (as in histories), top-5 "top5_accuracy"."""
    metrics = []
    if "top1" in resolved["metrics"]:
        metrics.append(keras.metrics.SparseCategoricalAccuracy(name="accuracy"))
    if "top5" in resolved["metrics"]:
        metrics.append(keras.metrics.SparseTopKCategoricalAccuracy(k=5, name="top5_accuracy"))
    return metrics


def input_normalization(resolved):
    """The model's first layer for the recipe's normalization (the model takes 0-255 RGB pixels).

    "[-1, 1]": ``Rescaling(1 / 127.5, offset=-1, name="rescale")``, the layer of
    every model saved so far; "imagenet-mean-std": a `keras.layers.Normalization`
    with ImageNet's mean and variance in 0-255 units, ``name="normalize"``. In
    the model, `evaluate`, `keras_aw.export` and a saved model all apply it.
    """
    kind = resolved["normalization"]["kind"] if isinstance(resolved, dict) else resolved
    if kind == "imagenet-mean-std":
        return keras.layers.Normalization(
            mean=[255.0 * m for m in imagenet_data.MEAN_RGB],
            variance=[(255.0 * s) ** 2 for s in imagenet_data.STD_RGB], name="normalize")
    if kind == "[-1, 1]":
        return keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescale")
    raise ValueError(f"unknown normalization {kind!r}; use '[-1, 1]' or 'imagenet-mean-std'")


def compile_with_recipe(model, resolved, run_eagerly=False):
    """Compiles a classifier with a resolved recipe: its optimizer, cross-entropy, metrics."""
    if resolved["label_smoothing"]:
        raise ValueError("label smoothing needs one-hot labels; the pipelines give class ids; "
                         f"received label_smoothing={resolved['label_smoothing']!r}")
    model.compile(optimizer=build_optimizer(resolved),
                  loss=keras.losses.SparseCategoricalCrossentropy(),
                  metrics=recipe_metrics(resolved), run_eagerly=run_eagerly)
    return model


def best_checkpoint(resolved, path):
    """The callback keeping the best validation top-1 model at `path` (None: the recipe keeps none).

    A `keras.callbacks.ModelCheckpoint` on ``val_accuracy`` (top-1), mode max,
    ``save_best_only``; give it to the process that writes (process 0).
    """
    if "best-val-top1" not in resolved["checkpoints"]["kept"]:
        return None
    return keras.callbacks.ModelCheckpoint(str(path), monitor="val_accuracy", mode="max",
                                           save_best_only=True, verbose=0)


def errors(metrics):
    """The paper's columns from a metrics dict: ``{"top1_error": 1 - accuracy, "top5_error": ...}``.

    >>> errors({"accuracy": 0.75, "top5_accuracy": 0.9, "loss": 1.0})
    {'top1_error': 0.25, 'top5_error': 0.1}
    """
    out = {}
    for key, name in (("accuracy", "top1_error"), ("top5_accuracy", "top5_error")):
        for prefix in ("", "val_"):
            if prefix + key in metrics:
                out[prefix + name] = round(1.0 - float(metrics[prefix + key]), 12)
    return out


def format_resolved(resolved):
    """A resolved recipe as indented JSON text (what a run prints at its start)."""
    return json.dumps(resolved, indent=2)


_TABLE_FIELDS = ("reference", "optimizer", "learning_rate", "reference_batch_size", "momentum",
                 "weight_decay", "weight_decay_applies_to", "schedule", "decay_factor",
                 "decay_period_epochs", "warmup_epochs", "epochs", "label_smoothing",
                 "image_size", "train_augmentation", "eval_preprocessing", "normalization",
                 "metrics", "checkpoints")


def format_recipes(names=None, width=60):
    """The recipes side by side, one field a row (``keras-aw recipes``).

    Example:

    >>> from keras_aw_tools.recipe import format_recipes
    >>> print(format_recipes(width=30).splitlines()[0])
    field                   | demo                           | imagenet
    """
    recipes = [get_recipe(n) for n in (names or RECIPES)]

    def cell(value):
        text = ", ".join(map(str, value)) if isinstance(value, tuple) else str(value)
        return text if len(text) <= width else text[: width - 3] + "..."

    rows = [("field", [r.name for r in recipes])]
    rows += [(f, [cell(getattr(r, f)) for r in recipes]) for f in _TABLE_FIELDS]
    widths = [max(len(row[0]) for row in rows)]
    widths += [max(len(row[1][i]) for row in rows) for i in range(len(recipes))]
    lines = []
    for name, cells in rows:
        parts = [name.ljust(widths[0])] + [c.ljust(w) for c, w in zip(cells, widths[1:])]
        lines.append(" | ".join(parts).rstrip())
    return "\n".join(lines)
