"""Named recipes (keras_aw_tools.recipe) and keras_aw.optimizers against references written here.

- The optimizer against PyTorch's SGD update rule (torch/optim/sgd.py, dampening
  0) written out in NumPy, with gradients given or computed by hand on a tiny
  linear model (every backend).
- The learning rate at chosen steps against the reference's formula
  ``lr * 0.1 ** (epoch // 30)``; top-5 against a NumPy top-5; the ImageNet
  normalization layer against ``(x / 255 - mean) / std``.
- `resolve`'s values for the reference protocols (backend independent).
"""

import dataclasses
import json
import math
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_aw_tools import recipe
from keras_aw.optimizers import StepDecay, TorchSGD
from keras_aw_tools.recipe import RECIPES, build_optimizer, resolve

from helpers import to_numpy

independent = pytest.mark.backend_independent


def torch_sgd(params, grads_per_step, lrs, momentum, weight_decay, nesterov=False):
    """PyTorch's SGD step (dampening 0) in NumPy; `grads_per_step` a list or fn(params)->grads."""
    params = [np.array(p, np.float64) for p in params]
    buffers = [None] * len(params)
    for step, lr in enumerate(lrs):
        grads = (grads_per_step(params) if callable(grads_per_step)
                 else grads_per_step[step])
        for i, (p, g) in enumerate(zip(params, grads)):
            d_p = np.asarray(g, np.float64) + weight_decay * p
            if momentum:
                buffers[i] = d_p.copy() if buffers[i] is None else momentum * buffers[i] + d_p
                d_p = d_p + momentum * buffers[i] if nesterov else buffers[i]
            p -= lr * d_p
    return params


def _tiny_cnn():
    return keras.Sequential([keras.Input((6, 6, 2)), keras.layers.Conv2D(3, 3),
                             keras.layers.BatchNormalization(), keras.layers.ReLU(),
                             keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(4)])


@pytest.mark.parametrize("nesterov", [False, True])
def test_torch_sgd_equals_pytorch_rule_on_every_weight(nesterov):
    """3 steps, a x0.1 drop before the third; kernels, biases, BatchNorm gamma and beta decayed."""
    model = _tiny_cnn()
    variables = model.trainable_variables
    names = [v.path for v in variables]
    assert any("gamma" in n for n in names) and any("beta" in n for n in names)
    assert any("bias" in n for n in names)
    start = [to_numpy(v) for v in variables]
    rng = np.random.default_rng(0)
    grads = [[rng.normal(size=p.shape).astype("float32") for p in start] for _ in range(3)]
    opt = TorchSGD(StepDecay(0.1, [2], 0.1), momentum=0.9, nesterov=nesterov, l2=0.05)
    for step_grads in grads:
        opt.apply(step_grads, variables)
    expected = torch_sgd(start, grads, [0.1, 0.1, 0.01], 0.9, 0.05, nesterov)
    for v, e, s in zip(variables, expected, start):
        np.testing.assert_allclose(to_numpy(v), e, rtol=1e-5, atol=1e-6)
        assert not np.allclose(e, s)
    # The decay matters here: without it the same steps end elsewhere.
    plain = torch_sgd(start, grads, [0.1, 0.1, 0.01], 0.9, 0.0, nesterov)
    assert max(np.abs(a - b).max() for a, b in zip(plain, expected)) > 1e-3


def test_fit_steps_with_imagenet_recipe_equal_pytorch_rule():
    """`fit` with the resolved imagenet recipe's optimizer: 3 steps vs hand-computed gradients."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(24, 5)).astype("float32")
    y = rng.normal(size=(24, 3)).astype("float32")
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3)])
    w0, b0 = (to_numpy(v) for v in model.weights)
    resolved = resolve("imagenet", global_batch_size=8, steps_per_epoch=3, learning_rate=0.05)
    model.compile(optimizer=build_optimizer(resolved), loss="mse")
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    batches = iter(range(3))

    def gradients(params):  # MSE: mean over the batch and the 3 outputs
        i = next(batches)
        xb, yb = x[8 * i: 8 * i + 8].astype(np.float64), y[8 * i: 8 * i + 8]
        residual = xb @ params[0] + params[1] - yb
        scale = 2.0 / residual.size
        return [scale * xb.T @ residual, scale * residual.sum(axis=0)]

    w, b = torch_sgd([w0, b0], gradients, [0.05] * 3, momentum=0.9, weight_decay=1e-4)
    np.testing.assert_allclose(to_numpy(model.weights[0]), w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(to_numpy(model.weights[1]), b, rtol=1e-5, atol=1e-6)


def test_keras_sgd_momentum_equals_pytorch_only_at_constant_rate():
    """keras_aw.optimizers' docstring: Keras's momentum form is PyTorch's until the rate changes."""
    rng = np.random.default_rng(2)
    start = [rng.normal(size=(3, 2)).astype("float32")]
    grads = [[rng.normal(size=(3, 2)).astype("float32")] for _ in range(4)]

    def keras_sgd(rate):
        v = keras.Variable(start[0])
        opt = keras.optimizers.SGD(rate, momentum=0.9)
        for g in grads:  # tensors: PyTorch's backend swaps in its own SGD, which needs them
            opt.apply([keras.ops.convert_to_tensor(g[0])], [v])
        return to_numpy(v)

    constant = torch_sgd(start, grads, [0.1] * 4, 0.9, 0.0)[0]
    np.testing.assert_allclose(keras_sgd(0.1), constant, rtol=1e-5, atol=1e-6)
    dropped = torch_sgd(start, grads, [0.1, 0.1, 0.01, 0.01], 0.9, 0.0)[0]
    assert np.abs(keras_sgd(StepDecay(0.1, [2], 0.1)) - dropped).max() > 1e-2


def test_learning_rate_at_chosen_steps_equals_reference_formula():
    steps = 7
    resolved = resolve("imagenet", global_batch_size=512, steps_per_epoch=steps)
    opt = build_optimizer(resolved)
    for step in (0, 1, 209, 210, 211, 419, 420, 629, 630, 699):
        epoch = step // steps
        expected = 0.1 * 512 / 256 * 0.1 ** (epoch // 30)
        opt.iterations.assign(step)
        assert float(to_numpy(opt.learning_rate)) == pytest.approx(expected, rel=1e-6), step


def test_warmup_learning_rate_equals_formula():
    warm = dataclasses.replace(RECIPES["imagenet"], warmup_epochs=2)
    resolved = resolve(warm, global_batch_size=256, epochs=90, steps_per_epoch=5)
    assert resolved["warmup"] == {"epochs": 2, "steps": 10}
    opt = build_optimizer(resolved)
    for step, expected in ((0, 0.01), (4, 0.05), (9, 0.1), (10, 0.1), (149, 0.1), (150, 0.01)):
        opt.iterations.assign(step)
        assert float(to_numpy(opt.learning_rate)) == pytest.approx(expected, rel=1e-6), step


def test_top5_equals_numpy_top5():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(64, 6)).astype("float32")
    y = rng.integers(0, 10, 64).astype("int32")
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(10, activation="softmax")])
    recipe.compile_with_recipe(model, resolve("imagenet", 16, steps_per_epoch=4))
    result = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    p = model.predict(x, verbose=0)
    top5 = np.mean([y[i] in np.argsort(-p[i])[:5] for i in range(len(y))])
    top1 = np.mean(np.argmax(p, axis=1) == y)
    assert 0.0 < top5 < 1.0
    assert result["top5_accuracy"] == pytest.approx(top5, abs=1e-6)
    assert result["accuracy"] == pytest.approx(top1, abs=1e-6)


def test_imagenet_normalization_layer_and_saved_model(tmp_path):
    x = np.random.default_rng(4).uniform(0, 255, (2, 4, 4, 3)).astype("float32")
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    inputs = keras.Input((4, 4, 3))
    model = keras.Model(inputs, recipe.input_normalization(
        resolve("imagenet", 256, steps_per_epoch=1))(inputs))
    got = to_numpy(model(x))
    np.testing.assert_allclose(got, (x / 255.0 - mean) / std, rtol=1e-5, atol=1e-5)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(to_numpy(loaded(x)), got, rtol=1e-6, atol=1e-6)
    demo = recipe.input_normalization("[-1, 1]")
    assert demo.name == "rescale"
    np.testing.assert_allclose(to_numpy(demo(x)), x / 127.5 - 1, rtol=1e-5, atol=1e-5)


def test_torch_sgd_round_trips_through_config():
    opt = TorchSGD(StepDecay(0.2, [3, 6], 0.1, 2), momentum=0.9, nesterov=True, l2=1e-4)
    again = keras.optimizers.deserialize(keras.optimizers.serialize(opt))
    assert isinstance(again, TorchSGD)
    assert again.l2 == 1e-4 and again.momentum == 0.9 and again.nesterov
    assert again.get_config()["learning_rate"]["config"] == {
        "value": 0.2, "boundaries": [3, 6], "factor": 0.1, "warmup_steps": 2}
    with pytest.raises(ValueError, match="weight_decay"):
        TorchSGD(0.1, weight_decay=1e-4)
    with pytest.raises(ValueError, match="l2"):
        TorchSGD(0.1, l2=-1.0)


# ----------------------------------------------------------- resolve: pure data


@independent
def test_imagenet_resolved_values_match_reference_protocol():
    r = resolve("imagenet", global_batch_size=256, steps_per_epoch=5005)
    assert r["recipe"] == "imagenet"
    assert r["optimizer"]["class"] == "keras_aw.optimizers.TorchSGD"
    assert (r["optimizer"]["momentum"], r["optimizer"]["nesterov"]) == (0.9, False)
    assert r["optimizer"]["weight_decay"] == 1e-4
    assert "BatchNorm" in r["optimizer"]["weight_decay_applies_to"]
    assert "before momentum" in r["optimizer"]["weight_decay_rule"]
    assert r["learning_rate"]["value"] == 0.1 and r["learning_rate"]["reference_batch_size"] == 256
    assert r["schedule"]["boundaries_epochs"] == [30, 60, 90] and r["epochs"] == 100
    assert r["schedule"]["boundaries_steps"] == [30 * 5005, 60 * 5005, 90 * 5005]
    assert r["schedule"]["values"] == pytest.approx([0.1, 0.01, 0.001, 0.0001])
    assert r["warmup"] == {"epochs": 0, "steps": 0} and r["label_smoothing"] == 0.0
    assert r["image_size"] == 224
    aug = r["train_augmentation"]
    assert aug["area"] == [0.08, 1.0] and aug["aspect_ratio"] == pytest.approx([0.75, 4 / 3])
    assert aug["horizontal_flip"] == 0.5 and aug["output"] == [224, 224]
    ev = r["eval_preprocessing"]
    assert ev["resize_shorter_side"] == 256 and ev["center_crop"] == [224, 224]
    assert r["normalization"]["mean_rgb_0_1"] == [0.485, 0.456, 0.406]
    assert r["normalization"]["std_rgb_0_1"] == [0.229, 0.224, 0.225]
    assert r["metrics"] == ["top1", "top5"]
    assert r["checkpoints"]["kept"] == ["last", "best-val-top1"]
    assert r["overrides"] == {}
    assert json.loads(json.dumps(r)) == r  # recipe.json is plain JSON


@independent
def test_linear_scaling_and_user_overrides_recorded():
    r = resolve("imagenet", global_batch_size=1024, steps_per_epoch=1251)
    assert r["learning_rate"]["value"] == pytest.approx(0.4)
    assert "linear" in r["learning_rate"]["scaling"]
    # torchvision's classic recipe: 90 epochs, decays at 30 and 60 (the period is kept).
    r = resolve("imagenet", 256, epochs=90, steps_per_epoch=10, learning_rate=0.3,
                image_size=160)
    assert r["schedule"]["boundaries_epochs"] == [30, 60]
    assert r["schedule"]["period_scales_with_epochs"] is False
    assert r["learning_rate"]["value"] == 0.3  # the user's rate is not scaled
    assert r["overrides"] == {"epochs": 90, "learning_rate": 0.3, "image_size": 160}
    assert r["eval_preprocessing"]["resize_shorter_side"] == 183
    assert resolve("imagenet", 256, epochs=10)["schedule"]["boundaries_epochs"] == []
    assert resolve("imagenet", 256)["schedule"]["boundaries_steps"] is None


@independent
def test_demo_resolved_is_todays_recipe():
    r = resolve("demo", global_batch_size=64, epochs=4)
    assert r["optimizer"]["class"] == "keras.optimizers.Adam"
    assert r["learning_rate"]["value"] == recipe.DEFAULT_LEARNING_RATE == 2e-3
    expected = [2e-3 * 0.5 * (1 + math.cos(math.pi * e / 4)) for e in range(4)]
    assert r["schedule"]["values_per_epoch"] == pytest.approx(expected)
    assert r["normalization"]["kind"] == "[-1, 1]" and r["metrics"] == ["top1"]
    assert resolve("demo", 512)["learning_rate"]["value"] == 2e-3  # not scaled
    assert isinstance(build_optimizer(r), keras.optimizers.Adam)
    assert len(recipe.recipe_callbacks(r)) == 1
    assert recipe.recipe_callbacks(resolve("imagenet", 256, steps_per_epoch=1)) == []


@independent
def test_bad_values_named():
    with pytest.raises(ValueError,
                       match=r"unknown recipe 'imgnet'.*\['coco-1x', 'demo', 'imagenet'\]"):
        recipe.get_recipe("imgnet")
    with pytest.raises(ValueError, match="global_batch_size=0"):
        resolve("imagenet", 0)
    with pytest.raises(ValueError, match="epochs=-1"):
        resolve("imagenet", 256, epochs=-1)
    with pytest.raises(ValueError, match="steps_per_epoch"):
        build_optimizer(resolve("imagenet", 256))
    with pytest.raises(ValueError, match="learning_rate"):
        resolve("imagenet", 256, learning_rate=0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        RECIPES["imagenet"].epochs = 3


@independent
def test_registry_listing_and_defaults():
    assert sorted(RECIPES) == ["coco-1x", "demo", "imagenet"]
    assert all(r.name == name for name, r in RECIPES.items())
    table = recipe.format_recipes()
    for field in ("optimizer", "weight_decay", "schedule", "eval_preprocessing", "checkpoints"):
        assert field in table
    assert "imagenet" in table.splitlines()[0]
    assert recipe.default_recipe_name("tfds:imagenet2012") == "imagenet"
    assert recipe.default_recipe_name("tfds:imagenet2012_subset/1pct") == "imagenet"
    assert recipe.default_recipe_name("tfds:imagenette/160px") == "demo"
    assert recipe.default_recipe_name("shapes") == "demo"
    assert json.loads(recipe.format_resolved(resolve("demo", 8)))["recipe"] == "demo"


@independent
def test_errors_and_best_checkpoint(tmp_path):
    assert recipe.errors({"accuracy": 0.7, "top5_accuracy": 0.9, "val_accuracy": 0.6,
                          "val_top5_accuracy": 0.85, "loss": 2.0}) == pytest.approx(
        {"top1_error": 0.3, "top5_error": 0.1, "val_top1_error": 0.4, "val_top5_error": 0.15})
    best = recipe.best_checkpoint(resolve("imagenet", 256), tmp_path / "best.keras")
    assert isinstance(best, keras.callbacks.ModelCheckpoint)
    assert (best.monitor, best.save_best_only) == ("val_accuracy", True)
    assert recipe.best_checkpoint(resolve("demo", 64), tmp_path / "best.keras") is None
    # StepDecay switches at the boundary itself (Keras's PiecewiseConstantDecay one step later).
    assert [float(StepDecay(1.0, [3], 0.5)(s)) for s in (2, 3)] == [1.0, 0.5]


@independent
def test_saved_model_with_torch_sgd_loads_with_the_library_alone(tmp_path):
    """`import keras_aw` registers TorchSGD and StepDecay: no keras_aw_tools needed to load."""
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer=build_optimizer(resolve("imagenet", 8, steps_per_epoch=2)),
                  loss="mse")
    model.fit(np.ones((8, 3), "float32"), np.ones((8, 2), "float32"), batch_size=4, verbose=0)
    model.save(tmp_path / "m.keras")
    code = ("import sys, keras, keras_aw\n"
            f"m = keras.saving.load_model({str(tmp_path / 'm.keras')!r})\n"
            "print(type(m.optimizer).__name__, m.optimizer.l2,"
            " 'keras_aw_tools' in sys.modules)")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-3:] == ["TorchSGD", "0.0001", "False"]


@pytest.mark.backend_independent
def test_optimizer_adapter_is_still_needed():
    """keras_aw._upstream_optimizer goes once Keras makes a variable's slot index public."""
    public = [n for n in dir(keras.optimizers.Optimizer)
              if not n.startswith("_") and "variable_index" in n]
    assert public == [], f"Keras now has {public}: use it in keras_aw.optimizers instead"
    assert hasattr(keras.optimizers.Optimizer, "_get_variable_index")
