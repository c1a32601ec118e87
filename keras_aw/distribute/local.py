"""Data parallelism inside one process, and synchronized BatchNorm.

- `distribution(enabled, batch_size, cluster=None)`: a context manager for
  data-parallel training (`tf.distribute.MirroredStrategy` on TensorFlow,
  `keras.distribution.DataParallel` on JAX; with a `cluster`, the cluster's
  engine over every process's devices); models must be created inside.
- `configure_cpu_devices(count)`: split the CPU into virtual devices to try
  data parallelism without GPUs.
- `check_distribution_backend()`, `distribution_devices()`: the backends and
  devices of single-process data parallelism.
- `synchronize_batchnorm(model)`, `check_sync_batchnorm()`, `batchnorm_layers(model)`:
  BatchNormalization with global statistics.
"""

import contextlib

import keras

from keras_aw.distribute import _upstream_keras, torch_engine
from keras_aw.distribute.checks import check_global_batch


def check_distribution_backend():
    """Raises `ValueError` on a backend that data-parallel training does not support."""
    backend = keras.backend.backend()
    if backend not in ("tensorflow", "jax"):
        raise ValueError(
            f"`distribute` supports the tensorflow and jax backends, not {backend!r}; "
            "on PyTorch train without it, or set KERAS_BACKEND=jax or tensorflow"
        )


def distribution_devices():
    """The devices data-parallel training spreads a batch over (GPUs, else CPU devices)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_logical_devices("GPU")
        return [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
    check_distribution_backend()
    return keras.distribution.list_devices()


@contextlib.contextmanager
def distribution(enabled, batch_size, cluster=None, per_process_input=False):
    """Yields the number of replicas; model creation must happen inside.

    Args:
        enabled: data-parallel training over this process's devices.
        batch_size: the global batch size (divided among the replicas).
        cluster: a `Cluster` from `initialize_cluster`: data parallelism over
            every process's devices (whatever `enabled` says).
        per_process_input: with a cluster, the input pipelines hold each
            process's own part (`keras_aw.datasets.sharding.process_input`)
            rather than the global batches.

    Raises:
        ValueError: a backend without data parallelism, or a batch size that does
            not divide by the number of devices.
        TypeError: a batch size that is not an int.
    """
    if cluster is not None:
        with cluster.scope(batch_size, auto_shard_dataset=not per_process_input) as replicas:
            yield replicas
        return
    if not enabled:
        yield 1
        return
    devices = distribution_devices()
    check_global_batch(batch_size, len(devices),
                       f"the {len(devices)} devices of data-parallel training")
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
    """Splits the host CPU into `count` virtual devices (to try data parallelism without GPUs).

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
            raise ValueError(f"splitting the CPU into devices is not supported on the "
                             f"{backend!r} backend; received count={count}")
    except RuntimeError as e:
        raise ValueError(f"cannot split the CPU into count={count} devices now: {e}") from e


def check_sync_batchnorm():
    """Kept for callers: every backend has synchronized BatchNorm now (`synchronize_batchnorm`).

    Until 0.3 PyTorch refused it here (Keras refuses
    ``BatchNormalization(synchronized=True)`` there); keras_aw now all-reduces
    the moments itself. Returns None.
    """


def batchnorm_layers(model):
    """Every BatchNormalization layer inside `model`, at any depth (`AWConv2D`'s included)."""
    return [layer for layer in _upstream_keras.flatten_layers(model)
            if isinstance(layer, keras.layers.BatchNormalization)]


def synchronize_batchnorm(model, cluster=None):
    """Makes every BatchNormalization of `model` (AWConv2D's included) use global statistics.

    TensorFlow: ``synchronized=True`` (all-reduced statistics across replicas).
    JAX: BatchNorm statistics under `keras.distribution.DataParallel` are global
    already; nothing changes. PyTorch (which Keras refuses ``synchronized=True``
    and `torch.nn.SyncBatchNorm` cannot convert): with a `cluster`, each layer's
    training moments are all-reduced over the processes in a form autograd
    differentiates (`keras_aw.distribute.torch_engine.global_moments`, as
    `torch.nn.SyncBatchNorm` computes them); without one, one process's batch
    is the global batch and nothing changes. Call it again after loading a model.

    Returns:
        The number of BatchNormalization layers set.
    """
    layers = batchnorm_layers(model)
    backend = keras.backend.backend()
    if backend == "tensorflow":
        for layer in layers:
            layer.synchronized = True
    elif backend == "torch" and cluster is not None and cluster.num_processes > 1:
        for layer in layers:
            _upstream_keras.replace_moments(layer, torch_engine.global_moments)
    return len(layers)
