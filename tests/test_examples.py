"""Every example runs in its fast mode and prints what it promises.

End-to-end runs of whole programs: the module is marked `slow`.
"""

import importlib.util
import os
import re

import numpy as np
import pytest
from runtimes import run_exported


pytestmark = pytest.mark.slow

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


def load(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(EXAMPLES, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


#: Examples whose backend-dependent parts are tested under every backend elsewhere (see the
#: comment above each test): one run, under the backend tests/conftest.py chooses.
ONCE = pytest.mark.single_backend(reason="what can differ by backend is tested on every "
                                  "backend elsewhere (see the comment above the test)")


def test_quickstart_fast(capsys, tmp_path):
    code = load("quickstart").main(["--fast", "--output", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    accuracies = re.findall(r"^(plain SmallCNN|AW AWSmallCNN) test accuracy: (0\.\d\d|1\.00)$",
                            out, flags=re.M)
    assert [name for name, _ in accuracies] == ["plain SmallCNN", "AW AWSmallCNN"]
    assert re.search(r"max \|TFLite - Keras\| = \S+ on 64 test images, same predicted class "
                     r"on 64/64", out), out
    # The parity the example prints, measured again here with our own interpreter code.
    import keras

    from keras_aw.datasets import shapes

    (x, _), _ = shapes.load_data(5, 0, image_size=32, seed=3)
    model = keras.saving.load_model(tmp_path / "aw_small_cnn.keras")
    expected = keras.ops.convert_to_numpy(model.predict(x.astype("float32"), verbose=0))
    got = run_exported(str(tmp_path / "aw_small_cnn.tflite"), "tflite", x)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


# Runs once, under one backend: what can differ by backend is tested on every backend
# elsewhere (attention maps and pictures: test_cli.py's visualize; training:
# test_quickstart_fast).
@ONCE
def test_visualize_attention_fast(capsys, tmp_path):
    code = load("visualize_attention").main(["--fast", "--output-dir", str(tmp_path),
                                             "--classes", "star,ring"])
    assert code == 0
    for name in ("attention_star.png", "attention_ring.png", "attention_by_class.png"):
        with open(tmp_path / name, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
        assert os.path.getsize(tmp_path / name) > 20000, name


# Runs once, under one backend: the Conv2D -> AWConv2D conversion is tested on every backend
# in test_convert.py, the tfds pipeline in test_cli.py, training in test_quickstart_fast.
@ONCE
def test_finetune_tfds_fast_with_mock_data(capsys, tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    output = tmp_path / "aw.keras"
    with tfds.testing.mock_data(num_examples=64):
        code = load("finetune_tfds").main(["--fast", "--batch-size", "16", "--output",
                                           str(output)])
    out = capsys.readouterr().out
    assert code == 0
    assert re.search(r"converted 3 Conv2D layers to AWConv2D", out), out
    for label in ("plain", "AW fine-tuned"):
        assert re.search(rf"^{label} test accuracy: [01]\.\d\d$", out, flags=re.M), out
    import keras

    import keras_aw

    model = keras.saving.load_model(output)
    assert sum(isinstance(l, keras_aw.AWConv2D) for l in model.layers) == 3


@pytest.mark.single_backend(reason="the detector itself is tested on every backend in "
                                   "test_detection.py")
def test_detection_fast(capsys, tmp_path):
    pytest.importorskip("keras_hub")
    code = load("detection").main(["--fast", "--output", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    rows = re.findall(r"^\| (FPN|AW-FPN) \| (\S+) \| (\S+) \| (\S+) \| (\d+) \|$", out, flags=re.M)
    assert [r[0] for r in rows] == ["FPN", "AW-FPN"], out
    assert all(0.0 <= float(v) <= 100.0 for r in rows for v in r[1:4])
    assert sorted(os.listdir(tmp_path)) == ["aw_fpn.keras", "classifier.keras", "fpn.keras"]
