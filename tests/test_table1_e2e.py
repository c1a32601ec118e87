"""End to end: ``keras-aw train --recipe imagenet`` on an imagenet2012 that tfds's own builder
prepared from ImageNet-shaped tars of full-size JPEGs (tests/tiny_imagenet.py; 1000 classes,
6 training, 4 validation and 2 test images).

The issue's command (AWResNet50 at 224) runs for two steps (two epochs of one step):
`recipe.json` read value by value against the reference recipe (SGD, momentum 0.9, 0.1 per
256 images, L2 1e-4, x0.1 every 30 epochs), top-1/top-5 in the history, the last and best
checkpoints. Resuming, evaluating and two processes use AWSmallCNN at 32 on the same
recipe and pipeline (resuming and evaluating on every backend; two processes under one backend,
`single_backend`: the 2-process path of every backend is tested in tests/test_multiprocess.py).
AWResNet50 at 224 compiles for minutes on a 2-core CPU, so it runs under one backend and only
with KERAS_AW_EXTENDED=1: `single_backend`, `extended`. A split whose
labels are all -1 (imagenet2012's "test") is refused naming it.
"""

import json
import os

import keras
import pytest

import mp_launch
from keras_aw_tools import cli

BACKEND = keras.backend.backend()


def _train(out, *flags, model="AWSmallCNN", image_size=32):
    return cli.main(["train", "--recipe", "imagenet", "--model", model, "--dataset",
                     "tfds:imagenet2012", "--image-size", str(image_size), "--output", str(out),
                     "--steps-per-epoch", "1", "--batch-size", "2", "--verbose", "0", *flags])


def _json(path):
    with open(path) as f:
        return json.load(f)


@pytest.mark.slow
@pytest.mark.extended
@pytest.mark.single_backend(reason="AWResNet50 at 224 compiles for 2-4 minutes per backend on "
                            "2 cores; the recipe's pipeline, recipe.json and checkpoints run "
                            "on every backend through AWSmallCNN below")
def test_issue_command_awresnet50_224(tiny_imagenet2012_dir, tmp_path, capsys):
    out = tmp_path / "run"
    assert _train(out, "--epochs", "2", model="AWResNet50", image_size=224) == 0
    printed = capsys.readouterr().out
    r = _json(out / "recipe.json")
    # The reference recipe, value by value (the CBAM authors' ImageNet script, torchvision's
    # classic ResNet recipe): SGD with PyTorch's rule, momentum 0.9, L2 1e-4 on every weight.
    assert r["recipe"] == "imagenet" and r["optimizer"]["name"] == "sgd"
    assert r["optimizer"]["class"] == "keras_aw.optimizers.TorchSGD"
    assert (r["optimizer"]["momentum"], r["optimizer"]["nesterov"]) == (0.9, False)
    assert r["optimizer"]["weight_decay"] == 1e-4
    assert "BatchNorm" in r["optimizer"]["weight_decay_applies_to"]
    # 0.1 per 256 images, linear in the global batch: 0.1 * 2 / 256.
    assert r["learning_rate"]["value"] == pytest.approx(0.1 * 2 / 256, rel=1e-9)
    assert (r["learning_rate"]["base"], r["learning_rate"]["reference_batch_size"]) == (0.1, 256)
    # x0.1 every 30 epochs: two epochs reach no boundary; the boundaries are in epochs and steps.
    assert (r["schedule"]["kind"], r["schedule"]["factor"], r["schedule"]["period_epochs"]) == (
        "step", 0.1, 30)
    assert r["schedule"]["boundaries_epochs"] == [] and r["schedule"]["boundaries_steps"] == []
    assert (r["epochs"], r["steps_per_epoch"], r["global_batch_size"], r["image_size"]) == (
        2, 1, 2, 224)
    assert r["train_augmentation"]["kind"] == "random-resized-crop-flip"
    assert r["train_augmentation"]["area"] == [0.08, 1.0]
    assert r["eval_preprocessing"]["resize_shorter_side"] == 256
    assert r["eval_preprocessing"]["center_crop"] == [224, 224]
    assert r["normalization"]["kind"] == "imagenet-mean-std"
    assert r["metrics"] == ["top1", "top5"]
    assert r["checkpoints"]["kept"] == ["last", "best-val-top1"]
    assert r["overrides"] == {"epochs": 2, "image_size": 224, "batch_size": 2}
    assert '"recipe": "imagenet"' in printed  # printed at the start
    state = _json(out / "state.json")
    assert state["recipe"] == "imagenet" and state["num_classes"] == 1000
    assert [row["epoch"] for row in state["history"]] == [1, 2]
    for row in state["history"]:
        for key in ("accuracy", "top5_accuracy", "val_accuracy", "val_top5_accuracy"):
            assert 0.0 <= row[key] <= 1.0, (key, row)
    for name in ("checkpoint.keras", "model.keras", "best.keras"):
        assert os.path.isfile(out / name), name
    assert "best validation top-1: " in printed and "val_top1_error" in printed
    assert "model (last epoch): " in printed


def test_resume_keeps_the_best_checkpoint_and_evaluate_uses_the_recipe(
        tiny_imagenet2012_dir, tmp_path, capsys):
    from keras_aw.utils.files import load_model_file

    out = tmp_path / "run"
    assert _train(out, "--epochs", "1") == 0
    first = _json(out / "state.json")["history"][0]["val_accuracy"]
    best_bytes = (out / "best.keras").read_bytes()
    capsys.readouterr()
    assert _train(out, "--epochs", "2", "--resume") == 0
    printed = capsys.readouterr().out
    history = _json(out / "state.json")["history"]
    assert [row["epoch"] for row in history] == [1, 2]
    second = history[1]["val_accuracy"]
    # The best so far survives the resume: best.keras is rewritten only by a better top-1
    # (a fresh ModelCheckpoint would write it at epoch 2 whatever its value).
    assert ((out / "best.keras").read_bytes() != best_bytes) == (second > first)
    assert f"(epoch {1 if second <= first else 2}:" in printed
    assert _json(out / "recipe.json")["epochs"] == 2
    net = load_model_file(str(out / "best.keras"))
    assert net.layers[1].name == "normalize"
    # evaluate reads the recipe from state.json: the validation split, resize + center crop.
    assert cli.main(["evaluate", str(out / "best.keras"), "--dataset", "tfds:imagenet2012",
                     "--batch-size", "2", "--verbose", "0"]) == 0
    printed = capsys.readouterr().out
    for key in ("loss", "accuracy", "top5_accuracy", "top1_error", "top5_error"):
        assert f"\n{key}: " in "\n" + printed, printed


@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_a_split_without_labels_is_refused(tiny_imagenet2012_dir, tmp_path, capsys, command):
    if command == "train":
        argv = ["train", "--recipe", "imagenet", "--model", "AWSmallCNN", "--dataset",
                "tfds:imagenet2012:test", "--image-size", "32", "--output", str(tmp_path / "r"),
                "--steps-per-epoch", "1", "--epochs", "1", "--batch-size", "2"]
    else:
        model = tmp_path / "m.keras"
        from keras_aw_tools import training

        training.build_model("AWSmallCNN", (32, 32, 3), 1000,
                             normalization="imagenet-mean-std").save(str(model))
        argv = ["evaluate", str(model), "--recipe", "imagenet", "--dataset",
                "tfds:imagenet2012:test", "--batch-size", "2"]
    assert cli.main(argv) == cli.EXIT_USAGE
    error = capsys.readouterr().err
    assert "'test'" in error and "label" in error, error


@pytest.mark.multiprocess
@pytest.mark.single_backend(reason="the 2-process training path (joining, sharded tfds input, "
                            "process 0 writing, resume) runs under every backend in "
                            "test_multiprocess.py; this run adds the imagenet recipe and "
                            "pipeline, which do not differ by backend")
def test_two_processes(tiny_imagenet2012_dir, tmp_path):
    """Two processes as a scheduler starts them (TensorFlow: TF_CONFIG; JAX: flags; PyTorch:
    torchrun), then a resume on two processes: one run directory, written by process 0."""
    out = str(tmp_path / "run")

    def run(*flags):
        argv = ["--recipe", "imagenet", "--model", "AWSmallCNN", "--dataset",
                "tfds:imagenet2012", "--image-size", "32", "--output", out,
                "--steps-per-epoch", "1", "--batch-size", "2", "--verbose", "0", *flags]
        return mp_launch.launch_train_on_two(
            BACKEND, argv, mp_launch.tfds_cli_env(BACKEND, tiny_imagenet2012_dir))

    results = run("--epochs", "1")
    assert all(r.returncode == 0 for r in results), mp_launch.describe(results)
    results = run("--epochs", "2", "--resume")
    assert all(r.returncode == 0 for r in results), mp_launch.describe(results)
    r = _json(os.path.join(out, "recipe.json"))
    assert r["global_batch_size"] == 2 and r["steps_per_epoch"] == 1
    assert r["learning_rate"]["value"] == pytest.approx(0.1 * 2 / 256, rel=1e-9)
    history = _json(os.path.join(out, "state.json"))["history"]
    assert [row["epoch"] for row in history] == [1, 2]
    assert all("val_top5_accuracy" in row for row in history)
    for name in ("checkpoint.keras", "model.keras", "best.keras"):
        assert os.path.isfile(os.path.join(out, name)), name
    assert "recipe imagenet" in results[0].output
