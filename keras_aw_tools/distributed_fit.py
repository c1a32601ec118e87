"""What `fit` needs under a cluster beyond `keras_aw.distribute`: the training loop's hooks.

- `install_ddp_train_step(model, cluster)`: PyTorch: every `fit` step through
  `DistributedDataParallel` (Keras's own step would let the processes diverge).
- `install_global_normalizer(detector, cluster)`: a keras-hub RetinaNet's loss
  normalized by the positive anchors of the global batch, not of each
  process's part.
- `GlobalLogs(cluster)`: a callback making PyTorch's per-process epoch logs
  the mean over the processes.
- `saving(model, cluster)`: the conditions for the chief to save alone.
- `fit_method(model, data)`: the `fit` that takes a TensorFlow distributed
  input (a keras-hub task's own `fit` cannot).
- `evaluate_detector(model, images, boxes, labels, cluster)` (Shapes-Detect) and
  `merge_coco_evaluators(evaluator, cluster)` (COCO): evaluation under a
  cluster, each process predicting its part of the test set with its own copy
  of the model (loaded from the run's file, outside the distribution), the
  parts merged: the one-process AP (docs/scale-out.md, "Detectors").

`keras_aw_tools.training.train` applies them; a loop of one's own can too
(tests/mp_worker.py, benchmarks/scaling.py).
"""

import contextlib

import keras
import numpy as np

from keras_aw.distribute import batchnorm_layers
from keras_aw_tools import _upstream_keras


def fit_method(model, data):
    """``model.fit``, or Keras's `Model.fit` for a keras-hub task fed a distributed input.

    keras-hub's `PipelineModel.fit` rebuilds any input that is not a
    `tf.data.Dataset` with ``Dataset.from_tensor_slices`` (to map its
    preprocessor), which fails on the `tf.distribute` distributed dataset that
    a tfds set under a TensorFlow cluster arrives as
    (`keras_aw.datasets.sharding.process_input`). A task without a preprocessor
    (keras_aw's detectors) maps nothing, so Keras's own `fit` takes the input.
    """
    if keras.backend.backend() != "tensorflow" or getattr(model, "preprocessor", True) is not None:
        return model.fit
    import tensorflow as tf

    if not isinstance(data, tf.distribute.DistributedDataset):
        return model.fit
    return lambda **kwargs: keras.Model.fit(model, **kwargs)


def install_ddp_train_step(model, cluster):
    """PyTorch: makes `model.fit` run every step through `DistributedDataParallel`.

    DDP all-reduces gradients only when the forward pass runs through its
    wrapper; Keras's own train step calls the model directly, so processes would
    silently diverge. The installed `model.train_step` is Keras's torch step
    with the forward through DDP. Call it after the model is built and compiled.

    Returns:
        The `DistributedDataParallel` wrapper.

    Raises:
        ValueError: not the torch backend, or no cluster.
        RuntimeError: a Keras version without the internals the step uses.
    """
    if keras.backend.backend() != "torch" or cluster is None:
        raise ValueError("install_ddp_train_step is for a cluster on the torch backend; "
                         f"received backend={keras.backend.backend()!r}, cluster={cluster!r}")
    _upstream_keras.check_step_internals(model)
    import torch
    from torch.nn.parallel import DistributedDataParallel

    local = cluster.local_rank
    _upstream_keras.track_variables(model)
    seen = {id(p) for p in model.parameters()}
    hidden = [v.path for v in model.trainable_weights if id(v.value) not in seen]
    if hidden:
        raise RuntimeError(f"DistributedDataParallel would not average the gradients of "
                           f"{len(hidden)} trainable weights it cannot see: {hidden[:3]}")
    ddp = DistributedDataParallel(model, device_ids=None if local is None else [local])

    def train_step(data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        model.zero_grad()
        y_pred = ddp(x, training=True)
        loss = _upstream_keras.compute_loss(model, x, y, y_pred, sample_weight)
        first = next(t for t in keras.tree.flatten(x) if t is not None)
        _upstream_keras.track_loss(model, loss, first.shape[0])
        if model.optimizer is not None:
            loss = model.optimizer.scale_loss(loss)
        loss.backward()
        weights = model.trainable_weights[:]
        with torch.no_grad():
            model.optimizer.apply([v.value.grad for v in weights], weights)
        return model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    model.train_step = train_step
    return ddp


def install_global_normalizer(detector, cluster):
    """Makes a keras-hub RetinaNet's loss the one-process loss of the global batch.

    keras-hub's ``RetinaNetObjectDetector.compute_loss`` divides the summed focal
    and box losses by the number of positive anchors of the batch it sees
    (``N``). One process: ``(S_0 + S_1) / (N_0 + N_1)``. Replicas each seeing
    part of the batch, whose gradients are averaged (DDP, TensorFlow's
    strategies), would compute ``(S_0 / N_0 + S_1 / N_1) / 2`` instead. Each
    replica's loss is therefore multiplied by ``N_p / mean_q(N_q)`` (the mean
    over the replicas: `Cluster.replica_mean`), which gives the one-process
    value exactly, as Detectron2 does (``num_pos_anchors`` all-reduced);
    TensorFlow's strategies sum the replicas' gradients (Keras scales a loss
    by the replicas for mean reductions only, and keras-hub's losses are
    "sum"), so there the factor is also divided by the number of replicas. The
    positives are counted from the labels the detector's own label encoder
    returns in the same step. JAX computes on the global batch: nothing changes.
    A replica whose part has no positive anchor (keras-hub then zeroes its loss)
    stays zero. Call it after the model is built; again after loading one.

    Returns:
        The detector.
    """
    if cluster is None or cluster.backend == "jax":
        return detector
    encoder, seen = detector.label_encoder, {}
    encode = getattr(encoder, "_keras_aw_own_call", None) or encoder.call
    compute = getattr(detector, "_keras_aw_own_loss", None) or detector.compute_loss

    def call(*args, **kwargs):
        boxes, labels = encode(*args, **kwargs)
        seen["labels"] = labels
        return boxes, labels

    def compute_loss(*args, **kwargs):
        seen.clear()
        loss = compute(*args, **kwargs)
        if "labels" not in seen:
            raise RuntimeError("the detector's compute_loss did not call its label_encoder: "
                               "cannot count its positive anchors")
        positives = keras.ops.sum(keras.ops.cast(keras.ops.greater(seen["labels"], -1.0),
                                                 "float32"))
        factor = (keras.ops.maximum(positives, 1.0)
                  / keras.ops.maximum(cluster.replica_mean(positives), 1.0))
        if cluster.backend == "tensorflow":
            # The strategy sums the replicas' gradients; Keras divides a loss by the
            # replicas only for mean reductions, and keras-hub's losses are "sum".
            factor = factor / cluster.num_devices()
        return loss * keras.ops.cast(factor, loss.dtype)

    encoder._keras_aw_own_call, encoder.call = encode, call
    detector._keras_aw_own_loss, detector.compute_loss = compute, compute_loss
    return detector


class GlobalLogs(keras.callbacks.Callback):
    """Makes the epoch logs global: the mean over the processes (PyTorch logs are per process).

    Put it first among `fit`'s callbacks: it updates the logs dict in place,
    so the callbacks after it (a run recorder) see the global values.
    """

    def __init__(self, cluster):
        super().__init__()
        self.cluster = cluster

    def on_epoch_end(self, epoch, logs=None):
        if logs:
            logs.update(self.cluster.mean_logs(logs))


@contextlib.contextmanager
def saving(model, cluster=None):
    """The conditions for one process (the chief) to save `model` alone.

    On JAX, no distribution (see `Cluster.local`). Synchronized BatchNorm
    layers are saved unsynchronized (a `.keras` file with ``synchronized=True``
    loads on TensorFlow only) and synchronized again afterwards.
    """
    synced = [layer for layer in batchnorm_layers(model) if layer.synchronized]
    for layer in synced:
        layer.synchronized = False
    try:
        with cluster.local() if cluster is not None else contextlib.nullcontext():
            yield
    finally:
        for layer in synced:
            layer.synchronized = True


def process_part(count, cluster):
    """The indices of this process's part of `count` examples: contiguous, in process order."""
    if cluster is None:
        return np.arange(count)
    return np.array_split(np.arange(count), cluster.num_processes)[cluster.process_id]


def gather_detections(model, images, cluster, batch_size=16):
    """Every image's detections on every process, each process predicting its part.

    Returns:
        `keras_aw.detection.predict_detections`' dict ("boxes", "labels",
        "confidence", ...) for all of `images`, in their order, as NumPy arrays.
    """
    from keras_aw.detection import evaluation  # keras-hub: the detectors' extra

    if cluster is None:
        return evaluation.predict_detections(model, images, batch_size)
    part = process_part(len(images), cluster)
    pred = (evaluation.predict_detections(model, np.asarray(images)[part], batch_size)
            if len(part) else None)
    parts = cluster.gather_json(None if pred is None else
                                {k: [v.tolist(), str(v.dtype)] for k, v in pred.items()},
                                everywhere=True)
    parts = [p for p in parts if p is not None]
    return {k: np.concatenate([np.asarray(p[k][0], p[k][1]) for p in parts])
            for k in parts[0]}


def evaluate_detector(model, images, boxes, labels, cluster, batch_size=16):
    """COCO AP / AP50 / AP75 of a detector on Shapes-Detect's arrays, over a cluster.

    Each process predicts its part (`process_part`) with `model`, a model of its
    own (e.g. the run's ``model.keras`` loaded outside the distribution); the
    detections are gathered on every process (`Cluster.gather_json`) in
    process order, which is the order of the images, and every process computes
    `keras_aw.detection.coco_metrics` on all of them: the metrics of
    `keras_aw.detection.evaluate_detector` on one process (``cluster=None``:
    exactly that).

    Returns:
        ``{"AP", "AP50", "AP75"}``, the same on every process.
    """
    from keras_aw.detection import evaluation  # keras-hub: the detectors' extra

    if cluster is None:
        return evaluation.evaluate_detector(model, images, boxes, labels, batch_size)
    images = evaluation.check_images(model, images)
    height, width = images.shape[1:3]
    fmt = model.bounding_box_format
    gt = np.asarray(boxes, np.float32)
    evaluation.check_targets(gt, labels, fmt, height, width, model.num_classes)
    pred = gather_detections(model, images, cluster, batch_size)
    return evaluation.coco_metrics(
        evaluation.to_xyxy(gt, fmt, height, width), labels,
        evaluation.to_xyxy(pred["boxes"], fmt, height, width), pred["labels"],
        pred["confidence"], (height, width), "xyxy", model.num_classes)


def merge_coco_evaluators(evaluator, cluster):
    """COCO: every process's evaluator of its part, merged on process 0.

    `evaluator`: this process's `keras_aw.detection.evaluation.CocoEvaluator`
    fed with its part (``load_coco_evaluation(part=(P, p))``). Its state goes
    through `Cluster.gather_json` (``to_json``); process 0 restores each
    (``from_json``) and merges them in process order (``merge``): the same
    images, ground truth and detections as one process evaluating the whole
    split, so ``result()`` is the one-process AP. Call it on every process.

    Returns:
        Process 0 (or no cluster): the merged evaluator; the other processes: None.
    """
    if cluster is None:
        return evaluator
    texts = cluster.gather_json(evaluator.to_json())
    if texts is None:
        return None
    merged = type(evaluator).from_json(texts[0])
    for text in texts[1:]:
        merged.merge(type(evaluator).from_json(text))
    return merged
