"""Data-parallel scaling: training samples/s of 1 process vs P processes, same per-process batch.

Each measurement starts real processes on this machine's loopback (the cluster
flags of `keras_aw.distribute.initialize_cluster`), trains `AWSmallCNN` on
synthetic images with `Model.fit` (PyTorch: through DistributedDataParallel) and
times every step; a run's figure is the median step time of the second half of
its steps. The 1-process and P-process runs alternate (``--repeats`` pairs), so
a change in the machine's load hits both. Ratio = samples/s(P) / samples/s(1),
with samples/s = global batch / median step (global batch = P x per-process
batch); 1.0 means no gain, P perfect scaling.

Every process gets the same share of the machine: ``cores // P`` cores of its
own (CPU affinity, and that many threads for TensorFlow, PyTorch and OpenMP),
the single process as one of the P. The ratio then says what the engine's
synchronisation costs when every process has its own hardware, as on a cluster
(``--no-pin``: no affinity and the engines' default threads, where the P
processes compete for the cores and the ratio measures the machine).

    python benchmarks/scaling.py --backends jax,tensorflow,torch    # P=2, 3 repeats
    python benchmarks/scaling.py --backends torch --repeats 1 --steps 10    # a quick look
    python benchmarks/scaling.py --backends jax,tensorflow,torch --save     # BENCHMARKS.md

Prints a table and writes the measurements as JSON: by default to a temporary
file; ``--save`` writes ``benchmarks/results/scaling-BACKEND.json``, from which
`benchmarks/report.py` builds BENCHMARKS.md's table.
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
COLUMNS = ["processes", "cores_per_process", "batch_per_process", "image_size",
           "samples_per_s_1", "samples_per_s_P", "ratio", "ideal"]


def worker(args):
    from keras_aw import distribute

    cluster = distribute.initialize_cluster(args.job_addresses, args.num_processes,
                                            args.process_id)
    import keras
    import numpy as np
    import tensorflow as tf

    from keras_aw.applications import AWSmallCNN
    from keras_aw.datasets import sharding
    from keras_aw_tools import distributed_fit

    processes = cluster.num_processes if cluster else 1
    global_batch = args.batch_size * processes
    keras.utils.set_random_seed(0)
    rng = np.random.RandomState(0)
    x = rng.uniform(0, 255, (global_batch * args.steps, args.image_size, args.image_size, 3))
    y = rng.randint(0, 10, global_batch * args.steps)
    data = tf.data.Dataset.from_tensor_slices((x.astype("float32"), y.astype("int32")))
    data = sharding.for_cluster(data.batch(global_batch, drop_remainder=True), cluster,
                                global_batch)
    times = []

    class Clock(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.t = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            times.append(time.perf_counter() - self.t)

    with distribute.distribution(False, global_batch, cluster=cluster):
        model = AWSmallCNN(input_shape=(args.image_size, args.image_size, 3), classes=10)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        if cluster is not None and cluster.backend == "torch":
            distributed_fit.install_ddp_train_step(model, cluster)
        model.fit(data, epochs=1, verbose=0, callbacks=[Clock()])
    if cluster is None or cluster.is_chief:
        sys.path.insert(0, HERE)
        import common

        step = statistics.median(times[len(times) // 2:])
        print("RESULT " + json.dumps({"processes": processes, "median_step_s": step,
                                      "samples_per_s": global_batch / step,
                                      "machine": common.machine()}), flush=True)
    if cluster is not None:
        cluster.barrier("benchmark_end")
        cluster.shutdown()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cores_per_process(processes, pin):
    """The cores each process gets (None: no pinning)."""
    if not pin:
        return None
    cores = sorted(os.sched_getaffinity(0))
    share = len(cores) // processes
    if share < 1:
        raise SystemExit(f"--processes {processes} needs at least {processes} cores to pin; "
                         f"this machine gives {len(cores)} (use --no-pin)")
    return share


def measure(backend, processes, args, share):
    """Starts `processes` processes (each in its own session), returns the chief's result."""
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
    if share is not None:
        for name in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "MKL_NUM_THREADS"):
            env[name] = str(share)
        env["TF_NUM_INTEROP_THREADS"] = "1"
    base = [sys.executable, os.path.abspath(__file__), "--worker", "--batch-size",
            str(args.batch_size), "--steps", str(args.steps), "--image-size",
            str(args.image_size)]
    commands = [base]
    if processes > 1:
        addresses = ",".join(f"127.0.0.1:{free_port()}" for _ in range(processes))
        commands = [base + ["--job-addresses", addresses, "--num-processes", str(processes),
                            "--process-id", str(i)] for i in range(processes)]
    cores = sorted(os.sched_getaffinity(0))
    procs = []
    for i, command in enumerate(commands):
        mine = None if share is None else set(cores[i * share:(i + 1) * share])
        procs.append(subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
            preexec_fn=None if mine is None else (lambda mine=mine: os.sched_setaffinity(0, mine))))
    outputs = []
    try:
        for p in procs:
            outputs.append(p.communicate(timeout=args.timeout)[0])
    except subprocess.TimeoutExpired:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, 9)  # only the groups started here
        raise RuntimeError(f"{backend}, {processes} processes: no result within "
                           f"{args.timeout} s")
    for line in outputs[0].splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"{backend}, {processes} processes failed:\n{outputs[0][-3000:]}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default=os.environ.get("KERAS_BACKEND", "jax"),
                        help="comma-separated Keras backends (default: $KERAS_BACKEND or jax)")
    parser.add_argument("--processes", type=int, default=2, help="P (default 2)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="alternating 1-process / P-process pairs (default 3)")
    parser.add_argument("--batch-size", type=int, default=32, help="per-process batch")
    parser.add_argument("--steps", type=int, default=30, help="steps per run")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--no-pin", dest="pin", action="store_false",
                        help="no CPU affinity, the engines' default threads")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per run")
    parser.add_argument("--save", action="store_true",
                        help="write benchmarks/results/scaling-BACKEND.json (default: temp files)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--job-addresses", help=argparse.SUPPRESS)
    parser.add_argument("--num-processes", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--process-id", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)
    if args.processes < 2:
        parser.error(f"--processes must be at least 2; received {args.processes}")
    share = cores_per_process(args.processes, args.pin)
    folder = os.path.join(HERE, "results") if args.save else tempfile.mkdtemp(prefix="scaling_")
    print(f"| backend | P | cores/process | batch/process | samples/s, 1 process | "
          f"samples/s, P processes | ratio (ideal {args.processes}) |")
    print("|---|---|---|---|---|---|---|")
    for backend in args.backends.split(","):
        single, multi = [], []
        for _ in range(args.repeats):
            one = measure(backend, 1, args, share)
            single.append(one["samples_per_s"])
            multi.append(measure(backend, args.processes, args, share)["samples_per_s"])
        row = {"processes": args.processes, "cores_per_process": share or "all (not pinned)",
               "batch_per_process": args.batch_size, "image_size": args.image_size,
               "samples_per_s_1": statistics.median(single),
               "samples_per_s_P": statistics.median(multi),
               "ideal": args.processes, "runs_1": single, "runs_P": multi}
        row["ratio"] = row["samples_per_s_P"] / row["samples_per_s_1"]
        print(f"| {backend} | {args.processes} | {row['cores_per_process']} | "
              f"{args.batch_size} | {row['samples_per_s_1']:.1f} | "
              f"{row['samples_per_s_P']:.1f} | {row['ratio']:.2f} |", flush=True)
        machine = dict(one["machine"], load_average=round(os.getloadavg()[0], 2))
        path = os.path.join(folder, f"scaling-{backend}.json")
        with open(path, "w") as f:
            json.dump({"machine": machine, "columns": COLUMNS, "rows": [row],
                       "steps": args.steps, "repeats": args.repeats}, f, indent=1)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
