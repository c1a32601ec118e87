"""SqueezeExcite and CBAM against NumPy references; config, saving, precision, errors."""

import keras
import numpy as np
import pytest

from helpers import randomize_batchnorm, rel_err, run_layer_test, to_numpy
from keras_aw import CBAM, SqueezeExcite


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _dense(layer, x):
    return x @ to_numpy(layer.kernel) + to_numpy(layer.bias)


def se_reference(layer, x):
    s = np.maximum(_dense(layer.squeeze, x.mean(axis=(1, 2))), 0)
    return x * _sigmoid(_dense(layer.excite, s))[:, None, None, :]


def cbam_reference(layer, x):
    def mlp(v):
        return _dense(layer.mlp_out, np.maximum(_dense(layer.mlp_hidden, v), 0))

    logits = mlp(x.mean(axis=(1, 2)))
    if layer.mode != "spatial":
        logits = logits + mlp(x.max(axis=(1, 2)))
    x = x * _sigmoid(logits)[:, None, None, :]
    if layer.mode == "maxpool":
        return x
    pooled = np.concatenate([x.max(-1, keepdims=True), x.mean(-1, keepdims=True)], -1)
    k = to_numpy(layer.spatial_conv.kernel)
    pad = k.shape[0] // 2
    padded = np.pad(pooled, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    conv = np.zeros(x.shape[:3] + (1,))
    for i in range(x.shape[1]):
        for j in range(x.shape[2]):
            window = padded[:, i:i + k.shape[0], j:j + k.shape[1], :]
            conv[:, i, j, 0] = np.einsum("nabc,abc->n", window, k[..., 0])
    bn = layer.spatial_bn
    conv = (to_numpy(bn.gamma) * (conv - to_numpy(bn.moving_mean))
            / np.sqrt(to_numpy(bn.moving_variance) + bn.epsilon) + to_numpy(bn.beta))
    return x * _sigmoid(conv)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_squeeze_excite_matches_reference(data_format):
    x = np.random.RandomState(0).randn(3, 5, 6, 32).astype("float32")
    layer = SqueezeExcite(data_format=data_format)
    first = data_format == "channels_first"
    y = to_numpy(layer(np.transpose(x, (0, 3, 1, 2)) if first else x))
    y = np.transpose(y, (0, 2, 3, 1)) if first else y
    assert rel_err(y, se_reference(layer, x)) < 1e-5
    assert layer.count_params() == 2 * 32 * 2 + 2 + 32


@pytest.mark.parametrize("mode", ["full", "maxpool", "spatial"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_cbam_matches_reference(mode, data_format):
    x = np.random.RandomState(1).randn(3, 6, 5, 32).astype("float32")
    layer = CBAM(mode=mode, data_format=data_format)
    first = data_format == "channels_first"
    x_in = np.transpose(x, (0, 3, 1, 2)) if first else x
    layer(x_in)
    randomize_batchnorm(layer)
    y = to_numpy(layer(x_in, training=False))
    y = np.transpose(y, (0, 2, 3, 1)) if first else y
    assert rel_err(y, cbam_reference(layer, x)) < 1e-5


@pytest.mark.parametrize("cls,kwargs", [
    (SqueezeExcite, dict(reduction=4)),
    (CBAM, dict(mode="full", reduction=4)),
    (CBAM, dict(mode="spatial", reduction=4, spatial_kernel_size=3,
                data_format="channels_first")),
])
def test_layers_save_load_and_train(cls, kwargs, tmp_path):
    shape = (16, 6, 6) if kwargs.get("data_format") == "channels_first" else (6, 6, 16)
    run_layer_test(cls, kwargs, shape, tmp_path)


@pytest.mark.parametrize("cls", [SqueezeExcite, CBAM])
def test_mixed_precision(cls):
    x = np.random.RandomState(0).rand(2, 6, 6, 32).astype("float32")
    keras.config.set_dtype_policy("mixed_float16")
    layer = cls()
    y = layer(x)
    assert keras.backend.standardize_dtype(y.dtype) == "float16"
    assert all(keras.backend.standardize_dtype(v.dtype) == "float32" for v in layer.weights)
    # The float16 computation gives the float32 NumPy reference's values (its weights are the
    # float32 variables), up to float16 rounding.
    reference = se_reference if cls is SqueezeExcite else cbam_reference
    assert rel_err(to_numpy(keras.ops.cast(y, "float32")), reference(layer, x)) < 5e-3


@pytest.mark.backend_independent
@pytest.mark.parametrize("make,error,message", [
    (lambda: SqueezeExcite(reduction=0), ValueError, "reduction=0"),
    (lambda: SqueezeExcite(reduction="4"), TypeError, "reduction='4'"),
    (lambda: CBAM(mode="channel"), ValueError, "mode='channel'"),
    (lambda: CBAM(reduction=-3), ValueError, "reduction=-3"),
    (lambda: CBAM(spatial_kernel_size=0), ValueError, "spatial_kernel_size=0"),
    (lambda: SqueezeExcite().build((None, 8, 8)), ValueError, r"4-D input.*\(None, 8, 8\)"),
    (lambda: CBAM().build((None, 8, 8, None)), ValueError, "channel dimension"),
])
def test_bad_input(make, error, message):
    with pytest.raises(error, match=message):
        make()
