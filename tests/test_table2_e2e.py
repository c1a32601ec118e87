"""End to end: ``keras-aw train --recipe coco-1x`` on a coco/2017 that tfds's own builder
prepared from files tests/tiny_coco.py wrote (crowd annotations included), then evaluation.

- One process: train (flip, iteration schedule, Detectron2's loss) and evaluate val2017;
  ``coco_metrics.json`` equals ``evaluate`` of the saved model, and equals pycocotools run
  directly on the ``coco_detections.json`` the run wrote against the instances file the
  fixture wrote.
- Two processes (each backend's own launcher: JAX flags, TensorFlow ``TF_CONFIG``,
  PyTorch ``torchrun``): each reads its part of train2017 and evaluates its part of
  val2017; process 0 merges: the metrics and detections equal one process's evaluation of
  the same final model.
"""

import json
import os
import sys

import keras
import pytest

import mp_launch
from keras_aw_tools import training
from test_coco_eval import pycocotools_stats, write_instances
from tiny_coco import tiny_coco_dir  # noqa: F401  (the session fixture)

BACKEND = keras.backend.backend()
#: A small canvas (a multiple of 128, for P7) and a tiny detector.
RUN = ["--model", "AWFPNResNetSmall", "--dataset", "tfds:coco/2017", "--recipe", "coco-1x",
       "--image-size", "128", "--batch-size", "2", "--epochs", "1", "--steps-per-epoch", "2",
       "--verbose", "0"]


def _json(path):
    with open(path) as f:
        return json.load(f)


def _check_against_pycocotools(run_dir, metrics, tmp_path):
    detections = os.path.join(run_dir, "coco_detections.json")
    if _json(detections):
        expected = pycocotools_stats(write_instances(tmp_path), detections)
        assert metrics == pytest.approx(expected, abs=1e-9)
    else:  # pycocotools cannot load an empty result list; nothing detected scores 0
        assert all(v == 0 for v in metrics.values()), metrics


@pytest.mark.slow
def test_coco_train_and_evaluate_end_to_end(tiny_coco_dir, tmp_path):
    import tensorflow_datasets as tfds

    tfds.core.add_data_dir(tiny_coco_dir)
    out = str(tmp_path / "run")
    result = training.train("AWFPNResNetSmall", dataset="tfds:coco/2017", recipe="coco-1x",
                            image_size=128, batch_size=2, epochs=1, steps_per_epoch=2,
                            output=out, verbose=0)
    metrics = _json(os.path.join(out, "coco_metrics.json"))
    assert set(metrics) == {"AP", "AP50", "AP75", "APs", "APm", "APl"}
    assert _json(os.path.join(out, "recipe.json"))["recipe"] == "coco-1x"
    assert metrics == training.evaluate(result["model"], dataset="tfds:coco/2017", verbose=0)
    _check_against_pycocotools(out, metrics, tmp_path)
    # A fresh process loads the coco-1x detector (its Detectron2 loss and matcher classes are
    # found through `import keras_aw`, as keras-aw evaluate needs).
    import subprocess

    code = ("import keras, keras_aw; m = keras.saving.load_model(%r); "
            "print(type(m.label_encoder).__name__, type(m.loss['cls_logits']).__name__)"
            % result["model"])
    env = dict(os.environ, KERAS_BACKEND=BACKEND)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[-2:] == ["Detectron2LabelEncoder", "SigmoidFocalLoss"]


@pytest.mark.multiprocess
@pytest.mark.slow
def test_coco_on_two_processes_evaluates_as_one(tiny_coco_dir, tmp_path):
    import tensorflow_datasets as tfds

    out = str(tmp_path / "run")
    results = mp_launch.launch_train_on_two(
        BACKEND, RUN + ["--output", out, "--sync-batchnorm"],
        mp_launch.tfds_cli_env(BACKEND, tiny_coco_dir), timeout=500)
    assert all(r.returncode == 0 for r in results), mp_launch.describe(results)
    assert _json(os.path.join(out, "recipe.json"))["global_batch_size"] == 2
    metrics = _json(os.path.join(out, "coco_metrics.json"))
    assert set(metrics) == {"AP", "AP50", "AP75", "APs", "APm", "APl"}
    # The merged parts: what one process evaluating the whole split finds for the same model.
    tfds.core.add_data_dir(tiny_coco_dir)
    merged = _json(os.path.join(out, "coco_detections.json"))
    one = training.evaluate(os.path.join(out, "model.keras"), dataset="tfds:coco/2017",
                            verbose=0)
    assert one == pytest.approx(metrics, abs=1e-9)
    single = _json(os.path.join(out, "coco_detections.json"))  # rewritten by `evaluate`
    key = lambda d: (d["image_id"], d["category_id"], round(d["score"], 4))  # noqa: E731
    assert len(merged) == len(single)
    for a, b in zip(sorted(merged, key=key), sorted(single, key=key)):
        assert (a["image_id"], a["category_id"]) == (b["image_id"], b["category_id"])
        assert a["score"] == pytest.approx(b["score"], abs=1e-4)
        # The parts are predicted in other batches than the whole split: float sums differ,
        # and an untrained box head's exp(deltas) amplifies them (measured: 0.03 px).
        assert a["bbox"] == pytest.approx(b["bbox"], rel=1e-2, abs=0.1)
    _check_against_pycocotools(out, metrics, tmp_path)


def test_aw_start_plain_starts_every_aw_convolution_at_one_half():
    """`--aw-start plain`: the detector's AW convolutions start with A = 0.5 for every sample
    (the kernels rescaled by 1 / 1.5, so each computes its plain convolution)."""
    import numpy as np

    from keras_aw import AWConv2D
    from keras_aw import registry
    from keras_aw._graph import flatten_layers
    from keras_aw_tools import detection_task, recipe

    spec = registry.parse_spec("AWFPNResNetSmall")
    resolved = recipe.resolve("demo", 2, image_size=64)
    paper = detection_task.new_model(spec, 64, 3, resolved)
    keras.utils.set_random_seed(0)
    plain = detection_task.new_model(spec, 64, 3, resolved, aw_start="plain")
    layers = [layer for layer in flatten_layers(plain) if isinstance(layer, AWConv2D)]
    assert layers
    x = np.random.default_rng(0).normal(size=(2, 8, 8, layers[0].kernel.shape[2]))
    maps = keras.ops.convert_to_numpy(layers[0].attention_maps(x.astype("float32")))
    np.testing.assert_allclose(maps, 0.5, atol=1e-6)
    paper_maps = [layer for layer in flatten_layers(paper) if isinstance(layer, AWConv2D)]
    spread = keras.ops.convert_to_numpy(paper_maps[0].attention_maps(x.astype("float32")))
    assert np.ptp(spread) > 1e-3  # the paper's start is per-sample, not constant


@pytest.mark.backend_independent
def test_aw_start_is_checked(tmp_path):
    from keras_aw_tools.settings import RunSettings

    with pytest.raises(ValueError, match="aw_start"):
        RunSettings("AWFPNResNetSmall", aw_start="constant")
    with pytest.raises(ValueError, match="classifier.*aw_start"):
        training.train("AWSmallCNN", aw_start="plain", epochs=1, num_train=8, num_test=8,
                       batch_size=4, output=str(tmp_path / "run"), verbose=0)
