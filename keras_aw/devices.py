"""The former home of `keras_aw.distribute`; its names keep working from here.

Every name it held is re-exported from `keras_aw.distribute`, except the
training loop's hooks (`GlobalLogs`, `install_ddp_train_step`, `saving`), which
moved to `keras_aw_tools.distributed_fit` (the library does not import the
tooling): asking for them here raises an `AttributeError` naming the new place.
"""

from keras_aw.distribute import (DEFAULT_CLUSTER_TIMEOUT, KERAS_VARIABLES,
                                 REDUCE_SHIM_KERAS_VERSIONS, TIMEOUT_VARIABLE, Cluster,
                                 ClusterSpec, check_distribution_backend, check_sync_batchnorm,
                                 cluster_timeout, configure_cpu_devices, current_cluster,
                                 distribution, distribution_devices, find_cluster, has_gpu,
                                 initialize_cluster, mixed_policy_name, precision,
                                 reduce_shim_needed, synchronize_batchnorm)

__all__ = ["DEFAULT_CLUSTER_TIMEOUT", "KERAS_VARIABLES", "REDUCE_SHIM_KERAS_VERSIONS",
           "TIMEOUT_VARIABLE", "Cluster", "ClusterSpec", "check_distribution_backend",
           "check_sync_batchnorm", "cluster_timeout", "configure_cpu_devices",
           "current_cluster", "distribution", "distribution_devices", "find_cluster", "has_gpu",
           "initialize_cluster", "mixed_policy_name", "precision", "reduce_shim_needed",
           "synchronize_batchnorm"]

#: Names that moved out of the library, with their new module.
MOVED = {"GlobalLogs": "keras_aw_tools.distributed_fit",
         "install_ddp_train_step": "keras_aw_tools.distributed_fit",
         "saving": "keras_aw_tools.distributed_fit"}


def __getattr__(name):
    if name in MOVED:
        raise AttributeError(f"keras_aw.devices.{name} moved to {MOVED[name]}.{name} (the "
                             f"training loop's hooks live beside the training loop); import "
                             f"it from there")
    raise AttributeError(f"module 'keras_aw.devices' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
