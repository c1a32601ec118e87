"""The JAX engine of a cluster: `jax.distributed` and Keras's `DataParallel` over every device.

JAX is imported on use: the package imports every engine, and a process runs
one backend.
"""

import contextlib

import keras

from keras_aw.distribute import _upstream_jax, _upstream_keras
from keras_aw.distribute.joining import join_error


def start(spec, seconds):
    """Joins `spec`'s cluster with `jax.distributed`, every wait bounded by `seconds`.

    `keras.distribution.initialize` calls `jax.distributed.initialize` without
    its timeouts (300 s to join, 300 s at the shutdown barrier): call it
    directly, then seed as `initialize` does. Returns None (no engine object).

    Raises:
        ConnectionError: the processes did not all join in time.
    """
    import jax

    try:
        jax.distributed.initialize(
            coordinator_address=spec.addresses[0], num_processes=spec.num_processes,
            process_id=spec.process_id, initialization_timeout=seconds,
            heartbeat_timeout_seconds=seconds, shutdown_timeout_seconds=seconds)
    except Exception as e:  # noqa: BLE001 - XLA raises its own runtime errors
        raise join_error(spec, seconds, e) from e
    # One random seed on every process (used when no seed is set).
    _upstream_keras.initialize_rng()
    return None


def num_devices():
    """The devices of every process."""
    import jax

    return jax.device_count()


@contextlib.contextmanager
def data_parallel(devices, auto_shard_dataset=True):
    """`keras.distribution.DataParallel` over the cluster's `devices` devices inside."""
    import jax

    previous = keras.distribution.distribution()
    mesh = keras.distribution.DeviceMesh((devices,), ["batch"], jax.devices())
    keras.distribution.set_distribution(keras.distribution.DataParallel(
        device_mesh=mesh, auto_shard_dataset=auto_shard_dataset))
    try:
        yield devices
    finally:
        keras.distribution.set_distribution(previous)


@contextlib.contextmanager
def no_distribution():
    """No Keras distribution inside (work on one process only, such as the chief saving)."""
    previous = keras.distribution.distribution()
    keras.distribution.set_distribution(None)
    try:
        yield
    finally:
        keras.distribution.set_distribution(previous)


def barrier(key, seconds):
    """Waits for every process at barrier `key`, at most `seconds`."""
    _upstream_jax.wait_at_barrier(key, seconds * 1000)


def shutdown():
    """Leaves the cluster."""
    import jax

    jax.distributed.shutdown()


def key_value_set(key, text):
    """Stores `text` under `key` in the coordination service."""
    _upstream_jax.key_value_set(key, text.encode("utf-8"))


def key_value_get(key, timeout_ms):
    """The text under `key`, waiting at most `timeout_ms`."""
    return _upstream_jax.key_value_get(key, timeout_ms).decode("utf-8")


def key_value_delete(key):
    """Deletes `key` and the keys under ``key/``."""
    _upstream_jax.key_value_delete(key)
