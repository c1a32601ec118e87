"""What the backend runs on, and the mixed-precision policy that suits it.

- `has_gpu()`: whether the current backend sees a GPU.
- `mixed_policy_name()`: "mixed_float16" on a GPU, "mixed_bfloat16" on a CPU
  (where float16 is slow).
- `precision(mixed)`: a context manager setting (and restoring) the global
  dtype policy.
"""

import contextlib

import keras


def has_gpu():
    """Whether the current Keras backend runs on a GPU (False when it cannot tell)."""
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
    """The mixed policy (`mixed_policy_name`) inside when `mixed`; the previous policy after.

    Example:

    >>> with precision(True):
    ...     keras.config.dtype_policy().name.startswith("mixed_")
    True
    >>> keras.config.dtype_policy().name
    'float32'
    """
    previous = keras.config.dtype_policy()
    if mixed:
        keras.config.set_dtype_policy(mixed_policy_name())
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
