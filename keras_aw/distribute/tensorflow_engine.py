"""The TensorFlow engine of a cluster: `MultiWorkerMirroredStrategy`, bounded in time.

TensorFlow is imported on use: the package imports every engine, and a process
runs one backend.
"""

from keras_aw.distribute import _upstream_keras, _upstream_tensorflow
from keras_aw.distribute.joining import join_error, watchdog


def start(spec, seconds):
    """Joins `spec`'s cluster: returns its `MultiWorkerMirroredStrategy`.

    From `TF_CONFIG`, or from the addresses (one per process); the
    coordination service and the collectives are bounded by `seconds`.

    Raises:
        ValueError: addresses given without one per process.
        ConnectionError: the processes did not all join in time.
    """
    import tensorflow as tf

    if spec.tf_config is not None:
        resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    else:
        if len(spec.addresses) != spec.num_processes:
            raise ValueError(
                f"TensorFlow needs every process's address: give job_addresses with "
                f"{spec.num_processes} host:port values, or set TF_CONFIG; received "
                f"job_addresses={','.join(spec.addresses)} ({spec.source})")
        resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
            tf.train.ClusterSpec({"worker": list(spec.addresses)}), task_type="worker",
            task_id=spec.process_id, rpc_layer="grpc")
    # MultiWorkerMirroredStrategy configures the coordination service with no
    # timeouts unless one is configured already: configure it, bounded.
    _upstream_tensorflow.configure_coordination_service(resolver.cluster_spec(), seconds * 1000)
    # The chief waits for missing workers inside the strategy's constructor (its
    # eager context creation retries without a deadline, measured > 200 s despite
    # the timeouts above); nothing can interrupt it but ending the process.
    with watchdog(seconds):
        try:
            strategy = tf.distribute.MultiWorkerMirroredStrategy(
                cluster_resolver=resolver,
                communication_options=tf.distribute.experimental.CommunicationOptions(
                    timeout_seconds=seconds))
        except Exception as e:  # noqa: BLE001
            raise join_error(spec, seconds, e) from e
    if _upstream_keras.reduce_shim_needed():
        _upstream_keras.install_reduce_shim(strategy)
    return strategy


def barrier(key, seconds):
    """Waits for every process at barrier `key`, at most `seconds`."""
    _upstream_tensorflow.wait_at_barrier(key, seconds * 1000)


def replica_mean(value):
    """The mean of `value` over the replicas of the running step (in a replica context).

    In a cross-replica context (Keras tracing the loss once to build its
    metrics, outside any step) there is nothing to reduce: `value` as it is.
    """
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None:
        return value
    return context.all_reduce("MEAN", value)


def key_value_set(key, text):
    """Stores `text` under `key` in the coordination service."""
    _upstream_tensorflow.key_value_set(key, text)


def key_value_get(key, timeout_ms):
    """The text under `key`, waiting at most `timeout_ms`."""
    return _upstream_tensorflow.key_value_get(key, timeout_ms)


def key_value_delete(key):
    """Deletes `key` and the keys under ``key/``."""
    _upstream_tensorflow.key_value_delete(key)
