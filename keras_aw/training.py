"""Training pipeline behind the `keras-aw` command line and the examples.

- `build_model(name, input_shape, classes)`: any builder of
  `keras_aw.applications` (ResNet50, AWResNet50, ..., AWCBAMMobileNet) or one of
  the small demonstration networks `SmallCNN` / `AWSmallCNN` defined here, with a
  rescaling layer in front so that the model takes raw 0-255 pixels.
- `load_data(spec, ...)`: the embedded Shapes set (NumPy arrays) or a
  TensorFlow Datasets set (`"tfds:NAME[:SPLIT]"`) as a `tf.data` pipeline with
  augmentation and prefetch.
- `train(...)`: `Model.fit` with a checkpoint after every epoch, resumable
  (`resume=True` continues the epoch count), a CSV history, a training-curve
  PNG and the final model as ``model.keras``; optional mixed precision and
  data-parallel distribution.
- `evaluate(...)`: loss and accuracy of a saved model.

Errors caused by the user's input (unknown names, missing files, unwritable
directories, ...) are raised as `UserError`, which the command line prints as
one line.
"""

import contextlib
import csv
import json
import math
import os
import tempfile
import time

import keras
import numpy as np
from keras import layers

from keras_aw.datasets import shapes
from keras_aw.datasets.pipelines import load_data, parse_dataset  # noqa: F401 (moved)
from keras_aw.applications.small_cnn import AW_SMALL_BLOCKS, AWSmallCNN, SmallCNN  # noqa: F401

#: Files a training run writes into its output directory.
CHECKPOINT_FILE = "checkpoint.keras"
STATE_FILE = "state.json"
HISTORY_FILE = "history.csv"
CURVE_FILE = "training_curve.png"
MODEL_FILE = "model.keras"

class UserError(Exception):
    """A problem with the user's input; the command line prints it as one line."""


_SMALL_MODELS = {"SmallCNN": SmallCNN, "AWSmallCNN": AWSmallCNN}


def available_models():
    """Returns {name: builder} of every model `build_model` knows."""
    models = dict(_SMALL_MODELS)
    try:
        from keras_aw import applications
    except ImportError:  # the builders are optional for the small networks
        return models
    for name in getattr(applications, "__all__", dir(applications)):
        if name in ("ResNet", "MobileNetV1") or not name[:1].isupper():
            continue
        builder = getattr(applications, name, None)
        if callable(builder) and ("ResNet" in name or "MobileNet" in name):
            models[name] = builder
    return models


def _normalize(name):
    return name.replace("-", "").replace("_", "").lower()


def resolve_model_name(name):
    """The canonical spelling of a model name (case, '-' and '_' are ignored)."""
    models = available_models()
    by_key = {_normalize(n): n for n in models}
    found = by_key.get(_normalize(str(name)))
    if found is None:
        raise UserError(
            f"unknown model {name!r}; choose one of: {', '.join(sorted(models))}"
        )
    return found


def build_model(name, input_shape=(32, 32, 3), classes=10, **kwargs):
    """Builds model `name` taking raw 0-255 RGB pixels (a rescaling layer comes first).

    Args:
        name: a name from `available_models()` (case-insensitive).
        input_shape: (height, width, 3).
        classes: number of classes.
        **kwargs: passed to the builder (e.g. `alpha=0.25` for MobileNet).
    """
    canonical = resolve_model_name(name)
    builder = available_models()[canonical]
    inputs = layers.Input(tuple(input_shape), name="image")
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescale")(inputs)
    try:
        model = builder(input_tensor=x, input_shape=tuple(input_shape), classes=classes,
                        **kwargs)
    except (ValueError, TypeError) as e:
        raise UserError(f"cannot build {canonical} for input {tuple(input_shape)}: {e}") from e
    if model.inputs[0] is not inputs:  # a builder that ignores input_tensor: nest it
        return keras.Model(inputs, model(x), name=model.name)
    # Builders take their inputs from `get_source_inputs` (a list); a single
    # tensor input lets the model be called on a plain array without warnings.
    outputs = model.outputs[0] if len(model.outputs) == 1 else model.outputs
    return keras.Model(inputs, outputs, name=model.name)


# --------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------


def ensure_writable_dir(path):
    """Creates directory `path` if needed and checks that files can be written in it."""
    path = os.fspath(path)
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write_test_"):
            pass
    except OSError as e:
        raise UserError(f"output directory {path!r} is not writable: "
                        f"{e.strerror or e}") from e
    return path


def ensure_writable_file(path):
    """Checks that file `path` can be written (its directory exists or is created)."""
    parent = os.path.dirname(os.path.abspath(os.fspath(path)))
    ensure_writable_dir(parent)
    if os.path.isdir(path):
        raise UserError(f"output {path!r} is a directory; give a file name")
    return path


def load_saved_model(path):
    """Loads a `.keras` file, raising `UserError` for a missing or unreadable one."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise UserError(f"no such file: {path!r}")
    if os.path.isdir(path) or not path.endswith(".keras"):
        raise UserError(f"{path!r} is not a .keras model file")
    import keras_aw  # noqa: F401 - registers the custom layers

    try:
        return keras.saving.load_model(path)
    except Exception as e:  # noqa: BLE001
        message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"cannot load model {path!r}: {message}") from e


def _atomic_write_text(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def _atomic_save_model(model, path):
    tmp = path[: -len(".keras")] + ".tmp.keras"
    model.save(tmp)
    os.replace(tmp, path)


def write_history_csv(path, history):
    keys = []
    for row in history:
        keys.extend(k for k in row if k not in keys)
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(history)
    os.replace(tmp, path)


def plot_history(history, path, title="training"):
    """Writes a two-panel PNG (loss, accuracy against epoch). Returns False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        return False
    epochs = [row["epoch"] for row in history]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric, label in ((axes[0], "loss", "loss"), (axes[1], "accuracy", "accuracy")):
        for prefix, style, what in (("", "o-", "train"), ("val_", "s--", "validation")):
            values = [row.get(prefix + metric) for row in history]
            if any(v is not None for v in values):
                ax.plot(epochs, [np.nan if v is None else v for v in values], style, label=what)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.set_title(label)
        ax.grid(alpha=0.3)
        ax.legend()
        if metric == "accuracy":
            ax.set_ylim(0, 1)
        if len(epochs) <= 20:
            ax.set_xticks(epochs)
        else:
            ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    fig.suptitle(title)
    fig.tight_layout()
    tmp = path + ".tmp.png"
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)
    return True


# --------------------------------------------------------------------------
# Precision and distribution
# --------------------------------------------------------------------------


def has_gpu():
    backend = keras.backend.backend()
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            return bool(tf.config.list_physical_devices("GPU"))
        if backend == "jax":
            import jax

            return jax.devices()[0].platform == "gpu"
        if backend == "torch":
            import torch

            return torch.cuda.is_available()
    except Exception:  # noqa: BLE001
        return False
    return False


def mixed_policy_name():
    """mixed_float16 on a GPU, mixed_bfloat16 on a CPU (where float16 is slow)."""
    return "mixed_float16" if has_gpu() else "mixed_bfloat16"


@contextlib.contextmanager
def precision(mixed):
    previous = keras.config.dtype_policy()
    if mixed:
        keras.config.set_dtype_policy(mixed_policy_name())
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def check_distribution_backend():
    """Raises `UserError` on a backend that `--distribute` does not support."""
    backend = keras.backend.backend()
    if backend not in ("tensorflow", "jax"):
        raise UserError(
            f"--distribute supports the tensorflow and jax backends, not {backend!r}; "
            "on PyTorch train without it, or set KERAS_BACKEND=jax or tensorflow"
        )


def distribution_devices():
    """The devices `--distribute` spreads a batch over (GPUs, else CPU devices)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_logical_devices("GPU")
        return [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
    check_distribution_backend()
    return keras.distribution.list_devices()


@contextlib.contextmanager
def distribution(enabled, batch_size):
    """Yields the number of replicas; model creation must happen inside."""
    if not enabled:
        yield 1
        return
    devices = distribution_devices()
    if batch_size % len(devices):
        raise UserError(f"--batch-size {batch_size} must be a multiple of the "
                        f"{len(devices)} devices used by --distribute")
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        strategy = tf.distribute.MirroredStrategy(devices)
        with strategy.scope():
            yield len(devices)
        return
    previous = keras.distribution.distribution()
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    try:
        yield len(devices)
    finally:
        keras.distribution.set_distribution(previous)


def configure_cpu_devices(count):
    """Splits the host CPU into `count` virtual devices (to try --distribute without GPUs).

    Must run before the backend initializes its devices: on JAX it sets
    XLA_FLAGS / jax_num_cpu_devices, on TensorFlow the logical device
    configuration.
    """
    if count is None or count <= 1:
        return
    backend = keras.backend.backend()
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            cpus = tf.config.list_physical_devices("CPU")
            tf.config.set_logical_device_configuration(
                cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
            )
        elif backend == "jax":
            import jax

            jax.config.update("jax_num_cpu_devices", count)
        else:
            raise UserError(f"--cpu-devices is not supported on the {backend!r} backend")
    except RuntimeError as e:
        raise UserError(f"cannot split the CPU into {count} devices now: {e}") from e


# --------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------


def cosine_learning_rate(base, epochs):
    """Per-epoch cosine decay from `base` over `epochs` epochs."""

    def schedule(epoch, lr=None):
        return float(base * 0.5 * (1.0 + math.cos(math.pi * epoch / max(epochs, 1))))

    return schedule


class RunRecorder(keras.callbacks.Callback):
    """After every epoch: checkpoint (model + optimizer), state, CSV history, curve.

    Files are replaced atomically, so an interrupted run loses at most the
    epoch in progress.
    """

    def __init__(self, output, state, title):
        super().__init__()
        self.output = output
        self.state = state
        self.title = title
        self.epoch = None
        self._start = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self._start = time.time()

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch + 1}
        for key, value in (logs or {}).items():
            row[key] = float(value)
        row["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        row["seconds"] = round(time.time() - (self._start or time.time()), 2)
        _atomic_save_model(self.model, os.path.join(self.output, CHECKPOINT_FILE))
        self.state["epochs_done"] = epoch + 1
        self.state["history"] = [r for r in self.state["history"] if r["epoch"] <= epoch] + [row]
        _atomic_write_text(os.path.join(self.output, STATE_FILE),
                           json.dumps(self.state, indent=1))
        write_history_csv(os.path.join(self.output, HISTORY_FILE), self.state["history"])
        plot_history(self.state["history"], os.path.join(self.output, CURVE_FILE), self.title)


def compile_for_training(model, learning_rate):
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    return model


def train(
    model="AWSmallCNN",
    dataset="shapes",
    epochs=5,
    batch_size=64,
    image_size=32,
    output="runs/train",
    steps_per_epoch=None,
    resume=False,
    mixed_precision=False,
    distribute=False,
    learning_rate=2e-3,
    num_train=10000,
    num_test=2000,
    seed=0,
    verbose=1,
    log=print,
):
    """Trains a model; see the module docstring. Returns a dict of results and paths."""
    if epochs < 1 or batch_size < 1 or image_size < 8:
        raise UserError("--epochs and --batch-size must be >= 1 and --image-size >= 8")
    if steps_per_epoch is not None and steps_per_epoch < 1:
        raise UserError("--steps-per-epoch must be >= 1")
    parse_dataset(dataset)
    name = resolve_model_name(model)
    output = ensure_writable_dir(output)
    state_path = os.path.join(output, STATE_FILE)
    checkpoint = os.path.join(output, CHECKPOINT_FILE)
    state = None
    if os.path.exists(state_path) and os.path.exists(checkpoint):
        if not resume:
            raise UserError(f"{output!r} already holds a training run; pass --resume to "
                            "continue it or choose another --output")
        with open(state_path) as f:
            state = json.load(f)
        for key, value in (("model", name), ("dataset", dataset), ("image_size", image_size)):
            if state.get(key) != value:
                raise UserError(f"cannot resume: the run in {output!r} has {key} "
                                f"{state.get(key)!r}, not {value!r}")
    elif resume:
        log(f"no checkpoint in {output!r}; starting from epoch 1")
    done = state["epochs_done"] if state else 0

    keras.utils.set_random_seed(seed + done)
    with precision(mixed_precision):
        with distribution(distribute, batch_size) as replicas:
            data = load_data(dataset, image_size, batch_size, num_train, num_test, seed,
                             training=True, drop_remainder=replicas > 1,
                             repeat=steps_per_epoch is not None)
            if state is None:
                state = {"model": name, "dataset": dataset, "image_size": image_size,
                         "num_classes": data["num_classes"],
                         "class_names": data["class_names"], "batch_size": batch_size,
                         "mixed_precision": bool(mixed_precision), "epochs_done": 0,
                         "history": []}
                net = build_model(name, (image_size, image_size, 3), data["num_classes"])
                compile_for_training(net, learning_rate)
            else:
                net = load_saved_model(checkpoint)
            if replicas > 1:
                log(f"distributing over {replicas} devices")
            train_data, test_data = data["train"], data["test"]
            fit_kwargs = {}
            if isinstance(train_data, tuple):
                fit_kwargs = {"x": train_data[0], "y": train_data[1], "batch_size": batch_size,
                              "shuffle": True}
            else:
                fit_kwargs = {"x": train_data}
            if test_data is not None:
                fit_kwargs["validation_data"] = test_data
                if isinstance(test_data, tuple):
                    fit_kwargs["validation_batch_size"] = batch_size
            title = f"{name} on {dataset} ({image_size}x{image_size})"
            callbacks = [
                keras.callbacks.LearningRateScheduler(cosine_learning_rate(learning_rate,
                                                                           epochs)),
                RunRecorder(output, state, title),
            ]
            if done >= epochs:
                log(f"the run in {output!r} already has {done} epochs; nothing to train")
            else:
                net.fit(epochs=epochs, initial_epoch=done, steps_per_epoch=steps_per_epoch,
                        callbacks=callbacks, verbose=verbose, **fit_kwargs)
            final = os.path.join(output, MODEL_FILE)
            _atomic_save_model(net, final)
            if not plot_history(state["history"], os.path.join(output, CURVE_FILE), title):
                log("matplotlib is not installed: no training-curve PNG (pip install matplotlib)")
    result = {"model": final, "checkpoint": checkpoint, "history": os.path.join(output,
                                                                                HISTORY_FILE),
              "curve": os.path.join(output, CURVE_FILE), "epochs_done": state["epochs_done"]}
    if state["history"]:
        result.update({k: v for k, v in state["history"][-1].items() if k != "epoch"})
    return result


def evaluate(model_path, dataset="shapes", batch_size=64, num_test=2000, seed=0,
             image_size=None, verbose=1):
    """Loss and accuracy of a saved model on a data set's test split. Returns a dict."""
    parse_dataset(dataset)
    model = load_saved_model(model_path)
    shape = model.inputs[0].shape
    size = shape[1] or image_size or 32
    if image_size is not None and shape[1] is not None and image_size != shape[1]:
        raise UserError(f"the model takes {shape[1]}x{shape[2]} images, not {image_size}")
    data = load_data(dataset, size, batch_size, 0, num_test, seed, training=False)
    classes = model.outputs[0].shape[-1]
    if classes != data["num_classes"]:
        raise UserError(f"the model predicts {classes} classes but {dataset!r} has "
                        f"{data['num_classes']}")
    compile_for_training(model, 1e-3)
    test = data["test"]
    if isinstance(test, tuple):
        logs = model.evaluate(test[0], test[1], batch_size=batch_size, verbose=verbose,
                              return_dict=True)
    else:
        logs = model.evaluate(test, verbose=verbose, return_dict=True)
    return {"loss": float(logs["loss"]), "accuracy": float(logs["accuracy"])}
