"""Training and evaluation: the loop behind `keras-aw train` and `evaluate`.

- `build_model(spec, input_shape, classes)`: any registered classifier
  (`keras_aw.list_models(task="classification")`) with a rescaling layer in
  front, so that the model takes raw 0-255 pixels.
- Registered detectors (`keras_aw.list_models(task="detection")`, keras-hub
  RetinaNets) train and evaluate through the same functions on the embedded
  Shapes-Detect set (``dataset="shapes"``,
  `keras_aw.datasets.load_detection_data`: pixels scaled by
  `keras_aw.vocabulary.DETECTOR_INPUT_SCALE`, batches reshuffled every epoch);
  `evaluate` reports COCO AP / AP50 / AP75.
- `train(...)`: `Model.fit` with the recipe of `keras_aw_tools.recipe` (Adam
  and a per-epoch cosine decay), a checkpoint after every epoch
  (`keras_aw_tools.runs`), resumable (``resume=True`` continues the epoch
  count), optional mixed precision and data parallelism (`keras_aw.distribute`),
  the final model as ``model.keras``; on several processes or hosts
  (``job_addresses``/``num_processes``/``process_id``, or the variables a
  scheduler sets: `keras_aw.distribute.initialize_cluster`) every process runs
  the same `train` and only process 0 writes (docs/scale-out.md).
- `evaluate(...)`: loss and accuracy (detectors: COCO AP) of a saved model.

`train` parses the model spec (`keras_aw.registry.parse_spec`) and the data
set (`keras_aw.datasets.parse_dataset`) once and dispatches on the spec's task
to a `Task`: how to load its data, build and compile a new model, and evaluate
one. keras-hub is imported only for a detector. Bad arguments raise
`ValueError`/`TypeError` naming the argument.

Example:

>>> import tempfile
>>> from keras_aw_tools import training
>>> result = training.train("AWSmallCNN", epochs=1, num_train=64, num_test=32,
...                         output=tempfile.mkdtemp(), verbose=0)
>>> result["epochs_done"]
1
"""

import copy
import os
import shutil
import tempfile
from typing import Callable, NamedTuple

import keras
from keras import layers

from keras_aw import registry
from keras_aw.datasets import load_data, load_detection_data, parse_dataset, sharding
from keras_aw.deploy import is_detector
from keras_aw.distribute import (check_sync_batchnorm, distribution, find_cluster,
                                 initialize_cluster, precision, synchronize_batchnorm)
from keras_aw.utils.files import load_model_file
from keras_aw._validation import check_positive_int
from keras_aw.vocabulary import DETECTOR_INPUT_SCALE
from keras_aw_tools import distributed_fit, recipe
from keras_aw_tools.runs import RunDirectory, RunRecorder, load_checkpoint


def build_model(spec, input_shape=(32, 32, 3), classes=10, **kwargs):
    """Builds registered classifier `spec` taking raw 0-255 RGB pixels.

    A ``Rescaling`` layer (to [-1, 1]) comes first, then the builder's network.

    Args:
        spec: a registered name or spec (case, '-' and '_' ignored), e.g.
            "AWSEResNet50" or "AWCBAMMobileNet:spatial", or a `keras_aw.registry.ModelSpec`.
        input_shape: (height, width, 3).
        classes: number of classes.
        **kwargs: passed to the builder (e.g. ``alpha=0.25`` for MobileNet).

    Returns:
        A functional `keras.Model` with one input named "image".

    Raises:
        ValueError: unknown name, or arguments the builder rejects.
    """
    spec = registry.parse_spec(spec)
    if spec.task != "classification":
        raise ValueError(f"{spec.name} is a {spec.task} model, not a classifier")
    inputs = layers.Input(tuple(input_shape), name="image")
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescale")(inputs)
    try:
        model = spec.build(input_tensor=x, input_shape=tuple(input_shape), classes=classes,
                           **kwargs)
    except (ValueError, TypeError) as e:
        raise type(e)(f"cannot build {spec.name} for input_shape={tuple(input_shape)}: "
                      f"{e}") from e
    # Builders take their inputs from `get_source_inputs` (a list); a single
    # tensor input lets the model be called on a plain array without warnings.
    outputs = model.outputs[0] if len(model.outputs) == 1 else model.outputs
    return keras.Model(inputs, outputs, name=model.name)


# --------------------------------------------------------------------------
# What differs by task: one `Task` per `keras_aw.registry.TASKS` entry
# --------------------------------------------------------------------------


class Task(NamedTuple):
    """How `train` and `evaluate` handle the models of one task.

    Attributes:
        load_data: ``(dataset, image_size, batch_size, num_train, num_test, seed,
            training, drop_remainder, repeat, shuffle_seed, **part) -> dict`` with
            "train" (training only), "test", "num_classes", "class_names";
            ``part=(num_processes, process_id)`` (classifiers on tfds sets under a
            cluster): this process's part only, at the per-process batch size.
        new_model: ``(spec, image_size, num_classes, learning_rate,
            encoder_weights=None) -> model``, built and compiled with
            `keras_aw_tools.recipe`.
        evaluate: ``(model, data, dataset, batch_size, verbose) -> dict`` of metrics.
        metrics: the metrics a training run records.
    """

    load_data: Callable
    new_model: Callable
    evaluate: Callable
    metrics: tuple


def _classification_data(dataset, image_size, batch_size, num_train, num_test, seed,
                         training, drop_remainder, repeat, shuffle_seed, part=None):
    # NumPy batches are shuffled by `fit` with the global seed; tfds by the pipeline.
    return load_data(dataset, image_size, batch_size, num_train, num_test, seed,
                     training=training, drop_remainder=drop_remainder, repeat=repeat, part=part)


def _new_classifier(spec, image_size, num_classes, learning_rate, encoder_weights=None):
    if encoder_weights is not None:
        raise ValueError(f"{spec} is a classifier: `encoder_weights` (a pretrained encoder) is "
                         f"for detectors; received encoder_weights={encoder_weights!r}")
    return recipe.compile_classifier(build_model(spec, (image_size, image_size, 3), num_classes),
                                     learning_rate)


def _evaluate_classifier(model, data, dataset, batch_size, verbose):
    classes = model.outputs[0].shape[-1]
    if classes != data["num_classes"]:
        raise ValueError(f"the model predicts {classes} classes but dataset={str(dataset)!r} "
                         f"has {data['num_classes']}")
    recipe.compile_classifier(model)
    test = data["test"]
    if isinstance(test, tuple):
        logs = model.evaluate(test[0], test[1], batch_size=batch_size, verbose=verbose,
                              return_dict=True)
    else:
        logs = model.evaluate(test, verbose=verbose, return_dict=True)
    return {"loss": float(logs["loss"]), "accuracy": float(logs["accuracy"])}


def _detection_data(dataset, image_size, batch_size, num_train, num_test, seed, training,
                    drop_remainder, repeat, shuffle_seed):
    return load_detection_data(dataset, image_size, batch_size, num_train, num_test, seed,
                               training=training, drop_remainder=drop_remainder, repeat=repeat,
                               shuffle_seed=shuffle_seed)


def _new_detector(spec, image_size, num_classes, learning_rate, encoder_weights=None):
    image_shape = (image_size, image_size, 3)
    kwargs = {}
    if encoder_weights is not None:
        # The paper's way: an encoder pretrained as a classifier (e.g. `keras-aw train` on
        # the Shapes classification set), its pyramid levels where its strides say.
        from keras_aw.detection import encoder_from_classifier

        kwargs["encoder"] = encoder_from_classifier(
            encoder_weights, image_shape=image_shape, input_scale=1.0 / DETECTOR_INPUT_SCALE)
    return recipe.compile_detector(
        spec.build(num_classes=num_classes, image_shape=image_shape, **kwargs), learning_rate)


def _evaluate_detector(model, data, dataset, batch_size, verbose):
    from keras_aw.detection import evaluate_detector

    xt, yt = data["test"]
    return evaluate_detector(model, xt, yt["boxes"], yt["labels"], batch_size=batch_size)


TASKS = {
    "classification": Task(_classification_data, _new_classifier, _evaluate_classifier,
                           ("loss", "accuracy")),
    "detection": Task(_detection_data, _new_detector, _evaluate_detector, ("loss",)),
}


def fit_arguments(train_data, test_data, batch_size):
    """`Model.fit` keyword arguments for NumPy (x, y) tuples or `tf.data` pipelines."""
    if isinstance(train_data, tuple):
        kwargs = {"x": train_data[0], "y": train_data[1], "batch_size": batch_size,
                  "shuffle": True}
    else:
        # The pipeline shuffles itself; Keras's default `shuffle=True` only warns about it.
        kwargs = {"x": train_data, "shuffle": False}
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
    learning_rate=recipe.DEFAULT_LEARNING_RATE,
    num_train=10000,
    num_test=2000,
    seed=0,
    verbose=1,
    log=print,
    job_addresses=None,
    num_processes=None,
    process_id=None,
    sync_batchnorm=False,
    callbacks=None,
    encoder_weights=None,
):
    """Trains a registered model, recording the run in `output` after every epoch.

    Args:
        model: a registered classifier or detector name or spec (see `build_model`),
            or a `keras_aw.registry.ModelSpec`.
        dataset: "shapes" or "tfds:NAME[:SPLIT]" (detectors: "shapes"), or a
            `keras_aw.datasets.DatasetSpec`.
        epochs: total number of epochs (with `resume`, counting the done ones).
        batch_size: batch size.
        image_size: height and width of the images the model takes.
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
            writes `output` and prints, the logged
            metrics are global, and a resumed run reads the same checkpoint on
            every process (`output` on a filesystem they share).
        sync_batchnorm: BatchNorm statistics over the global batch (AWConv2D's
            attention BatchNorms included) on TensorFlow; always so on JAX under
            a cluster or `distribute`; refused on PyTorch.
        callbacks: extra Keras callbacks for `fit`.
        encoder_weights: detectors only: a classifier's `.keras` file (e.g. from
            `keras-aw train` on the Shapes classification set, whose images are 0-255
            pixels) whose trunk, with its trained weights, becomes the detector's
            encoder in place of the family's (see
            `keras_aw.detection.encoder_from_classifier`); ignored on resume, where
            the checkpoint holds the whole detector.

    Returns:
        A dict: paths ("model", "checkpoint", "history", "curve"),
        "epochs_done" and the last epoch's metrics.

    Raises:
        ValueError: bad arguments; a registered detector under several processes.
        ConnectionError: the cluster's processes did not all join in time.
    """
    _check_training_args(epochs, batch_size, image_size, steps_per_epoch)
    data_spec = parse_dataset(dataset)
    spec = registry.parse_spec(model)
    task = TASKS[spec.task]
    name = str(spec)
    if sync_batchnorm:
        check_sync_batchnorm()
    found = find_cluster(job_addresses, num_processes, process_id)
    if found is not None and spec.task != "classification":
        raise ValueError(f"{name} is a {spec.task} model: registered detectors do not train "
                         f"under several processes (keras-hub's RetinaNet there is not "
                         f"verified); received num_processes={found.num_processes}")
    cluster = initialize_cluster(job_addresses, num_processes, process_id)
    chief = cluster is None or cluster.is_chief
    # A tfds set under a cluster: each process reads its own part (a Shapes set is
    # generated whole by every process, which then takes its part of every batch).
    per_process = cluster is not None and data_spec.kind == "tfds"
    if not chief:
        verbose, log = 0, _silent
    run = RunDirectory(output, writable=chief)
    state = run.resume_state(resume, model=name, dataset=str(data_spec), image_size=image_size)
    if resume and state is None:
        log(f"no checkpoint in {run.path!r}; starting from epoch 1")
    done = state["epochs_done"] if state else 0

    keras.utils.set_random_seed(seed + done)
    with precision(mixed_precision), distribution(
            distribute, batch_size, cluster=cluster, per_process_input=per_process) as replicas:
        part = {}
        if per_process:
            part = {"part": (cluster.num_processes, cluster.process_id)}
        data = task.load_data(data_spec, image_size,
                              batch_size // cluster.num_processes if per_process else batch_size,
                              num_train, num_test, seed, training=True,
                              drop_remainder=replicas > 1, repeat=steps_per_epoch is not None,
                              shuffle_seed=seed + done, **part)
        if state is None:
            state = {"model": name, "task": spec.task, "dataset": str(data_spec),
                     "image_size": image_size, "num_classes": data["num_classes"],
                     "class_names": data["class_names"], "batch_size": batch_size,
                     "mixed_precision": bool(mixed_precision), "metrics": list(task.metrics),
                     "epochs_done": 0, "history": []}
            net = task.new_model(spec, image_size, data["num_classes"], learning_rate,
                                 encoder_weights=encoder_weights)
            if encoder_weights is not None:
                state["encoder_weights"] = os.path.abspath(encoder_weights)
        else:
            net = load_checkpoint(run.checkpoint)
        if sync_batchnorm:
            synchronize_batchnorm(net, cluster)
        extra = []
        train_data, test_data = data["train"], data["test"]
        if cluster is not None:
            log(f"distributing over {replicas} devices in {cluster.num_processes} processes "
                f"(process {cluster.process_id}; global batch {batch_size}"
                + (f"; each process reads 1/{cluster.num_processes} of {data_spec})"
                   if per_process else ")"))
            if per_process:
                train_data = sharding.process_input(train_data, cluster, batch_size)
                if test_data is not None:
                    test_data = sharding.process_input(test_data, cluster, batch_size)
            else:
                train_data, steps = sharding.cluster_input(
                    train_data, batch_size, cluster, seed=seed, first_epoch=done,
                    epochs=None if steps_per_epoch else epochs - done)
                steps_per_epoch = steps_per_epoch or steps
                if test_data is not None:
                    test_data, _ = sharding.cluster_input(test_data, batch_size, cluster,
                                                          training=False)
            if cluster.backend == "torch":
                distributed_fit.install_ddp_train_step(net, cluster)
                extra.append(distributed_fit.GlobalLogs(cluster))
        elif replicas > 1:
            log(f"distributing over {replicas} devices")
        title = f"{name} on {data_spec} ({image_size}x{image_size})"

        def saving():
            return distributed_fit.saving(net, cluster)

        # TensorFlow: saving a model under MultiWorkerMirroredStrategy runs collectives
        # (it creates variables), so every process saves; the others into a scratch
        # directory, deleted at the end.
        writer = run if chief else None
        if not chief and cluster.backend == "tensorflow":
            writer = RunDirectory(tempfile.mkdtemp(prefix="keras_aw_worker_"))
        fit_callbacks = extra + [recipe.cosine_schedule(learning_rate, epochs)]
        if writer is not None:
            fit_callbacks.append(RunRecorder(writer, state if chief else copy.deepcopy(state),
                                             title, saving=saving))
        fit_callbacks += list(callbacks or [])
        if done >= epochs:
            log(f"the run in {run.path!r} already has {done} epochs; nothing to train")
        else:
            net.fit(epochs=epochs, initial_epoch=done, steps_per_epoch=steps_per_epoch,
                    callbacks=fit_callbacks, verbose=verbose,
                    **fit_arguments(train_data, test_data, batch_size))
        if writer is not None:
            with saving():
                final = writer.finish(net)
        if chief:
            if not run.draw_curve(state, title):
                log("matplotlib is not installed: no training-curve PNG (pip install "
                    "matplotlib)")
        else:
            if writer is not None:
                shutil.rmtree(writer.path, ignore_errors=True)
            final = run.model
        if cluster is not None:
            cluster.barrier("train_end")  # the chief's files are complete
            if not chief:
                state = run.load_state() or state
    result = {"model": final, "checkpoint": run.checkpoint,
              "history": run.file("history.csv"), "curve": run.file("training_curve.png"),
              "epochs_done": state["epochs_done"]}
    if state["history"]:
        result.update({k: v for k, v in state["history"][-1].items() if k != "epoch"})
    return result


def _silent(*args, **kwargs):
    """The `log` of the processes other than a cluster's chief."""


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
    data_spec = parse_dataset(dataset)
    model = load_model_file(model_path)
    shape = model.inputs[0].shape
    size = shape[1] or image_size or 32
    if image_size is not None and shape[1] is not None and image_size != shape[1]:
        raise ValueError(f"the model takes {shape[1]}x{shape[2]} images; received "
                         f"image_size={image_size}")
    task = TASKS["detection" if is_detector(model) else "classification"]
    data = task.load_data(data_spec, size, batch_size, 0, num_test, seed, training=False,
                          drop_remainder=False, repeat=False, shuffle_seed=None)
    return task.evaluate(model, data, data_spec, batch_size, verbose)
