"""LoRA on AWConv2D, as on keras.layers.Conv2D (Keras's conv_test.py LoRA cases).

Under LoRA the static kernel K is frozen and replaced by K + (alpha / rank) * A·B
(A, B the float32 LoRA factors); AW modulates that adapted kernel per sample. The
attention branch stays trainable, like Conv2D's bias under Keras's LoRA: freeze it by
setting its layers' `trainable` to False.
"""

import os

import keras
import numpy as np
import pytest

import reference as ref
from helpers import BACKEND, randomize_batchnorm, rel_err, to_numpy
from keras_aw import AWConv2D

INPUT_SHAPE = (None, 5, 5, 4)
KWARGS = dict(filters=6, kernel_size=3, padding="same", attention_reduction=2)
BRANCH = ("attention_conv1", "attention_bn1", "attention_conv2", "attention_bn2")
# Trainable: bias, lora_kernel_a, lora_kernel_b + the branch's 2 kernels and 2 gammas/betas.
# Non-trainable: the frozen kernel + the branch's 4 moving statistics.
NUM_TRAINABLE, NUM_NON_TRAINABLE = 3 + 6, 1 + 4


def _data(seed=0, n=16):
    rng = np.random.RandomState(seed)
    return (rng.rand(n, *INPUT_SHAPE[1:]).astype("float32"),
            rng.rand(n, 5, 5, KWARGS["filters"]).astype("float32"))


def _model(layer):
    return keras.Sequential([keras.Input(INPUT_SHAPE[1:]), layer])


def _snapshot(weights):
    return [to_numpy(w).copy() for w in weights]


def _changed(before, weights):
    return [not np.array_equal(b, to_numpy(w)) for b, w in zip(before, weights)]


def _check_lora_layer(layer, rank):
    assert layer.lora_enabled and layer.lora_rank == rank
    assert len(layer.trainable_weights) == NUM_TRAINABLE
    assert len(layer.non_trainable_weights) == NUM_NON_TRAINABLE
    assert layer._kernel in layer.non_trainable_weights
    assert keras.backend.standardize_dtype(layer.lora_kernel_a.dtype) == "float32"
    assert keras.backend.standardize_dtype(layer.lora_kernel_b.dtype) == "float32"
    assert tuple(layer.lora_kernel_a.shape) == (3, 3, 4, rank)
    assert tuple(layer.lora_kernel_b.shape) == (rank, KWARGS["filters"])


@pytest.mark.parametrize("when", ["constructor", "after_build"])
def test_lora_trains_saves_and_loads(when, tmp_path):
    """Keras's test_enable_lora, on AWConv2D: LoRA from `lora_rank` or `enable_lora`."""
    if when == "constructor":
        layer = AWConv2D(**KWARGS, lora_rank=2)
        model = _model(layer)
    else:
        layer = AWConv2D(**KWARGS)
        model = _model(layer)
        layer.enable_lora(2)
    _check_lora_layer(layer, 2)
    x, y = _data()
    _ = layer(x[:2])  # eager call

    frozen = _snapshot([layer._kernel])
    lora = _snapshot([layer.lora_kernel_a, layer.lora_kernel_b])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    assert _changed(frozen, [layer._kernel]) == [False]
    assert _changed(lora, [layer.lora_kernel_a, layer.lora_kernel_b]) == [True, True]
    expected = model.predict(x, verbose=0)

    path = os.path.join(str(tmp_path), "lora_model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.layers[0].lora_enabled
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)

    # Weights only, into a fresh model without LoRA (the file holds the merged kernel).
    path = os.path.join(str(tmp_path), "lora_model.weights.h5")
    model.save_weights(path)
    plain = _model(AWConv2D(**KWARGS))
    plain.load_weights(path)
    np.testing.assert_allclose(plain.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)

    # A checkpoint without LoRA into the LoRA model.
    plain.layers[0].bias.assign(np.ones(KWARGS["filters"], "float32"))
    plain.save_weights(path)
    model.load_weights(path)
    np.testing.assert_allclose(model.predict(x, verbose=0), plain.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)


def test_lora_rank_argument():
    """Keras's test_lora_rank_argument: weights, losses (regularized LoRA factors), config."""
    layer = AWConv2D(**KWARGS, activation="sigmoid", kernel_regularizer="l2", lora_rank=2)
    inputs = keras.Input(INPUT_SHAPE[1:])
    model = keras.Model(inputs, layer(inputs))
    _check_lora_layer(layer, 2)
    assert tuple(model.output.shape) == (None, 5, 5, 6)
    _ = model(_data()[0][:2])
    assert len(layer.losses) == 2
    config = layer.get_config()
    assert config["lora_rank"] == 2 and config["lora_alpha"] == 2
    clone = AWConv2D.from_config(config)
    clone.build(INPUT_SHAPE)
    _check_lora_layer(clone, 2)


def test_lora_alpha_scales_the_adapted_kernel():
    """Keras's test_enable_lora_with_alpha, and AW applied to the adapted kernel."""
    layer = AWConv2D(filters=3, kernel_size=(2, 2), attention_reduction=2)
    layer.build((1, 4, 4, 3))
    base = np.linspace(0, 1, num=int(np.prod(layer.kernel.shape)), dtype="float32")
    base = base.reshape(layer.kernel.shape)
    layer.kernel.assign(base)
    layer.enable_lora(rank=2, lora_alpha=3.0)
    assert (layer.lora_rank, layer.lora_alpha) == (2, 3.0)
    a = np.full(layer.lora_kernel_a.shape, 0.1, "float32")
    b = np.full(layer.lora_kernel_b.shape, 0.2, "float32")
    layer.lora_kernel_a.assign(a)
    layer.lora_kernel_b.assign(b)
    adapted = base + 1.5 * (a.reshape(-1, 2) @ b).reshape(base.shape)
    np.testing.assert_allclose(to_numpy(layer.kernel), adapted, rtol=1e-6, atol=1e-6)

    randomize_batchnorm(layer, seed=3)
    x = np.random.RandomState(4).randn(3, 4, 4, 3).astype("float32")
    att = to_numpy(layer.attention_maps(x))
    expected = ref.aw_conv2d(x, adapted, to_numpy(layer.bias), att, layer.strides,
                             layer.padding, layer.dilation_rate, residual=True)
    assert rel_err(to_numpy(layer(x, training=False)), expected) < 1e-5
    # The attention maps do not depend on the kernel: AW modulates K + B·A·alpha/rank.
    assert att.shape == (3,) + tuple(layer.kernel.shape)


def test_only_lora_factors_and_chosen_parts_train():
    """Under LoRA the kernel is frozen; the bias and the attention branch train (as Conv2D's
    bias does) unless frozen; frozen, only the LoRA factors and the bias change."""
    x, y = _data(1)
    for freeze_branch in (False, True):
        layer = AWConv2D(**KWARGS, lora_rank=2)
        model = _model(layer)
        if freeze_branch:
            for name in BRANCH:
                getattr(layer, name).trainable = False
        branch = [w for name in BRANCH for w in getattr(layer, name).trainable_weights]
        kernels = [layer.attention_conv1.kernel, layer.attention_conv2.kernel]
        before = _snapshot([layer._kernel, layer.bias, layer.lora_kernel_a,
                            layer.lora_kernel_b] + kernels)
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        model.fit(x, y, batch_size=8, epochs=1, verbose=0)
        changed = _changed(before, [layer._kernel, layer.bias, layer.lora_kernel_a,
                                    layer.lora_kernel_b] + kernels)
        assert changed == [False, True, True, True] + [not freeze_branch] * 2
        expected = {id(w) for w in [layer.bias, layer.lora_kernel_a, layer.lora_kernel_b]}
        if not freeze_branch:
            expected |= {id(w) for w in branch}
        assert {id(w) for w in model.trainable_weights} == expected


def test_lora_errors_as_conv2d():
    for cls in (keras.layers.Conv2D, AWConv2D):
        layer = cls(4, 3)
        with pytest.raises(ValueError, match="isn't yet built"):
            layer.enable_lora(2)
        layer.build(INPUT_SHAPE)
        layer.enable_lora(2)
        with pytest.raises(ValueError, match="already enabled"):
            layer.enable_lora(2)
        layer = cls(4, 3, kernel_constraint="non_neg")
        layer.build(INPUT_SHAPE)
        with pytest.raises(ValueError, match="kernel constraints"):
            layer.enable_lora(2)


def test_lora_weight_name():
    """Keras's test_lora_weight_name."""

    class MyModel(keras.Model):
        def __init__(self):
            super().__init__(name="mymodel")
            self.conv2d = AWConv2D(4, 3, name="conv2d")

        def build(self, input_shape):
            self.conv2d.build(input_shape)

        def call(self, x):
            return self.conv2d(x)

    model = MyModel()
    model.build(INPUT_SHAPE)
    model.conv2d.enable_lora(2)
    assert model.conv2d.lora_kernel_a.path == "mymodel/conv2d/lora_kernel_a"
    assert model.conv2d.attention_conv1.kernel.path == "mymodel/conv2d/attention_conv1/kernel"


def test_lora_under_mixed_precision():
    keras.config.set_dtype_policy("mixed_float16" if BACKEND != "jax" else "mixed_bfloat16")
    layer = AWConv2D(**KWARGS, lora_rank=2)
    x, _ = _data()
    y = layer(x[:2])
    assert keras.backend.standardize_dtype(layer.lora_kernel_a.dtype) == "float32"
    assert keras.backend.standardize_dtype(y.dtype) == layer.compute_dtype
    assert np.all(np.isfinite(to_numpy(keras.ops.cast(y, "float32"))))
