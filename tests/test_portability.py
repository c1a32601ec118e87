"""`.keras` portability: saved under this backend, loaded under each other backend.

The loading side is a fresh Python process per backend (`KERAS_BACKEND=x`) that does
nothing but `import keras_aw` and `keras.saving.load_model` under the default
safe_mode; its outputs come back in a .npz and are compared here. Running the suite
under all three backends covers all six directions.
"""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_aw
from helpers import (BACKEND, images, keras_outputs, keras_round_trip, randomize_batchnorm,
                     rel_err, small_aw_model)

OTHER_BACKENDS = [b for b in ("tensorflow", "jax", "torch") if b != BACKEND]

CHILD = """
import sys
import numpy as np
import keras
import keras_aw  # the only import a user needs

data = np.load(sys.argv[1])
results = {"backend": np.array(keras.backend.backend())}
for i, path in enumerate(sys.argv[3:]):
    model = keras.saving.load_model(path)
    x = data[f"x{i}"]
    results[f"y{i}"] = model.predict(x, batch_size=len(x), verbose=0)
    results[f"n_aw{i}"] = np.array(sum(
        isinstance(l, keras_aw.AWConv2D) for l in model._flatten_layers(recursive=True)))
np.savez(sys.argv[2], **results)
"""


def converted_sequential():
    """A Sequential holding a nested Functional model, converted by convert_to_aw."""
    keras.utils.set_random_seed(5)
    inner_inputs = keras.Input((12, 12, 8))
    inner = keras.Model(
        inner_inputs,
        keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inner_inputs),
        name="inner",
    )
    model = keras.Sequential([
        keras.Input((12, 12, 3)),
        keras.layers.Conv2D(8, 3, padding="same"),
        keras.layers.BatchNormalization(),
        inner,
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(4),
    ], name="converted")
    aw = keras_aw.convert_to_aw(model, identity_start=False)  # paper init: A varies per sample
    randomize_batchnorm(aw, 5)
    return aw


# name: (builder, input size). Between them: AWConv2D in every configuration the
# applications use (3x3, strided non-square, 1x1, no residual, reduction_c1), SE, CBAM,
# BatchNorm, nested Functional in Sequential, a convert_to_aw result. The applications
# themselves are left out: a MobileNet alone takes ~15 s to load under JAX (XLA compiles
# every initializer shape), and they add no layer of their own.
MODELS = {
    "small_aw": (small_aw_model, 16),
    "converted_sequential": (converted_sequential, 12),
}


def count_aw(model):
    return sum(isinstance(l, keras_aw.AWConv2D) for l in model._flatten_layers(recursive=True))


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("portability")
    models, paths, inputs, expected, n_aw = [], [], {}, [], []
    for i, (name, (build, size)) in enumerate(sorted(MODELS.items())):
        model = build()
        models.append(model)
        n_aw.append(count_aw(model))
        assert n_aw[-1] > 0
        path = str(folder / f"{name}.keras")
        model.save(path)
        x = images(3, size, 100 + i)
        paths.append(path)
        inputs[f"x{i}"] = x
        expected.append(keras_outputs(model, x))
    data = str(folder / "inputs.npz")
    np.savez(data, **inputs)
    return folder, data, paths, expected, n_aw, models


def test_same_backend_reload(saved, tmp_path):
    _, data, _, _, _, models = saved
    inputs = np.load(data)
    for i, model in enumerate(models):
        keras_round_trip(model, tmp_path, inputs[f"x{i}"], name=f"model{i}.keras",
                         outputs=keras_outputs, max_rel_err=1e-6)


@pytest.mark.slow  # a fresh Python process per other backend
def test_loads_under_other_backends(saved):
    folder, data, paths, expected, n_aw, _ = saved
    procs = {}
    for backend in OTHER_BACKENDS:
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3",
                   JAX_PLATFORMS="cpu", CUDA_VISIBLE_DEVICES="")
        if backend == "jax":  # halves XLA's compile time, which dominates this child
            env.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0")
        out = str(folder / f"outputs_{backend}.npz")
        procs[backend] = (out, subprocess.Popen(
            [sys.executable, "-c", CHILD, data, out] + paths, env=env, cwd=str(folder),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    for backend, (out, proc) in procs.items():
        log, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"loading under {backend} failed:\n{log[-3000:]}"
        results = np.load(out)
        assert str(results["backend"]) == backend
        for i, name in enumerate(sorted(MODELS)):
            assert int(results[f"n_aw{i}"]) == n_aw[i], name
            error = rel_err(results[f"y{i}"], expected[i])
            assert error < 1e-5, f"{name}: saved under {BACKEND}, loaded under {backend}: {error:.2e}"
