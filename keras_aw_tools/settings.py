"""The settings of one training run, in one object: `RunSettings`.

`keras_aw_tools.training.train` and ``keras-aw train`` describe a run by a
frozen `RunSettings`; its fields are `train`'s keyword arguments (which still
work: ``train(model, dataset, epochs=3, ...)`` builds the settings from them)
and the long options of ``keras-aw train`` (``--batch-size`` is
``batch_size``). Every value is checked once, here, when the settings are made:
a bad one raises a `ValueError` or `TypeError` naming the field and the value.

New run options become fields of `RunSettings` (with a default that keeps
today's behaviour), not new arguments of `train`. A training recipe, for
example, is a field whose values supply the defaults of other fields, the
values a caller gives explicitly taking precedence: `RunSettings.of` receives
the explicit values as keywords, so it is where they can be told apart from
the defaults.

Example:

>>> from keras_aw_tools.settings import RunSettings
>>> s = RunSettings("AWSmallCNN", epochs=3, output="runs/a")
>>> s.model, s.dataset, s.epochs, s.batch_size
('AWSmallCNN', 'shapes', 3, 64)
>>> s.replace(epochs=4).epochs
4
>>> RunSettings(epochs=0)
Traceback (most recent call last):
...
ValueError: `epochs` must be strictly positive; received epochs=0
"""

import dataclasses
import numbers
from typing import Any, Callable, Optional

from keras_aw_tools import recipe as recipes

#: The smallest image height and width a run accepts.
MIN_IMAGE_SIZE = 8
#: The batch size of a recipe without a reference batch (``demo``).
DEFAULT_BATCH_SIZE = 64
#: The fields whose None means "the recipe's value" (`RunSettings.given` names the others).
RECIPE_FIELDS = ("recipe", "epochs", "batch_size", "image_size", "learning_rate")


def _positive_int(name, value, optional=False):
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be a positive int; received {name}={value!r}")
    if value <= 0:
        raise ValueError(f"`{name}` must be strictly positive; received {name}={value!r}")


def _int(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be an int; received {name}={value!r}")


def _positive_number(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise ValueError(f"`{name}` must be a positive number; received {name}={value!r}")


#: How a detector's AW convolutions start (`RunSettings.aw_start`).
AW_STARTS = ("paper", "plain")


@dataclasses.dataclass(frozen=True)
class RunSettings:
    """What one training run does (see `keras_aw_tools.training.train`).

    Attributes:
        model: a registered classifier or detector name or spec (see
            `keras_aw_tools.training.build_model`), or a `keras_aw.registry.ModelSpec`.
        dataset: "shapes" or "tfds:NAME[:SPLIT]" (detectors: "shapes" or
            "tfds:coco/2017"), or a
            `keras_aw.datasets.DatasetSpec`.
        epochs: total number of epochs (with `resume`, counting the done ones;
            None: the recipe's).
        batch_size: batch size (under a cluster: the global batch; None: the
            recipe's reference batch, 256 for ``imagenet``, 16 for ``coco-1x``, else 64).
        image_size: height and width of the images the model takes (at least 8;
            None: the recipe's, 32 for ``demo``, 224 for ``imagenet``, 1024 for ``coco-1x``).
        output: the run's directory (see `keras_aw_tools.runs`).
        steps_per_epoch: batches per epoch (None: one pass over the data;
            ``coco-1x``: its iterations divided by `epochs`, over repeated data).
        resume: continue the run in `output` from its last checkpoint.
        mixed_precision: train under `keras_aw.distribute.mixed_policy_name()`.
        distribute: data-parallel training (TensorFlow and JAX).
        learning_rate: the learning rate at the start of the schedule (None: the
            recipe's, scaled linearly with the global batch where the recipe
            says so: ``demo`` 2e-3 for Adam's cosine, ``imagenet`` 0.1 *
            batch_size / 256 for SGD's steps); a given one is used as it is.
        num_train, num_test: Shapes: the number of images.
        seed: random seed (data and initialization).
        verbose: `Model.fit` verbosity.
        log: function printing progress messages.
        job_addresses, num_processes, process_id: the cluster of processes
            training together (see `keras_aw.distribute.initialize_cluster`, which
            also reads them from `KERAS_DISTRIBUTION_*`, `TF_CONFIG` or
            torchrun's variables). Every process runs the same `train`:
            `batch_size` is the global batch, each process takes its part of
            every Shapes batch and reads its own part of a tfds set
            (`keras_aw.datasets.sharding.process_split`), only process 0
            writes `output` and prints, the logged metrics are global, and a
            resumed run reads the same checkpoint on every process (`output` on
            a filesystem they share).
        sync_batchnorm: BatchNorm statistics over the global batch (AWConv2D's
            attention BatchNorms included) on TensorFlow and, under a cluster,
            PyTorch; always so on JAX under a cluster or `distribute`.
        callbacks: extra Keras callbacks for `fit` (kept as a tuple).
        encoder_weights: detectors only: a classifier's `.keras` file (e.g. from
            `keras-aw train` on the Shapes classification set, whose images are 0-255
            pixels) whose trunk, with its trained weights, becomes the detector's
            encoder in place of the family's (see
            `keras_aw.detection.encoder_from_classifier`); with a detector recipe
            (``coco-1x``) anything `keras_aw.detection.load_encoder` takes (a
            keras-hub preset, a ResNet weights file), frozen as the recipe says;
            ignored on resume, where the checkpoint holds the whole detector.
        recipe: the training recipe, a name of `keras_aw_tools.recipe.RECIPES`
            (None: `keras_aw_tools.recipe.default_recipe_name`: ``imagenet`` for
            the tfds ImageNet-2012 sets, ``coco-1x`` for tfds ``coco/...``, ``demo``
            otherwise). It supplies the
            defaults of `epochs`, `batch_size`, `image_size` and `learning_rate`;
            the values a caller gives override them. After the settings are made,
            ``recipe`` is the chosen name and every one of those fields holds its
            value.
        aw_start: detectors: how AW-FPN's attention starts. "paper" (the
            default): `AWConv2D`'s own initialisation, the paper's form;
            "plain": every AW convolution starts as exactly its plain
            convolution (`keras_aw.convert.constant_attention_start` at 0.5
            with the kernels rescaled), the start docs/table2.md's 3-seed study
            recommends. Used when the detector is built (not on resume).
        given: (not an argument) which of ``recipe``, `epochs`, `batch_size`,
            `image_size`, `learning_rate` the caller gave (the recipe's overrides).
    """

    model: Any = "AWSmallCNN"
    dataset: Any = "shapes"
    epochs: Optional[int] = None
    batch_size: Optional[int] = None
    image_size: Optional[int] = None
    output: str = "runs/train"
    steps_per_epoch: Optional[int] = None
    resume: bool = False
    mixed_precision: bool = False
    distribute: bool = False
    learning_rate: Optional[float] = None
    num_train: int = 10000
    num_test: int = 2000
    seed: int = 0
    verbose: Any = 1
    log: Callable = print
    job_addresses: Any = None
    num_processes: Optional[int] = None
    process_id: Optional[int] = None
    sync_batchnorm: bool = False
    callbacks: tuple = ()
    encoder_weights: Optional[str] = None
    recipe: Optional[str] = None
    aw_start: str = "paper"
    given: tuple = dataclasses.field(default=(), init=False, compare=False)

    def __post_init__(self):
        self._apply_recipe()
        _positive_int("epochs", self.epochs)
        _positive_int("batch_size", self.batch_size)
        _positive_int("image_size", self.image_size)
        if self.image_size < MIN_IMAGE_SIZE:
            raise ValueError(f"`image_size` must be at least {MIN_IMAGE_SIZE}; received "
                             f"image_size={self.image_size}")
        _positive_int("steps_per_epoch", self.steps_per_epoch, optional=True)
        if self.learning_rate is None:  # the recipe's, scaled for the global batch
            object.__setattr__(self, "learning_rate",
                               self.resolve_recipe()["learning_rate"]["value"])
        _positive_number("learning_rate", self.learning_rate)
        _int("seed", self.seed)
        if not callable(self.log):
            raise TypeError(f"`log` must be callable (like print); received log={self.log!r}")
        if not isinstance(self.output, (str, bytes)) and not hasattr(self.output, "__fspath__"):
            raise TypeError(f"`output` must be a path; received output={self.output!r}")
        if self.encoder_weights is not None and not isinstance(self.encoder_weights, str) \
                and not hasattr(self.encoder_weights, "__fspath__"):
            raise TypeError(f"`encoder_weights` must be a path to a .keras file or None; "
                            f"received encoder_weights={self.encoder_weights!r}")
        if self.aw_start not in AW_STARTS:
            raise ValueError(f"`aw_start` must be one of {AW_STARTS}; received "
                             f"aw_start={self.aw_start!r}")
        callbacks = self.callbacks
        if callbacks is None:
            callbacks = ()
        elif isinstance(callbacks, (str, bytes)) or not hasattr(callbacks, "__iter__"):
            raise TypeError(f"`callbacks` must be a list of Keras callbacks or None; "
                            f"received callbacks={callbacks!r}")
        object.__setattr__(self, "callbacks", tuple(callbacks))

    @classmethod
    def of(cls, settings=None, *args, **fields):
        """The settings of a `train` call: ``of(RunSettings(...))``, ``of(model, ...)``.

        Args:
            settings: a `RunSettings` (`fields` then replace some of its values), or
                the first field (`model`), or None.
            *args: further fields by position, in `train`'s order of arguments
                (`model`, `dataset`, `epochs`, ...), after a non-`RunSettings` first one.
            **fields: fields by name.

        Raises:
            TypeError: positional fields after a `RunSettings`, an unknown field, a
                field given twice; and the checks of `RunSettings`.
        """
        if isinstance(settings, cls):
            if args:
                raise TypeError(f"a RunSettings takes no further positional arguments; "
                                f"received {args!r}")
            return settings.replace(**fields) if fields else settings
        positional = args if settings is None else (settings, *args)
        return cls(*positional, **fields)

    def _apply_recipe(self):
        """Fills the recipe fields left None with the recipe's values; records the others."""
        if self.recipe is not None and self.recipe not in recipes.RECIPES:
            raise ValueError(f"`recipe` must be one of {sorted(recipes.RECIPES)} or None; "
                             f"received recipe={self.recipe!r}")
        given = tuple(n for n in RECIPE_FIELDS if getattr(self, n) is not None)
        chosen = recipes.get_recipe(self.recipe or recipes.default_recipe_name(self.dataset))
        object.__setattr__(self, "given", given)
        object.__setattr__(self, "recipe", chosen.name)
        for name, value in (("epochs", chosen.epochs), ("image_size", chosen.image_size),
                            ("batch_size", chosen.reference_batch_size or DEFAULT_BATCH_SIZE)):
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)

    def resolve_recipe(self, steps_per_epoch=None):
        """This run's recipe, every value resolved (`keras_aw_tools.recipe.resolve`).

        The values the caller gave (`given`) are the recipe's overrides; the
        global batch is `batch_size`, given or not (``overrides`` says which).
        """
        mine = {n: getattr(self, n) for n in ("epochs", "learning_rate", "image_size")
                if n in self.given}
        resolved = recipes.resolve(self.recipe, self.batch_size,
                                   steps_per_epoch=steps_per_epoch, **mine)
        if "batch_size" in self.given:
            resolved["overrides"]["batch_size"] = self.batch_size
        return resolved

    def replace(self, **fields):
        """A copy with `fields` changed (checked again).

        The recipe's values that the caller did not give follow the copy's recipe
        and data set; a field replaced by None takes the recipe's value again.
        """
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}
        for name in RECIPE_FIELDS:
            if name not in self.given:
                values[name] = None
        values.update(fields)
        return type(self)(**values)

    @classmethod
    def field_names(cls):
        """The fields' names, in order (`train`'s positional order)."""
        return tuple(f.name for f in dataclasses.fields(cls) if f.init)
