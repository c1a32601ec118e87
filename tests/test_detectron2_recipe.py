"""The ``coco-1x`` recipe against Detectron2's RetinaNet 1x, its schedule and optimizer rule.

The expected values are Detectron2's, written here from
configs/COCO-Detection/retinanet_R_50_FPN_1x.yaml, Base-RetinaNet.yaml and
config/defaults.py (not read from the package); the learning rate from
Detectron2's WarmupMultiStepLR formula; the weight-decay rule from PyTorch's
SGD with Detectron2's norm parameter group (weight decay 0), in NumPy.
"""

import json
import os

import keras
import numpy as np
import pytest

from keras_aw.optimizers import StepDecay, TorchSGD, norm_variable_paths
from keras_aw_tools import recipe, training
from keras_aw_tools.settings import RunSettings

# Detectron2 retinanet_R_50_FPN_1x (SOLVER.*, MODEL.RETINANET.*, MODEL.RESNETS/BACKBONE.*)
DETECTRON2 = {
    "BASE_LR": 0.01, "IMS_PER_BATCH": 16, "MOMENTUM": 0.9, "NESTEROV": False,
    "WEIGHT_DECAY": 1e-4, "WEIGHT_DECAY_NORM": 0.0, "STEPS": (60000, 80000),
    "MAX_ITER": 90000, "GAMMA": 0.1, "WARMUP_ITERS": 1000, "WARMUP_FACTOR": 1.0 / 1000,
    "FOCAL_LOSS_ALPHA": 0.25, "FOCAL_LOSS_GAMMA": 2.0, "SMOOTH_L1_LOSS_BETA": 0.1,
    "FREEZE_AT": 2, "NORM": "FrozenBN", "CLIP_GRADIENTS": False,
}
TRAIN2017 = 118287


def detectron2_lr(iteration, base, warmup_iters, warmup_factor, steps, gamma):
    """WarmupMultiStepLR: base * warmup(it) * gamma ** bisect_right(steps, it)."""
    factor = 1.0
    if iteration < warmup_iters:
        alpha = iteration / warmup_iters
        factor = warmup_factor * (1 - alpha) + alpha
    return base * factor * gamma ** sum(1 for s in steps if iteration >= s)


@pytest.mark.parametrize("batch", [16, 64, 8])
def test_resolved_values_equal_detectron2(batch):
    r = recipe.resolve("coco-1x", batch)
    d = DETECTRON2
    scale = d["IMS_PER_BATCH"] / batch  # Detectron2's auto_scale_workers
    assert r["optimizer"]["class"] == "keras_aw.optimizers.TorchSGD"
    assert r["optimizer"]["momentum"] == d["MOMENTUM"]
    assert r["optimizer"]["nesterov"] is d["NESTEROV"]
    assert r["optimizer"]["weight_decay"] == d["WEIGHT_DECAY"]
    assert r["optimizer"]["weight_decay_norm"] == d["WEIGHT_DECAY_NORM"]
    assert r["learning_rate"]["value"] == pytest.approx(d["BASE_LR"] * batch / 16, rel=1e-12)
    s = r["schedule"]
    assert s["boundaries_steps"] == [round(b * scale) for b in d["STEPS"]]
    assert s["reference_total_steps"] == round(d["MAX_ITER"] * scale)
    assert s["factor"] == d["GAMMA"]
    assert s["boundaries_epochs"] == [round(round(b * scale) * batch / TRAIN2017, 4)
                                      for b in d["STEPS"]]
    assert s["total_epochs_equivalent"] == pytest.approx(90000 * 16 / TRAIN2017, abs=1e-3)
    assert r["warmup"]["steps"] == round(d["WARMUP_ITERS"] * scale)
    assert r["warmup"]["factor"] == d["WARMUP_FACTOR"]
    # 12 epochs of steps_per_epoch steps cover the reference's iterations
    assert r["epochs"] == 12
    assert r["steps_per_epoch"] * 12 >= s["reference_total_steps"]
    assert r["steps_per_epoch"] * 11 < s["reference_total_steps"]
    assert s["run_covers_reference"] is True
    det = r["detection"]
    assert det["loss"]["focal_alpha"] == d["FOCAL_LOSS_ALPHA"]
    assert det["loss"]["focal_gamma"] == d["FOCAL_LOSS_GAMMA"]
    assert det["loss"]["box_loss_beta"] == d["SMOOTH_L1_LOSS_BETA"]
    assert det["anchor_matching"]["low_quality_matches"] is True
    assert (det["anchor_matching"]["negative_below"],
            det["anchor_matching"]["positive_from"]) == (0.4, 0.5)
    assert det["freeze"]["backbone_batchnorm"] is (d["NORM"] == "FrozenBN")
    assert det["freeze"]["frozen_stages"] == d["FREEZE_AT"] - 1  # stem + res2
    assert det["gradient_clipping"] is None
    assert r["train_augmentation"]["horizontal_flip"] == 0.5
    assert "mmdetection" in r["reference"] and "retinanet_R_50_FPN_1x" in r["reference"]
    json.dumps(r)


def test_batch16_recipe_json_in_numbers():
    r = recipe.resolve("coco-1x", 16)
    assert (r["steps_per_epoch"], r["schedule"]["boundaries_steps"], r["warmup"]["steps"],
            r["schedule"]["values"]) == (7500, [60000, 80000], 1000, [0.01, 0.001, 0.0001])
    assert r["schedule"]["boundaries_epochs"] == [8.1159, 10.8211]


@pytest.mark.parametrize("batch", [16, 64])
def test_learning_rate_at_chosen_iterations_equals_detectron2(batch):
    r = recipe.resolve("coco-1x", batch)
    schedule = recipe.learning_rate_schedule(r)  # what build_optimizer puts in TorchSGD
    opt = recipe.build_optimizer(r, keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]))
    assert float(opt.learning_rate) == pytest.approx(float(schedule(0)))  # step 0
    scale = 16 / batch
    steps = [round(s * scale) for s in DETECTRON2["STEPS"]]
    warm = round(DETECTRON2["WARMUP_ITERS"] * scale)
    base = DETECTRON2["BASE_LR"] * batch / 16
    for it in (0, 1, warm // 2, warm - 1, warm, steps[0] - 1, steps[0], steps[1] - 1, steps[1],
               round(89999 * scale)):
        expected = detectron2_lr(it, base, warm, DETECTRON2["WARMUP_FACTOR"], steps, 0.1)
        assert float(schedule(it)) == pytest.approx(expected, rel=1e-5), it


def test_step_decay_config_round_trip_and_old_configs():
    s = StepDecay(0.02, [10, 20], 0.1, 5, warmup_factor=0.001)
    again = StepDecay.from_config(s.get_config())
    assert again.warmup_factor == 0.001 and float(again(0)) == pytest.approx(0.02 * 0.001)
    old = StepDecay.from_config({"value": 0.1, "boundaries": [3], "factor": 0.1,
                                 "warmup_steps": 2})  # a keras_aw 0.3 config
    assert old.warmup_factor is None and float(old(0)) == pytest.approx(0.05)
    assert "warmup_factor" not in old.get_config()
    with pytest.raises(ValueError, match="warmup_factor"):
        StepDecay(0.1, [], 0.1, 5, warmup_factor=2.0)


def _bn_model():
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, name="dense"),
                              keras.layers.BatchNormalization(name="bn"),
                              keras.layers.Dense(2, name="out")])
    model(np.zeros((2, 3), "float32"))
    return model


def test_norm_variable_paths_are_the_batchnorm_weights():
    model = _bn_model()
    bn = model.get_layer("bn")
    assert set(norm_variable_paths(model)) == {bn.gamma.path, bn.beta.path}


def test_torch_sgd_without_decay_on_norm_equals_numpy_rule():
    model = _bn_model()
    variables = model.trainable_variables
    norm = set(norm_variable_paths(model))
    lr, mu, wd = 0.05, 0.9, 0.1
    opt = TorchSGD(lr, momentum=mu, l2=wd, l2_exclude=tuple(norm))
    w = [keras.ops.convert_to_numpy(v).astype(np.float64) for v in variables]
    buf = [np.zeros_like(x) for x in w]
    rng = np.random.default_rng(0)
    for _ in range(3):
        grads = [rng.normal(size=x.shape).astype("float32") for x in w]
        opt.apply(grads, variables)
        for i, v in enumerate(variables):  # PyTorch SGD, per parameter group
            g = grads[i] + (0.0 if v.path in norm else wd) * w[i]
            buf[i] = mu * buf[i] + g
            w[i] = w[i] - lr * buf[i]
    for v, expected in zip(variables, w):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(v), expected, rtol=1e-5,
                                   atol=1e-6, err_msg=v.path)
    assert len(norm) == 2


def test_torch_sgd_l2_exclude_round_trips():
    opt = TorchSGD(0.1, momentum=0.9, l2=1e-4, l2_exclude=("bn/gamma", "bn/beta"))
    again = TorchSGD.from_config(opt.get_config())
    assert again.l2_exclude == ("bn/gamma", "bn/beta")
    assert "l2_exclude" not in TorchSGD(0.1, l2=1e-4).get_config()
    with pytest.raises(TypeError, match="l2_exclude"):
        TorchSGD(0.1, l2_exclude="bn/gamma")


def test_coco_dataset_defaults_to_coco_1x_and_recipes_checked():
    assert recipe.default_recipe_name("tfds:coco/2017") == "coco-1x"
    assert recipe.default_recipe_name("tfds:coco/2017:validation") == "coco-1x"
    s = RunSettings("AWFPNResNetSmall", dataset="tfds:coco/2017", output="x")
    assert (s.recipe, s.batch_size, s.epochs, s.learning_rate) == ("coco-1x", 16, 12, 0.01)
    with pytest.raises(ValueError, match="coco-1x.*detectors"):
        training._join_cluster(RunSettings("AWSmallCNN", recipe="coco-1x", output="x"))
    with pytest.raises(ValueError, match="imagenet"):
        training._join_cluster(RunSettings("AWFPNResNetSmall", recipe="imagenet", output="x"))


@pytest.mark.slow
def test_short_coco_1x_train_on_shapes_detect(tmp_path):
    """`train` of a tiny detector with coco-1x: recipe.json, TorchSGD without norm decay."""
    pytest.importorskip("keras_hub")
    out = str(tmp_path / "run")
    result = training.train("AWFPNResNetSmall", dataset="shapes", recipe="coco-1x",
                            image_size=64, batch_size=4, epochs=1, steps_per_epoch=2,
                            num_train=8, num_test=4, output=out, verbose=0)
    assert result["epochs_done"] == 1 and np.isfinite(result["loss"])
    with open(os.path.join(out, "recipe.json")) as f:
        r = json.load(f)
    assert r["recipe"] == "coco-1x" and r["schedule"]["boundaries_steps"] == [240000, 320000]
    assert r["warmup"]["steps"] == 4000 and r["learning_rate"]["value"] == 0.0025
    assert r["steps_per_epoch"] == 2 and r["schedule"]["run_covers_reference"] is False
    net = keras.saving.load_model(result["model"])
    assert type(net.label_encoder).__name__ == "Detectron2LabelEncoder"
    # resumed: the saved TorchSGD (its momentum and step count) and loss come back
    result = training.train("AWFPNResNetSmall", dataset="shapes", recipe="coco-1x",
                            image_size=64, batch_size=4, epochs=2, steps_per_epoch=2,
                            num_train=8, num_test=4, output=out, verbose=0, resume=True)
    assert result["epochs_done"] == 2
    net = keras.saving.load_model(result["model"])
    assert type(net.optimizer).__name__ == "TorchSGD" and net.optimizer.l2_exclude
    assert int(keras.ops.convert_to_numpy(net.optimizer.iterations)) == 4
    assert type(net.loss["cls_logits"]).__name__ == "SigmoidFocalLoss"
