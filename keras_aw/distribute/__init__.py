"""Where and in what precision a model trains: clusters of processes (more to come).

- The cluster's configuration (`config`): `find_cluster` reads it, without
  importing a backend, from the arguments, then `KERAS_DISTRIBUTION_*`, then
  `TF_CONFIG`, then torchrun's `RANK`/`WORLD_SIZE`/`MASTER_ADDR`/`MASTER_PORT`
  (a `ClusterSpec`); `cluster_timeout` bounds every wait for peers.
- The checks (`checks`): one check of process counts, process ids and global
  batch sizes.
- The cluster (`cluster`): `initialize_cluster(job_addresses, num_processes,
  process_id)` joins it with each backend's own engine (`jax_engine`,
  `tensorflow_engine`, `torch_engine`) and returns a `Cluster`, or None when
  no cluster is configured. Private framework APIs are used only in the
  adapters `_upstream_keras`, `_upstream_jax` and `_upstream_tensorflow`.
"""

from keras_aw.distribute._upstream_keras import REDUCE_SHIM_KERAS_VERSIONS, reduce_shim_needed
from keras_aw.distribute.checks import check_global_batch, check_processes
from keras_aw.distribute.cluster import Cluster, current_cluster, initialize_cluster
from keras_aw.distribute.config import (DEFAULT_CLUSTER_TIMEOUT, KERAS_VARIABLES,
                                        TIMEOUT_VARIABLE, ClusterSpec, cluster_timeout,
                                        find_cluster)

__all__ = ["DEFAULT_CLUSTER_TIMEOUT", "KERAS_VARIABLES", "REDUCE_SHIM_KERAS_VERSIONS",
           "TIMEOUT_VARIABLE", "Cluster", "ClusterSpec", "check_global_batch",
           "check_processes", "cluster_timeout", "current_cluster", "find_cluster",
           "initialize_cluster", "reduce_shim_needed"]


def __dir__():
    return sorted(__all__)
