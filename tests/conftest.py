import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


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
