"""Where and in what precision a model trains: clusters of processes (more to come).

- The cluster's configuration (`config`): `find_cluster` reads it, without
  importing a backend, from the arguments, then `KERAS_DISTRIBUTION_*`, then
  `TF_CONFIG`, then torchrun's `RANK`/`WORLD_SIZE`/`MASTER_ADDR`/`MASTER_PORT`
  (a `ClusterSpec`); `cluster_timeout` bounds every wait for peers.
- The checks (`checks`): one check of process counts, process ids and global
  batch sizes.
"""

from keras_aw.distribute.checks import check_global_batch, check_processes
from keras_aw.distribute.config import (DEFAULT_CLUSTER_TIMEOUT, KERAS_VARIABLES,
                                        TIMEOUT_VARIABLE, ClusterSpec, cluster_timeout,
                                        find_cluster)

__all__ = ["DEFAULT_CLUSTER_TIMEOUT", "KERAS_VARIABLES", "TIMEOUT_VARIABLE", "ClusterSpec",
           "check_global_batch", "check_processes", "cluster_timeout", "find_cluster"]


def __dir__():
    return sorted(__all__)
