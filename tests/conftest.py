import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

#: The one backend that runs the tests marked `single_backend` (heavy cases whose
#: backend-dependent parts are tested under every backend elsewhere). PyTorch: the fastest
#: eager backend on CPU, and the one where keras-hub's RetinaNet needs no train-step
#: compilation. Change it here only; tests/run_all_backends.sh documents the markers.
SINGLE_BACKEND = "torch"


def pytest_addoption(parser):
    parser.addoption("--every-backend", action="store_true",
                     help="also run the tests marked single_backend under this backend")


@pytest.hookimpl(tryfirst=True)  # before `-m` selects by the markers added here
def pytest_collection_modifyitems(config, items):
    """Skips the `single_backend` tests, with their reason, under every other backend.

    A slow test is a multi-process or end-to-end run: `multiprocess` implies `slow`, so
    `-m "not slow"` leaves out both.
    """
    import keras

    backend = keras.backend.backend()
    every = config.getoption("--every-backend")
    for item in items:
        if item.get_closest_marker("multiprocess"):
            item.add_marker(pytest.mark.slow)
        marker = item.get_closest_marker("single_backend")
        if marker is None or backend == SINGLE_BACKEND or every:
            continue
        reason = f"single_backend: runs under {SINGLE_BACKEND} only (tests/conftest.py)"
        if marker.kwargs.get("reason"):
            reason += "; " + marker.kwargs["reason"]
        item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(autouse=True)
def _seed_and_policy():
    import keras

    keras.utils.set_random_seed(0)
    np.random.seed(0)
    yield
    keras.config.set_dtype_policy("float32")


@pytest.fixture(scope="session")
def tiny_imagenet2012_dir(tmp_path_factory):
    """A tfds data dir holding ``imagenet2012`` prepared by tfds's own builder from a tiny
    manual dir of full-size JPEGs (tests/tiny_imagenet.py), added to tfds's data dirs."""
    tfds = pytest.importorskip("tensorflow_datasets")
    import tiny_imagenet

    path = tmp_path_factory.mktemp("imagenet2012")
    tiny_imagenet.prepare_imagenet2012(path)
    tfds.core.add_data_dir(str(path))
    return str(path)
