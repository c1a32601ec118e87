"""No host work inside a layer's call: keras_aw code creates no NumPy arrays in `layer(x)`.

A NumPy array made in a call is copied to the device on every call (a blocking
host-to-device copy per layer on a GPU under PyTorch). A `sys.setprofile` hook records
every NumPy function called from a frame whose file is under keras_aw/ while a built
layer is called eagerly; Keras's and the backends' own code is not concerned.
"""

import os
import sys

import keras
import numpy as np
import pytest

import keras_aw
from helpers import to_numpy
from keras_aw import CBAM, AWConv2D, SqueezeExcite

KERAS_AW_DIR = os.path.dirname(os.path.abspath(keras_aw.__file__)) + os.sep
NUMPY_DIR = os.path.dirname(os.path.abspath(np.__file__)) + os.sep


def _in_keras_aw(frame):
    return frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(KERAS_AW_DIR)


def _is_numpy_function(function):
    module = getattr(function, "__module__", None) or ""
    owner = getattr(function, "__self__", None)
    return (module.split(".")[0] == "numpy" or isinstance(owner, np.ndarray)
            or getattr(owner, "__name__", "").split(".")[0] == "numpy")


class NumpyCallsFromKerasAW:
    """Context manager: `.calls` lists (file, line, function) of NumPy calls made by keras_aw."""

    def __init__(self):
        self.calls = []

    def _profile(self, frame, event, arg):
        if event == "c_call" and _in_keras_aw(frame) and _is_numpy_function(arg):
            self.calls.append((frame.f_code.co_filename, frame.f_lineno, arg.__name__))
        elif (event == "call" and frame.f_code.co_filename.startswith(NUMPY_DIR)
              and _in_keras_aw(frame.f_back)):
            back = frame.f_back
            self.calls.append((back.f_code.co_filename, back.f_lineno, frame.f_code.co_name))

    def __enter__(self):
        self._previous = sys.getprofile()
        sys.setprofile(self._profile)
        return self

    def __exit__(self, *exc):
        sys.setprofile(self._previous)


def _as_keras_aw_code(source):
    """A function whose frames count as keras_aw's (compiled with a file name under it)."""
    namespace = {"np": np}
    exec(compile(source, os.path.join(KERAS_AW_DIR, "_probe.py"), "exec"), namespace)
    return namespace["probe"]


@pytest.mark.parametrize("source", [
    "def probe():\n    return np.zeros((2, 3), 'float32')\n",
    "def probe():\n    return np.array([1.0, 2.0])\n",
    "def probe():\n    return np.ones(3)\n",  # a Python-level NumPy function
    "def probe():\n    return np.arange(3).astype('float32')\n",
])
def test_the_hook_sees_numpy_calls_from_keras_aw_only(source):
    with NumpyCallsFromKerasAW() as seen:
        _as_keras_aw_code(source)()
    assert seen.calls, source
    outside = {"np": np}
    exec(compile(source, __file__, "exec"), outside)  # the same code, outside keras_aw
    with NumpyCallsFromKerasAW() as seen:
        outside["probe"]()
    assert not seen.calls


LAYERS = {
    "aw_3x3": lambda: AWConv2D(8, 3, padding="same", attention_reduction=4),
    "aw_1x1": lambda: AWConv2D(8, 1, attention_reduction=4),
    "aw_strided_non_square": lambda: AWConv2D(8, (3, 2), strides=2, padding="same",
                                              attention_reduction=4),
    "aw_pool_smaller_than_kernel": lambda: AWConv2D(8, 5, padding="same", attention_reduction=4),
    "aw_reduction_c1": lambda: AWConv2D(8, 3, reduction_c1=2, reduction_c2=2,
                                        attention_reduction=4),
    "aw_channels_first": lambda: AWConv2D(8, 3, padding="same", data_format="channels_first"),
    "aw_lora": lambda: AWConv2D(8, 3, padding="same", lora_rank=2),
    "squeeze_excite": lambda: SqueezeExcite(reduction=4),
    "cbam_full": lambda: CBAM("full", reduction=4),
    "cbam_maxpool": lambda: CBAM("maxpool", reduction=4),
    "cbam_spatial": lambda: CBAM("spatial", reduction=4),
}


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_call_creates_no_numpy_arrays(name, batch):
    layer = LAYERS[name]()
    size = 4 if name == "aw_pool_smaller_than_kernel" else 9
    shape = (batch, 8, size, size) if name.endswith("channels_first") else (batch, size, size, 8)
    x = keras.ops.convert_to_tensor(np.random.RandomState(0).rand(*shape).astype("float32"))
    layer.build(x.shape)
    for training in (False, True):
        with NumpyCallsFromKerasAW() as seen:
            y = layer(x, training=training)
        assert not seen.calls, f"{name} (training={training}) called NumPy: {seen.calls}"
        assert np.all(np.isfinite(to_numpy(y)))
