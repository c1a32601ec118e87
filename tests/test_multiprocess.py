"""Several processes: finding the cluster, sharding the input, and real 2-process runs on loopback.

The tests marked `multiprocess` start real processes (tests/mp_launch.py,
tests/mp_worker.py), each launch bounded in time and killing only its own
process groups: two processes train a tiny model with an AWConv2D for 2 epochs
through `keras_aw.devices` (JAX started with flags, TensorFlow with `TF_CONFIG`,
PyTorch with `torchrun`) and must end with identical trainable weights, equal
within 1e-5 to one process training on the same global batches (computed here,
in the test process); bad process ids, an unreachable coordinator and a process
killed mid-epoch must end every process within a bounded time.
"""

import json
import os
import shutil
import sys
import time

import keras
import numpy as np
import pytest

import mp_launch
import mp_worker
from keras_aw import devices
from keras_aw.datasets import sharding

BACKEND = keras.backend.backend()
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
WORKER = os.path.join(HERE, "mp_worker.py")
#: Seconds the processes wait for each other in the fault cases.
FAULT_TIMEOUT = 15


# --------------------------------------------------------------------------- finding the cluster
@pytest.mark.backend_independent
def test_no_cluster_is_the_single_process_path():
    assert devices.find_cluster(environ={}) is None
    assert devices.find_cluster(num_processes=1, environ={}) is None
    assert devices.find_cluster("h:1", 1, 0, environ={}) is None
    assert devices.find_cluster(environ={"WORLD_SIZE": "1", "RANK": "0"}) is None
    assert devices.find_cluster(environ={"TF_CONFIG": json.dumps(
        {"cluster": {"worker": ["h:1"]}, "task": {"type": "worker", "index": 0}})}) is None


@pytest.mark.backend_independent
def test_sources_in_order():
    keras_env = {"KERAS_DISTRIBUTION_JOB_ADDRESSES": "k0:1,k1:2",
                 "KERAS_DISTRIBUTION_NUM_PROCESSES": "2", "KERAS_DISTRIBUTION_PROCESS_ID": "1"}
    tf_config = {"TF_CONFIG": json.dumps({"cluster": {"chief": ["c:1"], "worker": ["w:2", "w:3"]},
                                          "task": {"type": "worker", "index": 1}})}
    torchrun = {"RANK": "3", "WORLD_SIZE": "4", "MASTER_ADDR": "m", "MASTER_PORT": "29500",
                "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"}
    everything = {**keras_env, **tf_config, **torchrun}

    spec = devices.find_cluster("a:9", 3, 2, environ=everything)
    assert spec[:4] == (("a:9",), 3, 2, "arguments")
    # Missing arguments come from Keras's variables, as keras.distribution.initialize does.
    spec = devices.find_cluster(process_id=0, environ=everything)
    assert spec[:4] == (("k0:1", "k1:2"), 2, 0,
                        "KERAS_DISTRIBUTION_* variables and arguments")
    spec = devices.find_cluster(environ=everything)
    assert spec[:4] == (("k0:1", "k1:2"), 2, 1, "KERAS_DISTRIBUTION_* variables")
    spec = devices.find_cluster(environ={**tf_config, **torchrun})
    assert spec[:4] == (("c:1", "w:2", "w:3"), 3, 2, "TF_CONFIG")  # chief first
    spec = devices.find_cluster(environ=torchrun)
    assert spec == devices.ClusterSpec(("m:29500",), 4, 3, "torchrun variables", 1, 2)
    # One address per process: the count is implied; local processes counted by host.
    spec = devices.find_cluster("h:1,h:2,g:3", process_id=1, environ={})
    assert (spec.num_processes, spec.local_processes) == (3, 2)


@pytest.mark.backend_independent
@pytest.mark.parametrize("kwargs, env, words", [
    (dict(job_addresses="h:1", num_processes=2, process_id=2), {},
     ["process_id", "[0, 1]", "process_id=2", "arguments"]),
    (dict(job_addresses="h:1", num_processes=2, process_id=-1), {}, ["process_id=-1"]),
    (dict(job_addresses="h:1", num_processes=0, process_id=0), {}, ["num_processes=0"]),
    (dict(job_addresses="h:1,h:2,h:3", num_processes=2, process_id=0), {},
     ["3 addresses", "num_processes=2"]),
    (dict(job_addresses="h:1", process_id=1), {}, ["num_processes", "missing"]),
    (dict(job_addresses="h:1", num_processes=2), {}, ["process_id", "missing"]),
    (dict(num_processes=2, process_id=1), {}, ["job_addresses", "num_processes=2"]),
    (dict(job_addresses="h", num_processes=2, process_id=1), {}, ["host:port", "'h'"]),
    (dict(job_addresses="h:99999", num_processes=2, process_id=1), {}, ["'h:99999'"]),
    (dict(job_addresses="h:1", num_processes="two", process_id=1), {}, ["num_processes='two'"]),
    ({}, {"KERAS_DISTRIBUTION_NUM_PROCESSES": "2", "KERAS_DISTRIBUTION_PROCESS_ID": "5",
          "KERAS_DISTRIBUTION_JOB_ADDRESSES": "h:1"}, ["process_id=5", "KERAS_DISTRIBUTION"]),
    ({}, {"TF_CONFIG": "{not json"}, ["TF_CONFIG"]),
    ({}, {"TF_CONFIG": json.dumps({"cluster": {"worker": ["h:1", "h:2"], "ps": ["p:1"]},
                                   "task": {"type": "worker", "index": 0}})}, ["['ps']"]),
    ({}, {"TF_CONFIG": json.dumps({"cluster": {"worker": ["h:1", "h:2"]},
                                   "task": {"type": "worker", "index": 2}})}, ["'index': 2"]),
    ({}, {"RANK": "0", "WORLD_SIZE": "2"}, ["MASTER_ADDR", "WORLD_SIZE=2"]),
    ({}, {"RANK": "2", "WORLD_SIZE": "2", "MASTER_ADDR": "m", "MASTER_PORT": "1"},
     ["process_id=2", "torchrun"]),
])
def test_bad_cluster_values_name_the_value(kwargs, env, words):
    with pytest.raises(ValueError) as info:
        devices.find_cluster(environ=env, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message, (word, message)


@pytest.mark.backend_independent
def test_batch_must_divide_by_the_global_device_count():
    spec = devices.ClusterSpec(("h:1",), 2, 0, "arguments")
    cluster = devices.Cluster(spec, "torch", 10, None)  # engine not started: a torch rank
    assert cluster.check_batch_size(16) == 8
    with pytest.raises(ValueError, match=r"multiple of the 2 devices.*2 processes.*batch_size=15"):
        cluster.check_batch_size(15)
    assert cluster.is_chief and "process_id=0" in repr(cluster)


@pytest.mark.backend_independent
def test_timeout_from_argument_environment_default(monkeypatch):
    monkeypatch.delenv(devices.TIMEOUT_VARIABLE, raising=False)
    assert devices.cluster_timeout() == devices.DEFAULT_CLUSTER_TIMEOUT
    monkeypatch.setenv(devices.TIMEOUT_VARIABLE, "7")
    assert devices.cluster_timeout() == 7 and devices.cluster_timeout(3) == 3
    with pytest.raises(ValueError, match="timeout=0"):
        devices.cluster_timeout(0)


# --------------------------------------------------------------------------- input sharding
@pytest.mark.backend_independent
def test_shard_batches_splits_every_global_batch_in_order():
    import tensorflow as tf

    ds = tf.data.Dataset.range(24).shuffle(24, seed=3, reshuffle_each_iteration=False).batch(8)
    global_batches = [b.tolist() for b in ds.as_numpy_iterator()]
    parts = [[b.tolist() for b in sharding.shard_batches(ds, 4, p, 8).as_numpy_iterator()]
             for p in range(4)]
    for k, batch in enumerate(global_batches):
        assert sum((parts[p][k] for p in range(4)), []) == batch
    assert sharding.shard_batches(ds, 1, 0, 8) is ds
    with pytest.raises(ValueError, match="num_processes=3.*global_batch_size=8"):
        sharding.shard_batches(ds, 3, 0, 8)
    with pytest.raises(ValueError, match="process_id=4"):
        sharding.shard_batches(ds, 4, 4, 8)


@pytest.mark.backend_independent
def test_process_split_reads_disjoint_parts_covering_the_split():
    """Resolved the way `tfds.load` resolves a split, against a 31-example split in 3 files."""
    tfds = pytest.importorskip("tensorflow_datasets")
    from tensorflow_datasets.core import splits as splits_lib

    infos = splits_lib.SplitDict([splits_lib.SplitInfo(name="train", shard_lengths=[10, 10, 11],
                                                       num_bytes=0)])
    ranges = []
    for p in range(3):
        part = sharding.process_split("train", 3, p)
        ranges += [range(i.from_ or 0, 31 if i.to is None else i.to)  # None: an open end
                   for i in part.to_absolute(infos)]
    covered = [k for r in ranges for k in r]
    assert sorted(covered) == list(range(31))  # every example once, none twice
    assert sorted(len(r) for r in ranges) == [10, 10, 11]
    assert sharding.process_split("train", 1, 0) == "train"
    assert isinstance(sharding.process_split("train[:50%]", 2, 1), type(
        tfds.even_splits("train", 2)[0]))


def test_for_cluster_shards_only_where_keras_does_not():
    import tensorflow as tf

    ds = tf.data.Dataset.range(8).batch(4)
    assert sharding.for_cluster(ds, None, 4) is ds
    for backend in ("jax", "tensorflow", "torch"):
        cluster = devices.Cluster(devices.ClusterSpec(("h:1",), 2, 1, "arguments"), backend, 10,
                                  None)
        out = sharding.for_cluster(ds, cluster, 4)
        if backend == "torch":
            assert [b.tolist() for b in out.as_numpy_iterator()] == [[2, 3], [6, 7]]
        else:
            assert out is ds


# --------------------------------------------------------------------------- engine pieces
def test_synchronize_batchnorm_covers_awconv_attention():
    model = mp_worker.build_model()
    if BACKEND == "torch":
        with pytest.raises(ValueError, match="torch"):
            devices.synchronize_batchnorm(model)
        return
    # One BatchNormalization in the stem, two in AWConv2D's attention branch.
    assert devices.synchronize_batchnorm(model) == 3
    bns = [layer for layer in model._flatten_layers(include_self=False)
           if isinstance(layer, keras.layers.BatchNormalization)]
    assert {b.name for b in bns} >= {"attention_bn1", "attention_bn2"}
    assert all(b.synchronized for b in bns) == (BACKEND == "tensorflow")


@pytest.mark.skipif(BACKEND != "tensorflow", reason="TensorFlow's MultiWorkerMirroredStrategy")
def test_keras_still_needs_the_reduce_shim(monkeypatch):
    """Fails once Keras reduces scalar logs correctly (keras-team/keras#20585): drop the shim."""
    import tensorflow as tf
    from keras.src.backend.tensorflow import trainer

    # Keras takes its multi-worker branch only under a real MultiWorkerMirroredStrategy
    # cluster; take it here with the one-device strategy (same `strategy.reduce` call).
    monkeypatch.setattr(trainer, "_collective_all_reduce_multi_worker", lambda strategy: True)
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    logs = {"loss": tf.constant(2.0), "accuracy": tf.constant(0.5)}
    with pytest.raises(Exception, match="(?i)axis|rank|dimension"):
        trainer.reduce_per_replica(logs, strategy, "mean")
    assert devices.reduce_shim_needed(), (
        f"Keras {keras.version()} still fails on scalar logs but "
        f"REDUCE_SHIM_KERAS_VERSIONS={devices.REDUCE_SHIM_KERAS_VERSIONS} leaves it out")
    devices._install_reduce_shim(strategy)
    reduced = trainer.reduce_per_replica(logs, strategy, "mean")
    assert {k: float(v) for k, v in reduced.items()} == {"loss": 2.0, "accuracy": 0.5}
    assert not devices.reduce_shim_needed("3.16.0") and devices.reduce_shim_needed("3.15.1")


# --------------------------------------------------------------------------- real processes
def _env(**extra):
    env = dict(os.environ, KERAS_BACKEND=BACKEND, TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]),
               PYTHONUNBUFFERED="1")
    for name in ("TF_CONFIG", "RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
                 *devices.KERAS_VARIABLES.values()):
        env.pop(name, None)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def _addresses(n):
    return [f"127.0.0.1:{port}" for port in mp_launch.free_ports(n)]


def _launch_cluster(out, *args, worker=WORKER, torchrun=True, timeout=240, env=None):
    """Two processes as a scheduler starts them on this backend: JAX with flags, TensorFlow
    with TF_CONFIG, PyTorch with torchrun (``torchrun=False``: flags). Returns the `launch`
    results (one for torchrun, which starts both processes)."""
    common = ["--out", out, *map(str, args)]
    env = env or _env()
    if BACKEND == "tensorflow":
        workers = _addresses(2)
        envs = [{"TF_CONFIG": json.dumps({"cluster": {"worker": workers},
                                          "task": {"type": "worker", "index": i}})}
                for i in range(2)]
        return mp_launch.launch([mp_launch.python_command(worker, *common)] * 2, env=env,
                                envs=envs, timeout=timeout)
    if BACKEND == "torch" and torchrun:
        endpoint = _addresses(1)[0]
        command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1",
                   "--nproc-per-node", "2", "--rdzv-backend", "c10d", "--rdzv-endpoint",
                   endpoint, "--max-restarts", "0", worker, *common]
        return mp_launch.launch([command], env=env, timeout=timeout)
    address = _addresses(1)[0]
    return mp_launch.launch(
        [mp_launch.python_command(worker, *common, "--job-addresses", address,
                                  "--num-processes", 2, "--process-id", i) for i in range(2)],
        env=env, timeout=timeout)


def _weights(path):
    data = np.load(path)
    return [data[k] for k in sorted(data.files, key=lambda k: int(k.split(":")[0]))]


@pytest.mark.multiprocess
def test_two_processes_train_like_one(tmp_path):
    start = time.monotonic()
    args = ["--epochs", 2] + (["--sync-batchnorm"] if BACKEND == "tensorflow" else [])
    results = _launch_cluster(str(tmp_path), *args)
    seconds = time.monotonic() - start
    assert all(r.returncode == 0 for r in results), mp_launch.describe(results)
    w0, w1 = _weights(tmp_path / "proc_0.npz"), _weights(tmp_path / "proc_1.npz")
    assert all(np.array_equal(a, b) for a, b in zip(w0, w1)), "processes diverged"

    # The reference: one process, the same global batches (PyTorch: BatchNorm statistics
    # per half batch, as each DDP process computes them; TensorFlow: synchronized).
    ref_dir = tmp_path / "single"
    assert mp_worker.main(["--out", str(ref_dir), "--epochs", "2"]
                          + (["--splits", "2"] if BACKEND == "torch" else [])) == 0
    reference = _weights(ref_dir / "proc_0.npz")
    diff = max(float(np.max(np.abs(a - b))) for a, b in zip(w0, reference))
    assert diff <= 1e-5, diff
    assert any(float(np.max(np.abs(a - b))) > 1e-3 for a, b in
               zip(w0, [np.asarray(keras.ops.convert_to_numpy(w))
                        for w in mp_worker.build_model().trainable_weights])), "nothing trained"
    # The logged metrics are the global ones.
    logs = [json.load(open(tmp_path / f"proc_{i}.json"))["history"] for i in range(2)]
    single = json.load(open(ref_dir / "proc_0.json"))["history"]
    for epoch in range(2):
        for key in ("loss", "accuracy"):
            assert abs(logs[0][epoch][key] - single[epoch][key]) < 1e-5, (logs, single)
            assert logs[0][epoch][key] == logs[1][epoch][key]
    print(f"\n{BACKEND}: 2 processes, 2 epochs: {seconds:.1f} s")


@pytest.mark.multiprocess
def test_bad_process_id_and_unreachable_coordinator_end_in_bounded_time(tmp_path):
    """Process 0 waits for a peer launched with process_id=2 (refused at once); a third
    process looks for a coordinator nobody runs. Every one ends, non-zero, in time."""
    here, nowhere = _addresses(2), _addresses(2)
    env = _env(**{devices.TIMEOUT_VARIABLE: FAULT_TIMEOUT})

    def command(addresses, pid):
        return mp_launch.python_command(WORKER, "--out", str(tmp_path), "--job-addresses",
                                        ",".join(addresses), "--num-processes", 2,
                                        "--process-id", pid)

    start = time.monotonic()
    results = mp_launch.launch([command(here, 0), command(here, 2), command(nowhere, 1)],
                               env=env, timeout=150)
    report = mp_launch.describe(results)
    assert all(r.returncode not in (0, None) for r in results), report
    assert "process_id=2" in results[1].output and "[0, 1]" in results[1].output, report
    assert f"cannot reach the cluster's coordinator {nowhere[0]}" in results[2].output, report
    assert f"within {FAULT_TIMEOUT} s" in results[0].output, report
    assert not list(tmp_path.glob("proc_*")), "a process trained alone"
    print(f"\n{BACKEND}: join faults ended in {time.monotonic() - start:.1f} s")


@pytest.mark.multiprocess
def test_a_process_killed_mid_epoch_ends_the_other(tmp_path):
    start = time.monotonic()
    env = _env(**{devices.TIMEOUT_VARIABLE: FAULT_TIMEOUT})
    results = _launch_cluster(str(tmp_path), "--kill", "0:1", torchrun=False, env=env,
                              timeout=150)
    report = mp_launch.describe(results)
    assert results[1].returncode == -9 and "killing itself" in results[1].output, report
    assert results[0].returncode not in (0, None), report
    assert not list(tmp_path.glob("proc_*")), report
    print(f"\n{BACKEND}: the survivor ended {results[0].seconds - results[1].seconds:.1f} s "
          f"after its peer died ({time.monotonic() - start:.1f} s in all)")
