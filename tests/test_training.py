"""The tools' training recipe, the detectors' data pipeline and `load_model_file`.

Learning rates are checked against the cosine formula written out here; the
detection pipeline against the NumPy arrays of `shapes.load_detection_data`.
"""

import math
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from helpers import BACKEND
from keras_aw.datasets import DatasetSpec, load_detection_data, parse_dataset, shapes
from keras_aw_tools import recipe


def cosine(base, epoch, epochs):
    return base * (1 + math.cos(math.pi * epoch / epochs)) / 2


@pytest.mark.backend_independent
def test_per_epoch_cosine_values():
    schedule = recipe.cosine_learning_rate(3e-3, 5)
    expected = [3e-3, 2.7135254915624213e-3, 1.9635254915624212e-3, 1.0364745084375788e-3,
                2.8647450843757893e-4]  # 3e-3 * (1 + cos(pi * e / 5)) / 2, by hand
    np.testing.assert_allclose([schedule(e) for e in range(5)], expected, rtol=1e-12)
    for bad in (0, -1.0, "1", True):
        with pytest.raises(ValueError, match="base"):
            recipe.cosine_learning_rate(bad, 5)
    with pytest.raises(ValueError, match="epochs"):
        recipe.cosine_learning_rate(1e-3, 0)


def test_cosine_schedule_sets_each_epochs_rate_and_resumes():
    """The callback drives the optimizer; a run resumed at epoch 2 continues the schedule."""
    model = recipe.compile_classifier(keras.Sequential([keras.Input((4,)),
                                                        keras.layers.Dense(3, "softmax")]),
                                      learning_rate=1e-2)
    x, y = np.ones((8, 4), "float32"), np.zeros(8, "int32")
    history = model.fit(x, y, epochs=2, verbose=0, callbacks=[recipe.cosine_schedule(1e-2, 4)])
    resumed = model.fit(x, y, epochs=4, initial_epoch=2, verbose=0,
                        callbacks=[recipe.cosine_schedule(1e-2, 4)])
    rates = history.history["learning_rate"] + resumed.history["learning_rate"]
    np.testing.assert_allclose(rates, [cosine(1e-2, e, 4) for e in range(4)], rtol=1e-6)
    assert model.loss.__class__.__name__ == "SparseCategoricalCrossentropy"


def _schedule(opt):
    config = opt.get_config()["learning_rate"]
    return keras.optimizers.schedules.deserialize(config)


@pytest.mark.backend_independent
def test_step_decay_for_the_pre_registered_protocols():
    """decay_steps: cosine to 0 per step (ACCURACY.md); warmup_steps: examples/detection.py's."""
    schedule = _schedule(recipe.optimizer(3e-3, decay_steps=100))
    for step in (0, 25, 50, 100, 150):
        expected = cosine(3e-3, min(step, 100), 100)
        assert float(keras.ops.convert_to_numpy(schedule(step))) == pytest.approx(expected,
                                                                                  rel=1e-5)
    warm = _schedule(recipe.optimizer(2e-3, decay_steps=100, warmup_steps=5))
    values = [float(keras.ops.convert_to_numpy(warm(s))) for s in (0, 5, 55, 105)]
    np.testing.assert_allclose(values, [2e-4, 2e-3, cosine(2e-3, 50, 100), 0.0], rtol=1e-5,
                               atol=1e-9)
    opt = recipe.optimizer(1e-3, decay_steps=10, epsilon=1e-10)
    assert opt.epsilon == 1e-10 and opt.global_clipnorm is None
    with pytest.raises(ValueError, match="warmup_steps"):
        recipe.optimizer(1e-3, warmup_steps=5)
    with pytest.raises(ValueError, match="learning_rate"):
        recipe.optimizer(0.0)


def test_compile_detector_clips_the_global_norm():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    recipe.compile_detector(model, 1e-4)
    assert model.optimizer.global_clipnorm == recipe.DETECTOR_CLIPNORM == 10.0
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(1e-4)


@pytest.mark.backend_independent
def test_parse_dataset_once_into_a_spec():
    assert parse_dataset("shapes") == DatasetSpec("shapes", None, None)
    spec = parse_dataset("tfds:imagenette/160px:validation")
    assert (spec.kind, spec.name, spec.split) == ("tfds", "imagenette/160px", "validation")
    assert str(spec) == "tfds:imagenette/160px:validation" and parse_dataset(spec) is spec
    assert str(parse_dataset("tfds:cifar10")) == "tfds:cifar10"
    for bad in ("mnist", "tfds:", "", "Shapes"):
        with pytest.raises(ValueError, match="unknown data set"):
            parse_dataset(bad)


@pytest.mark.backend_independent
def test_detection_pipeline_reshuffles_every_epoch():
    """keras-hub ignores fit(shuffle=True) for NumPy: the pipeline shuffles, anew each epoch."""
    pytest.importorskip("tensorflow")
    data = load_detection_data(image_size=64, batch_size=4, num_train=12, num_test=3, seed=1)
    (x, y), (xt, yt) = shapes.load_detection_data(12, 3, image_size=64, seed=1)
    np.testing.assert_allclose(data["test"][0], xt.astype("float64") / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(data["test"][1]["labels"], yt["labels"])
    assert data["num_classes"] == shapes.NUM_CLASSES

    def epoch_order(pipeline):
        images = np.concatenate([b[0].numpy() for b in pipeline])
        assert images.dtype == np.float32 and images.shape == (12, 64, 64, 3)
        flat = (x.reshape(12, -1).astype("float64") / 255.0)
        # Each image of the epoch is one of the set's, the whole set once.
        order = [int(np.argmin(np.abs(flat - im.reshape(-1)).max(axis=1))) for im in images]
        np.testing.assert_allclose(images, x[order].astype("float64") / 255.0, rtol=1e-6)
        assert sorted(order) == list(range(12))
        return order

    first, second, third = (epoch_order(data["train"]) for _ in range(3))
    assert len({tuple(first), tuple(second), tuple(third)}) == 3
    # Seeded: the same seed gives the same sequence of epochs, another seed another.
    again = load_detection_data(image_size=64, batch_size=4, num_train=12, num_test=3, seed=1)
    assert epoch_order(again["train"]) == first
    other = load_detection_data(image_size=64, batch_size=4, num_train=12, num_test=3, seed=1,
                                shuffle_seed=7)
    assert epoch_order(other["train"]) != first
    with pytest.raises(ValueError, match="Shapes-Detect"):
        load_detection_data("tfds:coco")


def _loaded_in_fresh_process(path):
    script = ("import sys\n"
              "from keras_aw.utils.files import load_model_file\n"
              f"model = load_model_file({str(path)!r})\n"
              "print(type(model).__name__, 'keras_hub' in sys.modules)")
    env = dict(os.environ, KERAS_BACKEND=BACKEND, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


@pytest.mark.backend_independent  # which modules a load imports, not what it computes
def test_load_model_file_imports_keras_hub_only_for_a_detector(tmp_path):
    import keras_aw

    classifier = tmp_path / "classifier.keras"
    keras_aw.create_model("AWSmallCNN", input_shape=(16, 16, 3)).save(classifier)
    assert _loaded_in_fresh_process(classifier) == "Functional False"
    pytest.importorskip("keras_hub")
    from detection_helpers import small_detector

    detector = tmp_path / "detector.keras"
    small_detector({"aw": True}).save(detector)
    assert _loaded_in_fresh_process(detector) == "FPNRetinaNetObjectDetector True"


@pytest.mark.backend_independent
def test_the_library_never_imports_the_tooling():
    """keras_aw (and applications/) import nothing of keras_aw_tools, not even lazily."""
    import ast

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    offenders, scanned = [], 0
    for top in ("keras_aw", "applications"):
        for folder, _, files in os.walk(os.path.join(root, top)):
            for name in files:
                if not name.endswith(".py"):
                    continue
                path = os.path.join(folder, name)
                scanned += 1
                with open(path) as f:
                    tree = ast.parse(f.read(), path)
                for node in ast.walk(tree):
                    modules = ([a.name for a in node.names] if isinstance(node, ast.Import)
                               else [node.module or ""] if isinstance(node, ast.ImportFrom)
                               else [])
                    offenders += [f"{os.path.relpath(path, root)}:{node.lineno}"
                                  for m in modules if m.split(".")[0] == "keras_aw_tools"]
    assert offenders == []
    assert scanned > 30  # the walk saw the library's modules


def _saved_weights(path):
    return [np.asarray(keras.ops.convert_to_numpy(w))
            for w in keras.saving.load_model(path).trainable_weights]


@pytest.mark.parametrize("steps_per_epoch", [None, 3])
def test_one_process_run_repeats_and_resumes_where_it_stopped(tmp_path, steps_per_epoch):
    """One process: the same seed repeats a run exactly, and a run stopped after epoch 1 then
    resumed ends where the uninterrupted run does (with 3 steps per epoch of a 4-batch data
    epoch, the resumed run starts inside a data epoch). The batches depend on the seed and
    the step alone, as on a cluster; `fit(shuffle=True)` drew them from the random state
    that `train` reseeds on resume."""
    from keras_aw_tools import training

    common = dict(batch_size=8, image_size=16, num_train=32, num_test=8, verbose=0,
                  steps_per_epoch=steps_per_epoch)
    runs = [training.train("AWSmallCNN", epochs=2, output=str(tmp_path / name), **common)
            for name in ("a", "b")]
    training.train("AWSmallCNN", epochs=1, output=str(tmp_path / "c"), **common)
    runs.append(training.train("AWSmallCNN", epochs=2, output=str(tmp_path / "c"),
                               resume=True, **common))
    a, b, c = (_saved_weights(run["model"]) for run in runs)
    assert all(np.array_equal(x, y) for x, y in zip(a, b)), "a run does not repeat"
    diff = max(float(np.max(np.abs(x - y))) for x, y in zip(a, c))
    assert diff <= 1e-6, diff
