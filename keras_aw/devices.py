"""Where and in what precision a model trains: devices, mixed precision, data parallelism, clusters.

- `has_gpu()`, `mixed_policy_name()`: what the current backend runs on, and the
  mixed-precision policy that suits it (float16 on a GPU, bfloat16 on a CPU).
- `precision(mixed)`: a context manager setting (and restoring) the global
  dtype policy.
- `distribution(enabled, batch_size, cluster=None)`: a context manager for
  data-parallel training (tf.distribute.MirroredStrategy on TensorFlow,
  keras.distribution.DataParallel on JAX; with a `cluster`, the cluster's
  engine over every process's devices); models must be created inside.
- `configure_cpu_devices(count)`: split the CPU into virtual devices to try
  data parallelism without GPUs.
- `initialize_cluster(job_addresses, num_processes, process_id)`: joins a
  cluster of processes (several hosts, or several processes on one host) with
  each backend's own engine: JAX `jax.distributed` + `keras.distribution`,
  TensorFlow `MultiWorkerMirroredStrategy`, PyTorch `torch.distributed` with
  `DistributedDataParallel`. Returns a `Cluster`, or None when no cluster is
  configured (the single-process path, unchanged). `find_cluster` only reads
  the configuration (arguments, then `KERAS_DISTRIBUTION_*`, then `TF_CONFIG`,
  then torchrun's `RANK`/`WORLD_SIZE`/`MASTER_ADDR`/`MASTER_PORT`).
- `synchronize_batchnorm(model, cluster)`, `install_ddp_train_step(model, cluster)`:
  the per-backend pieces a training loop applies to a model under a cluster.
"""

import contextlib
import datetime
import json
import os
import threading
from typing import NamedTuple, Optional

import keras



def has_gpu():
    backend = keras.backend.backend()
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            return bool(tf.config.list_physical_devices("GPU"))
        if backend == "jax":
            import jax

            return jax.devices()[0].platform == "gpu"
        if backend == "torch":
            import torch

            return torch.cuda.is_available()
    except Exception:  # noqa: BLE001
        return False
    return False


def mixed_policy_name():
    """mixed_float16 on a GPU, mixed_bfloat16 on a CPU (where float16 is slow)."""
    return "mixed_float16" if has_gpu() else "mixed_bfloat16"


@contextlib.contextmanager
def precision(mixed):
    previous = keras.config.dtype_policy()
    if mixed:
        keras.config.set_dtype_policy(mixed_policy_name())
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def check_distribution_backend():
    """Raises `ValueError` on a backend that data-parallel training does not support."""
    backend = keras.backend.backend()
    if backend not in ("tensorflow", "jax"):
        raise ValueError(
            f"`distribute` supports the tensorflow and jax backends, not {backend!r}; "
            "on PyTorch train without it, or set KERAS_BACKEND=jax or tensorflow"
        )


def distribution_devices():
    """The devices data-parallel training spreads a batch over (GPUs, else CPU devices)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_logical_devices("GPU")
        return [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
    check_distribution_backend()
    return keras.distribution.list_devices()


@contextlib.contextmanager
def distribution(enabled, batch_size, cluster=None, per_process_input=False):
    """Yields the number of replicas; model creation must happen inside.

    Args:
        enabled: data-parallel training over this process's devices.
        batch_size: the global batch size (divided among the replicas).
        cluster: a `Cluster` from `initialize_cluster`: data parallelism over
            every process's devices (whatever `enabled` says).
        per_process_input: with a cluster, the input pipelines hold each
            process's own part (`keras_aw.datasets.sharding.process_input`)
            rather than the global batches.

    Raises:
        ValueError: a backend without data parallelism, or a batch size that does
            not divide by the number of devices.
    """
    if cluster is not None:
        with cluster.scope(batch_size, auto_shard_dataset=not per_process_input) as replicas:
            yield replicas
        return
    if not enabled:
        yield 1
        return
    devices = distribution_devices()
    if batch_size % len(devices):
        raise ValueError(f"`batch_size` must be a multiple of the {len(devices)} devices of "
                         f"data-parallel training; received batch_size={batch_size}")
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        strategy = tf.distribute.MirroredStrategy(devices)
        with strategy.scope():
            yield len(devices)
        return
    previous = keras.distribution.distribution()
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    try:
        yield len(devices)
    finally:
        keras.distribution.set_distribution(previous)


def configure_cpu_devices(count):
    """Splits the host CPU into `count` virtual devices (to try data parallelism without GPUs).

    Must run before the backend initializes its devices: on JAX it sets
    XLA_FLAGS / jax_num_cpu_devices, on TensorFlow the logical device
    configuration.
    """
    if count is None or count <= 1:
        return
    backend = keras.backend.backend()
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            cpus = tf.config.list_physical_devices("CPU")
            tf.config.set_logical_device_configuration(
                cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
            )
        elif backend == "jax":
            import jax

            jax.config.update("jax_num_cpu_devices", count)
        else:
            raise ValueError(f"splitting the CPU into devices is not supported on the "
                             f"{backend!r} backend; received count={count}")
    except RuntimeError as e:
        raise ValueError(f"cannot split the CPU into count={count} devices now: {e}") from e


# --------------------------------------------------------------------------- clusters

#: Seconds a process waits for its peers (joining, heartbeats, collectives,
#: barriers, shutdown) before it fails instead of hanging; the engines' own
#: defaults are 300 s or unbounded. `KERAS_AW_CLUSTER_TIMEOUT` overrides it.
DEFAULT_CLUSTER_TIMEOUT = 120
TIMEOUT_VARIABLE = "KERAS_AW_CLUSTER_TIMEOUT"
KERAS_VARIABLES = {"job_addresses": "KERAS_DISTRIBUTION_JOB_ADDRESSES",
                   "num_processes": "KERAS_DISTRIBUTION_NUM_PROCESSES",
                   "process_id": "KERAS_DISTRIBUTION_PROCESS_ID"}


class ClusterSpec(NamedTuple):
    """Where a process stands in a cluster, as `find_cluster` read it.

    Attributes:
        addresses: "host:port" strings; the first is the coordinator (JAX), the
            rendezvous (PyTorch) or the first worker (TensorFlow, which needs all).
        num_processes: processes in the cluster.
        process_id: this process's index, 0 being the chief.
        source: where the configuration came from ("arguments",
            "KERAS_DISTRIBUTION_* variables", "TF_CONFIG" or "torchrun variables").
        local_rank: this process's index on its host (torchrun's LOCAL_RANK), or None.
        local_processes: processes on this host, or None when unknown.
        tf_config: the parsed `TF_CONFIG` when it is the source, else None.
    """

    addresses: tuple
    num_processes: int
    process_id: int
    source: str
    local_rank: Optional[int] = None
    local_processes: Optional[int] = None
    tf_config: Optional[dict] = None


def _int_value(name, value, source):
    if isinstance(value, bool):
        raise TypeError(f"`{name}` must be an int; received {name}={value!r} ({source})")
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        raise ValueError(f"`{name}` must be an int; received {name}={value!r} ({source})") \
            from None


def _addresses(value, source, name="job_addresses"):
    items = value.split(",") if isinstance(value, str) else list(value)
    items = [str(item).strip() for item in items]
    if not items or any(not item for item in items):
        raise ValueError(f"`{name}` must be comma-separated host:port addresses; received "
                         f"{name}={value!r} ({source})")
    for item in items:
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"`{name}` must be host:port addresses with a port in 1-65535; "
                             f"received {item!r} in {name}={value!r} ({source})")
    return tuple(items)


def _checked(addresses, num_processes, process_id, source, **extra):
    if num_processes < 1:
        raise ValueError(f"`num_processes` must be at least 1; received num_processes="
                         f"{num_processes} ({source})")
    if not 0 <= process_id < num_processes:
        raise ValueError(f"`process_id` must be in [0, {num_processes - 1}] for num_processes="
                         f"{num_processes}; received process_id={process_id} ({source})")
    if num_processes == 1:
        return None
    if not addresses:
        raise ValueError(f"a cluster of num_processes={num_processes} needs `job_addresses` "
                         f"(at least the coordinator's host:port) ({source})")
    if len(addresses) not in (1, num_processes):
        raise ValueError(f"`job_addresses` must hold the coordinator's address or one address "
                         f"per process; received {len(addresses)} addresses "
                         f"({','.join(addresses)}) for num_processes={num_processes} ({source})")
    local = extra.pop("local_processes", None)
    if local is None and len(addresses) == num_processes:
        mine = addresses[process_id].rpartition(":")[0]
        local = sum(a.rpartition(":")[0] == mine for a in addresses)
    return ClusterSpec(tuple(addresses), num_processes, process_id, source,
                       local_processes=local, **extra)


def find_cluster(job_addresses=None, num_processes=None, process_id=None, environ=None):
    """Reads the cluster this process belongs to, without starting anything.

    The first source that says anything wins: the arguments (each missing one
    taken from Keras's `KERAS_DISTRIBUTION_*` variable, as
    `keras.distribution.initialize` does), then `KERAS_DISTRIBUTION_*` alone,
    then `TF_CONFIG` (chief first, then the workers), then torchrun's
    `RANK`, `WORLD_SIZE`, `MASTER_ADDR`, `MASTER_PORT` and `LOCAL_RANK`.

    Args:
        job_addresses: "host:port[,host:port...]" or a list of them: the
            coordinator's address first (JAX and PyTorch need only it,
            TensorFlow needs one per process).
        num_processes: the number of processes (default: one per address, when
            several are given).
        process_id: this process's index, 0 to num_processes - 1 (0 is the chief).
        environ: the environment to read (default `os.environ`).

    Returns:
        A `ClusterSpec`, or None when nothing configures a cluster or the
        cluster has one process.

    Raises:
        ValueError: a value that is malformed, missing, or inconsistent with the
            others (naming the value and where it came from).

    Example:

    >>> find_cluster(environ={}) is None
    True
    >>> spec = find_cluster("127.0.0.1:1234", 2, 1, environ={})
    >>> spec.num_processes, spec.process_id, spec.source
    (2, 1, 'arguments')
    """
    env = os.environ if environ is None else environ
    given = {"job_addresses": job_addresses, "num_processes": num_processes,
             "process_id": process_id}
    from_env = {k: env.get(v) or None for k, v in KERAS_VARIABLES.items()}
    if any(v is not None for v in given.values()) or any(v is not None
                                                         for v in from_env.values()):
        values, sources = {}, set()
        for key in given:
            if given[key] is not None:
                values[key] = given[key]
                sources.add("arguments")
            elif from_env[key] is not None:
                values[key] = from_env[key]
                sources.add("KERAS_DISTRIBUTION_* variables")
        source = " and ".join(sorted(sources))
        addresses = (_addresses(values["job_addresses"], source)
                     if "job_addresses" in values else ())
        if "num_processes" in values:
            count = _int_value("num_processes", values["num_processes"], source)
        elif len(addresses) > 1:
            count = len(addresses)
        else:
            raise ValueError(f"`num_processes` is missing: give it (--num-processes, "
                             f"{KERAS_VARIABLES['num_processes']}) or one address per process "
                             f"in `job_addresses` ({source})")
        if "process_id" not in values:
            if count == 1:
                return None
            raise ValueError(f"`process_id` is missing for num_processes={count}: give it "
                             f"(--process-id, {KERAS_VARIABLES['process_id']}) ({source})")
        pid = _int_value("process_id", values["process_id"], source)
        return _checked(addresses, count, pid, source)
    if env.get("TF_CONFIG"):
        return _from_tf_config(env["TF_CONFIG"])
    if env.get("WORLD_SIZE") and env.get("RANK"):
        source = "torchrun variables"
        count = _int_value("num_processes", env["WORLD_SIZE"], f"WORLD_SIZE, {source}")
        pid = _int_value("process_id", env["RANK"], f"RANK, {source}")
        addresses = ()
        if count > 1:
            if not env.get("MASTER_ADDR") or not env.get("MASTER_PORT"):
                raise ValueError(f"WORLD_SIZE={count} but MASTER_ADDR/MASTER_PORT are not set "
                                 f"({source})")
            addresses = _addresses(f"{env['MASTER_ADDR']}:{env['MASTER_PORT']}", source,
                                   "MASTER_ADDR:MASTER_PORT")
        local_rank = env.get("LOCAL_RANK")
        local = env.get("LOCAL_WORLD_SIZE")
        return _checked(addresses, count, pid, source,
                        local_rank=None if local_rank is None else
                        _int_value("local_rank", local_rank, f"LOCAL_RANK, {source}"),
                        local_processes=None if local is None else
                        _int_value("local_processes", local, f"LOCAL_WORLD_SIZE, {source}"))
    return None


def _from_tf_config(text):
    source = "TF_CONFIG"
    try:
        config = json.loads(text)
        cluster, task = dict(config["cluster"]), dict(config.get("task") or {})
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"TF_CONFIG must be JSON with a 'cluster' and a 'task'; received "
                         f"TF_CONFIG={text!r}") from e
    others = sorted(set(cluster) - {"chief", "worker"})
    if others:
        raise ValueError(f"TF_CONFIG jobs {others} are not supported (data-parallel training "
                         f"uses 'chief' and 'worker' only); received TF_CONFIG={text!r}")
    ordered = [("chief", i) for i in range(len(cluster.get("chief", [])))] + \
        [("worker", i) for i in range(len(cluster.get("worker", [])))]
    key = (task.get("type"), task.get("index", 0))
    if key not in ordered:
        raise ValueError(f"TF_CONFIG's task {task!r} is not in its cluster "
                         f"{ {k: len(v) for k, v in cluster.items()} }; received TF_CONFIG={text!r}")
    addresses = _addresses(list(cluster.get("chief", [])) + list(cluster.get("worker", [])),
                           source, "TF_CONFIG cluster")
    return _checked(addresses, len(ordered), ordered.index(key), source, tf_config=config)


def cluster_timeout(timeout=None):
    """The peer timeout in seconds: `timeout`, else $KERAS_AW_CLUSTER_TIMEOUT, else the default."""
    value = timeout if timeout is not None else os.environ.get(TIMEOUT_VARIABLE)
    if value is None:
        return DEFAULT_CLUSTER_TIMEOUT
    seconds = _int_value("timeout", value, TIMEOUT_VARIABLE if timeout is None else "argument")
    if seconds < 1:
        raise ValueError(f"`timeout` must be at least 1 second; received timeout={value!r}")
    return seconds


_CLUSTER = None


def current_cluster():
    """The `Cluster` this process joined with `initialize_cluster`, or None."""
    return _CLUSTER


def initialize_cluster(job_addresses=None, num_processes=None, process_id=None, timeout=None):
    """Joins this process's cluster with the backend's own engine; call it before any backend op.

    The cluster is read by `find_cluster` (arguments, `KERAS_DISTRIBUTION_*`,
    `TF_CONFIG`, torchrun's variables). No cluster: returns None and changes
    nothing (the single-process path). Otherwise the engine starts:

    - JAX: `jax.distributed.initialize` with bounded timeouts (what
      `keras.distribution.initialize` calls, without a way to pass them), then
      Keras's process-wide seed; `Cluster.scope` sets `DataParallel` over the
      global devices.
    - TensorFlow: `MultiWorkerMirroredStrategy` (from `TF_CONFIG`, or from the
      addresses, one per process), its coordination service and collectives
      bounded by the timeout.
    - PyTorch: `torch.distributed.init_process_group` (NCCL on GPUs, gloo on
      CPUs); use `install_ddp_train_step` on the model.

    Args:
        job_addresses: "host:port[,host:port...]", the coordinator's first.
        num_processes: the number of processes.
        process_id: this process's index (0 is the chief).
        timeout: seconds to wait for peers before failing (joining, heartbeats,
            collectives, barriers, shutdown); default $KERAS_AW_CLUSTER_TIMEOUT,
            else `DEFAULT_CLUSTER_TIMEOUT`.

    Returns:
        A `Cluster`, or None.

    Raises:
        ValueError: bad or inconsistent values (see `find_cluster`), or a second
            call with a different cluster.
        ConnectionError: the peers did not all join within `timeout`.

    Example:

    >>> initialize_cluster(num_processes=1) is None  # one process: nothing to join
    True
    """
    global _CLUSTER
    spec = find_cluster(job_addresses, num_processes, process_id)
    if spec is None:
        return None
    if _CLUSTER is not None:
        if _CLUSTER.spec[:3] == spec[:3]:
            return _CLUSTER
        raise ValueError(f"this process already joined the cluster {_CLUSTER!r}; received "
                         f"job_addresses={','.join(spec.addresses)}, num_processes="
                         f"{spec.num_processes}, process_id={spec.process_id}")
    seconds = cluster_timeout(timeout)
    backend = keras.backend.backend()
    starter = {"jax": _start_jax, "tensorflow": _start_tensorflow, "torch": _start_torch}.get(
        backend)
    if starter is None:
        raise ValueError(f"clusters are supported on the jax, tensorflow and torch backends, "
                         f"not {backend!r}")
    import sys

    print(f"keras_aw: process {spec.process_id} of {spec.num_processes} joining the cluster "
          f"at {spec.addresses[0]} ({spec.source}) on {backend}; it ends if the others have "
          f"not joined within {seconds} s", file=sys.stderr, flush=True)
    _wait_for_coordinator(spec, seconds)
    engine = starter(spec, seconds)
    _CLUSTER = Cluster(spec, backend, seconds, engine)
    return _CLUSTER


def _first_line(error):
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _join_error(spec, seconds, error):
    return ConnectionError(
        f"process {spec.process_id} of {spec.num_processes} could not join the cluster at "
        f"{spec.addresses[0]} within {seconds} s (from {spec.source}; every process must start "
        f"with the same num_processes and its own process_id): {_first_line(error)}")


def _wait_for_coordinator(spec, seconds):
    """Non-chief processes: waits until the coordinator's port accepts connections.

    Engines report an unreachable coordinator late or badly (JAX aborts the
    process with a C++ stack trace): fail first, with a clear message.
    Returns the seconds left of `seconds`.
    """
    import socket
    import time

    start = time.monotonic()
    if spec.process_id == 0:
        return seconds
    host, _, port = spec.addresses[0].rpartition(":")
    host = host.strip("[]")
    error = None
    while time.monotonic() - start < seconds:
        try:
            socket.create_connection((host, int(port)), timeout=2).close()
            return max(1, int(seconds - (time.monotonic() - start)))
        except OSError as e:
            error = e
            time.sleep(0.5)
    raise ConnectionError(
        f"process {spec.process_id} of {spec.num_processes} cannot reach the cluster's "
        f"coordinator {spec.addresses[0]} (from {spec.source}) within {seconds} s: {error}")


@contextlib.contextmanager
def _watchdog(spec, seconds):
    """Ends the process if the block outlasts `seconds` (it may hold the GIL: no Python timer).

    `faulthandler` fires from a C thread: it prints where each thread waits
    (under the line announcing the deadline) and exits with status 1.
    """
    import faulthandler

    faulthandler.dump_traceback_later(seconds, exit=True)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


def _start_jax(spec, seconds):
    import jax


    # keras.distribution.initialize(...) calls jax.distributed.initialize without
    # its timeouts (300 s to join, 300 s at the shutdown barrier): call it directly.
    try:
        jax.distributed.initialize(
            coordinator_address=spec.addresses[0], num_processes=spec.num_processes,
            process_id=spec.process_id, initialization_timeout=seconds,
            heartbeat_timeout_seconds=seconds, shutdown_timeout_seconds=seconds)
    except Exception as e:  # noqa: BLE001 - XLA raises its own runtime errors
        raise _join_error(spec, seconds, e) from e
    # What keras.distribution.initialize does next: one random seed on every
    # process (used when no seed is set).
    from keras.src.backend.jax import distribution_lib

    distribution_lib.initialize_rng()
    return None


def _start_tensorflow(spec, seconds):
    import tensorflow as tf
    from tensorflow.compiler.xla.tsl.protobuf import coordination_config_pb2
    from tensorflow.python.distribute import multi_worker_util
    from tensorflow.python.eager import context

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
    cluster_spec = resolver.cluster_spec()
    # MultiWorkerMirroredStrategy configures the coordination service with no
    # timeouts unless one is configured already: configure it, bounded.
    ms = seconds * 1000
    context.context().configure_coordination_service(
        service_type="standalone",
        service_leader=multi_worker_util.coordination_leader(cluster_spec),
        cluster_register_timeout_in_ms=ms, heartbeat_timeout_in_ms=ms,
        shutdown_barrier_timeout_in_ms=ms,
        coordinated_jobs=[coordination_config_pb2.CoordinatedJob(
            name=job, num_tasks=cluster_spec.num_tasks(job))
            for job in ("chief", "worker") if job in cluster_spec.jobs])
    # The chief waits for missing workers inside the strategy's constructor (its
    # eager context creation retries without a deadline, measured > 200 s despite
    # the timeouts above); nothing can interrupt it but ending the process.
    with _watchdog(spec, seconds):
        try:
            strategy = tf.distribute.MultiWorkerMirroredStrategy(
                cluster_resolver=resolver,
                communication_options=tf.distribute.experimental.CommunicationOptions(
                    timeout_seconds=seconds))
        except Exception as e:  # noqa: BLE001
            raise _join_error(spec, seconds, e) from e
    if reduce_shim_needed():
        _install_reduce_shim(strategy)
    return strategy


# keras-team/keras#20585: under MultiWorkerMirroredStrategy, Keras's TensorFlow
# trainer reduces every logged value with strategy.reduce("MEAN", v, axis=0)
# (keras/src/backend/tensorflow/trainer.py, reduce_per_replica), which fails on
# the scalar loss and metrics that `fit` logs. The shim passes axis=None for
# scalars. Keras versions known to need it (tests/test_multiprocess.py has a test
# that fails once the installed Keras no longer needs it or the range is stale).
REDUCE_SHIM_KERAS_VERSIONS = ((3, 0), (3, 15))


def reduce_shim_needed(version=None):
    """Whether this Keras version needs the MultiWorkerMirroredStrategy reduce shim."""
    major, minor = (int(p) for p in (version or keras.version()).split(".")[:2])
    low, high = REDUCE_SHIM_KERAS_VERSIONS
    return low <= (major, minor) <= high


def _install_reduce_shim(strategy):
    import tensorflow as tf

    reduce = strategy.reduce

    def rank(value):
        value = value.values[0] if hasattr(value, "values") else value
        return len(value.shape)

    def reduce_scalars_without_axis(reduce_op, value, axis=None):
        return tf.nest.map_structure(
            lambda v: reduce(reduce_op, v, axis=None if rank(v) == 0 else axis), value)

    strategy.reduce = reduce_scalars_without_axis
    return strategy


def _start_torch(spec, seconds):
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
        raise _join_error(spec, seconds, e) from e
    return local_rank if cuda else None  # the GPU this process drives (DDP's device_ids)


class Cluster:
    """A process's membership in a cluster started by `initialize_cluster`.

    Attributes:
        num_processes, process_id: the cluster's size and this process's index.
        is_chief: True on process 0 (the one that writes run files and prints).
        backend: the Keras backend whose engine runs the cluster.
        timeout: seconds a wait for peers may last.
        strategy: TensorFlow's `MultiWorkerMirroredStrategy` (None elsewhere).
    """

    def __init__(self, spec, backend, timeout, engine):
        self.spec = spec
        self.backend = backend
        self.timeout = timeout
        self.strategy = engine if backend == "tensorflow" else None
        self.local_rank = engine if backend == "torch" else None
        self._barriers = 0
        self._closed = False
        self._lock = threading.Lock()

    num_processes = property(lambda self: self.spec.num_processes)
    process_id = property(lambda self: self.spec.process_id)
    is_chief = property(lambda self: self.spec.process_id == 0)

    def __repr__(self):
        return (f"Cluster(backend={self.backend!r}, num_processes={self.num_processes}, "
                f"process_id={self.process_id}, coordinator={self.spec.addresses[0]!r}, "
                f"source={self.spec.source!r})")

    def num_devices(self):
        """The number of devices over all processes (data-parallel replicas)."""
        if self.backend == "tensorflow":
            return self.strategy.num_replicas_in_sync
        if self.backend == "jax":
            import jax

            return jax.device_count()
        return self.num_processes

    def check_batch_size(self, batch_size):
        """Raises `ValueError` unless the global `batch_size` divides by the global device count."""
        devices = self.num_devices()
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"`batch_size` must be a positive int; received batch_size="
                             f"{batch_size!r}")
        if batch_size % devices:
            raise ValueError(
                f"the global `batch_size` must be a multiple of the {devices} devices of the "
                f"cluster ({self.num_processes} processes); received batch_size={batch_size}")
        return batch_size // devices

    @contextlib.contextmanager
    def scope(self, batch_size, auto_shard_dataset=True):
        """Data parallelism over the cluster's devices; build and compile models inside.

        Yields the number of devices. The batch size given is the global one.
        On JAX, ``auto_shard_dataset=False`` takes per-process input pipelines
        as they are (each process reading its own part, at batch
        ``batch_size // num_processes``).
        """
        self.check_batch_size(batch_size)
        devices = self.num_devices()
        if self.backend == "tensorflow":
            with self.strategy.scope():
                yield devices
            return
        if self.backend == "jax":
            import jax

            previous = keras.distribution.distribution()
            mesh = keras.distribution.DeviceMesh((devices,), ["batch"], jax.devices())
            keras.distribution.set_distribution(keras.distribution.DataParallel(
                device_mesh=mesh, auto_shard_dataset=auto_shard_dataset))
            try:
                yield devices
            finally:
                keras.distribution.set_distribution(previous)
            return
        yield devices

    @contextlib.contextmanager
    def local(self):
        """No distribution inside: for work on one process only, such as the chief saving.

        On JAX a chief-only `model.save` under the distribution deadlocks (saving
        builds a throwaway optimizer whose variables are placed with a
        collective that the other processes never join).
        """
        if self.backend != "jax":
            yield
            return
        previous = keras.distribution.distribution()
        keras.distribution.set_distribution(None)
        try:
            yield
        finally:
            keras.distribution.set_distribution(previous)

    def barrier(self, name=None):
        """Waits until every process reaches this barrier (at most `timeout` seconds).

        Raises:
            TimeoutError: a process did not arrive in time (it died or hangs).
        """
        with self._lock:
            self._barriers += 1
            key = f"keras_aw_{name or 'barrier'}_{self._barriers}"
        try:
            if self.backend == "jax":
                from jax._src import distributed

                distributed.global_state.client.wait_at_barrier(key, self.timeout * 1000)
            elif self.backend == "tensorflow":
                from tensorflow.python.eager import context

                context.context().wait_at_barrier(key, self.timeout * 1000)
            else:
                import torch.distributed as dist

                if dist.get_backend() == "gloo":
                    dist.monitored_barrier(timeout=datetime.timedelta(seconds=self.timeout))
                else:
                    dist.barrier()
        except Exception as e:  # noqa: BLE001
            raise TimeoutError(f"process {self.process_id} of {self.num_processes}: barrier "
                               f"{key!r} failed within {self.timeout} s: {_first_line(e)}") from e

    def mean_logs(self, logs):
        """The mean of each numeric log over the processes (PyTorch logs are per process).

        JAX and TensorFlow compute metrics on the global batch already: returned as
        they are.
        """
        if self.backend != "torch" or not logs:
            return logs
        import torch
        import torch.distributed as dist

        keys = [k for k, v in logs.items() if isinstance(v, (int, float)) or
                getattr(v, "ndim", None) == 0]
        values = torch.tensor([float(logs[k]) for k in keys], dtype=torch.float64)
        if dist.get_backend() == "nccl":
            values = values.cuda()
        dist.all_reduce(values)
        out = dict(logs)
        out.update({k: float(v) / self.num_processes for k, v in zip(keys, values.tolist())})
        return out

    def shutdown(self):
        """Leaves the cluster (bounded by `timeout`); safe to call twice."""
        global _CLUSTER
        if self._closed:
            return
        self._closed = True
        if _CLUSTER is self:
            _CLUSTER = None
        if self.backend == "jax":
            import jax

            jax.distributed.shutdown()
        elif self.backend == "torch":
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()


def check_sync_batchnorm():
    """Raises `ValueError` on a backend without synchronized BatchNorm (PyTorch)."""
    if keras.backend.backend() == "torch":
        raise ValueError("synchronized BatchNorm is not supported on the torch backend "
                         "(Keras refuses BatchNormalization(synchronized=True) there); train "
                         "without --sync-batchnorm, or on KERAS_BACKEND=tensorflow or jax")


def synchronize_batchnorm(model, cluster=None):
    """Makes every BatchNormalization of `model` (AWConv2D's included) use global statistics.

    TensorFlow: ``synchronized=True`` (all-reduced statistics across replicas).
    JAX: BatchNorm statistics under `keras.distribution.DataParallel` are global
    already; nothing changes. PyTorch: not supported by Keras.

    Returns:
        The number of BatchNormalization layers set.

    Raises:
        ValueError: on the torch backend.
    """
    check_sync_batchnorm()
    backend = keras.backend.backend()
    layers = [layer for layer in model._flatten_layers(include_self=False, recursive=True)
              if isinstance(layer, keras.layers.BatchNormalization)]
    if backend == "tensorflow":
        for layer in layers:
            layer.synchronized = True
    return len(layers)


def install_ddp_train_step(model, cluster):
    """PyTorch: makes `model.fit` run every step through `DistributedDataParallel`.

    DDP all-reduces gradients only when the forward pass runs through its
    wrapper; Keras's own train step calls the model directly, so processes would
    silently diverge. The installed `model.train_step` is Keras's torch step
    with the forward through DDP. Call it after the model is built and compiled.

    Returns:
        The `DistributedDataParallel` wrapper.

    Raises:
        ValueError: not the torch backend, or no cluster.
        RuntimeError: a Keras version without the internals the step uses.
    """
    if keras.backend.backend() != "torch" or cluster is None:
        raise ValueError("install_ddp_train_step is for a cluster on the torch backend; "
                         f"received backend={keras.backend.backend()!r}, cluster={cluster!r}")
    missing = [n for n in ("_compute_loss", "_loss_tracker") if not hasattr(model, n)]
    if missing:
        raise RuntimeError(f"Keras {keras.version()} lacks the Model internals {missing} "
                           "that PyTorch multi-process training uses (verified with 3.13-3.15)")
    import torch
    from torch.nn.parallel import DistributedDataParallel

    local = cluster.local_rank
    ddp = DistributedDataParallel(model, device_ids=None if local is None else [local])

    def train_step(data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        model.zero_grad()
        y_pred = ddp(x, training=True)
        loss = model._compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                                   training=True)
        first = next(t for t in keras.tree.flatten(x) if t is not None)
        model._loss_tracker.update_state(loss, sample_weight=first.shape[0])
        if model.optimizer is not None:
            loss = model.optimizer.scale_loss(loss)
        loss.backward()
        weights = model.trainable_weights[:]
        with torch.no_grad():
            model.optimizer.apply([v.value.grad for v in weights], weights)
        return model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    model.train_step = train_step
    return ddp


class GlobalLogs(keras.callbacks.Callback):
    """Makes the epoch logs global: the mean over the processes (PyTorch logs are per process).

    Put it first among `fit`'s callbacks: it updates the logs dict in place,
    so the callbacks after it (a run recorder) see the global values.
    """

    def __init__(self, cluster):
        super().__init__()
        self.cluster = cluster

    def on_epoch_end(self, epoch, logs=None):
        if logs:
            logs.update(self.cluster.mean_logs(logs))


@contextlib.contextmanager
def saving(model, cluster=None):
    """The conditions for one process (the chief) to save `model` alone.

    On JAX, no distribution (see `Cluster.local`). Synchronized BatchNorm
    layers are saved unsynchronized (a `.keras` file with ``synchronized=True``
    loads on TensorFlow only) and synchronized again afterwards.
    """
    synced = [layer for layer in model._flatten_layers(include_self=False, recursive=True)
              if isinstance(layer, keras.layers.BatchNormalization) and layer.synchronized]
    for layer in synced:
        layer.synchronized = False
    try:
        with cluster.local() if cluster is not None else contextlib.nullcontext():
            yield
    finally:
        for layer in synced:
            layer.synchronized = True
