"""Where and in what precision a model trains: devices, mixed precision, data parallelism, clusters.

- Precision (`mixed_precision`): `has_gpu()`, `mixed_policy_name()` (float16 on a
  GPU, bfloat16 on a CPU) and the `precision(mixed)` context manager.
- One process (`local`): `distribution(enabled, batch_size, cluster=None)`,
  data-parallel training over this process's devices
  (`tf.distribute.MirroredStrategy` on TensorFlow,
  `keras.distribution.DataParallel` on JAX; with a `cluster`, over every
  process's devices); `configure_cpu_devices(count)` to try it without GPUs;
  `synchronize_batchnorm(model)`.
- The cluster's configuration (`config`): `find_cluster` reads it, without
  importing a backend, from the arguments, then `KERAS_DISTRIBUTION_*`, then
  `TF_CONFIG`, then torchrun's `RANK`/`WORLD_SIZE`/`MASTER_ADDR`/`MASTER_PORT`
  (a `ClusterSpec`); `cluster_timeout` bounds every wait for peers.
- The checks (`checks`): one check of process counts, process ids and global
  batch sizes, used by the configuration, the `Cluster` and
  `keras_aw.datasets.sharding`.
- The cluster (`cluster`): `initialize_cluster(job_addresses, num_processes,
  process_id)` joins it with each backend's own engine (`jax_engine`: JAX
  `jax.distributed` + `keras.distribution`; `tensorflow_engine`:
  `MultiWorkerMirroredStrategy`; `torch_engine`: `torch.distributed`) and
  returns a `Cluster`, or None when no cluster is configured (the
  single-process path, unchanged).

Mistakes raise one exception per kind: `TypeError` (a value of the wrong
type), `ValueError` (a bad value), `ConnectionError` (a process could not
join), `TimeoutError` (a peer did not arrive at a barrier). The training-loop
hooks (PyTorch's DDP train step, global logs, saving on the chief) are in
`keras_aw_tools.distributed_fit`. Private framework APIs are used only in the
adapters `_upstream_keras`, `_upstream_jax` and `_upstream_tensorflow`.
"""

from keras_aw.distribute._upstream_keras import REDUCE_SHIM_KERAS_VERSIONS, reduce_shim_needed
from keras_aw.distribute.checks import check_global_batch, check_processes
from keras_aw.distribute.cluster import Cluster, current_cluster, initialize_cluster
from keras_aw.distribute.config import (DEFAULT_CLUSTER_TIMEOUT, KERAS_VARIABLES,
                                        TIMEOUT_VARIABLE, ClusterSpec, cluster_timeout,
                                        find_cluster)
from keras_aw.distribute.local import (batchnorm_layers, check_distribution_backend,
                                       check_sync_batchnorm, configure_cpu_devices, distribution,
                                       distribution_devices, synchronize_batchnorm)
from keras_aw.distribute.mixed_precision import has_gpu, mixed_policy_name, precision

__all__ = ["DEFAULT_CLUSTER_TIMEOUT", "KERAS_VARIABLES", "REDUCE_SHIM_KERAS_VERSIONS",
           "TIMEOUT_VARIABLE", "Cluster", "ClusterSpec", "batchnorm_layers",
           "check_distribution_backend", "check_global_batch", "check_processes",
           "check_sync_batchnorm", "cluster_timeout", "configure_cpu_devices",
           "current_cluster", "distribution", "distribution_devices", "find_cluster",
           "has_gpu", "initialize_cluster", "mixed_policy_name", "precision",
           "reduce_shim_needed", "synchronize_batchnorm"]


def __dir__():
    return sorted(__all__)
