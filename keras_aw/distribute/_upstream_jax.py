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
"""


def wait_at_barrier(key, timeout_ms):
    """Waits until every process of the running `jax.distributed` cluster reaches barrier `key`."""
    from jax._src import distributed

    distributed.global_state.client.wait_at_barrier(key, timeout_ms)
