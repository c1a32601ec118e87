"""AWConv2D against the independent NumPy reference, plus gradients, saving, precision, errors."""

import keras
import numpy as np
import pytest

import reference as ref
from helpers import BACKEND, randomize_batchnorm, rel_err, run_layer_test, to_numpy
from keras_aw import AWConv2D
from keras_aw.ops.per_sample_conv import per_sample_conv2d


def _bn(layer):
    return [to_numpy(layer.gamma), to_numpy(layer.beta), to_numpy(layer.moving_mean),
            to_numpy(layer.moving_variance), layer.epsilon]


def reference_output(layer, x_last, batch_stats=None):
    """The layer's output computed by tests/reference.py from the layer's weights.

    `batch_stats`: see `reference.attention` (a list: the branch in training mode).
    """
    c1 = x_last.shape[-1]
    rc1 = c1 if layer.reduction_c1 is None else layer.reduction_c1
    a = ref.attention(
        x_last, tuple(layer.kernel.shape),
        to_numpy(layer.attention_conv1.kernel)[0, 0], _bn(layer.attention_bn1),
        to_numpy(layer.attention_conv2.kernel)[0, 0], _bn(layer.attention_bn2),
        rc1, layer.reduction_c2, batch_stats=batch_stats,
    )
    bias = to_numpy(layer.bias) if layer.use_bias else None
    out = ref.aw_conv2d(x_last, to_numpy(layer.kernel), bias, a, layer.strides,
                        layer.padding, layer.dilation_rate, layer.residual)
    return out, a


CASES = {
    "stride1_same": dict(filters=6, kernel_size=3, padding="same"),
    "stride2_same": dict(filters=6, kernel_size=3, strides=2, padding="same"),
    "stride2_valid": dict(filters=6, kernel_size=3, strides=2, padding="valid"),
    "valid": dict(filters=6, kernel_size=3),
    "dilation2": dict(filters=6, kernel_size=3, dilation_rate=2, padding="same"),
    "non_square": dict(filters=6, kernel_size=(3, 2), strides=(2, 1), padding="same"),
    "one_by_one": dict(filters=6, kernel_size=1),
    "no_bias": dict(filters=6, kernel_size=3, padding="same", use_bias=False),
    "no_residual": dict(filters=6, kernel_size=3, padding="same", residual=False),
    "reduction_c1_lt_c1": dict(filters=6, kernel_size=3, padding="same", reduction_c1=2),
    "reduction_c2_gt_1": dict(filters=6, kernel_size=3, padding="same", reduction_c2=3),
    "both_reductions": dict(filters=6, kernel_size=3, reduction_c1=4, reduction_c2=2),
    "activation": dict(filters=6, kernel_size=3, padding="same", activation="relu"),
    "channels_first": dict(filters=6, kernel_size=3, strides=2, padding="same",
                           data_format="channels_first"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_reference(name):
    kwargs = dict(CASES[name], attention_reduction=4)
    rng = np.random.RandomState(1)
    x_last = rng.randn(3, 9, 8, 8).astype("float32")
    layer = AWConv2D(**kwargs)
    channels_first = kwargs.get("data_format") == "channels_first"
    x = np.transpose(x_last, (0, 3, 1, 2)) if channels_first else x_last
    layer(x)
    randomize_batchnorm(layer, seed=2)
    expected, a = reference_output(layer, x_last)
    if kwargs.get("activation") == "relu":
        expected = np.maximum(expected, 0)
    y = to_numpy(layer(x, training=False))
    if channels_first:
        y = np.transpose(y, (0, 2, 3, 1))
    assert y.shape == expected.shape
    assert rel_err(y, expected) < 1e-5
    assert rel_err(to_numpy(layer.attention_maps(x)), a) < 1e-5


@pytest.mark.parametrize("name", ["stride2_same", "reduction_c1_lt_c1", "dilation2"])
def test_batch_of_one_matches_reference(name):
    """A static batch of one takes the backend-convolution path."""
    layer = AWConv2D(**CASES[name], attention_reduction=4)
    x = np.random.RandomState(8).randn(1, 9, 8, 8).astype("float32")
    layer(x)
    randomize_batchnorm(layer, seed=9)
    expected, _ = reference_output(layer, x)
    assert rel_err(to_numpy(layer(x, training=False)), expected) < 1e-5


def test_global_channels_first_config():
    """data_format=None follows Keras's image_data_format; the branch still works."""
    keras.config.set_image_data_format("channels_first")
    try:
        layer = AWConv2D(5, 3, padding="same", attention_reduction=2)
        x_last = np.random.RandomState(3).randn(2, 6, 6, 4).astype("float32")
        y = to_numpy(layer(np.transpose(x_last, (0, 3, 1, 2))))
    finally:
        keras.config.set_image_data_format("channels_last")
    assert layer.data_format == "channels_first"
    expected, _ = reference_output(layer, x_last)
    assert rel_err(np.transpose(y, (0, 2, 3, 1)), expected) < 1e-5


def test_input_smaller_than_kernel():
    """A 2x2 map under a 3x3 kernel: pooled cells repeat rows (PyTorch adaptive bins)."""
    layer = AWConv2D(5, 3, padding="same", attention_reduction=2)
    x = np.random.RandomState(3).randn(2, 2, 2, 4).astype("float32")
    layer(x)
    randomize_batchnorm(layer, seed=4)
    expected, a = reference_output(layer, x)
    assert rel_err(to_numpy(layer(x, training=False)), expected) < 1e-5
    assert rel_err(to_numpy(layer.attention_maps(x)), a) < 1e-5


def _moving_statistics(layer):
    return [to_numpy(v).copy() for bn in (layer.attention_bn1, layer.attention_bn2)
            for v in (bn.moving_mean, bn.moving_variance)]


def test_attention_branch_training_mode_matches_reference():
    """training=True: the branch's BatchNorms normalize with the batch's statistics (mean and
    biased variance over samples and pooled cells, Keras's epsilon), `fit` moves their moving
    statistics to momentum * old + (1 - momentum) * batch statistic, and training=False uses
    the moving statistics and leaves them unchanged; all against the NumPy reference."""
    rng = np.random.RandomState(11)
    x = rng.randn(4, 7, 7, 8).astype("float32")
    inputs = keras.Input(x.shape[1:])
    layer = AWConv2D(6, 3, padding="same", attention_reduction=4, reduction_c2=2)
    model = keras.Model(inputs, layer(inputs))
    randomize_batchnorm(layer, seed=12)
    bns = (layer.attention_bn1, layer.attention_bn2)
    for bn in bns:
        assert bn.momentum == 0.99 and bn.epsilon == 1e-3  # Keras's defaults
    moving = _moving_statistics(layer)

    stats = []
    expected_train, _ = reference_output(layer, x, batch_stats=stats)
    expected_infer, a_infer = reference_output(layer, x)
    assert len(stats) == 2
    assert rel_err(expected_infer, expected_train) > 1e-2  # the check tells the modes apart
    expected_moving = []
    for bn, (mean, var), old_mean, old_var in zip(bns, stats, moving[0::2], moving[1::2]):
        expected_moving += [bn.momentum * old_mean + (1 - bn.momentum) * mean,
                            bn.momentum * old_var + (1 - bn.momentum) * var]

    # training=False: the moving statistics, which it does not change.
    assert rel_err(to_numpy(layer(x, training=False)), expected_infer) < 1e-5
    assert rel_err(to_numpy(layer.attention_maps(x)), a_infer) < 1e-5
    for value, old in zip(_moving_statistics(layer), moving):
        np.testing.assert_array_equal(value, old)

    # training=True, without side effects: the output and the would-be moving statistics.
    values = [v.value for v in layer.trainable_variables]
    non_trainable = [v.value for v in layer.non_trainable_variables]
    y, updated = layer.stateless_call(values, non_trainable, x, training=True)
    assert rel_err(to_numpy(y), expected_train) < 1e-5
    by_path = dict(zip([v.path for v in layer.non_trainable_variables], updated))
    statistics = [v for bn in bns for v in (bn.moving_mean, bn.moving_variance)]
    for variable, expected in zip(statistics, expected_moving):
        np.testing.assert_allclose(to_numpy(by_path[variable.path]), expected,
                                   rtol=1e-5, atol=1e-6)

    # One step of `fit` on the whole batch: the loss is that of the batch-statistics
    # output, and the moving statistics move by the batch's statistics.
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    history = model.fit(x, np.zeros_like(expected_train), batch_size=len(x), epochs=1,
                        shuffle=False, verbose=0)
    assert history.history["loss"][0] == pytest.approx(np.mean(expected_train ** 2), rel=1e-5)
    for value, expected, old in zip(_moving_statistics(layer), expected_moving, moving):
        np.testing.assert_allclose(value, expected, rtol=1e-5, atol=1e-6)
        assert np.max(np.abs(value - old)) > 1e-3  # the update is far above the tolerance

    # After training, inference uses the new moving statistics (and the new weights) ...
    moving = _moving_statistics(layer)
    _, a_train = reference_output(layer, x, batch_stats=[])
    expected_infer, a_infer = reference_output(layer, x)
    assert rel_err(to_numpy(model(x, training=False)), expected_infer) < 1e-5
    assert rel_err(to_numpy(layer.attention_maps(x)), a_infer) < 1e-5
    for value, old in zip(_moving_statistics(layer), moving):
        np.testing.assert_array_equal(value, old)
    # ... and attention_maps(training=True) the batch's statistics.
    assert rel_err(to_numpy(layer.attention_maps(x, training=True)), a_train) < 1e-5


def test_attention_maps_shape_and_range():
    layer = AWConv2D(8, (3, 5), padding="same")
    a = to_numpy(layer.attention_maps(np.ones((4, 10, 10, 16), "float32")))
    assert a.shape == (4, 3, 5, 16, 8)
    assert np.all((a > 0) & (a < 1))
    # Default reduction_c1 = C1: A is shared along input channels.
    np.testing.assert_array_equal(a, np.broadcast_to(a[:, :, :, :1, :], a.shape))


def _path_cases(paths, cases):
    """(path, ..., case) parameters, leaving out the "taps" path with a modulation not
    shared along input channels (G1 > 1), which it refuses (test_bad_formulation_arguments)."""
    return [pytest.param(*path, case, id=f"{'-'.join(path)}-{i}")
            for path in paths for i, case in enumerate(cases)
            if not (path[0] == "taps" and case["groups"][0] != 1)]


FORWARD_CASES = [
    dict(strides=(1, 1), padding="same", dilation_rate=(1, 1), groups=(1, 6)),
    dict(strides=(2, 2), padding="valid", dilation_rate=(1, 1), groups=(1, 3)),
    dict(strides=(1, 1), padding="same", dilation_rate=(2, 2), groups=(1, 6)),
    dict(strides=(2, 1), padding="same", dilation_rate=(1, 1), groups=(4, 2)),
    dict(strides=(3, 3), padding="valid", dilation_rate=(1, 1), groups=(1, 2)),
    dict(strides=(1, 1), padding="valid", dilation_rate=(1, 1), groups=(2, 3)),
]


@pytest.mark.parametrize("path,case", _path_cases(
    [("kernel",), ("taps",), ("groups",), ("conv",)], FORWARD_CASES))
def test_every_contraction_path_matches_reference(path, case):
    """Each formulation of ops.per_sample_conv2d, forced, against the NumPy loop."""
    g1, g2 = case["groups"]
    rng = np.random.RandomState(5)
    n = 1 if path == "conv" else 3  # "conv" is the static batch-of-one path
    x = rng.randn(n, 7, 6, 4).astype("float32")
    kernel = rng.randn(3, 3, 4, 6).astype("float32")
    modulation = rng.uniform(0.5, 2.0, (n, 3, 3, g1, g2)).astype("float32")
    y = to_numpy(per_sample_conv2d(x, kernel, modulation, case["strides"], case["padding"],
                                   case["dilation_rate"], path=path))
    full = np.repeat(np.repeat(modulation, 4 // g1, axis=3), 6 // g2, axis=4)
    expected = np.stack([
        ref.conv_single(x[i], kernel * full[i], case["strides"], case["padding"],
                        case["dilation_rate"]) for i in range(n)])
    assert rel_err(y, expected) < 1e-5


GRADIENT_CASES = [
    dict(size=(7, 6), kernel=(3, 3), strides=(1, 1), padding="same", dilation_rate=(1, 1),
         groups=(1, 6)),
    dict(size=(7, 6), kernel=(3, 3), strides=(2, 2), padding="valid", dilation_rate=(1, 1),
         groups=(1, 3)),
    dict(size=(8, 7), kernel=(3, 2), strides=(2, 3), padding="same", dilation_rate=(1, 1),
         groups=(1, 2)),
    dict(size=(7, 7), kernel=(3, 3), strides=(1, 1), padding="same", dilation_rate=(2, 2),
         groups=(1, 6)),
    dict(size=(5, 5), kernel=(1, 1), strides=(1, 1), padding="valid", dilation_rate=(1, 1),
         groups=(1, 6)),
    dict(size=(7, 6), kernel=(3, 3), strides=(2, 1), padding="same", dilation_rate=(1, 1),
         groups=(4, 2)),
]


@pytest.mark.parametrize("path,gradient,case", _path_cases(
    [("kernel", "autodiff"), ("groups", "autodiff"), ("taps", "autodiff"),
     ("taps", "correlate"), ("taps", "keep")], GRADIENT_CASES))
def test_every_contraction_path_gradient_matches_reference(path, gradient, case):
    """d/dx, d/dkernel, d/dmodulation of each formulation (the taps path with autodiff and
    with both hand-written gradients) against the NumPy loop's gradients."""
    g1, g2 = case["groups"]
    rng = np.random.RandomState(8)
    n, (kh, kw), c1, c2 = 3, case["kernel"], 4, 6
    geometry = (case["strides"], case["padding"], case["dilation_rate"])
    x = rng.randn(n, *case["size"], c1).astype("float32")
    kernel = rng.randn(kh, kw, c1, c2).astype("float32")
    modulation = rng.uniform(0.5, 2.0, (n, kh, kw, g1, g2)).astype("float32")
    out_shape = to_numpy(per_sample_conv2d(x, kernel, modulation, *geometry, path=path,
                                           gradient=gradient)).shape
    weights = rng.randn(*out_shape).astype("float32")

    def loss(x, kernel, modulation):
        y = per_sample_conv2d(x, kernel, modulation, *geometry, path=path, gradient=gradient)
        return keras.ops.sum(keras.ops.multiply(y, weights))

    dx, dkernel, dmod = _gradient(loss, [x, kernel, modulation])
    # A constant input (a model's first layer): PyTorch's hand-written gradient skips dx.
    dkernel_only, dmod_only = _gradient(lambda k, m: loss(x, k, m), [kernel, modulation])
    full = np.repeat(np.repeat(modulation, c1 // g1, axis=3), c2 // g2, axis=4)
    expected_dx, expected_dkernel, expected_dmod = [], 0, []
    for i in range(n):
        dx_i, dk_i = ref.conv_single_backward(x[i].astype(np.float64), kernel * full[i],
                                              weights[i], *geometry)
        expected_dx.append(dx_i)
        expected_dkernel = expected_dkernel + dk_i * full[i]
        per_group = (dk_i * kernel).reshape(kh, kw, g1, c1 // g1, g2, c2 // g2)
        expected_dmod.append(per_group.sum(axis=(3, 5)))
    assert rel_err(dx, np.stack(expected_dx)) < 1e-5
    assert rel_err(dkernel, expected_dkernel) < 1e-5
    assert rel_err(dmod, np.stack(expected_dmod)) < 1e-5
    assert rel_err(dkernel_only, expected_dkernel) < 1e-5
    assert rel_err(dmod_only, np.stack(expected_dmod)) < 1e-5


@pytest.mark.backend_independent
@pytest.mark.parametrize("kwargs,groups,message", [
    (dict(path="im2col"), (1, 6), "path='im2col'"),
    (dict(gradient="numeric"), (1, 6), "gradient='numeric'"),
    (dict(path="kernel", gradient="correlate"), (1, 6), "gradient='correlate'.*path='kernel'"),
    (dict(path="conv"), (1, 6), r"path='conv' needs a static batch of one.*\(2, 5, 5, 4\)"),
    (dict(path="taps"), (4, 2), r"path='taps' needs .* input channels \(G1=1\); received G1=4"),
    (dict(path="taps"), (2, 3), r"path='taps' needs .* input channels \(G1=1\); received G1=2"),
])
def test_bad_formulation_arguments(kwargs, groups, message):
    with pytest.raises(ValueError, match=message):
        per_sample_conv2d(np.zeros((2, 5, 5, 4), "float32"), np.zeros((3, 3, 4, 6), "float32"),
                          np.zeros((2, 3, 3) + groups, "float32"), **kwargs)


def _gradient(fn, args):
    """d fn(*args) / d args on the active backend (fn returns a scalar)."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        args = [tf.Variable(a) for a in args]
        with tf.GradientTape() as tape:
            y = fn(*args)
        return [g.numpy() for g in tape.gradient(y, args)]
    if BACKEND == "jax":
        import jax

        return [np.asarray(g) for g in jax.grad(fn, argnums=tuple(range(len(args))))(*args)]
    import torch

    args = [torch.tensor(a, requires_grad=True) for a in args]
    fn(*args).backward()
    return [a.grad.numpy() for a in args]


def test_gradients_match_finite_differences():
    layer = AWConv2D(3, 3, strides=2, padding="same", attention_reduction=2)
    rng = np.random.RandomState(6)
    x = rng.randn(2, 5, 5, 4).astype("float32")
    layer(x)
    randomize_batchnorm(layer, seed=7)
    weights = rng.randn(2, 3, 3, 3).astype("float32")
    trainable = [to_numpy(v) for v in layer.trainable_variables]
    non_trainable = [to_numpy(v) for v in layer.non_trainable_variables]
    kernel_index = [v.path for v in layer.trainable_variables].index(layer._kernel.path)
    conv1_index = [v.path for v in layer.trainable_variables].index(
        layer.attention_conv1.kernel.path)

    def loss(x, kernel, conv1):
        values = list(trainable)
        values[kernel_index], values[conv1_index] = kernel, conv1
        out, _ = layer.stateless_call(values, non_trainable, x, training=False)
        return keras.ops.sum(keras.ops.multiply(out, weights))

    def loss_np(*args):
        return float(to_numpy(loss(*args)))

    args = [x, trainable[kernel_index], trainable[conv1_index]]
    grads = _gradient(loss, args)
    eps = 1e-2
    for which, (arg, grad) in enumerate(zip(args, grads)):
        assert grad.shape == arg.shape
        for index in list(np.ndindex(arg.shape))[:: max(arg.size // 12, 1)]:
            plus, minus = [a.copy() for a in args], [a.copy() for a in args]
            plus[which][index] += eps
            minus[which][index] -= eps
            numeric = (loss_np(*plus) - loss_np(*minus)) / (2 * eps)
            assert abs(numeric - grad[index]) <= 2e-2 * max(1.0, abs(numeric)), (which, index)


@pytest.mark.parametrize("kwargs", [
    dict(filters=8, kernel_size=3, padding="same"),
    dict(filters=8, kernel_size=1, use_bias=False, residual=False, reduction_c2=2),
    dict(filters=4, kernel_size=3, strides=2, data_format="channels_first", reduction_c1=2),
])
def test_layer_saves_loads_and_trains(kwargs, tmp_path):
    """Unknown batch in a functional model, config round trip, .keras file, every weight trains."""
    shape = (6, 8, 8) if kwargs.get("data_format") == "channels_first" else (8, 8, 6)
    model = run_layer_test(AWConv2D, kwargs, shape, tmp_path)
    trained = {w.path for w in model.trainable_weights}
    layer = model.layers[-1]
    for sub in ("attention_conv1", "attention_conv2", "attention_bn1", "attention_bn2"):
        assert any(sub in p for p in trained), sub
    assert layer._kernel.path in trained


def test_batch_of_one_trains():
    model = keras.Sequential([keras.Input((8, 8, 3)), AWConv2D(4, 3, padding="same"),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    before = [to_numpy(w).copy() for w in model.trainable_weights]
    rng = np.random.RandomState(0)
    history = model.fit(rng.rand(3, 8, 8, 3), rng.rand(3, 2), batch_size=1, epochs=2, verbose=0)
    assert all(np.isfinite(history.history["loss"]))
    changed = [not np.allclose(to_numpy(w), b) for w, b in zip(model.trainable_weights, before)]
    assert all(changed)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision(policy):
    x = np.random.RandomState(0).rand(4, 8, 8, 16).astype("float32")
    reference_layer = AWConv2D(8, 3, padding="same", dtype="float32")
    expected = to_numpy(reference_layer(x))
    keras.config.set_dtype_policy(policy)
    layer = AWConv2D(8, 3, padding="same")
    layer.build(x.shape)
    layer.set_weights(reference_layer.get_weights())
    y = layer(x)
    compute = policy.split("_")[1]
    assert keras.backend.standardize_dtype(y.dtype) == compute
    assert all(keras.backend.standardize_dtype(v.dtype) == "float32" for v in layer.weights)
    y = to_numpy(keras.ops.cast(y, "float32"))
    assert np.all(np.isfinite(y))
    assert rel_err(y, expected) < (2e-2 if compute == "bfloat16" else 3e-3)
    model = keras.Sequential([keras.Input((8, 8, 16)), layer, keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(1, dtype="float32")])
    model.compile(optimizer="sgd", loss="mse")
    before = [to_numpy(w).copy() for w in layer.trainable_weights]
    history = model.fit(x, np.ones((4, 1)), epochs=1, batch_size=2, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    # The (loss-scaled) float16 gradients reached every float32 variable of the layer.
    for w, b in zip(layer.trainable_weights, before):
        assert keras.backend.standardize_dtype(w.dtype) == "float32"
        assert np.max(np.abs(to_numpy(w) - b)) > 0, w.path


BAD_ARGUMENTS = [
    (dict(filters=0, kernel_size=3), ValueError, "filters=0"),
    (dict(filters=-2, kernel_size=3), ValueError, "filters=-2"),
    (dict(filters=2.5, kernel_size=3), TypeError, "filters=2.5"),
    (dict(filters=4, kernel_size=0), ValueError, "kernel_size=0"),
    (dict(filters=4, kernel_size=(3, -1)), ValueError, r"kernel_size=\(3, -1\)"),
    (dict(filters=4, kernel_size=(3, 3, 3)), ValueError, r"kernel_size=\(3, 3, 3\)"),
    (dict(filters=4, kernel_size=3, strides=0), ValueError, "strides=0"),
    (dict(filters=4, kernel_size=3, strides=(1, -2)), ValueError, r"strides=\(1, -2\)"),
    (dict(filters=4, kernel_size=3, strides=2, dilation_rate=2), ValueError, "dilation_rate"),
    (dict(filters=4, kernel_size=3, padding="causal"), ValueError, "padding='causal'"),
    (dict(filters=4, kernel_size=3, padding="full"), ValueError, "padding='full'"),
    (dict(filters=4, kernel_size=3, attention_reduction=0), ValueError, "attention_reduction=0"),
    (dict(filters=4, kernel_size=3, reduction_c1=-1), ValueError, "reduction_c1=-1"),
    (dict(filters=6, kernel_size=3, reduction_c2=4), ValueError, "reduction_c2=4"),
    (dict(filters=4, kernel_size=3, groups=2), ValueError, "groups=2"),
    (dict(filters=4, kernel_size=3, residual="yes"), TypeError, "residual='yes'"),
]


@pytest.mark.backend_independent
@pytest.mark.parametrize("kwargs,error,message", BAD_ARGUMENTS)
def test_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        AWConv2D(**kwargs)


@pytest.mark.backend_independent
def test_bad_inputs():
    with pytest.raises(ValueError, match=r"4-D input.*\(None, 8, 8, 3, 2\)"):
        AWConv2D(4, 3).build((None, 8, 8, 3, 2))
    with pytest.raises(ValueError, match=r"4-D input.*\(None, 8, 3\)"):
        AWConv2D(4, 3).build((None, 8, 3))
    with pytest.raises(ValueError, match=r"channel dimension.*\(None, 8, 8, None\)"):
        AWConv2D(4, 3).build((None, 8, 8, None))
    with pytest.raises(ValueError, match="reduction_c1=4 with 6 input channels"):
        AWConv2D(4, 3, reduction_c1=4).build((None, 8, 8, 6))
    layer = AWConv2D(4, 3)
    layer(np.zeros((1, 8, 8, 3), "float32"))
    with pytest.raises(ValueError, match="axis -1 of input shape to have value 3"):
        layer(np.zeros((1, 8, 8, 5), "float32"))
    with pytest.raises(ValueError, match="ndim=4"):
        layer(np.zeros((1, 8, 8, 8, 3), "float32"))
