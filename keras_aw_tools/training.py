"""Training and evaluation: the loop behind `keras-aw train` and `evaluate`.

- `build_model(spec, input_shape, classes)`: any registered classifier
  (`keras_aw.list_models(task="classification")`) with its recipe's
  normalization layer in front, so that the model takes raw 0-255 pixels.
- Registered detectors (`keras_aw.list_models(task="detection")`, keras-hub
  RetinaNets) train and evaluate through the same functions on the embedded
  Shapes-Detect set (``dataset="shapes"``,
  `keras_aw.datasets.load_detection_data`: pixels scaled by
  `keras_aw.vocabulary.DETECTOR_INPUT_SCALE`, batches reshuffled every epoch);
  `evaluate` reports COCO AP / AP50 / AP75.
- `train(settings)` or `train(model, ..., **fields)`: the run described by a
  `keras_aw_tools.settings.RunSettings` (or its fields as arguments), `Model.fit`
  with the run's named recipe of `keras_aw_tools.recipe` (``demo``: Adam and a
  per-epoch cosine decay; ``imagenet``: the reference ImageNet recipe), printed
  and written to ``recipe.json``, a checkpoint after every epoch
  (`keras_aw_tools.runs`), resumable (``resume=True`` continues the epoch
  count), optional mixed precision and data parallelism (`keras_aw.distribute`),
  the final model as ``model.keras``; on several processes or hosts
  (``job_addresses``/``num_processes``/``process_id``, or the variables a
  scheduler sets: `keras_aw.distribute.initialize_cluster`) every process runs
  the same `train` and only process 0 writes (docs/scale-out.md).
- `evaluate(...)`: loss and accuracy (detectors: COCO AP) of a saved model.

`train` is a short sequence of steps, one function each (`_join_cluster`,
`_open_run`, `_load_data`, `_resolve_recipe`, `_build_or_resume_model`, `_shard_inputs`,
`_callbacks`, `_fit`, `_save`), sharing one `_Job`. It parses the model spec
(`keras_aw.registry.parse_spec`) and the data set
(`keras_aw.datasets.parse_dataset`) once and dispatches on the spec's task to a
`Task`: how to load its data, build and compile a new model, and evaluate one.
keras-hub is imported only for a detector. Bad arguments raise
`ValueError`/`TypeError` naming the argument (`RunSettings` checks them).

Example:

>>> import tempfile
>>> from keras_aw_tools import training
>>> result = training.train("AWSmallCNN", epochs=1, num_train=64, num_test=32,
...                         output=tempfile.mkdtemp(), verbose=0)
>>> result["epochs_done"]
1
"""

import copy
import json
import os
import shutil
import tempfile
from typing import Callable, NamedTuple

import keras
from keras import layers

from keras_aw import registry
from keras_aw.datasets import load_data, parse_dataset, sharding
from keras_aw.deploy import is_detector
from keras_aw.distribute import (check_sync_batchnorm, distribution, find_cluster,
                                 initialize_cluster, precision, synchronize_batchnorm)
from keras_aw.utils.files import load_model_file
from keras_aw.vocabulary import DETECTOR_INPUT_SCALE
from keras_aw_tools import detection_task, distributed_fit, recipe
from keras_aw_tools.runs import (BEST_FILE, RECIPE_FILE, RunDirectory, RunRecorder,
                                 SavingCallback, load_checkpoint, read_state_near)
from keras_aw_tools.detection_task import COCO_METRICS_FILE
from keras_aw_tools.settings import RunSettings


def build_model(spec, input_shape=(32, 32, 3), classes=10, normalization="[-1, 1]", **kwargs):
    """Builds registered classifier `spec` taking raw 0-255 RGB pixels.

    The recipe's normalization layer comes first
    (`keras_aw_tools.recipe.input_normalization`: by default ``Rescaling`` to
    [-1, 1] named "rescale", as in every model saved before recipes; the
    ``imagenet`` recipe's ImageNet mean/std ``Normalization`` named
    "normalize"), then the builder's network. The layer is part of the model,
    so `evaluate`, `keras_aw.export` and a saved model apply it too.

    Args:
        spec: a registered name or spec (case, '-' and '_' ignored), e.g.
            "AWSEResNet50" or "AWCBAMMobileNet:spatial", or a `keras_aw.registry.ModelSpec`.
        input_shape: (height, width, 3).
        classes: number of classes.
        normalization: "[-1, 1]", "imagenet-mean-std", or a resolved recipe
            (`keras_aw_tools.recipe.resolve`).
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
    x = recipe.input_normalization(normalization)(inputs)
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
            training, drop_remainder, repeat, shuffle_seed, **options) -> dict`` with
            "train" (training only), "test", "num_classes", "class_names";
            ``part=(num_processes, process_id)`` (classifiers on tfds sets under a
            cluster): this process's part only, at the per-process batch size;
            ``preprocessing="imagenet"`` (classifiers on tfds sets): the
            ``imagenet`` recipe's pipeline (`keras_aw.datasets.load_data`).
        new_model: ``(spec, image_size, num_classes, resolved,
            encoder_weights=None) -> model``, built and compiled with the resolved
            recipe (`keras_aw_tools.recipe.resolve`).
        evaluate: ``(model, data, dataset, batch_size, verbose, resolved) -> dict``
            of metrics.
        metrics: the metrics a training run records.
    """

    load_data: Callable
    new_model: Callable
    evaluate: Callable
    metrics: tuple


def _classification_data(dataset, image_size, batch_size, num_train, num_test, seed,
                         training, drop_remainder, repeat, shuffle_seed, part=None,
                         preprocessing=None):
    # NumPy arrays become shuffled global batches in `_shard_inputs`; tfds: the pipeline.
    return load_data(dataset, image_size, batch_size, num_train, num_test, seed,
                     training=training, drop_remainder=drop_remainder, repeat=repeat, part=part,
                     preprocessing=preprocessing)


def _new_classifier(spec, image_size, num_classes, resolved, encoder_weights=None,
                    aw_start="paper"):
    if aw_start != "paper":
        raise ValueError(f"{spec} is a classifier: `aw_start` is for detectors (AW-FPN); "
                         f"received aw_start={aw_start!r}")
    if encoder_weights is not None:
        raise ValueError(f"{spec} is a classifier: `encoder_weights` (a pretrained encoder) is "
                         f"for detectors; received encoder_weights={encoder_weights!r}")
    net = build_model(spec, (image_size, image_size, 3), num_classes, normalization=resolved)
    return recipe.compile_with_recipe(net, resolved)


def _evaluate_classifier(model, data, dataset, batch_size, verbose, resolved):
    classes = model.outputs[0].shape[-1]
    if classes != data["num_classes"]:
        raise ValueError(f"the model predicts {classes} classes but dataset={str(dataset)!r} "
                         f"has {data['num_classes']}")
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(),
                  metrics=recipe.recipe_metrics(resolved))
    test = data["test"]
    if isinstance(test, tuple):
        logs = model.evaluate(test[0], test[1], batch_size=batch_size, verbose=verbose,
                              return_dict=True)
    else:
        logs = model.evaluate(test, verbose=verbose, return_dict=True)
    return {k: float(logs[k]) for k in ("loss", "accuracy", "top5_accuracy") if k in logs}


TASKS = {
    "classification": Task(_classification_data, _new_classifier, _evaluate_classifier,
                           ("loss", "accuracy")),
    "detection": Task(detection_task.load_data, detection_task.new_model,
                      detection_task.evaluate, ("loss",)),
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


# --------------------------------------------------------------------------
# `train`: a run's settings, then one step after another
# --------------------------------------------------------------------------


def train(settings=None, /, *args, **fields):
    """Trains a registered model, recording the run in `output` after every epoch.

    Called with a `keras_aw_tools.settings.RunSettings`, or with its fields as
    arguments (``train("AWSmallCNN", epochs=3, output="runs/a")``, the fields in
    the order of `RunSettings`); keywords after a `RunSettings` replace its values.

    Args:
        settings: a `RunSettings`, or the first field (`model`), or None (the defaults).
        *args, **fields: fields of `RunSettings` (`model`, `dataset`, `epochs`,
            `batch_size`, `image_size`, `output`, ..., `callbacks`,
            `encoder_weights`; see there what each one does), by position after a
            first field that is not a `RunSettings`, or by name.

    The steps: join the cluster (parse the model and data set; several processes:
    `keras_aw.distribute.initialize_cluster`), open the run directory (resume
    state), load the data, build or resume the model, shard the inputs over the
    processes, the callbacks, `fit`, save (the final model and the curve).

    Returns:
        A dict: paths ("model", "checkpoint", "history", "curve", "recipe"),
        "epochs_done", the last epoch's metrics and their errors
        (`keras_aw_tools.recipe.errors`: "top1_error", "val_top5_error", ...); for
        a recipe keeping the best validation top-1, "best_checkpoint" (its path)
        and "best" (its epoch, validation metrics and errors).

    Raises:
        ValueError: bad arguments.
        TypeError: an argument of the wrong type, an unknown one.
        ConnectionError: the cluster's processes did not all join in time.
    """
    job = _join_cluster(RunSettings.of(settings, *args, **fields))
    _open_run(job)
    keras.utils.set_random_seed(job.settings.seed + job.done)
    with precision(job.settings.mixed_precision), distribution(
            job.settings.distribute, job.settings.batch_size, cluster=job.cluster,
            per_process_input=job.per_process) as job.replicas:
        _load_data(job)
        _resolve_recipe(job)
        _build_or_resume_model(job)
        _shard_inputs(job)
        _fit(job, _callbacks(job))
        _save(job)
        if job.cluster is None:
            _evaluate_coco(job, job.net)
    if job.cluster is not None:
        # Each process predicts its part with its own copy of the final model, outside the
        # distribution (no collective predict); process 0 merges the parts.
        _evaluate_coco(job, load_model_file(job.run.model) if job.data.get("coco") else None)
    return _result(job)


class _Job:
    """One `train` call's state, filled in step by step (settings first)."""

    def __init__(self, settings, spec, data_spec, cluster):
        self.settings = settings
        self.spec = spec  # the model's `ModelSpec`
        self.data_spec = data_spec  # the data set's `DatasetSpec`
        self.task = TASKS[spec.task]
        self.name = str(spec)
        self.cluster = cluster  # a `keras_aw.distribute.Cluster`, or None: one process
        self.chief = cluster is None or cluster.is_chief
        # A tfds set under a cluster: each process reads its own part (a Shapes set is
        # generated whole by every process, which then takes its part of every batch).
        self.per_process = cluster is not None and data_spec.kind == "tfds"
        self.verbose, self.log = ((settings.verbose, settings.log) if self.chief
                                  else (0, _silent))
        self.title = f"{self.name} on {data_spec} ({settings.image_size}x{settings.image_size})"
        self.run = self.state = self.done = self.replicas = self.data = self.net = None
        self.train_data = self.test_data = self.writer = self.final = None
        self.steps_per_epoch = settings.steps_per_epoch
        self.extra_callbacks = []
        self.recipe = recipe.get_recipe(settings.recipe)
        self.resolved = None  # the recipe resolved for this run (`_resolve_recipe`)
        # The `imagenet` recipe's pipeline (RandomResizedCrop; resize + center crop).
        self.data_options = ({"preprocessing": "imagenet"} if self.recipe.train_augmentation
                             == "random-resized-crop-flip" else {})


def _join_cluster(settings):
    """Step 1: parses the model and data set, and joins the cluster of processes (if any)."""
    data_spec = parse_dataset(settings.dataset)
    spec = registry.parse_spec(settings.model)
    if settings.sync_batchnorm:
        check_sync_batchnorm()
    find_cluster(settings.job_addresses, settings.num_processes,
                 settings.process_id)  # bad cluster values fail before joining
    detector_recipe = recipe.get_recipe(settings.recipe).box_loss != "keras-hub"
    if spec.task != "classification" and settings.recipe != "demo" and not detector_recipe:
        raise ValueError(f"{spec} is a {spec.task} model: it trains with the demo or a "
                         f"detector recipe (coco-1x); received recipe={settings.recipe!r}")
    if spec.task == "classification" and detector_recipe:
        raise ValueError(f"{spec} is a classifier; recipe {settings.recipe!r} is for "
                         f"detectors; received recipe={settings.recipe!r}")
    cluster = initialize_cluster(settings.job_addresses, settings.num_processes,
                                 settings.process_id)
    return _Job(settings, spec, data_spec, cluster)


def _open_run(job):
    """Step 2: the run directory (only the chief writes) and, on resume, its state."""
    s = job.settings
    job.run = RunDirectory(s.output, writable=job.chief)
    job.state = job.run.resume_state(s.resume, model=job.name, dataset=str(job.data_spec),
                                     image_size=s.image_size)
    if s.resume and job.state is None:
        job.log(f"no checkpoint in {job.run.path!r}; starting from epoch 1")
    if job.state is not None and job.state.get("recipe", "demo") != s.recipe:
        raise ValueError(f"cannot resume: the run in {job.run.path!r} has recipe "
                         f"{job.state.get('recipe', 'demo')!r}, not {s.recipe!r}")
    job.done = job.state["epochs_done"] if job.state else 0


def _load_data(job):
    """Step 3: the task's data (a tfds set under a cluster: this process's part)."""
    s, cluster = job.settings, job.cluster
    part = {"part": (cluster.num_processes, cluster.process_id)} if job.per_process else {}
    batch_size = s.batch_size // cluster.num_processes if job.per_process else s.batch_size
    job.data = job.task.load_data(
        job.data_spec, s.image_size, batch_size, s.num_train, s.num_test, s.seed,
        training=True, drop_remainder=job.replicas > 1,
        repeat=s.steps_per_epoch is not None or job.recipe.schedule == "multistep-iters",
        shuffle_seed=s.seed + job.done, **part, **job.data_options)
    job.train_data, job.test_data = job.data["train"], job.data["test"]
    if job.data.get("coco"):  # val2017 is evaluated at the end (`_evaluate_coco`), not in fit
        job.test_data = None


def _resolve_recipe(job):
    """Step 3b: the recipe resolved for this run, printed, and its ``recipe.json`` (chief)."""
    s, data = job.settings, job.data
    steps = s.steps_per_epoch or data.get("steps_per_epoch")
    if steps is None and isinstance(job.train_data, tuple):  # Shapes: NumPy arrays
        steps = -(-len(job.train_data[1]) // s.batch_size)
    job.resolved = s.resolve_recipe(steps_per_epoch=steps)
    if job.steps_per_epoch is None and job.resolved["schedule"]["kind"] == "multistep-iters":
        job.steps_per_epoch = job.resolved["steps_per_epoch"]  # the iterations / epochs
    job.log(f"recipe {s.recipe} (recipe.json):\n{recipe.format_resolved(job.resolved)}")
    if job.chief:
        job.run.write_json(RECIPE_FILE, job.resolved)


def _build_or_resume_model(job):
    """Step 4: a new compiled model and run state, or the checkpoint's model on resume."""
    s, data = job.settings, job.data
    if job.state is None:
        job.state = {"model": job.name, "task": job.spec.task, "dataset": str(job.data_spec),
                     "image_size": s.image_size, "num_classes": data["num_classes"],
                     "class_names": data["class_names"], "batch_size": s.batch_size,
                     "mixed_precision": bool(s.mixed_precision),
                     "metrics": list(job.task.metrics) + (
                         ["top5_accuracy"] if "top5" in job.resolved["metrics"] else []),
                     "recipe": s.recipe, "aw_start": s.aw_start, "epochs_done": 0,
                     "history": []}
        job.net = job.task.new_model(job.spec, s.image_size, data["num_classes"],
                                     job.resolved, encoder_weights=s.encoder_weights,
                                     aw_start=s.aw_start)
        if s.encoder_weights is not None:
            job.state["encoder_weights"] = (os.path.abspath(s.encoder_weights)  # or a preset
                                            if os.path.exists(s.encoder_weights)
                                            else s.encoder_weights)
    else:
        job.net = load_checkpoint(job.run.checkpoint)
        schedule = job.resolved["schedule"]
        if schedule["kind"] in ("step", "multistep-iters"):
            # The step schedule of this run's recipe.json: a resume may change the epochs (and
            # so the boundaries) or the steps per epoch; the optimizer's state stays.
            job.net.optimizer.learning_rate = recipe.learning_rate_schedule(job.resolved)
    if s.sync_batchnorm:
        synchronize_batchnorm(job.net, job.cluster)


def _shard_inputs(job):
    """Step 5: the global batches (NumPy data), each process's part, the cluster's hooks.

    NumPy data (the Shapes set) become the same global batches on one process
    and on a cluster (`keras_aw.datasets.sharding.cluster_input`): shuffled per
    epoch by the seed and the epoch alone, continued where a resumed run stopped.
    """
    s, cluster = job.settings, job.cluster
    # Shapes-Detect: its NumPy arrays, batched as the classifiers' (the same global batches
    # on one process and on a cluster, continued on resume), images scaled per batch.
    arrays = None if job.per_process else job.data.get("train_arrays")
    if arrays is not None:
        job.train_data = arrays
    if cluster is None:
        if job.replicas > 1:
            job.log(f"distributing over {job.replicas} devices")
    else:
        job.log(f"distributing over {job.replicas} devices in {cluster.num_processes} "
                f"processes (process {cluster.process_id}; global batch {s.batch_size}"
                + (f"; each process reads 1/{cluster.num_processes} of {job.data_spec})"
                   if job.per_process else ")"))
    if job.per_process:
        job.train_data = sharding.process_input(job.train_data, cluster, s.batch_size)
        if job.test_data is not None:
            job.test_data = sharding.process_input(job.test_data, cluster, s.batch_size)
    elif isinstance(job.train_data, tuple):
        # With `steps_per_epoch`, fit's epochs are not the data's: start at the step reached.
        start = ({"first_batch": job.done * s.steps_per_epoch} if s.steps_per_epoch
                 else {"first_epoch": job.done})
        job.train_data, steps = sharding.cluster_input(
            job.train_data, s.batch_size, cluster, seed=s.seed,
            epochs=None if s.steps_per_epoch else s.epochs - job.done, **start)
        job.steps_per_epoch = s.steps_per_epoch or steps
        if arrays is not None:
            job.train_data = sharding.scale_images(job.train_data, DETECTOR_INPUT_SCALE)
        if isinstance(job.test_data, tuple):
            job.test_data, _ = sharding.cluster_input(job.test_data, s.batch_size, cluster,
                                                      training=False)
    elif cluster is not None:  # a global pipeline (tfds under a cluster is per process)
        job.train_data, _ = sharding.cluster_input(job.train_data, s.batch_size, cluster)
        if job.test_data is not None:
            job.test_data, _ = sharding.cluster_input(job.test_data, s.batch_size, cluster,
                                                      training=False)
    if cluster is not None:
        job.extra_callbacks += _cluster_train_hooks(job.net, cluster)


def _cluster_train_hooks(net, cluster):
    """The training-loop hooks a cluster needs; returns the callbacks among them.

    Detectors: the loss normalized by the global batch's positive anchors. PyTorch: the
    DDP train step (gradients averaged over the processes) and global logs.
    """
    if is_detector(net):
        distributed_fit.install_global_normalizer(net, cluster)
    if cluster.backend != "torch":
        return []
    distributed_fit.install_ddp_train_step(net, cluster)
    return [distributed_fit.GlobalLogs(cluster)]


def _saving(job):
    """The context in which the model is saved (`keras_aw_tools.distributed_fit.saving`)."""
    return distributed_fit.saving(job.net, job.cluster)


def _callbacks(job):
    """Step 6: the cluster's hooks, the schedule, the run recorder, then the caller's."""
    s = job.settings
    # TensorFlow: saving a model under MultiWorkerMirroredStrategy runs collectives
    # (it creates variables), so every process saves; the others into a scratch
    # directory, deleted at the end.
    job.writer = job.run if job.chief else None
    if not job.chief and job.cluster.backend == "tensorflow":
        job.writer = RunDirectory(tempfile.mkdtemp(prefix="keras_aw_worker_"))
    callbacks = job.extra_callbacks + recipe.recipe_callbacks(job.resolved)
    if job.writer is not None:
        callbacks.append(RunRecorder(job.writer,
                                     job.state if job.chief else copy.deepcopy(job.state),
                                     job.title, saving=lambda: _saving(job)))
        best = recipe.best_checkpoint(job.resolved, job.writer.file(BEST_FILE))
        if best is not None:
            # A resumed run's best so far stays the bar (ModelCheckpoint's `best`, which
            # its `initial_value_threshold` sets, from the history's val_accuracy).
            seen = [r["val_accuracy"] for r in job.state["history"] if "val_accuracy" in r]
            if seen:
                best.best = max(seen)
            callbacks.append(SavingCallback(best, lambda: _saving(job)))
    return callbacks + list(s.callbacks)


def _fit(job, callbacks):
    """Step 7: `Model.fit` from the epoch reached to `epochs`."""
    s = job.settings
    if job.done >= s.epochs:
        job.log(f"the run in {job.run.path!r} already has {job.done} epochs; nothing to train")
        return
    fit = distributed_fit.fit_method(job.net, job.train_data)
    fit(epochs=s.epochs, initial_epoch=job.done, steps_per_epoch=job.steps_per_epoch,
        callbacks=callbacks, verbose=job.verbose,
        **fit_arguments(job.train_data, job.test_data, s.batch_size))


def _save(job):
    """Step 8: the final model and the training curve; the processes wait for the chief."""
    if job.writer is not None:
        with _saving(job):
            job.final = job.writer.finish(job.net)
    if job.chief:
        if not job.run.draw_curve(job.state, job.title):
            job.log("matplotlib is not installed: no training-curve PNG (pip install "
                    "matplotlib)")
    else:
        if job.writer is not None:
            shutil.rmtree(job.writer.path, ignore_errors=True)
        job.final = job.run.model
    if job.cluster is not None:
        job.cluster.barrier("train_end")  # the chief's files are complete
        if not job.chief:
            job.state = job.run.load_state() or job.state


def _evaluate_coco(job, net):
    """Step 9 (COCO): val2017 through pycocotools, into coco_metrics.json and coco_detections.json.

    A cluster: each process evaluates its part (`_load_data`) and process 0 merges them
    (`distributed_fit.merge_coco_evaluators`): the one-process AP.
    """
    if not job.data.get("coco"):
        return
    evaluator = detection_task.coco_evaluator(net, job.data, job.settings.batch_size)
    evaluator = distributed_fit.merge_coco_evaluators(evaluator, job.cluster)
    if evaluator is not None:  # process 0 (or one process)
        evaluator.write_detections(job.run.file(detection_task.COCO_DETECTIONS_FILE))
        job.coco_metrics = detection_task.coco_results(evaluator)
        job.log("COCO val2017: " + ", ".join(f"{k} {v:.4f}"
                                             for k, v in job.coco_metrics.items()))
        job.run.write_json(COCO_METRICS_FILE, job.coco_metrics)
    if job.cluster is not None:
        job.cluster.barrier("coco_evaluated")  # coco_metrics.json is complete
        if not job.chief:
            with open(job.run.file(COCO_METRICS_FILE)) as f:
                job.coco_metrics = json.load(f)


def _result(job):
    """What `train` returns: the run's paths, epochs done and last metrics."""
    run, state = job.run, job.state
    result = {"model": job.final, "checkpoint": run.checkpoint,
              "history": run.file("history.csv"), "curve": run.file("training_curve.png"),
              "recipe": run.file(RECIPE_FILE), "epochs_done": state["epochs_done"]}
    if getattr(job, "coco_metrics", None):
        result.update(job.coco_metrics, coco_metrics=run.file(COCO_METRICS_FILE))
    if state["history"]:
        last = {k: v for k, v in state["history"][-1].items() if k != "epoch"}
        result.update(last)
        result.update(recipe.errors(last))
    if "best-val-top1" in job.resolved["checkpoints"]["kept"]:
        result["best_checkpoint"] = run.file(BEST_FILE)
        rows = [r for r in state["history"] if "val_accuracy" in r]
        if rows:
            row = max(rows, key=lambda r: r["val_accuracy"])  # the first of equal ones
            best = {k: v for k, v in row.items() if k.startswith("val_")}
            result["best"] = {"epoch": row["epoch"], **best, **recipe.errors(best)}
    return result


def _silent(*args, **kwargs):
    """The `log` of the processes other than a cluster's chief."""


def evaluate(model_path, dataset="shapes", batch_size=64, num_test=2000, seed=0,
             image_size=None, verbose=1, recipe_name=None):
    """Evaluates a saved model on a data set's test split, with its run's recipe.

    The recipe (None: the one in the ``state.json`` beside `model_path`, else
    ``demo``) says how the images are prepared: ``imagenet``: shorter side
    resized to 256 (for 224), center crop, on the "validation" split unless
    `dataset` names one (a split without labels is refused); and the metrics
    (``imagenet``: top-1 "accuracy" and "top5_accuracy").

    Args:
        model_path: a `.keras` file.
        dataset: "shapes" or "tfds:NAME[:SPLIT]" (detectors: "shapes" or
            "tfds:coco/2017": val2017, the metrics also written to
            ``coco_metrics.json`` beside `model_path`).
        batch_size: batch size.
        num_test: Shapes: the number of test images.
        seed: Shapes: the seed of the data set.
        image_size: for a model without a fixed input size.
        verbose: `Model.evaluate` verbosity.
        recipe_name: a name of `keras_aw_tools.recipe.RECIPES`, or None.

    Returns:
        Classifiers: {"loss": float, "accuracy": float} (and "top5_accuracy" for
        ``imagenet``); detectors: COCO
        {"AP": float, "AP50": float, "AP75": float} (fractions in [0, 1]; on
        tfds COCO also "APs", "APm", "APl").
    """
    data_spec = parse_dataset(dataset)
    model = load_model_file(model_path)
    shape = model.inputs[0].shape
    size = shape[1] or image_size or 32
    if image_size is not None and shape[1] is not None and image_size != shape[1]:
        raise ValueError(f"the model takes {shape[1]}x{shape[2]} images; received "
                         f"image_size={image_size}")
    chosen = recipe.get_recipe(recipe_name or read_state_near(model_path).get("recipe", "demo"))
    resolved = recipe.resolve(chosen, batch_size, image_size=size)
    options = ({"preprocessing": "imagenet"}
               if chosen.eval_preprocessing == "resize-center-crop" else {})
    task = TASKS["detection" if is_detector(model) else "classification"]
    data = task.load_data(data_spec, size, batch_size, 0, num_test, seed, training=False,
                          drop_remainder=False, repeat=False, shuffle_seed=None, **options)
    folder = os.path.dirname(os.path.abspath(model_path))
    extra = ({"detections_path": os.path.join(folder, detection_task.COCO_DETECTIONS_FILE)}
             if data.get("coco") else {})
    result = task.evaluate(model, data, data_spec, batch_size, verbose, resolved, **extra)
    if data.get("coco"):
        path = os.path.join(folder, COCO_METRICS_FILE)
        with open(path, "w") as f:
            json.dump(result, f, indent=2)
    return result
