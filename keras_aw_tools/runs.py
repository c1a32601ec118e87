"""The files of a training run, written so that an interrupted run loses nothing it finished.

A run directory holds, after every epoch:

- ``checkpoint.keras``: model and optimizer state;
- ``state.json``: what the run is (model, data set, image size, ...), the
  epochs done and the history;
- ``history.csv``: one row per epoch;
- ``training_curve.png``: the history drawn (when matplotlib is installed);
- ``best.keras``: recipes that keep it (``imagenet``): the model of the best
  validation top-1 so far (`SavingCallback` around Keras's ``ModelCheckpoint``);

``recipe.json`` (the recipe resolved for the run) at its start, and
``model.keras`` at the end. Every file is replaced atomically (written
beside, then renamed, by `keras_aw.utils.files`). `RunDirectory` reads and
writes them; `RunRecorder` is the Keras callback that does it after each epoch;
`load_checkpoint` loads a checkpoint with its optimizer state. Problems with
paths raise `ValueError`.

Example:

>>> import tempfile
>>> from keras_aw_tools.runs import RunDirectory
>>> run = RunDirectory(tempfile.mkdtemp())
>>> run.load_state() is None  # a new run
True
"""

import contextlib
import csv
import io
import json
import os
import time
import warnings
import zipfile

import h5py
import keras

from keras_aw.utils.files import (atomic_save_model, atomic_write_text, ensure_writable_dir,
                                  load_model_file)
from keras_aw_tools import plots

CHECKPOINT_FILE = "checkpoint.keras"
STATE_FILE = "state.json"
HISTORY_FILE = "history.csv"
CURVE_FILE = "training_curve.png"
MODEL_FILE = "model.keras"
BEST_FILE = "best.keras"
RECIPE_FILE = "recipe.json"


def load_checkpoint(path):
    """Loads a `.keras` checkpoint with its optimizer state, ready to continue training.

    Keras restores the optimizer state of a saved model only when it can build
    the optimizer while loading; for some models (keras-hub's detectors among
    them) it cannot and skips the state with a warning. Then the optimizer is
    built here and its variables are read from the file's weights
    (``model.weights.h5``, group ``optimizer/vars``: the `.keras` format).
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
        model = load_model_file(path)
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and not optimizer.built:
        optimizer.build(model.trainable_variables)
        with zipfile.ZipFile(path) as archive:
            data = io.BytesIO(archive.read("model.weights.h5"))
        with h5py.File(data, "r") as weights:
            saved = weights["optimizer"]["vars"]
            if len(saved) != len(optimizer.variables):
                raise ValueError(f"cannot resume from {os.fspath(path)!r}: its optimizer has "
                                 f"{len(saved)} variables, the rebuilt one "
                                 f"{len(optimizer.variables)}")
            optimizer.load_own_variables({key: saved[key][()] for key in saved})
    return model


def write_history_csv(path, history):
    """Writes a list of per-epoch dicts as CSV (columns: every key seen, in order)."""
    keys = []
    for row in history:
        keys.extend(k for k in row if k not in keys)
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(history)
    os.replace(tmp, path)


def read_state_near(model_path):
    """The ``state.json`` beside a model file ({} when there is none or it is unreadable)."""
    path = os.path.join(os.path.dirname(os.path.abspath(model_path)), STATE_FILE)
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


class RunDirectory:
    """The files of one training run in directory `path` (created if needed).

    Args:
        path: the run's directory; it must be writable.
        writable: False for a process that only reads the run (the processes other
            than the chief of a cluster): the directory is neither created nor checked.
    """

    def __init__(self, path, writable=True):
        self.path = ensure_writable_dir(path) if writable else os.path.abspath(os.fspath(path))

    def file(self, name):
        return os.path.join(self.path, name)

    @property
    def checkpoint(self):
        return self.file(CHECKPOINT_FILE)

    @property
    def model(self):
        return self.file(MODEL_FILE)

    def load_state(self):
        """The saved state dict, or None for a directory without a finished epoch."""
        state_path = self.file(STATE_FILE)
        if not (os.path.exists(state_path) and os.path.exists(self.checkpoint)):
            return None
        with open(state_path) as f:
            return json.load(f)

    def resume_state(self, resume, **expected):
        """The state to continue from, checked against what this run is.

        Args:
            resume: whether the caller asked to continue an existing run.
            **expected: entries the saved state must have (model, dataset, ...).

        Returns:
            The saved state, or None to start a new run.

        Raises:
            ValueError: the directory holds a run and `resume` is False, or the
                saved run differs from `expected`.
        """
        state = self.load_state()
        if state is None:
            return None
        if not resume:
            raise ValueError(f"{self.path!r} already holds a training run; resume it "
                             "(resume=True) or write to another directory")
        for key, value in expected.items():
            if state.get(key) != value:
                raise ValueError(f"cannot resume: the run in {self.path!r} has {key} "
                                 f"{state.get(key)!r}, not {value!r}")
        return state

    def write_json(self, name, value):
        """Writes `value` as indented JSON into file `name` of the run (atomically)."""
        atomic_write_text(self.file(name), json.dumps(value, indent=2))
        return self.file(name)

    def record_epoch(self, model, state, row, title):
        """Saves the checkpoint, the state with `row` appended, the CSV and the curve."""
        atomic_save_model(model, self.checkpoint)
        epoch = row["epoch"]
        state["epochs_done"] = epoch
        state["history"] = [r for r in state["history"] if r["epoch"] < epoch] + [row]
        atomic_write_text(self.file(STATE_FILE), json.dumps(state, indent=1))
        write_history_csv(self.file(HISTORY_FILE), state["history"])
        self.draw_curve(state, title)

    def draw_curve(self, state, title):
        """Draws the history into ``training_curve.png``; False without matplotlib."""
        return plots.plot_history(state["history"], self.file(CURVE_FILE), title,
                                  metrics=state.get("metrics", ("loss", "accuracy")))

    def finish(self, model):
        """Saves the final ``model.keras``; returns its path."""
        atomic_save_model(model, self.model)
        return self.model


class RunRecorder(keras.callbacks.Callback):
    """After every epoch: checkpoint (model + optimizer), state, CSV history, curve.

    Args:
        run: a `RunDirectory`.
        state: the run's state dict (updated in place).
        title: title of the training-curve picture.
        saving: a function returning the context manager to save the model in
            (`keras_aw_tools.distributed_fit.saving` for the chief of a cluster), or None.
    """

    def __init__(self, run, state, title, saving=None):
        super().__init__()
        self.run = run
        self.state = state
        self.title = title
        self.saving = saving
        self._start = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.time()

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch + 1}
        for key, value in (logs or {}).items():
            row[key] = float(value)
        row["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        row["seconds"] = round(time.time() - (self._start or time.time()), 2)
        with self.saving() if self.saving else contextlib.nullcontext():
            self.run.record_epoch(self.model, self.state, row, self.title)


class SavingCallback(keras.callbacks.Callback):
    """Runs a saving callback (e.g. a ``ModelCheckpoint``) inside `saving()` at epoch ends.

    Args:
        inner: the callback; it gets the model, the parameters and the epoch events.
        saving: a function returning the context manager to save in (as `RunRecorder`'s).
    """

    def __init__(self, inner, saving):
        super().__init__()
        self.inner = inner
        self.saving = saving

    def set_model(self, model):
        super().set_model(model)
        self.inner.set_model(model)

    def set_params(self, params):
        super().set_params(params)
        self.inner.set_params(params)

    def on_epoch_begin(self, epoch, logs=None):
        self.inner.on_epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        with self.saving():
            self.inner.on_epoch_end(epoch, logs)
