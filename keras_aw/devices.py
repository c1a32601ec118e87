"""Where and in what precision a model trains: devices, mixed precision, data parallelism.

- `has_gpu()`, `mixed_policy_name()`: what the current backend runs on, and the
  mixed-precision policy that suits it (float16 on a GPU, bfloat16 on a CPU).
- `precision(mixed)`: a context manager setting (and restoring) the global
  dtype policy.
- `distribution(enabled, batch_size)`: a context manager for data-parallel
  training (tf.distribute.MirroredStrategy on TensorFlow,
  keras.distribution.DataParallel on JAX); models must be created inside.
- `configure_cpu_devices(count)`: split the CPU into virtual devices to try
  data parallelism without GPUs.
"""

import contextlib

import keras



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
def distribution(enabled, batch_size):
    """Yields the number of replicas; model creation must happen inside."""
    if not enabled:
        yield 1
        return
    devices = distribution_devices()
    if batch_size % len(devices):
        raise ValueError(f"`batch_size` must be a multiple of the {len(devices)} devices of "
                         f"data-parallel training; received batch_size={batch_size}")
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
