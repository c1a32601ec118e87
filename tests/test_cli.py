"""The `keras-aw` command line: every subcommand, resume after an interruption, bad input.

Most tests call `keras_aw_tools.cli.main([...])` in-process; subprocesses run
the console script's entry point, `--help` (which must import no Keras,
backend or keras-hub), a classifier's commands (which must not import
keras-hub), and `--distribute` (which must split the CPU into two devices
before the backend starts).
"""

import csv
import json
import os
import re
import subprocess
import sys

import keras
import numpy as np
import pytest
from runtimes import run_exported

from helpers import BACKEND
from keras_aw import deploy, distribute
from keras_aw.datasets import load_data, shapes
from keras_aw_tools import cli, training
from keras_aw_tools.commands import profile
from keras_aw_tools.runs import RunRecorder

SMALL = ["--num-train", "48", "--num-test", "16", "--batch-size", "16", "--image-size", "16",
         "--verbose", "2"]


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, *fragments):
    assert code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("keras-aw")]
    assert len(lines) == 1, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


class Interrupt(RunRecorder):
    """Simulates Ctrl-C in the middle of the second epoch."""

    def on_epoch_begin(self, epoch, logs=None):
        super().on_epoch_begin(epoch, logs)
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.epoch == 1 and batch == 1:
            raise KeyboardInterrupt


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A 2-epoch AWSmallCNN run, interrupted in epoch 2 and resumed. Returns (dir, outputs)."""
    capture = {}
    path = str(tmp_path_factory.mktemp("cli") / "run")
    mp = pytest.MonkeyPatch()
    mp.setattr(training, "RunRecorder", Interrupt)
    import io
    from contextlib import redirect_stderr, redirect_stdout

    for key, patch in (("interrupted", True), ("resumed", False)):
        if not patch:
            mp.undo()
        out, err = io.StringIO(), io.StringIO()
        argv = ["train", "--model", "AWSmallCNN", "--epochs", "2", "--output", path] + SMALL
        if key == "resumed":
            argv.append("--resume")
        with redirect_stdout(out), redirect_stderr(err):
            code = cli.main(argv)
        capture[key] = (code, out.getvalue(), err.getvalue())
        if key == "interrupted":
            with open(os.path.join(path, "state.json")) as f:
                capture["state_after_interrupt"] = json.load(f)
    mp.undo()
    return path, capture


def test_help_of_every_subcommand(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for command in ("profile", "train", "recipes", "evaluate", "export", "visualize"):
        assert command in out
        code, out_sub, _ = run(capsys, command, "--help")
        assert code == 0 and "usage: keras-aw " + command in out_sub
    code, out, _ = run(capsys, "--version")
    assert code == 0 and BACKEND in out


def test_interrupted_training_keeps_completed_epochs(run_dir):
    path, capture = run_dir
    code, out, err = capture["interrupted"]
    assert code == 130
    assert "interrupted" in err and "--resume" in err and "Traceback" not in err
    state = capture["state_after_interrupt"]
    assert state["epochs_done"] == 1 and len(state["history"]) == 1


def test_resume_continues_the_epoch_count(run_dir):
    path, capture = run_dir
    code, out, err = capture["resumed"]
    assert code == 0, err
    assert "Epoch 2/2" in out and "Epoch 1/2" not in out
    for name in ("checkpoint.keras", "model.keras", "history.csv", "training_curve.png",
                 "state.json"):
        assert os.path.getsize(os.path.join(path, name)) > 0, name
    with open(os.path.join(path, "history.csv")) as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"} <= set(rows[0])
    assert float(rows[1]["learning_rate"]) < float(rows[0]["learning_rate"])  # cosine decay
    with open(os.path.join(path, "training_curve.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    model = keras.saving.load_model(os.path.join(path, "model.keras"))
    assert model.inputs[0].shape[1:] == (16, 16, 3) and model.outputs[0].shape[-1] == 10
    # The same output directory without --resume is refused (no silent overwrite).
    code = cli.main(["train", "--model", "AWSmallCNN", "--epochs", "3", "--output", path]
                    + SMALL)
    assert code == 2


def test_evaluate(run_dir, capsys):
    path, _ = run_dir
    code, out, err = run(capsys, "evaluate", os.path.join(path, "model.keras"), "--num-test", 32,
                         "--verbose", 0)
    assert code == 0, err
    lines = dict(line.split(": ") for line in out.strip().splitlines())
    assert 0.0 <= float(lines["accuracy"]) <= 1.0 and float(lines["loss"]) > 0


def test_visualize_sample_and_image_file(run_dir, capsys, tmp_path):
    path, _ = run_dir
    model_path = os.path.join(path, "model.keras")
    png = tmp_path / "attention.png"
    code, out, err = run(capsys, "visualize", model_path, "--output", png, "--index", 2)
    assert code == 0, err
    with open(png, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert os.path.getsize(png) > 20000  # a real figure, not an empty canvas
    # An image file of the right size, and one of the wrong size.
    from PIL import Image

    from keras_aw.datasets import shapes

    (x, _), _ = shapes.load_data(2, 0, image_size=16, seed=5)
    Image.fromarray(x[0]).save(tmp_path / "ok.png")
    code, _, err = run(capsys, "visualize", model_path, tmp_path / "ok.png", "--output",
                       tmp_path / "ok_attention.png")
    assert code == 0, err
    assert os.path.getsize(tmp_path / "ok_attention.png") > 20000
    Image.fromarray(np.zeros((20, 24, 3), np.uint8)).save(tmp_path / "big.png")
    code, _, err = run(capsys, "visualize", model_path, tmp_path / "big.png", "--output",
                       tmp_path / "big_attention.png")
    assert_one_line_error(code, err, "24x20", "16x16", "--resize")
    code, _, err = run(capsys, "visualize", model_path, tmp_path / "big.png", "--resize",
                       "--output", tmp_path / "big_attention.png")
    assert code == 0, err


# Formats tested per backend (torch exports through a TensorFlow subprocess).
EXPORTS = {"tensorflow": ["tflite", "onnx", "savedmodel"], "jax": ["savedmodel"],
           "torch": ["tflite"]}


def test_export_parity_measured_independently(run_dir, capfd, tmp_path):
    """Each artifact runs in its runtime here, against the Keras model, on real images."""
    path, _ = run_dir
    model = keras.saving.load_model(os.path.join(path, "model.keras"))
    (x, _), _ = shapes.load_data(3, 0, image_size=16, seed=9)
    x = x.astype("float32")
    expected = keras.ops.convert_to_numpy(model.predict(x, verbose=0))
    for fmt in EXPORTS[BACKEND]:
        target = tmp_path / f"model.{fmt}"
        code = cli.main(["export", os.path.join(path, "model.keras"), "--format", fmt,
                         "--output", str(target)])
        out, err = capfd.readouterr()
        assert code == 0, err[-2000:]
        assert f"exported {fmt} to {target} (dynamic batch" in out, out
        got = run_exported(str(target), fmt, x)
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5, err_msg=fmt)


def test_export_parity_failure_is_exit_status_1(run_dir, capfd, tmp_path, monkeypatch):
    """A parity check that fails is reported (one line, status 1), not passed silently."""
    path, _ = run_dir
    real_runner = deploy.runner

    def shifted(target, fmt):
        run = real_runner(target, fmt)
        return lambda x: {k: v + 0.5 for k, v in run(x).items()}

    monkeypatch.setattr(deploy, "runner", shifted)
    code = cli.main(["export", os.path.join(path, "model.keras"), "--format", "keras",
                     "--output", str(tmp_path / "m.keras")])
    _, err = capfd.readouterr()
    assert code == 1, err
    lines = [line for line in err.splitlines() if line.startswith("keras-aw")]
    assert len(lines) == 1 and "differs from the Keras model" in lines[0], err


def test_bad_input_is_one_line(run_dir, capsys, tmp_path):
    path, _ = run_dir
    model_path = os.path.join(path, "model.keras")
    out_dir = str(tmp_path / "x")
    cases = [
        (["train", "--model", "NoSuchNet", "--output", out_dir] + SMALL, ["NoSuchNet"]),
        (["train", "--model", "SmallCNN", "--dataset", "mnist", "--output", out_dir] + SMALL,
         ["mnist"]),
        (["evaluate", str(tmp_path / "missing.keras")], ["missing.keras"]),
        (["visualize", str(tmp_path / "missing.keras"), "--output", str(tmp_path / "a.png")],
         ["missing.keras"]),
        (["export", str(tmp_path / "missing.keras"), "--format", "onnx", "--output",
          str(tmp_path / "m.onnx")], ["missing.keras"]),
        (["visualize", model_path, str(tmp_path / "nope.png"), "--output",
          str(tmp_path / "a.png")], ["nope.png"]),
        (["evaluate", model_path, "--dataset", "tfds:"], ["tfds:"]),
        (["train", "--model", "SmallCNN", "--dataset", "tfds:no_such_set", "--output",
          str(tmp_path / "y")] + SMALL, ["unknown tfds data set 'no_such_set'"]),
        (["profile", "--models", "ResNet49"], ["ResNet49"]),
    ]
    # An output directory that cannot be created: its parent is a regular file.
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    cases.append((["train", "--model", "SmallCNN", "--output", str(blocker / "run")] + SMALL,
                  ["not writable"]))
    cases.append((["visualize", model_path, "--output", str(blocker / "a.png")],
                  ["not writable"]))
    # A file that is not a Keras model.
    fake = tmp_path / "fake.keras"
    fake.write_text("garbage")
    cases.append((["evaluate", str(fake)], ["cannot load model"]))
    for argv, fragments in cases:
        code, _, err = run(capsys, *argv)
        assert_one_line_error(code, err, *fragments)
    assert not os.path.exists(out_dir) or not os.listdir(out_dir)


def test_tfds_dataset_with_mock_data_and_mixed_precision(tmp_path, capsys):
    """tfds:NAME through the tf.data pipeline, trained in mixed precision."""
    tfds = pytest.importorskip("tensorflow_datasets")
    path = tmp_path / "tfds"
    with tfds.testing.mock_data(num_examples=40):
        code, out, err = run(capsys, "train", "--model", "SmallCNN", "--dataset",
                             "tfds:cifar10", "--epochs", "1", "--steps-per-epoch", "2",
                             "--mixed-precision", "--output", path, *SMALL)
        assert code == 0, err
        code, out, err = run(capsys, "evaluate", path / "model.keras", "--dataset",
                             "tfds:cifar10:test", "--verbose", "0")
        assert code == 0, err
    assert re.search(r"^accuracy: [01]\.\d{4}$", out, flags=re.M), out
    with open(path / "state.json") as f:
        state = json.load(f)
    assert state["num_classes"] == 10 and state["dataset"] == "tfds:cifar10"
    assert state["mixed_precision"] is True
    # A model without AWConv2D layers has no attention to draw.
    code, _, err = run(capsys, "visualize", path / "model.keras", "--output", tmp_path / "a.png")
    assert_one_line_error(code, err, "no AWConv2D layers")
    with open(path / "history.csv") as f:
        (row,) = list(csv.DictReader(f))
    assert np.isfinite(float(row["loss"]))
    # Mixed precision: bfloat16 (CPU) or float16 (GPU) compute, float32 variables;
    # the global policy is restored afterwards.
    assert keras.config.dtype_policy().name == "float32"
    model = keras.saving.load_model(path / "model.keras")
    conv = model.get_layer("block3_conv")
    assert conv.dtype_policy.name == distribute.mixed_policy_name()
    assert conv.kernel.dtype == "float32" and conv.compute_dtype in ("bfloat16", "float16")
    # The tf.data pipeline: batched float32 RGB at the requested size, prefetched.
    with tfds.testing.mock_data(num_examples=8):
        data = load_data("tfds:mnist", image_size=12, batch_size=4)
    batch_x, batch_y = next(iter(data["train"]))
    assert tuple(batch_x.shape) == (4, 12, 12, 3) and batch_x.dtype.name == "float32"
    assert "Prefetch" in type(data["train"]).__name__


def _subprocess_env():
    env = dict(os.environ, KERAS_BACKEND=BACKEND, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("XLA_FLAGS", None)
    return env


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _console_script_entry():
    """The ``module:function`` that pyproject.toml declares as the keras-aw command."""
    with open(os.path.join(REPO, "pyproject.toml")) as f:
        (entry,) = re.findall(r'^keras-aw = "([\w.]+:\w+)"$', f.read(), flags=re.M)
    return entry


def test_console_script_reports_bad_input_without_traceback(tmp_path):
    """The declared console-script entry point, run as the installed script runs it."""
    module, function = _console_script_entry().split(":")
    assert (module, function) == ("keras_aw_tools.cli", "main")
    stub = f"import sys; from {module} import {function}; sys.exit({function}())"
    result = subprocess.run([sys.executable, "-c", stub, "evaluate", str(tmp_path / "none.keras")],
                            capture_output=True, text=True, env=_subprocess_env(), timeout=240)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("keras-aw")]
    assert lines == [f"keras-aw evaluate: error: no such file: {str(tmp_path / 'none.keras')!r}"]


HEAVY = ("keras", "tensorflow", "jax", "torch", "keras_hub")
_IMPORTED = ("import sys; print(sorted({m.split('.')[0] for m in sys.modules} & "
             f"{set(HEAVY)!r}))")


@pytest.mark.backend_independent
def test_help_imports_no_keras_backend_or_keras_hub():
    """`keras-aw --help` (and each command's) answers without importing Keras or a backend."""
    script = ("import contextlib, io, sys\n"
              "from keras_aw_tools import cli\n"
              "parser = cli.build_parser()\n"
              "codes = []\n"
              "for argv in ([], ['profile'], ['train'], ['recipes'], ['evaluate'], ['export'],\n"
              "             ['visualize']):\n"
              "    with contextlib.redirect_stdout(io.StringIO()):\n"
              "        codes.append(cli.main(argv + ['--help']))\n"
              "print(codes)\n" + _IMPORTED)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env=_subprocess_env(), timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    codes, imported = result.stdout.strip().splitlines()[-2:]
    assert codes == "[0, 0, 0, 0, 0, 0, 0]"
    assert imported == "[]", imported
    # The module run as a script, as the README measures it.
    result = subprocess.run([sys.executable, "-m", "keras_aw_tools.cli", "--help"],
                            capture_output=True, text=True, env=_subprocess_env(), timeout=120)
    assert result.returncode == 0 and "usage: keras-aw" in result.stdout


@pytest.mark.backend_independent  # where the parser's list comes from
def test_export_formats_come_from_the_library_table():
    """The parser's --format choices are keras_aw.deploy's one table, not a copy of it."""
    parser = cli.build_parser()
    export = parser._subparsers._group_actions[0].choices["export"]
    (fmt,) = [a for a in export._actions if "--format" in a.option_strings]
    assert tuple(fmt.choices) == deploy.FORMATS == tuple(deploy.EXPORT_TABLE)
    source = open(cli.__file__).read()
    assert '"onnx"' not in source and "'onnx'" not in source  # no list spelled out


@pytest.mark.backend_independent
def test_recipe_names_are_the_library_recipes():
    from keras_aw_tools import recipe

    assert cli.RECIPE_NAMES == tuple(recipe.RECIPES)


@pytest.mark.backend_independent
def test_recipes_lists_every_recipe_with_its_values(capsys):
    code, out, _ = run(capsys, "recipes")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["field", "|", "demo", "|", "imagenet", "|", "coco-1x"]
    rows = {line.split("|")[0].strip(): [c.strip() for c in line.split("|")[1:]]
            for line in lines}
    assert rows["optimizer"] == ["adam", "sgd", "sgd"]
    assert rows["learning_rate"] == ["0.002", "0.1", "0.01"]
    assert rows["momentum"] == ["None", "0.9", "0.9"]
    assert rows["weight_decay"] == ["0.0", "0.0001", "0.0001"]
    assert rows["epochs"] == ["5", "100", "12"]


def test_demo_run_writes_its_recipe_and_the_users_overrides(run_dir):
    """A run without --recipe on Shapes gets demo with today's values; recipe.json says which
    values the user gave (the run_dir fixture gives --epochs, --batch-size and --image-size,
    not --learning-rate)."""
    path, _ = run_dir
    with open(os.path.join(path, "recipe.json")) as f:
        resolved = json.load(f)
    with open(os.path.join(path, "state.json")) as f:
        state = json.load(f)
    assert resolved["recipe"] == state["recipe"] == "demo"
    assert resolved["optimizer"]["class"] == "keras.optimizers.Adam"
    assert resolved["learning_rate"]["value"] == 2e-3 and resolved["image_size"] == 16
    assert resolved["overrides"] == {"epochs": 2, "batch_size": 16, "image_size": 16}
    assert resolved["schedule"]["kind"] == "cosine-per-epoch"


@pytest.mark.backend_independent  # which modules the commands import
def test_classifier_commands_do_not_import_keras_hub(run_dir, tmp_path):
    """train, evaluate, export and visualize of a classifier never import keras-hub."""
    path, _ = run_dir
    model = os.path.join(path, "model.keras")
    small = ", ".join(repr(a) for a in SMALL)
    script = ("from keras_aw_tools import cli\n"
              f"assert cli.main(['train', '--model', 'SmallCNN', '--epochs', '1', '--output', "
              f"{str(tmp_path / 'run')!r}, {small}]) == 0\n"
              f"assert cli.main(['evaluate', {model!r}, '--num-test', '16', '--verbose', '0']) == 0\n"
              f"assert cli.main(['export', {model!r}, '--format', 'keras', '--output', "
              f"{str(tmp_path / 'm.keras')!r}]) == 0\n"
              f"assert cli.main(['visualize', {model!r}, '--output', "
              f"{str(tmp_path / 'a.png')!r}]) == 0\n" + _IMPORTED)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env=_subprocess_env(), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    imported = result.stdout.strip().splitlines()[-1]
    assert "keras" in imported and "keras_hub" not in imported, imported


def test_distribute(tmp_path, capsys):
    argv = ["train", "--model", "AWSmallCNN", "--epochs", "1", "--steps-per-epoch", "2",
            "--output", str(tmp_path / "dist"), "--distribute", "--cpu-devices", "2"] + SMALL
    if BACKEND == "torch":
        code, _, err = run(capsys, *argv)
        assert_one_line_error(code, err, "distribute", "torch")
        return
    result = subprocess.run([sys.executable, "-m", "keras_aw_tools.cli"] + argv, capture_output=True,
                            text=True, env=_subprocess_env(), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "distributing over 2 devices" in result.stdout
    assert os.path.exists(tmp_path / "dist" / "model.keras")


def test_profile(capsys):
    code, out, err = run(capsys, "profile", "--models", "mobilenet")
    assert code == 0, err
    (row,) = [line.split() for line in out.splitlines()[3:]]
    # Measured params and GFLOPs, then the paper's params, GFLOPs and top-1 error.
    assert row[0] == "MobileNet"
    assert float(row[1]) == pytest.approx(4.23, abs=0.01)
    assert float(row[2]) == pytest.approx(0.569, abs=0.002)
    assert row[3:] == ["4.23", "0.569", "31.39%"]


def test_profile_rows():
    assert profile.profile_rows("AWResNet50,awcbamresnet50:spatial") == [
        "AWResNet50", "AWCBAMResNet50:spatial"]
    rows = profile.profile_rows("all")
    assert rows[:6] == ["ResNet50", "AWResNet50", "SEResNet50", "AWSEResNet50",
                        "AWCBAMResNet50:maxpool", "AWCBAMResNet50:spatial"]
    assert len(rows) == len(set(rows)) and "AWResNet152" in rows and "AWMobileNet" in rows
    for bad in ("ResNet50:spatial", "AWCBAMResNet50:sideways", " , "):
        with pytest.raises(ValueError):
            profile.profile_rows(bad)


@pytest.fixture(scope="module")
def tiny_detector_name():
    """A small registered detector (the registry is open to new builders, like timm's)."""
    pytest.importorskip("keras_hub")
    from keras_aw import detection
    from keras_aw import registry

    from detection_helpers import small_detector

    def TinyAWFPNForCLITest(num_classes=10, image_shape=(64, 64, 3), **kwargs):
        return small_detector({"aw": True}, num_classes, image_shape=image_shape, **kwargs)

    saved = dict(registry._REGISTRY)
    registry.register_model("tiny_fpn_test", "aw", task="detection")(TinyAWFPNForCLITest)
    yield "TinyAWFPNForCLITest"
    registry._REGISTRY.clear()  # leave the registry as other tests expect it
    registry._REGISTRY.update(saved)


@pytest.mark.skipif(BACKEND != "torch", reason="the CLI's detector wiring is the same on every "
                    "backend; it runs once, under PyTorch, where keras-hub's RetinaNet needs no "
                    "minutes-long train-step compilation (TensorFlow ~2 min, JAX ~1.5 min)")
def test_detector_train_resume_evaluate_visualize(tiny_detector_name, tmp_path, capsys):
    """A detector goes through the same run machinery; evaluate prints COCO AP, visualize boxes."""
    path = tmp_path / "det"
    small = ["--image-size", "64", "--num-train", "16", "--num-test", "8", "--batch-size", "8",
             "--verbose", "0"]
    code, out, err = run(capsys, "train", "--model", tiny_detector_name, "--epochs", "1",
                         "--output", path, *small)
    assert code == 0, err
    code, out, err = run(capsys, "train", "--model", tiny_detector_name, "--epochs", "2",
                         "--output", path, "--resume", *small)
    assert code == 0, err
    with open(path / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert all(np.isfinite(float(r["loss"])) for r in rows)
    with open(path / "state.json") as f:
        state = json.load(f)
    assert state["task"] == "detection" and state["epochs_done"] == 2
    # Nothing lost on resume: the optimizer state carried over (2 steps per epoch, 2 epochs).
    from keras_aw_tools.runs import load_checkpoint

    assert int(load_checkpoint(path / "model.keras").optimizer.iterations) == 4
    code, out, err = run(capsys, "evaluate", path / "model.keras", "--num-test", "8")
    assert code == 0, err
    values = dict(line.split(": ") for line in out.strip().splitlines())
    assert set(values) == {"AP", "AP50", "AP75"}
    assert all(0.0 <= float(v) <= 1.0 for v in values.values())
    code, out, err = run(capsys, "visualize", path / "model.keras", "--output",
                         tmp_path / "boxes.png", "--score-threshold", "0")
    assert code == 0, err
    with open(tmp_path / "boxes.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    # Export of the raw predictions: from PyTorch, by keras_aw.export's TensorFlow subprocess;
    # the SavedModel is run here with TensorFlow and compared with the model's own outputs.
    code, out, err = run(capsys, "export", path / "model.keras", "--format", "savedmodel",
                         "--output", tmp_path / "det_saved")
    assert code == 0, err
    assert "raw predictions before NMS" in out and "tensorflow-backend subprocess" in out, out
    import tensorflow as tf

    from keras_aw.utils.files import load_model_file

    det = load_model_file(path / "model.keras")
    x = np.random.RandomState(1).uniform(0, 1, (3, 64, 64, 3)).astype("float32")
    loaded = tf.saved_model.load(str(tmp_path / "det_saved"))  # kept: serve reads its variables
    served = loaded.serve(x)
    for key, value in det(x, training=False).items():
        expected = keras.ops.convert_to_numpy(value)
        assert np.max(np.abs(np.asarray(served[key]) - expected)) <= 1e-4 * np.abs(expected).max()
    # Detectors read the embedded Shapes-Detect set only; another data set is a clear error.
    code, _, err = run(capsys, "evaluate", path / "model.keras", "--dataset", "tfds:mnist")
    assert_one_line_error(code, err, "Shapes-Detect", "tfds:mnist")


@pytest.mark.backend_independent
def test_profile_table2(capsys, monkeypatch):
    """`profile --table 2` prints one row per Table 2 variant beside the paper's AP columns."""
    pytest.importorskip("keras_hub")
    from keras_aw import detection
    real = detection.profile_table2
    # The small ResNet encoder keeps the test fast; the rows and columns are the same.
    monkeypatch.setattr(detection, "profile_table2",
                        lambda image_size: real(image_size=image_size, encoder="resnet_small"))
    code, out, err = run(capsys, "profile", "--table", "2", "--input-size", "128")
    assert code == 0, err
    rows = [line.split() for line in out.splitlines()[3:]]
    assert [r[0] for r in rows] == ["FPN", "AW-FPN", "SE-FPN", "AW-SE-FPN", "CBAM-FPN",
                                    "AW-CBAM-FPN"]
    assert [r[5:] for r in rows][:2] == [["37.13", "58.28", "40.29"], ["37.76", "59.17", "40.91"]]
    fpn_params = [float(r[3]) for r in rows]
    assert fpn_params[1] > fpn_params[0] and fpn_params[3] > fpn_params[2]  # AW adds its branch


@pytest.mark.skipif(BACKEND != "torch", reason="the CLI's detector wiring is the same on every "
                    "backend; it runs once, under PyTorch (keras-hub's RetinaNet compiles its "
                    "train step for minutes on TensorFlow and JAX)")
def test_detector_trains_on_a_pretrained_encoder(tmp_path, capsys):
    """`--encoder-weights`: a classifier from `keras-aw train` becomes the detector's encoder."""
    pytest.importorskip("keras_hub")
    from keras_aw_tools.runs import load_checkpoint

    cls_dir, det_dir = tmp_path / "cls", tmp_path / "det"
    # MobileNet reaches stride 32 (P5), which RetinaNet's P3-P7 pyramid needs.
    code, out, err = run(capsys, "train", "--model", "MobileNet", "--epochs", "1", "--image-size",
                         "32", "--num-train", "32", "--num-test", "8", "--batch-size", "16",
                         "--verbose", "0", "--output", cls_dir)
    assert code == 0, err
    # A classifier's weights are refused for a classifier, naming the argument.
    code, out, err = run(capsys, "train", "--model", "SmallCNN", "--epochs", "1",
                         "--encoder-weights", cls_dir / "model.keras", "--output",
                         tmp_path / "x", "--num-train", "16", "--num-test", "8")
    assert_one_line_error(code, err, "encoder_weights")
    # A learning rate of 1e-9 leaves the encoder's weights where the classifier had them.
    code, out, err = run(capsys, "train", "--model", "AWFPNResNetSmall", "--epochs", "1",
                         "--image-size", "128", "--num-train", "4", "--num-test", "4",
                         "--batch-size", "4", "--learning-rate", "1e-9", "--verbose", "0",
                         "--encoder-weights", cls_dir / "model.keras", "--output", det_dir)
    assert code == 0, err
    classifier = load_checkpoint(cls_dir / "model.keras")
    detector = load_checkpoint(det_dir / "model.keras")
    kernels = {w.path.split("/")[-2]: keras.ops.convert_to_numpy(w)
               for w in classifier.weights if w.path.endswith("kernel")}
    encoder = detector.backbone.image_encoder
    found = 0
    for w in encoder.weights:
        layer = w.path.split("/")[-2]
        if w.path.endswith("kernel") and layer in kernels:
            np.testing.assert_allclose(keras.ops.convert_to_numpy(w), kernels[layer], atol=1e-6)
            found += 1
    assert found >= 5, [w.path for w in encoder.weights][:10]  # every stage's convolution
    with open(det_dir / "state.json") as f:
        assert json.load(f)["encoder_weights"] == os.path.abspath(cls_dir / "model.keras")
