"""Joining a cluster of processes and the `Cluster` a process then belongs to.

- `initialize_cluster(job_addresses, num_processes, process_id)`: joins the
  cluster that `find_cluster` reads with the backend's own engine
  (`jax_engine`, `tensorflow_engine`, `torch_engine`); returns a `Cluster`, or
  None on the single-process path.
- `current_cluster()`: the `Cluster` this process joined, or None.

Exceptions, one per kind of mistake: `TypeError` a value of the wrong type,
`ValueError` a bad value, `ConnectionError` a process that could not join,
`TimeoutError` a peer that did not arrive at a barrier.
"""

import contextlib
import json
import sys
import threading

import keras

from keras_aw.distribute import jax_engine, tensorflow_engine, torch_engine
from keras_aw.distribute.checks import check_global_batch
from keras_aw.distribute.config import cluster_timeout, find_cluster
from keras_aw.distribute.joining import first_line, wait_for_coordinator

_ENGINES = {"jax": jax_engine, "tensorflow": tensorflow_engine, "torch": torch_engine}
_CLUSTER = None


class Cluster:
    """A process's membership in a cluster started by `initialize_cluster`.

    Attributes:
        num_processes, process_id: the cluster's size and this process's index.
        is_chief: True on process 0 (the one that writes run files and prints).
        backend: the Keras backend whose engine runs the cluster.
        timeout: seconds a wait for peers may last.
        strategy: TensorFlow's `MultiWorkerMirroredStrategy` (None elsewhere).
        local_rank: PyTorch: the GPU this process drives, or None.
    """

    def __init__(self, spec, backend, timeout, engine):
        self.spec = spec
        self.backend = backend
        self.timeout = timeout
        self.strategy = engine if backend == "tensorflow" else None
        self.local_rank = engine if backend == "torch" else None
        self._barriers = 0
        self._gathers = 0
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
            return jax_engine.num_devices()
        return self.num_processes

    def check_batch_size(self, batch_size):
        """The per-device batch of the global `batch_size`, which must divide by the device count.

        Raises:
            TypeError: `batch_size` is not an int.
            ValueError: `batch_size` < 1 or not a multiple of the global device count.
        """
        devices = self.num_devices()
        return check_global_batch(batch_size, devices, f"the {devices} devices of the cluster "
                                                       f"({self.num_processes} processes)")

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
        elif self.backend == "jax":
            with jax_engine.data_parallel(devices, auto_shard_dataset):
                yield devices
        else:
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
        with jax_engine.no_distribution():
            yield

    def barrier(self, name=None):
        """Waits until every process reaches this barrier (at most `timeout` seconds).

        Raises:
            TimeoutError: a process did not arrive in time (it died or hangs).
        """
        with self._lock:
            self._barriers += 1
            key = f"keras_aw_{name or 'barrier'}_{self._barriers}"
        try:
            if self.backend == "torch":
                torch_engine.barrier(self.timeout)
            else:
                _ENGINES[self.backend].barrier(key, self.timeout)
        except Exception as e:  # noqa: BLE001
            raise TimeoutError(f"process {self.process_id} of {self.num_processes}: barrier "
                               f"{key!r} failed within {self.timeout} s: {first_line(e)}") from e

    def mean_logs(self, logs):
        """The mean of each numeric log over the processes (PyTorch logs are per process).

        JAX and TensorFlow compute metrics on the global batch already: returned as
        they are.
        """
        if self.backend != "torch" or not logs:
            return logs
        return torch_engine.mean_logs(logs, self.num_processes)

    def replica_mean(self, value):
        """Inside a train or test step: the mean over the data-parallel replicas of `value`.

        For a value each replica computes from its own part of the batch (a
        count, such as a detector's positive anchors): TensorFlow all-reduces it
        in the replica context; PyTorch over the processes (not differentiated:
        for counts); JAX computes on the global batch already, so `value` is
        returned as it is.
        """
        if self.backend == "tensorflow":
            return tensorflow_engine.replica_mean(value)
        if self.backend == "torch":
            return torch_engine.process_mean(value, self.num_processes)
        return value

    def gather_json(self, value, everywhere=False):
        """Every process's JSON-serializable `value`, in process order, on process 0.

        Host data, not tensors: for instance each process's evaluation of its
        part of a test set (`keras_aw_tools.distributed_fit`). Every process must
        call it at the same point. PyTorch: ``torch.distributed``'s object
        collectives; JAX and TensorFlow: the coordination service's key-value
        store, in chunks of `GATHER_CHUNK` characters, every wait bounded by
        `timeout`.

        Args:
            value: what this process contributes (``json.dumps`` must take it).
            everywhere: every process gets the list (default: process 0 only;
                the others get None).

        Raises:
            TimeoutError: a process did not contribute in time.
        """
        text = json.dumps(value)
        with self._lock:
            self._gathers += 1
            key = f"keras_aw_gather_{self._gathers}"
        try:
            if self.backend == "torch":
                texts = torch_engine.gather_objects(text, self.num_processes, everywhere)
            else:
                texts = _gather_texts(_ENGINES[self.backend], key, text, self.process_id,
                                      self.num_processes, self.timeout * 1000,
                                      everywhere or self.is_chief)
                self.barrier(key)  # every process has read: the keys can go
                _ENGINES[self.backend].key_value_delete(f"{key}/{self.process_id}")
        except TimeoutError:
            raise
        except Exception as e:  # noqa: BLE001
            raise TimeoutError(f"process {self.process_id} of {self.num_processes}: gathering "
                               f"{key!r} failed within {self.timeout} s: {first_line(e)}") from e
        return None if texts is None else [json.loads(t) for t in texts]

    def shutdown(self):
        """Leaves the cluster (bounded by `timeout`); safe to call twice."""
        global _CLUSTER
        if self._closed:
            return
        self._closed = True
        if _CLUSTER is self:
            _CLUSTER = None
        if self.backend == "jax":
            jax_engine.shutdown()
        elif self.backend == "torch":
            torch_engine.shutdown()


#: Characters per key-value entry of `Cluster.gather_json` (the coordination services
#: carry gRPC messages; 4 MB is gRPC's default limit).
GATHER_CHUNK = 1 << 20


def _gather_texts(engine, key, text, process_id, num_processes, timeout_ms, read):
    """Each process's `text` through `engine`'s key-value store (None where not `read`)."""
    chunks = [text[i:i + GATHER_CHUNK] for i in range(0, len(text), GATHER_CHUNK)] or [""]
    for k, chunk in enumerate(chunks):
        engine.key_value_set(f"{key}/{process_id}/{k}", chunk)
    engine.key_value_set(f"{key}/{process_id}", str(len(chunks)))
    if not read:
        return None
    texts = []
    for p in range(num_processes):
        count = int(engine.key_value_get(f"{key}/{p}", timeout_ms))
        texts.append("".join(engine.key_value_get(f"{key}/{p}/{k}", timeout_ms)
                             for k in range(count)))
    return texts


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
      CPUs); the training loop wraps the model in `DistributedDataParallel`
      (`keras_aw_tools.distributed_fit.install_ddp_train_step`).

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
        TypeError: a value of the wrong type.
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
    engine = _ENGINES.get(backend)
    if engine is None:
        raise ValueError(f"clusters are supported on the jax, tensorflow and torch backends, "
                         f"not {backend!r}")
    print(f"keras_aw: process {spec.process_id} of {spec.num_processes} joining the cluster "
          f"at {spec.addresses[0]} ({spec.source}) on {backend}; it ends if the others have "
          f"not joined within {seconds} s", file=sys.stderr, flush=True)
    wait_for_coordinator(spec, seconds)
    _CLUSTER = Cluster(spec, backend, seconds, engine.start(spec, seconds))
    return _CLUSTER
