"""convert_to_aw: warm start of AW models from plain Keras models."""

import keras
import numpy as np
import pytest

import keras_aw
from helpers import (assert_same_outputs, call_outputs, calibrate_batchnorm, images, keras_outputs,
                     randomize_batchnorm, rel_err, run_model_test, to_numpy)
from keras_aw import AWConv2D, convert_to_aw
from keras_aw.convert import DEFAULT_IDENTITY_ATTENTION


def aw_layers(model):
    found = []
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, AWConv2D):
            found.append(layer)
    return found


def plain_convs(model):
    return {
        layer.name: layer
        for layer in model._flatten_layers(include_self=False, recursive=True)
        if type(layer) is keras.layers.Conv2D
    }


def small_cnn(seed=0):
    """Functional CNN with 3x3 convs (one shared), a 1x1 conv, a grouped 3x3 conv and BN."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((12, 12, 4))
    x = keras.layers.Conv2D(8, 3, padding="same", name="c3a")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.ReLU()(x)
    shared = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="c3_shared")
    x = shared(shared(x))
    x = keras.layers.Conv2D(8, 3, padding="same", groups=2, name="c3_grouped")(x)
    x = keras.layers.Conv2D(16, 1, name="c1")(x)
    x = keras.layers.Conv2D(16, 3, strides=2, use_bias=False, name="c3_stride2_nobias")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(5, name="head")(x), name="small_cnn")
    randomize_batchnorm(model, seed)
    return model


# ----------------------------------------------------------------------- keras.applications


@pytest.fixture(scope="module")
def resnet50():
    keras.utils.set_random_seed(0)
    model = keras.applications.ResNet50(
        weights=None, input_shape=(64, 64, 3), classes=10, classifier_activation=None
    )
    calibrate_batchnorm(model, images(8, 64, seed=3, scale=127.0))
    return model


def test_resnet50_warm_start_matches_source(resnet50):
    before = [w.numpy().copy() for w in resnet50.weights]
    x = images(2, 64, seed=1, scale=127.0)
    expected = keras_outputs(resnet50, x)
    aw = convert_to_aw(resnet50)

    converted = aw_layers(aw)
    sources = plain_convs(resnet50)
    threes = sorted(n for n, l in sources.items() if tuple(l.kernel_size) == (3, 3))
    assert sorted(l.name for l in converted) == threes and len(threes) == 16
    for layer in converted:
        source = sources[layer.name]
        np.testing.assert_array_equal(layer.kernel.numpy(), source.kernel.numpy())
        np.testing.assert_array_equal(layer.bias.numpy(), source.bias.numpy())
        assert (layer.strides, layer.padding, layer.filters) == (
            source.strides, source.padding, source.filters)
    # every other weight is carried, matched by layer name and weight name
    new_layers = {l.name: l for l in aw.layers}
    for layer in resnet50.layers:
        if layer.weights and (layer.name not in sources or tuple(layer.kernel_size) != (3, 3)):
            for old, new in zip(layer.weights, new_layers[layer.name].weights):
                assert old.name == new.name
                np.testing.assert_array_equal(new.numpy(), old.numpy())

    error = rel_err(keras_outputs(aw, x), expected)
    assert error < 1e-3, f"warm start deviates by {error:.2e}"
    # the source model is left untouched
    assert not aw_layers(resnet50)
    for old, w in zip(before, resnet50.weights):
        np.testing.assert_array_equal(w.numpy(), old)


def test_resnet50_identity_false_is_paper_init(resnet50):
    aw = convert_to_aw(resnet50, identity_start=False)
    layer = aw_layers(aw)[0]
    np.testing.assert_array_equal(layer.attention_bn2.gamma.numpy(), 1.0)
    np.testing.assert_array_equal(layer.attention_bn2.beta.numpy(), 0.0)
    x = images(2, 64, seed=1, scale=127.0)
    assert rel_err(keras_outputs(aw, x), keras_outputs(resnet50, x)) > 1e-2


# ----------------------------------------------------------------------- selection and init


def test_default_selection_and_identity_scale():
    base = small_cnn()
    x = images(3, 12, channels=4)
    aw = convert_to_aw(base)
    names = sorted(l.name for l in aw_layers(aw))
    # 3x3, non-grouped Conv2D only: not the 1x1, not the grouped one
    assert names == ["c3_shared", "c3_stride2_nobias", "c3a"]
    # the shared layer stays one shared layer
    assert len([l for l in aw.layers if l.name == "c3_shared"]) == 1
    layer = aw.get_layer("c3_stride2_nobias")  # A is the constant a0 for every input
    a = to_numpy(layer.attention_maps(images(2, 7, seed=8, channels=16)))
    np.testing.assert_allclose(a, DEFAULT_IDENTITY_ATTENTION, rtol=1e-3)
    for layer in aw_layers(aw):
        np.testing.assert_array_equal(layer.attention_bn2.gamma.numpy(), 0.0)
    assert rel_err(keras_outputs(aw, x), keras_outputs(base, x)) < 1e-4


def test_identity_start_is_exact_scale():
    """With identity start, each converted layer computes (1 + a0) x its source output."""
    keras.utils.set_random_seed(3)
    inputs = keras.Input((9, 9, 3))
    base = keras.Model(inputs, keras.layers.Conv2D(6, 3, padding="same", use_bias=False)(inputs))
    x = images(4, 9, seed=4)
    expected = keras_outputs(base, x)
    for a0 in (1e-3, 0.1):
        got = keras_outputs(convert_to_aw(base, identity_start=a0), x)
        np.testing.assert_allclose(got, (1.0 + a0) * expected, rtol=1e-5, atol=1e-6)
    # without residual, A starts at 1 - a0: AK = (1 - a0) K
    got = keras_outputs(convert_to_aw(base, identity_start=1e-3, residual=False), x)
    np.testing.assert_allclose(got, (1.0 - 1e-3) * expected, rtol=1e-5, atol=1e-6)


def test_custom_select_and_awconv_kwargs():
    base = small_cnn()
    aw = convert_to_aw(base, select=lambda layer: tuple(layer.kernel_size) == (1, 1),
                       attention_reduction=4, reduction_c2=2)
    (layer,) = aw_layers(aw)
    assert layer.name == "c1"
    assert layer.attention_reduction == 4 and layer.reduction_c2 == 2
    assert layer.attention_conv1.filters == 8 // 4
    assert layer.attention_conv2.filters == 16 // 2
    x = images(2, 12, seed=5, channels=4)
    assert rel_err(keras_outputs(aw, x), keras_outputs(base, x)) < 1e-4


def test_sequential_with_nested_models():
    keras.utils.set_random_seed(4)
    inner_inputs = keras.Input((10, 10, 8))
    inner = keras.Model(
        inner_inputs,
        keras.layers.Conv2D(8, 3, padding="same", name="inner_func_conv")(inner_inputs),
        name="inner_functional",
    )
    inner_seq = keras.Sequential(
        [keras.layers.Conv2D(8, 3, padding="same", name="inner_seq_conv"),
         keras.layers.BatchNormalization(name="inner_bn")],
        name="inner_sequential",
    )
    model = keras.Sequential([
        keras.Input((10, 10, 3)),
        keras.layers.Conv2D(8, 3, padding="same", name="outer_conv"),
        inner,
        inner_seq,
        keras_aw.SqueezeExcite(reduction=4, name="se"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(3, name="head"),
    ])
    randomize_batchnorm(model)
    x = images(3, 10, seed=6)
    expected = keras_outputs(model, x)
    aw = convert_to_aw(model)
    assert isinstance(aw, keras.Sequential)
    assert sorted(l.name for l in aw_layers(aw)) == ["inner_func_conv", "inner_seq_conv", "outer_conv"]
    assert rel_err(keras_outputs(aw, x), expected) < 1e-4
    # custom layers (here SE) are copied with their weights, not shared with the source
    se_old, se_new = model.get_layer("se"), aw.get_layer("se")
    assert se_new is not se_old
    for old, new in zip(se_old.weights, se_new.weights):
        np.testing.assert_array_equal(new.numpy(), old.numpy())


def test_converted_model_trains():
    """Training moves the identity start: gamma leaves 0 and A becomes input dependent."""
    base = small_cnn()
    aw = convert_to_aw(base)
    x = images(8, 12, seed=7, channels=4)
    y = np.random.RandomState(0).randn(8, 5).astype("float32")
    layers = [aw.get_layer("c3_stride2_nobias")]
    probes = [images(4, 6, seed=9, channels=l.kernel.shape[2]) for l in layers]
    before = [to_numpy(l.attention_maps(p)) for l, p in zip(layers, probes)]
    for a in before:  # constant a0 at the start
        assert np.ptp(a) < 1e-5 * DEFAULT_IDENTITY_ATTENTION
    # the documented recipe: Adam with a small epsilon (gradients scale with a0 = 1e-6)
    aw.compile(optimizer=keras.optimizers.Adam(1e-2, epsilon=1e-10), loss="mse")
    aw.fit(x, y, epochs=3, batch_size=4, verbose=0)
    for layer, probe in zip(layers, probes):
        assert np.max(np.abs(layer.attention_bn2.gamma.numpy())) > 1e-2
        a = to_numpy(layer.attention_maps(probe))
        assert np.ptp(a, axis=0).max() > 1e-3 * DEFAULT_IDENTITY_ATTENTION  # per-sample now
    # (saving a converted model: tests/test_portability.py)


# ----------------------------------------------------------------------- graph shapes
# Each converted graph starts equal to its source (each AW layer scales its output by
# 1 + 1e-6, at most three in a row here), trains one step, and round-trips through .keras.


def conv3(filters, name, **kwargs):
    return keras.layers.Conv2D(filters, 3, padding="same", name=name, **kwargs)


def check_graph_conversion(model, x, tmp_path, expected_aw, y):
    expected = call_outputs(model, x)
    aw = convert_to_aw(model)
    converted = aw_layers(aw)
    assert sorted(l.name for l in converted) == sorted(expected_aw)
    assert_same_outputs(call_outputs(aw, x), expected, max_rel_err=1e-5)
    run_model_test(aw, x, tmp_path, train=(y, keras.optimizers.SGD(0.01), "mse"),
                   must_train=converted)
    return aw


def test_graph_with_plain_operations(tmp_path):
    """Operations that are not layers (x + 3.0, ops.pad, ops.multiply) are kept as they are."""
    keras.utils.set_random_seed(5)
    inputs = keras.Input((10, 10, 3))
    x = conv3(8, "c1")(inputs)
    x = x * keras.ops.relu6(x + 3.0) / 6.0  # hard-swish as MobileNetV3 writes it
    x = keras.ops.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])
    x = keras.layers.Conv2D(8, 3, name="c2")(x)
    gate = keras.ops.sigmoid(keras.layers.Conv2D(8, 1, name="gate")(x))
    x = keras.ops.multiply(x, gate)
    outputs = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, outputs, name="plain_ops")
    x = images(2, 10, seed=1)
    aw = check_graph_conversion(model, x, tmp_path, ["c1", "c2"], np.zeros((2, 8), "float32"))
    assert not aw_layers(model)


def test_graph_with_shared_layer(tmp_path):
    """A layer called at several places stays one layer, converted once."""
    keras.utils.set_random_seed(6)
    inputs = keras.Input((8, 8, 4))
    shared = conv3(4, "shared", activation="relu")
    a = shared(inputs)
    b = shared(keras.layers.Conv2D(4, 1, name="mix")(inputs))
    x = keras.layers.Add()([shared(a), b])
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))
    x = images(2, 8, seed=2, channels=4)
    aw = check_graph_conversion(model, x, tmp_path, ["shared"], np.zeros((2, 4), "float32"))
    assert len([l for l in aw.layers if l.name == "shared"]) == 1


def test_graph_with_nested_models(tmp_path):
    """Functional and Sequential models inside a model (one of them called twice)."""
    keras.utils.set_random_seed(7)
    block_in = keras.Input((8, 8, 4))
    block = keras.Model(block_in, keras.layers.ReLU()(conv3(4, "block_conv")(block_in) + block_in),
                        name="block")
    stem = keras.Sequential([keras.Input((8, 8, 3)), conv3(4, "stem_conv"),
                             keras.layers.BatchNormalization(name="stem_bn")], name="stem")
    inputs = keras.Input((8, 8, 3))
    x = block(block(stem(inputs)))
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x), name="nested")
    randomize_batchnorm(model, 7)
    x = images(2, 8, seed=3)
    aw = check_graph_conversion(model, x, tmp_path, ["block_conv", "stem_conv"],
                                np.zeros((2, 4), "float32"))
    assert isinstance(aw.get_layer("stem"), keras.Sequential)
    assert isinstance(aw.get_layer("block").get_layer("block_conv"), AWConv2D)


def test_graph_with_several_inputs_and_outputs(tmp_path):
    """Two inputs, two named outputs (a dict), a 3x3 convolution on each branch."""
    keras.utils.set_random_seed(8)
    image = keras.Input((8, 8, 3), name="image")
    depth = keras.Input((8, 8, 1), name="depth")
    a = conv3(6, "image_conv", activation="relu")(image)
    b = conv3(6, "depth_conv", activation="relu")(depth)
    fused = keras.layers.Concatenate()([a, b])
    outputs = {
        "logits": keras.layers.Dense(3, name="logits")(keras.layers.GlobalAveragePooling2D()(fused)),
        "mask": keras.layers.Conv2D(1, 3, padding="same", name="mask")(fused),
    }
    model = keras.Model({"image": image, "depth": depth}, outputs, name="two_in_two_out")
    rng = np.random.RandomState(4)
    x = {"image": images(2, 8, seed=4), "depth": rng.rand(2, 8, 8, 1).astype("float32")}
    y = {"logits": np.zeros((2, 3), "float32"), "mask": np.zeros((2, 8, 8, 1), "float32")}
    aw = check_graph_conversion(model, x, tmp_path, ["depth_conv", "image_conv", "mask"], y)
    assert sorted(aw.output) == ["logits", "mask"]


# ----------------------------------------------------------------------- bad input


class Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.conv = keras.layers.Conv2D(4, 3)

    def call(self, x):
        return self.conv(x)


@pytest.mark.backend_independent
def test_errors():
    base = small_cnn()
    with pytest.raises(TypeError, match="keras.Model"):
        convert_to_aw({"not": "a model"})
    with pytest.raises(TypeError, match="keras.Model"):
        convert_to_aw(keras.layers.Conv2D(4, 3))
    sub = Subclassed()
    sub(np.zeros((1, 6, 6, 3), "float32"))
    with pytest.raises(ValueError, match="subclassed"):
        convert_to_aw(sub)
    with pytest.raises(ValueError, match="matched no Conv2D"):
        convert_to_aw(base, select=lambda layer: False)
    with pytest.raises(TypeError, match="callable"):
        convert_to_aw(base, select="c3a")
    with pytest.raises(TypeError, match="unexpected keyword"):
        convert_to_aw(base, filters=4)
    with pytest.raises(ValueError, match="identity_start"):
        convert_to_aw(base, identity_start=2.0)
    with pytest.raises(ValueError, match="grouped"):
        convert_to_aw(base, select=lambda layer: layer.name == "c3_grouped")
    unbuilt = keras.Sequential([keras.layers.Conv2D(4, 3)])
    with pytest.raises(ValueError, match="not built"):
        convert_to_aw(unbuilt)
