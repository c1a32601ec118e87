"""Which cluster this process belongs to, read from arguments and the environment.

Pure parsing: nothing here imports a backend or starts anything, so a command
line can check its cluster flags before any framework loads.

- `find_cluster(job_addresses, num_processes, process_id)`: the first source
  that says anything wins: the arguments (each missing one taken from Keras's
  `KERAS_DISTRIBUTION_*` variable), then `KERAS_DISTRIBUTION_*` alone, then
  `TF_CONFIG`, then torchrun's `RANK`/`WORLD_SIZE`/`MASTER_ADDR`/`MASTER_PORT`.
  Returns a `ClusterSpec`, or None for the single-process path.
- `cluster_timeout(timeout)`: how long a process waits for its peers.

Bad values raise `ValueError` (`TypeError` for a value of the wrong type)
naming the value and where it came from (`keras_aw.distribute.checks`).
"""

import json
import os
from typing import NamedTuple, Optional

from keras_aw.distribute.checks import check_processes, parse_int

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


def _spec(addresses, num_processes, process_id, source, **extra):
    """The checked `ClusterSpec`, or None for a cluster of one process."""
    check_processes(num_processes, process_id, source)
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
        TypeError: a value of the wrong type (a bool or a float for a count).

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
        return _from_keras(given, from_env)
    if env.get("TF_CONFIG"):
        return _from_tf_config(env["TF_CONFIG"])
    if env.get("WORLD_SIZE") and env.get("RANK"):
        return _from_torchrun(env)
    return None


def _from_keras(given, from_env):
    """The arguments, each missing one taken from its `KERAS_DISTRIBUTION_*` variable."""
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
        count = parse_int("num_processes", values["num_processes"], source)
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
    pid = parse_int("process_id", values["process_id"], source)
    return _spec(addresses, count, pid, source)


def _from_torchrun(env):
    source = "torchrun variables"
    count = parse_int("num_processes", env["WORLD_SIZE"], f"WORLD_SIZE, {source}")
    pid = parse_int("process_id", env["RANK"], f"RANK, {source}")
    addresses = ()
    if count > 1:
        if not env.get("MASTER_ADDR") or not env.get("MASTER_PORT"):
            raise ValueError(f"WORLD_SIZE={count} but MASTER_ADDR/MASTER_PORT are not set "
                             f"({source})")
        addresses = _addresses(f"{env['MASTER_ADDR']}:{env['MASTER_PORT']}", source,
                               "MASTER_ADDR:MASTER_PORT")
    local_rank = env.get("LOCAL_RANK")
    local = env.get("LOCAL_WORLD_SIZE")
    return _spec(addresses, count, pid, source,
                 local_rank=None if local_rank is None else
                 parse_int("local_rank", local_rank, f"LOCAL_RANK, {source}"),
                 local_processes=None if local is None else
                 parse_int("local_processes", local, f"LOCAL_WORLD_SIZE, {source}"))


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
        sizes = {k: len(v) for k, v in cluster.items()}
        raise ValueError(f"TF_CONFIG's task {task!r} is not in its cluster {sizes}; received "
                         f"TF_CONFIG={text!r}")
    addresses = _addresses(list(cluster.get("chief", [])) + list(cluster.get("worker", [])),
                           source, "TF_CONFIG cluster")
    return _spec(addresses, len(ordered), ordered.index(key), source, tf_config=config)


def cluster_timeout(timeout=None):
    """The peer timeout in seconds: `timeout`, else $KERAS_AW_CLUSTER_TIMEOUT, else the default.

    Example:

    >>> cluster_timeout(30)
    30
    """
    value = timeout if timeout is not None else os.environ.get(TIMEOUT_VARIABLE)
    if value is None:
        return DEFAULT_CLUSTER_TIMEOUT
    seconds = parse_int("timeout", value, TIMEOUT_VARIABLE if timeout is None else "argument")
    if seconds < 1:
        raise ValueError(f"`timeout` must be at least 1 second; received timeout={value!r}")
    return seconds
