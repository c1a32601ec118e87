"""Shared test helpers (a `run_layer_test` in the spirit of keras-hub's TestCase)."""

import os

import keras
import numpy as np

BACKEND = keras.backend.backend()


def to_numpy(x):
    return keras.ops.convert_to_numpy(x)


def rel_err(actual, expected):
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    return float(np.max(np.abs(actual - expected)) / max(np.max(np.abs(expected)), 1e-12))


def randomize_batchnorm(model_or_layer, seed=0):
    """Random BatchNorm statistics and affine terms, so inference mode is really exercised."""
    rng = np.random.RandomState(seed)
    layers = getattr(model_or_layer, "_flatten_layers", None)
    for layer in model_or_layer._flatten_layers(include_self=True, recursive=True) if layers else []:
        if isinstance(layer, keras.layers.BatchNormalization):
            shape = layer.gamma.shape
            layer.gamma.assign(rng.uniform(0.5, 1.5, shape).astype("float32"))
            layer.beta.assign(rng.uniform(-0.5, 0.5, shape).astype("float32"))
            layer.moving_mean.assign(rng.uniform(-0.5, 0.5, shape).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, shape).astype("float32"))


def run_layer_test(layer_cls, init_kwargs, input_shape, tmp_path, expected_output_shape=None,
                   seed=0):
    """Builds `layer_cls(**init_kwargs)` in a functional model with an unknown batch and checks:

    the output shape against `compute_output_shape` (and `expected_output_shape`),
    `get_config`/`from_config` round trip, a `.keras` save/load with identical outputs
    under the default safe_mode, and that one training step changes every trainable weight.
    Returns the model.
    """
    rng = np.random.RandomState(seed)
    x = rng.randn(*((2,) + tuple(input_shape))).astype("float32")
    layer = layer_cls(**init_kwargs)
    inputs = keras.Input(input_shape)
    outputs = layer(inputs)
    model = keras.Model(inputs, outputs)
    assert tuple(outputs.shape) == tuple(layer.compute_output_shape((None,) + tuple(input_shape)))
    if expected_output_shape is not None:
        assert tuple(outputs.shape) == (None,) + tuple(expected_output_shape)
    y = to_numpy(model(x))
    assert y.shape == (2,) + tuple(outputs.shape[1:])
    assert np.all(np.isfinite(y))

    config = layer.get_config()
    clone = layer_cls.from_config(config)
    assert clone.get_config() == config
    for key, value in init_kwargs.items():
        assert key in config, f"get_config lacks constructor argument {key!r}"

    randomize_batchnorm(model, seed)
    y = to_numpy(model(x, training=False))
    path = os.path.join(str(tmp_path), "layer_test.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(to_numpy(loaded(x, training=False)), y, rtol=1e-5, atol=1e-6)

    before = [to_numpy(w).copy() for w in model.trainable_weights]
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    model.fit(x, rng.randn(*y.shape).astype("float32"), epochs=1, batch_size=2, verbose=0)
    for w, old in zip(model.trainable_weights, before):
        assert not np.allclose(to_numpy(w), old), f"training did not change {w.path}"
    return model
