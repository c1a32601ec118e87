"""Adapter: TensorFlow's coordination service, which TensorFlow 2.21 does not make public.

Two things `keras_aw.distribute` needs have no public TensorFlow API:

- Bounded joining: `tf.distribute.MultiWorkerMirroredStrategy` configures the
  coordination service with no timeouts unless one is configured already, and
  its chief then waits for missing workers without a deadline (the hang of
  tensorflow/tensorflow#60706, inside ``context.ensure_initialized``).
  `configure_coordination_service` configures it first, every wait bounded,
  through ``tensorflow.python.eager.context`` and
  ``tensorflow.python.distribute.multi_worker_util``.
- A barrier with a timeout (`Cluster.barrier`): the eager context's
  ``wait_at_barrier``.
- Host data between processes (`Cluster.gather_json`: a detector's evaluation
  of each process's part): the coordination service's key-value store
  (``set_config_key_value``, ``get_config_key_value``,
  ``delete_config_key_value``); TensorFlow's public collectives move tensors
  inside a strategy's step only.

tests/test_distribute.py fails once TensorFlow offers either publicly
(`tf.config.experimental`, `tf.distribute`, `tf.experimental`), so that this
module goes.
"""


def configure_coordination_service(cluster_spec, timeout_ms):
    """Configures the coordination service of `cluster_spec`'s jobs, every wait bounded."""
    from tensorflow.compiler.xla.tsl.protobuf import coordination_config_pb2
    from tensorflow.python.distribute import multi_worker_util
    from tensorflow.python.eager import context

    context.context().configure_coordination_service(
        service_type="standalone",
        service_leader=multi_worker_util.coordination_leader(cluster_spec),
        cluster_register_timeout_in_ms=timeout_ms, heartbeat_timeout_in_ms=timeout_ms,
        shutdown_barrier_timeout_in_ms=timeout_ms,
        coordinated_jobs=[coordination_config_pb2.CoordinatedJob(
            name=job, num_tasks=cluster_spec.num_tasks(job))
            for job in ("chief", "worker") if job in cluster_spec.jobs])


def wait_at_barrier(key, timeout_ms):
    """Waits until every task of the coordination service reaches barrier `key`."""
    from tensorflow.python.eager import context

    context.context().wait_at_barrier(key, timeout_ms)


def key_value_set(key, value):
    """Stores text `value` under `key` in the coordination service."""
    from tensorflow.python.eager import context

    context.context().set_config_key_value(key, value)


def key_value_get(key, timeout_ms):
    """The text stored under `key`, waiting for it at most `timeout_ms`."""
    from tensorflow.python.eager import context

    return context.context().get_config_key_value(key, timeout_ms)


def key_value_delete(key):
    """Deletes `key` from the coordination service."""
    from tensorflow.python.eager import context

    context.context().delete_config_key_value(key)
