"""Adapter: the JAX coordination service's barrier, which JAX 0.10 does not make public.

`Cluster.barrier` must wait for every process at most `timeout` seconds and
then fail with a message, not hang. JAX's public `jax.distributed` holds only
`initialize`, `is_initialized` and `shutdown`; its one public barrier,
`jax.experimental.multihost_utils.sync_global_devices`, is a device collective
that cannot time out. The coordination service's client (``jax._src.distributed
.global_state.client``), which `jax.distributed.initialize` starts, has
``wait_at_barrier(key, timeout_ms)``: this module is the one place keras_aw
reaches it. Upstream: jax-ml/jax#23599 made the service's timeouts
configurable; no public barrier exists yet. tests/test_distribute.py fails
once `jax.distributed` gains a public barrier, so that this module goes.

The same client's key-value store (``key_value_set_bytes``,
``blocking_key_value_get_bytes``, ``key_value_delete``) carries the small
host data `Cluster.gather_json` collects (a detector's evaluation of each
process's part); JAX's public `multihost_utils.process_allgather` is a device
collective of equal shapes without a timeout. Same upstream issue.
"""


def wait_at_barrier(key, timeout_ms):
    """Waits until every process of the running `jax.distributed` cluster reaches barrier `key`."""
    from jax._src import distributed

    distributed.global_state.client.wait_at_barrier(key, timeout_ms)


def key_value_set(key, value):
    """Stores bytes `value` under `key` in the running cluster's coordination service."""
    from jax._src import distributed

    distributed.global_state.client.key_value_set_bytes(key, value)


def key_value_get(key, timeout_ms):
    """The bytes stored under `key`, waiting for them at most `timeout_ms`."""
    from jax._src import distributed

    return distributed.global_state.client.blocking_key_value_get_bytes(key, timeout_ms)


def key_value_delete(key):
    """Deletes `key` from the coordination service."""
    from jax._src import distributed

    distributed.global_state.client.key_value_delete(key)
