"""The PyTorch engine of a cluster: `torch.distributed` (NCCL on GPUs, gloo on CPUs).

Keras does not train under `torch.distributed` by itself: the training loop
wraps the model in `DistributedDataParallel`
(`keras_aw_tools.distributed_fit.install_ddp_train_step`), shards the input
(`keras_aw.datasets.sharding.for_cluster`) and averages the logs (`mean_logs`).
PyTorch is imported on use: the package imports every engine, and a process
runs one backend.
"""

import datetime
import os

from keras_aw.distribute.joining import join_error


def start(spec, seconds):
    """Joins `spec`'s cluster; returns the GPU this process drives (DDP's device), or None.

    Raises:
        ConnectionError: the processes did not all join in time.
    """
    import torch
    import torch.distributed as dist

    cuda = torch.cuda.is_available()
    local_rank = spec.local_rank
    if cuda:
        if local_rank is None:
            local_rank = spec.process_id % torch.cuda.device_count()
        torch.cuda.set_device(local_rank)
    else:
        # Processes sharing a host share its cores.
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // (spec.local_processes or 1)))
    init = "env://" if spec.source == "torchrun variables" else f"tcp://{spec.addresses[0]}"
    try:
        dist.init_process_group("nccl" if cuda else "gloo", init_method=init,
                                world_size=spec.num_processes, rank=spec.process_id,
                                timeout=datetime.timedelta(seconds=seconds))
    except Exception as e:  # noqa: BLE001
        raise join_error(spec, seconds, e) from e
    return local_rank if cuda else None


def barrier(seconds):
    """Waits for every process, at most `seconds` (gloo; NCCL's barrier has the group's timeout)."""
    import torch.distributed as dist

    if dist.get_backend() == "gloo":
        dist.monitored_barrier(timeout=datetime.timedelta(seconds=seconds))
    else:
        dist.barrier()


def mean_logs(logs, num_processes):
    """The mean of each numeric log over the processes."""
    import torch
    import torch.distributed as dist

    keys = [k for k, v in logs.items() if isinstance(v, (int, float)) or
            getattr(v, "ndim", None) == 0]
    values = torch.tensor([float(logs[k]) for k in keys], dtype=torch.float64)
    if dist.get_backend() == "nccl":
        values = values.cuda()
    dist.all_reduce(values)
    out = dict(logs)
    out.update({k: float(v) / num_processes for k, v in zip(keys, values.tolist())})
    return out


def shutdown():
    """Leaves the cluster."""
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()
