"""Shared test helpers: the harness (`run_layer_test`, `run_model_test`, `keras_round_trip`,
`assert_same_outputs`, in the spirit of keras-hub's TestCase), random BatchNorm
statistics, small models and inputs used by several test modules.

Test modules import from here (and from reference.py), never from each other.
"""

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


# --------------------------------------------------------------------------- the harness
# Modelled on keras-hub's TestCase (run_layer_test, run_backbone_test,
# run_model_saving_test): one place for the checks every layer and every model gets, so a
# test module states only what is particular to its subject.


def call_outputs(model, x):
    """The model's inference outputs on `x`: a NumPy array, or a dict of them."""
    out = model(x, training=False)
    if isinstance(out, dict):
        return {k: to_numpy(v) for k, v in out.items()}
    return to_numpy(out)


def assert_same_outputs(got, expected, *, rtol=1e-5, atol=1e-6, max_rel_err=None,
                        max_abs_err=None, keys=None):
    """`got` equals `expected` (arrays, tensors, or dicts of them compared key by key).

    The bound is `max_rel_err` on `rel_err` (max |difference| / max |expected|) if given,
    else `max_abs_err` on max |difference| if given, else `np.testing.assert_allclose` with
    `rtol` and `atol`. For dicts, the keys compared are `keys`, or all of `expected`'s.
    """
    if isinstance(expected, dict):
        for key in expected if keys is None else keys:
            _assert_close(got[key], expected[key], rtol, atol, max_rel_err, max_abs_err, key)
    else:
        _assert_close(got, expected, rtol, atol, max_rel_err, max_abs_err, "output")


def _assert_close(got, expected, rtol, atol, max_rel_err, max_abs_err, what):
    got, expected = to_numpy(got), to_numpy(expected)
    assert got.shape == expected.shape, (what, got.shape, expected.shape)
    if max_rel_err is not None:
        error = rel_err(got, expected)
        assert error < max_rel_err, f"{what}: relative error {error:.3e} >= {max_rel_err}"
    elif max_abs_err is not None:
        error = float(np.max(np.abs(got.astype(np.float64) - expected)))
        assert error < max_abs_err, f"{what}: max |difference| {error:.3e} >= {max_abs_err}"
    else:
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol, err_msg=what)


def keras_round_trip(model, tmp_path, x=None, *, name="model.keras", outputs=call_outputs,
                     **tolerance):
    """Saves `model` to `tmp_path/name`, loads it back (default safe_mode) and returns it.

    The loaded model is of the saved model's class. With `x`, its outputs on `x`
    (`outputs(model, x)`, inference mode) equal the saved model's: `assert_same_outputs`
    with `tolerance` (its defaults: rtol=1e-5, atol=1e-6).
    """
    expected = None if x is None else outputs(model, x)
    path = os.path.join(str(tmp_path), name)
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is type(model), (type(loaded), type(model))
    if x is not None:
        assert_same_outputs(outputs(loaded, x), expected, **tolerance)
    return loaded


def training_step(model, x, y, optimizer, loss):
    """One `train_on_batch`; returns the paths of the trainable weights it changed."""
    before = {w.path: to_numpy(w).copy() for w in model.trainable_weights}
    model.compile(optimizer=optimizer, loss=loss)
    logs = model.train_on_batch(x, y, return_dict=True)
    assert np.isfinite(logs["loss"]), logs
    return {w.path for w in model.trainable_weights
            if not np.allclose(to_numpy(w), before[w.path])}


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
    keras_round_trip(model, tmp_path, x, name="layer_test.keras", rtol=1e-5, atol=1e-6)

    before = [to_numpy(w).copy() for w in model.trainable_weights]
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    model.fit(x, rng.randn(*y.shape).astype("float32"), epochs=1, batch_size=2, verbose=0)
    for w, old in zip(model.trainable_weights, before):
        assert not np.allclose(to_numpy(w), old), f"training did not change {w.path}"
    return model


def run_model_test(model, x, tmp_path, *, expected_output_shape=None, expected_num_params=None,
                   save=True, train=None, must_train=(), **tolerance):
    """The checks every model gets; returns its inference outputs on `x`.

    A forward pass in inference mode (finite outputs, of `expected_output_shape` if
    given), the parameter count if `expected_num_params` is given, a `.keras` round trip
    with the same outputs if `save` (`keras_round_trip` with `tolerance`), and, with
    `train=(y, optimizer, loss)`, one training step with a finite loss that changes at
    least one trainable weight of every layer in `must_train`.
    """
    if expected_num_params is not None:
        assert model.count_params() == expected_num_params, model.count_params()
    y = call_outputs(model, x)
    for value in (y.values() if isinstance(y, dict) else [y]):
        assert np.all(np.isfinite(value))
    if expected_output_shape is not None:
        assert y.shape == tuple(expected_output_shape), y.shape
    if save:
        keras_round_trip(model, tmp_path, x, **tolerance)
    if train is not None:
        changed = training_step(model, x, *train)
        assert changed, "the training step changed no trainable weight"
        frozen = [layer.name for layer in must_train
                  if not {w.path for w in layer.trainable_weights} & changed]
        assert not frozen, f"the training step changed no weight of {frozen}"
    return y


# --------------------------------------------------------------------------- models and data


def images(n, size, seed=0, scale=1.0, channels=3):
    """`n` random channels-last images, uniform in [-scale, scale]."""
    shape = (n, size, size, channels)
    return (np.random.RandomState(seed).uniform(-1, 1, shape) * scale).astype("float32")


def keras_outputs(model, x):
    """Inference-mode outputs. On JAX, `predict` compiles the whole model once per batch
    shape, much faster than JAX's op-by-op eager compilation of a first call."""
    if BACKEND == "jax":
        return model.predict(x, batch_size=len(x), verbose=0)
    return to_numpy(model(x, training=False))


def calibrate_batchnorm(model, x):
    """Moving statistics := the statistics of `x`'s real activations.

    AWConv2D's attention BatchNorms are reset to the default statistics afterwards:
    random images have near-identical pooled descriptors, so calibrated attention
    statistics would have a variance of ~0 and the maximal gain 1/sqrt(epsilon), making
    the untrained network amplify float32 rounding ~100x more than a trained one would.
    """
    batchnorms = [l for l in model._flatten_layers()
                  if isinstance(l, keras.layers.BatchNormalization)]
    for layer in batchnorms:
        layer.momentum = 0.0
    model(x, training=True)
    for layer in batchnorms:
        layer.momentum = 0.99
        if layer.name.startswith("attention_bn"):
            layer.moving_mean.assign(np.zeros(layer.moving_mean.shape, "float32"))
            layer.moving_variance.assign(np.ones(layer.moving_variance.shape, "float32"))


def small_aw_model(seed=0, size=16):
    """A small functional model with every keras_aw layer kind and both contraction paths.

    AWConv2D 3x3 (stride 1, "kernel" path), non-square strided with
    reduction_c1, 1x1 (MobileNet-style pointwise), and a 3x3 without residual
    on a 4x4 map with more channels than positions ("taps" path); SE and CBAM;
    plain Conv2D, DepthwiseConv2D, BatchNormalization. BatchNorm statistics
    (the attention branches' included) are randomized so inference mode is
    really exercised and attention differs clearly between samples.
    """
    import keras_aw

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((size, size, 3), name="image")
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
    x = keras_aw.AWConv2D(16, 3, padding="same", attention_reduction=4)(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    x = keras_aw.SqueezeExcite(reduction=4)(x)
    x = keras_aw.layers.CBAM(mode="full", reduction=4)(x)
    x = keras_aw.AWConv2D(32, (2, 3), strides=2, padding="same", reduction_c1=2,
                          attention_reduction=4)(x)
    x = keras.layers.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    x = keras_aw.AWConv2D(32, 1, attention_reduction=4, activation="relu")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras_aw.AWConv2D(16, 3, padding="same", residual=False, attention_reduction=4)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(10, name="logits")(x)
    model = keras.Model(inputs, outputs, name="small_aw")
    randomize_batchnorm(model, seed)
    return model
