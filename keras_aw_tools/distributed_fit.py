"""What `fit` needs under a cluster beyond `keras_aw.distribute`: the training loop's hooks.

- `install_ddp_train_step(model, cluster)`: PyTorch: every `fit` step through
  `DistributedDataParallel` (Keras's own step would let the processes diverge).
- `GlobalLogs(cluster)`: a callback making PyTorch's per-process epoch logs
  the mean over the processes.
- `saving(model, cluster)`: the conditions for the chief to save alone.

`keras_aw_tools.training.train` applies them; a loop of one's own can too
(tests/mp_worker.py, benchmarks/scaling.py).
"""

import contextlib

import keras

from keras_aw.distribute import batchnorm_layers
from keras_aw_tools import _upstream_keras


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
