"""`keras_aw.distribute`: one check and one exception type per mistake, the adapters, the old name.

- Every place that takes a process count, a process id or a global batch size
  (`find_cluster`, `keras_aw.datasets.sharding`, `Cluster.check_batch_size`,
  `distribution`) raises `TypeError` for a wrong type and `ValueError` for a
  bad value, with the same words; a process that cannot join raises
  `ConnectionError`, a barrier a peer does not reach `TimeoutError`.
- The cluster's configuration imports no backend (read from the source).
- Private framework APIs are used in the `_upstream_*` adapters only, and each
  adapter has a test here that fails once the public API it stands in for
  exists (then the adapter goes).
- `keras_aw.devices` keeps its names; the hooks that moved to
  `keras_aw_tools.distributed_fit` fail there with an error naming the new place.
"""

import ast
import importlib
import importlib.util
import inspect
import os

import keras
import pytest

import mp_launch
from keras_aw import distribute
from keras_aw.datasets import sharding
from keras_aw.distribute import joining

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "keras_aw", "distribute")
#: Private framework names the adapters stand in for.
PRIVATE_WORDS = ("keras.src", "jax._src", "tensorflow.python", "tensorflow.compiler",
                 "_flatten_layers", "_compute_loss", "_loss_tracker")
TORCH_CLUSTER = distribute.Cluster(distribute.ClusterSpec(("h:1",), 2, 1, "arguments"),
                                   "torch", 1, None)  # a torch rank, engine not started


# --------------------------------------------------------------------------- one check
@pytest.mark.backend_independent
@pytest.mark.parametrize("call, words", [
    (lambda: distribute.find_cluster("h:1", 2.0, 1, environ={}), "num_processes=2.0"),
    (lambda: distribute.find_cluster("h:1", 2, True, environ={}), "process_id=True"),
    (lambda: distribute.check_processes(2, 1.0), "process_id=1.0"),
    (lambda: sharding.process_split("train", "2", 1), "num_processes='2'"),
    (lambda: sharding.shard_batches(None, 2, 1, 8.0), "global_batch_size=8.0"),
    (lambda: TORCH_CLUSTER.check_batch_size(16.0), "batch_size=16.0"),
    (lambda: TORCH_CLUSTER.check_batch_size(True), "batch_size=True"),
])
def test_a_wrong_type_is_a_type_error_everywhere(call, words):
    with pytest.raises(TypeError, match="must be an int") as info:
        call()
    assert words in str(info.value)


@pytest.mark.backend_independent
@pytest.mark.parametrize("call", [
    lambda: distribute.find_cluster("h:1", 2, 2, environ={}),
    lambda: distribute.find_cluster(environ={"RANK": "2", "WORLD_SIZE": "2",
                                             "MASTER_ADDR": "m", "MASTER_PORT": "1"}),
    lambda: distribute.check_processes(2, 2),
    lambda: sharding.process_split("train", 2, 2),
    lambda: sharding.shard_batches(None, 2, 2, 8),
])
def test_a_process_id_out_of_range_is_the_same_value_error_everywhere(call):
    with pytest.raises(ValueError, match=r"^`process_id` must be in \[0, 1\] for "
                                         r"num_processes=2; received process_id=2"):
        call()


@pytest.mark.backend_independent
@pytest.mark.parametrize("call, words", [
    (lambda: distribute.find_cluster("h:1", 0, 0, environ={}), "num_processes=0"),
    (lambda: sharding.process_split("train", 0, 0), "num_processes=0"),
    (lambda: sharding.shard_batches(None, 2, 0, 0), "global_batch_size=0"),
    (lambda: sharding.shard_batches(None, 2, 0, 9), "multiple of num_processes=2"),
    (lambda: TORCH_CLUSTER.check_batch_size(0), "batch_size=0"),
    (lambda: TORCH_CLUSTER.check_batch_size(9), "multiple of the 2 devices"),
])
def test_a_bad_count_or_batch_is_a_value_error_everywhere(call, words):
    with pytest.raises(ValueError) as info:
        call()
    assert words in str(info.value)


def test_distribution_checks_the_batch_with_the_same_check():
    if keras.backend.backend() == "torch":
        with pytest.raises(ValueError, match="tensorflow and jax"):
            with distribute.distribution(True, 7):
                pass
        return
    devices = len(distribute.distribution_devices())
    with pytest.raises(TypeError, match="batch_size=8.0"):
        with distribute.distribution(True, 8.0):
            pass
    if devices > 1:
        with pytest.raises(ValueError, match=f"multiple of the {devices} devices"):
            with distribute.distribution(True, devices + 1):
                pass


@pytest.mark.backend_independent
def test_an_unreachable_coordinator_is_a_connection_error():
    port = mp_launch.free_ports(1)[0]  # nobody listens there
    spec = distribute.ClusterSpec((f"127.0.0.1:{port}",), 2, 1, "arguments")
    with pytest.raises(ConnectionError, match=f"coordinator 127.0.0.1:{port}.*within 1 s"):
        joining.wait_for_coordinator(spec, 1)
    assert isinstance(joining.join_error(spec, 1, RuntimeError("x\ny")), ConnectionError)


@pytest.mark.backend_independent
def test_a_barrier_that_fails_is_a_timeout_error():
    pytest.importorskip("torch")  # the torch engine's barrier, no process group started
    with pytest.raises(TimeoutError, match="process 1 of 2: barrier 'keras_aw_end_1' failed "
                                           "within 1 s"):
        TORCH_CLUSTER.barrier("end")


# --------------------------------------------------------------------------- layout
def _imports(path):
    """(module imported, at module level?) for every import of a source file."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    top = set(map(id, tree.body))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, id(node) in top) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.module, id(node) in top))
    return found


def _modules():
    return sorted(f for f in os.listdir(PACKAGE) if f.endswith(".py"))


@pytest.mark.backend_independent
def test_the_configuration_imports_no_backend():
    for name in ("config.py", "checks.py"):
        for module, _ in _imports(os.path.join(PACKAGE, name)):
            assert module.split(".")[0] not in ("keras", "tensorflow", "jax", "torch"), \
                (name, module)
            assert module in ("json", "os", "numbers", "typing",
                              "keras_aw.distribute.checks"), (name, module)


@pytest.mark.backend_independent
def test_private_framework_apis_only_in_adapters_and_no_late_package_imports():
    private = ("keras.src", "jax._src", "tensorflow.python", "tensorflow.compiler")
    for name in _modules():
        path = os.path.join(PACKAGE, name)
        source = open(path, encoding="utf-8").read()
        assert len(source.splitlines()) < 600, name
        for module, top_level in _imports(path):
            assert not module.startswith("keras_aw_tools"), (name, module)
            if module.startswith("keras_aw"):
                assert top_level, f"{name} imports {module} inside a function"
            if module.startswith(private):
                assert name.startswith("_upstream_"), (name, module)
        if not name.startswith("_upstream_"):
            assert not [word for word in PRIVATE_WORDS if word in source], name
        else:  # an adapter says why, and which upstream issue
            doc = ast.get_docstring(ast.parse(source))
            assert doc and "#" in doc and "tests/test_distribute.py" in doc, name


@pytest.mark.backend_independent
def test_the_training_loop_hooks_use_the_adapter():
    path = os.path.join(ROOT, "keras_aw_tools", "distributed_fit.py")
    source = open(path, encoding="utf-8").read()
    assert not [word for word in PRIVATE_WORDS if word in source]
    # keras_aw.detection (the keras-hub extra, for evaluating detectors) is imported late,
    # as tests/test_architecture.py's LATE_IMPORTS allows; every other package import is
    # top-level.
    assert all(top_level for module, top_level in _imports(path)
               if module.startswith(("keras_aw", "keras_aw_tools"))
               and not module.startswith("keras_aw.detection"))


# --------------------------------------------------------------------------- adapters
@pytest.mark.backend_independent
def test_keras_distribution_initialize_still_takes_no_timeouts():
    """Fails once `keras.distribution.initialize` takes timeouts: call it instead of
    `jax.distributed.initialize` + `_upstream_keras.initialize_rng`."""
    parameters = inspect.signature(keras.distribution.initialize).parameters
    assert not [p for p in parameters if "timeout" in p], list(parameters)
    assert "initialize_rng" not in dir(keras.distribution)
    assert importlib.util.find_spec("keras.src.backend.jax.distribution_lib") is not None


@pytest.mark.backend_independent
def test_keras_still_has_no_public_recursive_layer_walk():
    """Fails once `keras.Layer` has a public method or property about (sub)layers: use it
    instead of `_upstream_keras.flatten_layers`."""
    public = [n for n in dir(keras.Layer) if not n.startswith("_") and "layer" in n.lower()]
    assert public == [], public
    assert callable(getattr(keras.Layer, "_flatten_layers", None))


@pytest.mark.backend_independent
def test_jax_still_has_no_public_barrier():
    """Fails once `jax.distributed` has a public barrier: use it in `jax_engine.barrier`
    instead of `_upstream_jax`."""
    jax = pytest.importorskip("jax")
    from jax._src import distributed

    public = [n for n in dir(jax.distributed) if not n.startswith("_")]
    assert not [n for n in public if "barrier" in n.lower()], public
    assert hasattr(distributed.global_state, "client")  # what the adapter reaches


@pytest.mark.backend_independent
def test_tensorflow_still_has_no_public_coordination_service_api():
    """Fails once TensorFlow configures the coordination service or waits at its barriers
    publicly: use that instead of `_upstream_tensorflow`."""
    tf = pytest.importorskip("tensorflow")
    from tensorflow.python.eager import context

    for namespace in (tf.config, tf.config.experimental, tf.distribute,
                      tf.distribute.experimental, tf.experimental):
        public = [n for n in dir(namespace) if not n.startswith("_")]
        assert not [n for n in public if "barrier" in n.lower()
                    or "coordination" in n.lower()], (namespace.__name__, public)
    for method in ("configure_coordination_service", "wait_at_barrier"):
        assert callable(getattr(context.context(), method, None)), method


@pytest.mark.backend_independent
def test_keras_torch_backend_still_has_no_data_parallel_training():
    """Fails once Keras's torch backend trains data-parallel itself (keras-team/keras#23316):
    drop `keras_aw_tools.distributed_fit.install_ddp_train_step` and its adapter."""
    assert importlib.util.find_spec("keras.src.backend.torch.distribution_lib") is None
    from keras_aw_tools import _upstream_keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(loss="mse")
    _upstream_keras.check_step_internals(model)  # the step's internals are still there


# --------------------------------------------------------------------------- the old name
@pytest.mark.backend_independent
def test_keras_aw_devices_keeps_its_names_and_names_the_new_place_of_the_hooks():
    import keras_aw
    from keras_aw import devices
    from keras_aw_tools import distributed_fit

    assert "devices" in keras_aw.__all__ and "distribute" in keras_aw.__all__
    assert set(devices.__all__) <= set(distribute.__all__)
    for name in devices.__all__:
        assert getattr(devices, name) is getattr(distribute, name), name
    for name in ("GlobalLogs", "install_ddp_train_step", "saving"):
        with pytest.raises(AttributeError, match=f"keras_aw_tools.distributed_fit.{name}"):
            getattr(devices, name)
        assert getattr(distributed_fit, name) is not None
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        devices.nothing  # noqa: B018
    assert importlib.import_module("keras_aw.devices").find_cluster is distribute.find_cluster


def test_saving_unsynchronizes_batchnorm_for_the_save_only():
    from keras_aw_tools import distributed_fit

    model = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Conv2D(2, 1),
                              keras.layers.BatchNormalization()])
    bn = distribute.batchnorm_layers(model)
    assert len(bn) == 1
    bn[0].synchronized = True
    with distributed_fit.saving(model):
        assert not bn[0].synchronized
    assert bn[0].synchronized
