"""Training and evaluation: the loop behind `keras-aw train` and `evaluate`.

- `build_model(name, input_shape, classes)`: any registered classifier
  (`keras_aw.list_models(task="classification")`) with a rescaling layer in
  front, so that the model takes raw 0-255 pixels.
- Registered detectors (`keras_aw.list_models(task="detection")`, keras-hub
  RetinaNets) train and evaluate through the same functions on the embedded
  Shapes-Detect set (``dataset="shapes"``); they take pixels scaled to [0, 1]
  (`DETECTOR_INPUT_SCALE`), and `evaluate` reports COCO AP / AP50 / AP75.
- `train(...)`: `Model.fit` with Adam and a per-epoch cosine decay, a checkpoint
  after every epoch (`keras_aw.runs`), resumable (``resume=True`` continues the
  epoch count), optional mixed precision and data parallelism
  (`keras_aw.devices`), the final model as ``model.keras``.
- `evaluate(...)`: loss and accuracy of a saved model.

Data come from `keras_aw.datasets.load_data` (the embedded Shapes set or a tfds
set). Bad arguments raise `ValueError`/`TypeError` naming the argument.

Example:

>>> import tempfile
>>> from keras_aw import training
>>> result = training.train("AWSmallCNN", epochs=1, num_train=64, num_test=32,
...                         output=tempfile.mkdtemp(), verbose=0)
>>> result["epochs_done"]
1
"""

import math
import warnings

import keras
from keras import layers

from keras_aw import deploy, detection, devices, plots, registry, runs
from keras_aw.datasets import shapes
from keras_aw.applications import small_cnn
from keras_aw.datasets.pipelines import load_data, parse_dataset
from keras_aw.devices import distribution, precision
from keras_aw.runs import RunDirectory, RunRecorder, load_checkpoint, load_model_file
from keras_aw._validation import check_positive_int


def build_model(name, input_shape=(32, 32, 3), classes=10, **kwargs):
    """Builds registered classifier `name` taking raw 0-255 RGB pixels.

    A ``Rescaling`` layer (to [-1, 1]) comes first, then the builder's network.

    Args:
        name: a registered name or spec (case, '-' and '_' ignored), e.g.
            "AWSEResNet50" or "AWCBAMMobileNet:spatial".
        input_shape: (height, width, 3).
        classes: number of classes.
        **kwargs: passed to the builder (e.g. ``alpha=0.25`` for MobileNet).

    Returns:
        A functional `keras.Model` with one input named "image".

    Raises:
        ValueError: unknown name, or arguments the builder rejects.
    """
    canonical, spec_kwargs = registry.parse_spec(name)[:2]
    info = registry.model_info(canonical)
    if info.task != "classification":
        raise ValueError(f"{canonical} is a {info.task} model, not a classifier")
    inputs = layers.Input(tuple(input_shape), name="image")
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescale")(inputs)
    try:
        model = info.builder(input_tensor=x, input_shape=tuple(input_shape), classes=classes,
                             **spec_kwargs, **kwargs)
    except (ValueError, TypeError) as e:
        raise type(e)(f"cannot build {canonical} for input_shape={tuple(input_shape)}: "
                      f"{e}") from e
    # Builders take their inputs from `get_source_inputs` (a list); a single
    # tensor input lets the model be called on a plain array without warnings.
    outputs = model.outputs[0] if len(model.outputs) == 1 else model.outputs
    return keras.Model(inputs, outputs, name=model.name)


#: Detectors take images scaled by this factor (0-255 pixels -> [0, 1]).
DETECTOR_INPUT_SCALE = 1.0 / 255.0


is_detector = deploy.is_detector


def load_detection_data(dataset, image_size, num_train, num_test, seed):
    """Shapes-Detect as ``(x, y), (x_test, y_test)`` with images scaled for the detectors.

    Raises:
        ValueError: `dataset` is not "shapes" (the only detection set `train` reads;
            see `keras_aw.datasets.coco` for COCO).
    """
    if dataset != "shapes":
        raise ValueError("detectors train and evaluate on the embedded Shapes-Detect set, "
                         f"dataset='shapes'; received dataset={dataset!r} (for COCO see "
                         "keras_aw.datasets.coco)")
    (x, y), (xt, yt) = shapes.load_detection_data(num_train, num_test, image_size=image_size,
                                                  seed=seed)
    return ((x.astype("float32") * DETECTOR_INPUT_SCALE, y),
            (xt.astype("float32") * DETECTOR_INPUT_SCALE, yt))


def _new_detector(name, image_size, learning_rate):
    net = registry.create_model(name, num_classes=shapes.NUM_CLASSES,
                                image_shape=(image_size, image_size, 3))
    net.compile(optimizer=keras.optimizers.Adam(learning_rate, global_clipnorm=10.0))
    return net


def cosine_learning_rate(base, epochs):
    """Per-epoch cosine decay from `base` over `epochs` epochs."""

    def schedule(epoch, lr=None):
        return float(base * 0.5 * (1.0 + math.cos(math.pi * epoch / max(epochs, 1))))

    return schedule


def compile_for_training(model, learning_rate):
    """Adam, sparse categorical cross-entropy and accuracy."""
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    return model


def fit_arguments(train_data, test_data, batch_size):
    """`Model.fit` keyword arguments for NumPy (x, y) tuples or `tf.data` pipelines."""
    if isinstance(train_data, tuple):
        kwargs = {"x": train_data[0], "y": train_data[1], "batch_size": batch_size,
                  "shuffle": True}
    else:
        kwargs = {"x": train_data}
    if test_data is not None:
        kwargs["validation_data"] = test_data
        if isinstance(test_data, tuple):
            kwargs["validation_batch_size"] = batch_size
    return kwargs


def _check_training_args(epochs, batch_size, image_size, steps_per_epoch):
    check_positive_int("epochs", epochs)
    check_positive_int("batch_size", batch_size)
    check_positive_int("image_size", image_size)
    if image_size < 8:
        raise ValueError(f"`image_size` must be at least 8; received image_size={image_size}")
    if steps_per_epoch is not None:
        check_positive_int("steps_per_epoch", steps_per_epoch)


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
    """Trains a registered model, recording the run in `output` after every epoch.

    Args:
        model: a registered classifier or detector name or spec (see `build_model`).
        dataset: "shapes" or "tfds:NAME[:SPLIT]".
        epochs: total number of epochs (with `resume`, counting the done ones).
        batch_size: batch size.
        image_size: height and width of the images the model takes.
        output: the run's directory (see `keras_aw.runs`).
        steps_per_epoch: batches per epoch (None: one pass over the data).
        resume: continue the run in `output` from its last checkpoint.
        mixed_precision: train under `keras_aw.devices.mixed_policy_name()`.
        distribute: data-parallel training (TensorFlow and JAX).
        learning_rate: Adam's learning rate at the start of the cosine decay.
        num_train, num_test: Shapes: the number of images.
        seed: random seed (data and initialization).
        verbose: `Model.fit` verbosity.
        log: function printing progress messages.

    Returns:
        A dict: paths ("model", "checkpoint", "history", "curve"),
        "epochs_done" and the last epoch's metrics.
    """
    _check_training_args(epochs, batch_size, image_size, steps_per_epoch)
    parse_dataset(dataset)
    name = registry.canonical_spec(model)
    run = RunDirectory(output)
    state = run.resume_state(resume, model=name, dataset=dataset, image_size=image_size)
    if resume and state is None:
        log(f"no checkpoint in {run.path!r}; starting from epoch 1")
    done = state["epochs_done"] if state else 0

    task = registry.model_info(name.split(":")[0]).task
    keras.utils.set_random_seed(seed + done)
    with precision(mixed_precision), distribution(distribute, batch_size) as replicas:
        if task == "detection":
            train_xy, test_xy = load_detection_data(dataset, image_size, num_train, num_test,
                                                    seed)
            data = {"train": train_xy, "test": test_xy, "num_classes": shapes.NUM_CLASSES,
                    "class_names": list(shapes.CLASS_NAMES)}
        else:
            data = load_data(dataset, image_size, batch_size, num_train, num_test, seed,
                             training=True, drop_remainder=replicas > 1,
                             repeat=steps_per_epoch is not None)
        if state is None:
            state = {"model": name, "task": task, "dataset": dataset, "image_size": image_size,
                     "num_classes": data["num_classes"], "class_names": data["class_names"],
                     "batch_size": batch_size, "mixed_precision": bool(mixed_precision),
                     "metrics": ["loss"] if task == "detection" else ["loss", "accuracy"],
                     "epochs_done": 0, "history": []}
            if task == "detection":
                net = _new_detector(name, image_size, learning_rate)
            else:
                net = compile_for_training(
                    build_model(name, (image_size, image_size, 3), data["num_classes"]),
                    learning_rate)
        else:
            net = load_checkpoint(run.checkpoint)
        if replicas > 1:
            log(f"distributing over {replicas} devices")
        title = f"{name} on {dataset} ({image_size}x{image_size})"
        callbacks = [keras.callbacks.LearningRateScheduler(cosine_learning_rate(learning_rate,
                                                                                epochs)),
                     RunRecorder(run, state, title)]
        if done >= epochs:
            log(f"the run in {run.path!r} already has {done} epochs; nothing to train")
        else:
            net.fit(epochs=epochs, initial_epoch=done, steps_per_epoch=steps_per_epoch,
                    callbacks=callbacks, verbose=verbose,
                    **fit_arguments(data["train"], data["test"], batch_size))
        final = run.finish(net)
        if not run.draw_curve(state, title):
            log("matplotlib is not installed: no training-curve PNG (pip install matplotlib)")
    result = {"model": final, "checkpoint": run.checkpoint,
              "history": run.file("history.csv"), "curve": run.file("training_curve.png"),
              "epochs_done": state["epochs_done"]}
    if state["history"]:
        result.update({k: v for k, v in state["history"][-1].items() if k != "epoch"})
    return result


def evaluate(model_path, dataset="shapes", batch_size=64, num_test=2000, seed=0,
             image_size=None, verbose=1):
    """Evaluates a saved model on a data set's test split.

    Args:
        model_path: a `.keras` file.
        dataset: "shapes" or "tfds:NAME[:SPLIT]" (detectors: "shapes").
        batch_size: batch size.
        num_test: Shapes: the number of test images.
        seed: Shapes: the seed of the data set.
        image_size: for a model without a fixed input size.
        verbose: `Model.evaluate` verbosity.

    Returns:
        Classifiers: {"loss": float, "accuracy": float}; detectors: COCO
        {"AP": float, "AP50": float, "AP75": float} (fractions in [0, 1]).
    """
    parse_dataset(dataset)
    model = load_model_file(model_path)
    shape = model.inputs[0].shape
    size = shape[1] or image_size or 32
    if image_size is not None and shape[1] is not None and image_size != shape[1]:
        raise ValueError(f"the model takes {shape[1]}x{shape[2]} images; received "
                         f"image_size={image_size}")
    if is_detector(model):
        _, (xt, yt) = load_detection_data(dataset, size, 1, num_test, seed)
        return detection.evaluate_detector(model, xt, yt["boxes"], yt["labels"],
                                           batch_size=batch_size)
    data = load_data(dataset, size, batch_size, 0, num_test, seed, training=False)
    classes = model.outputs[0].shape[-1]
    if classes != data["num_classes"]:
        raise ValueError(f"the model predicts {classes} classes but dataset={dataset!r} has "
                         f"{data['num_classes']}")
    compile_for_training(model, 1e-3)
    test = data["test"]
    if isinstance(test, tuple):
        logs = model.evaluate(test[0], test[1], batch_size=batch_size, verbose=verbose,
                              return_dict=True)
    else:
        logs = model.evaluate(test, verbose=verbose, return_dict=True)
    return {"loss": float(logs["loss"]), "accuracy": float(logs["accuracy"])}


# Names this module had before keras_aw 0.2, kept as deprecated aliases.
_MOVED = {
    "UserError": ("ValueError", ValueError),
    "available_models": ("keras_aw.list_models", registry.list_models),
    "resolve_model_name": ("keras_aw.registry.canonical_spec", registry.canonical_spec),
    "load_saved_model": ("keras_aw.runs.load_model_file", runs.load_model_file),
    "ensure_writable_dir": ("keras_aw.runs.ensure_writable_dir", runs.ensure_writable_dir),
    "ensure_writable_file": ("keras_aw.runs.ensure_writable_file", runs.ensure_writable_file),
    "write_history_csv": ("keras_aw.runs.write_history_csv", runs.write_history_csv),
    "plot_history": ("keras_aw.plots.plot_history", plots.plot_history),
    "SmallCNN": ("keras_aw.applications.SmallCNN", small_cnn.SmallCNN),
    "AWSmallCNN": ("keras_aw.applications.AWSmallCNN", small_cnn.AWSmallCNN),
    "has_gpu": ("keras_aw.devices.has_gpu", devices.has_gpu),
    "mixed_policy_name": ("keras_aw.devices.mixed_policy_name", devices.mixed_policy_name),
    "configure_cpu_devices": ("keras_aw.devices.configure_cpu_devices",
                              devices.configure_cpu_devices),
    "check_distribution_backend": ("keras_aw.devices.check_distribution_backend",
                                   devices.check_distribution_backend),
}


def __getattr__(name):
    if name not in _MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    new_name, value = _MOVED[name]
    warnings.warn(f"keras_aw.training.{name} is deprecated; use {new_name}",
                  DeprecationWarning, stacklevel=2)
    return value
