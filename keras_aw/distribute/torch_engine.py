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


def process_mean(value, num_processes):
    """The mean of tensor `value` over the processes (outside autograd: for counts)."""
    import torch.distributed as dist

    total = value.detach().clone()
    dist.all_reduce(total)
    return total / num_processes


def gather_objects(value, num_processes, everywhere):
    """Every process's picklable `value` in process order: on process 0, or everywhere."""
    import torch.distributed as dist

    values = [None] * num_processes
    if everywhere:
        dist.all_gather_object(values, value)
        return values
    dist.gather_object(value, values if dist.get_rank() == 0 else None, dst=0)
    return values if dist.get_rank() == 0 else None


def global_moments(inputs, axes):
    """Mean and variance of `inputs` over `axes` and every process's batch, seen by autograd.

    The per-process sums of ``x`` and ``x**2`` and the element count go through
    one `torch.distributed.nn.functional.all_reduce` (differentiable: its
    backward all-reduces the gradients, so each process's inputs get the
    gradient of every process's loss through the shared moments, as
    `torch.nn.SyncBatchNorm` computes). The variance is ``E[x^2] - E[x]^2`` as in
    Keras's torch `ops.moments`. Returns ``(mean, variance)`` without the reduced axes.
    """
    import torch
    from torch.distributed.nn.functional import all_reduce

    axes = tuple(axes)
    count = 1
    for axis in axes:
        count *= inputs.shape[axis]
    sums = torch.sum(inputs, dim=axes)
    squares = torch.sum(torch.square(inputs), dim=axes)
    local = torch.cat([sums, squares, torch.full((1,), float(count), dtype=sums.dtype,
                                                 device=sums.device)])
    total = all_reduce(local)
    channels = sums.shape[0]
    mean = total[:channels] / total[-1]
    variance = total[channels:2 * channels] / total[-1] - torch.square(mean)
    return mean, variance


def shutdown():
    """Leaves the cluster."""
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()
