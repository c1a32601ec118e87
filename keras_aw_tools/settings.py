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

from keras_aw_tools.recipe import DEFAULT_LEARNING_RATE

#: The smallest image height and width a run accepts.
MIN_IMAGE_SIZE = 8


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


@dataclasses.dataclass(frozen=True)
class RunSettings:
    """What one training run does (see `keras_aw_tools.training.train`).

    Attributes:
        model: a registered classifier or detector name or spec (see
            `keras_aw_tools.training.build_model`), or a `keras_aw.registry.ModelSpec`.
        dataset: "shapes" or "tfds:NAME[:SPLIT]" (detectors: "shapes"), or a
            `keras_aw.datasets.DatasetSpec`.
        epochs: total number of epochs (with `resume`, counting the done ones).
        batch_size: batch size (under a cluster: the global batch).
        image_size: height and width of the images the model takes (at least 8).
        output: the run's directory (see `keras_aw_tools.runs`).
        steps_per_epoch: batches per epoch (None: one pass over the data).
        resume: continue the run in `output` from its last checkpoint.
        mixed_precision: train under `keras_aw.distribute.mixed_policy_name()`.
        distribute: data-parallel training (TensorFlow and JAX).
        learning_rate: Adam's learning rate at the start of the cosine decay.
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
            attention BatchNorms included) on TensorFlow; always so on JAX under
            a cluster or `distribute`; refused on PyTorch.
        callbacks: extra Keras callbacks for `fit` (kept as a tuple).
        encoder_weights: detectors only: a classifier's `.keras` file (e.g. from
            `keras-aw train` on the Shapes classification set, whose images are 0-255
            pixels) whose trunk, with its trained weights, becomes the detector's
            encoder in place of the family's (see
            `keras_aw.detection.encoder_from_classifier`); ignored on resume, where
            the checkpoint holds the whole detector.
    """

    model: Any = "AWSmallCNN"
    dataset: Any = "shapes"
    epochs: int = 5
    batch_size: int = 64
    image_size: int = 32
    output: str = "runs/train"
    steps_per_epoch: Optional[int] = None
    resume: bool = False
    mixed_precision: bool = False
    distribute: bool = False
    learning_rate: float = DEFAULT_LEARNING_RATE
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

    def __post_init__(self):
        _positive_int("epochs", self.epochs)
        _positive_int("batch_size", self.batch_size)
        _positive_int("image_size", self.image_size)
        if self.image_size < MIN_IMAGE_SIZE:
            raise ValueError(f"`image_size` must be at least {MIN_IMAGE_SIZE}; received "
                             f"image_size={self.image_size}")
        _positive_int("steps_per_epoch", self.steps_per_epoch, optional=True)
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

    def replace(self, **fields):
        """A copy with `fields` changed (checked again)."""
        return dataclasses.replace(self, **fields)

    @classmethod
    def field_names(cls):
        """The fields' names, in order (`train`'s positional order)."""
        return tuple(f.name for f in dataclasses.fields(cls))
