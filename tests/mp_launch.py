"""Starts real processes on loopback for the multi-process tests, bounded in time.

`launch(commands, timeout)` starts each command in a process group of its own
(``start_new_session=True``), waits at most `timeout` seconds for all of them,
then kills (SIGKILL) the process groups it started that are still running, and
no other process. `free_ports(n)` picks loopback ports nobody listens on.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from typing import List, NamedTuple


class Finished(NamedTuple):
    """One launched process: its exit code (None: killed at the timeout), output, seconds."""

    returncode: object
    output: str
    seconds: float


def free_ports(n=1):
    """`n` distinct loopback ports that were free a moment ago (bound to port 0, then closed)."""
    sockets = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def python_command(script, *args):
    """The command running `script` with this interpreter."""
    return [sys.executable, script, *map(str, args)]


def launch(commands, timeout=240, env=None, envs=None, cwd=None, log_dir=None) -> List[Finished]:
    """Runs `commands` (argv lists) at once and waits for them, `timeout` seconds at most.

    Args:
        commands: one argv list per process.
        timeout: seconds for all of them together; then the still-running ones
            are killed with their process groups.
        env: the environment of every process (default: this one's).
        envs: per-process additions to `env` (a list of dicts), or None.
        cwd: the working directory.
        log_dir: where the per-process output files go (default: a temp dir).

    Returns:
        One `Finished` per command, in order.
    """
    import tempfile

    log_dir = log_dir or tempfile.mkdtemp(prefix="mp_launch_")
    base = dict(os.environ if env is None else env)
    procs, logs, started = [], [], time.monotonic()
    try:
        for i, argv in enumerate(commands):
            penv = dict(base)
            if envs is not None:
                penv.update({k: str(v) for k, v in envs[i].items()})
            log = open(os.path.join(log_dir, f"process_{i}.log"), "w+b")
            logs.append(log)
            procs.append(subprocess.Popen(argv, env=penv, cwd=cwd, stdout=log,
                                          stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                          start_new_session=True))
        ended = [None] * len(procs)
        deadline = started + timeout
        while any(e is None for e in ended) and time.monotonic() < deadline:
            for i, p in enumerate(procs):
                if ended[i] is None and p.poll() is not None:
                    ended[i] = time.monotonic() - started
            time.sleep(0.1)
    finally:
        for p in procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)  # its own group (start_new_session)
                except ProcessLookupError:
                    pass
                p.wait()
    results = []
    for i, (p, log) in enumerate(zip(procs, logs)):
        log.seek(0)
        output = log.read().decode("utf-8", "replace")
        log.close()
        timed_out = ended[i] is None
        results.append(Finished(None if timed_out else p.returncode, output,
                                timeout if timed_out else ended[i]))
    return results


def describe(results):
    """A readable summary of `launch` results for assertion messages."""
    parts = []
    for i, r in enumerate(results):
        tail = "\n".join(r.output.strip().splitlines()[-25:])
        parts.append(f"--- process {i}: exit {r.returncode} after {r.seconds:.1f} s\n{tail}")
    return "\n".join(parts)


def tfds_cli_env(backend, data_dir):
    """The environment of a ``keras-aw`` process reading tfds sets from `data_dir`, with no
    cluster variables inherited (each launch form sets its own)."""
    env = dict(os.environ, KERAS_BACKEND=backend, TFDS_DATA_DIR=data_dir,
               CUDA_VISIBLE_DEVICES="", PYTHONUNBUFFERED="1",
               PYTHONPATH=os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")]))
    for name in ("TF_CONFIG", "RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
                 "KERAS_DISTRIBUTION_JOB_ADDRESSES", "KERAS_DISTRIBUTION_NUM_PROCESSES",
                 "KERAS_DISTRIBUTION_PROCESS_ID"):
        env.pop(name, None)
    return env


def launch_train_on_two(backend, argv, env, timeout=400):
    """``keras-aw train ARGV`` on 2 processes as a scheduler starts them: PyTorch through
    torchrun, TensorFlow with ``TF_CONFIG``, JAX with the cluster flags."""
    cli_module = [sys.executable, "-m", "keras_aw_tools.cli", "train"]
    if backend == "torch":
        endpoint = f"127.0.0.1:{free_ports(1)[0]}"
        return launch([[sys.executable, "-m", "torch.distributed.run", "--nnodes", "1",
                        "--nproc-per-node", "2", "--rdzv-backend", "c10d",
                        "--rdzv-endpoint", endpoint, "--max-restarts", "0",
                        "-m", "keras_aw_tools.cli", "train", *argv]], env=env, timeout=timeout)
    addresses = [f"127.0.0.1:{p}" for p in free_ports(2)]
    if backend == "tensorflow":
        envs = [{"TF_CONFIG": json.dumps({"cluster": {"worker": addresses},
                                          "task": {"type": "worker", "index": i}})}
                for i in range(2)]
        return launch([cli_module + argv] * 2, env=env, envs=envs, timeout=timeout)
    return launch([cli_module + argv + ["--job-addresses", addresses[0], "--num-processes", "2",
                                        "--process-id", str(i)] for i in range(2)],
                  env=env, timeout=timeout)
