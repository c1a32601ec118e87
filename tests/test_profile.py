"""Tests of keras_aw.utils.profile against multiply-accumulate counts worked out by hand.

(The Table 1 checks on the real networks are in test_applications.py.) Weights do not
matter here, so layers are initialized with zeros: JAX compiles a random initializer
per weight shape, which would dominate the run time. Counts come from shapes and layer
types only, so the module runs under one backend (marker `backend_independent`).
"""

import inspect

import keras
import pytest
from keras import layers

import keras_aw
from keras_aw.layers import CBAM, AWConv2D, SqueezeExcite
from keras_aw.utils import Profile, layer_macs, profile

pytestmark = pytest.mark.backend_independent

Z = dict(kernel_initializer="zeros")


def test_public_api():
    # The package exports the function (not the submodule of the same name) and its result type.
    assert keras_aw.utils.__all__ == ["Profile", "boxes", "files", "layer_macs", "profile"]
    assert dir(keras_aw.utils) == keras_aw.utils.__all__
    assert not inspect.ismodule(keras_aw.utils.profile)
    inputs = keras.Input((4, 4, 3))
    model = keras.Model(inputs, layers.Conv2D(2, 1, use_bias=False, **Z)(inputs))
    result = keras_aw.utils.profile(model)
    assert type(result) is Profile and Profile._fields == ("trainable_params", "gflops")
    params, gflops = result
    assert params == 6 and gflops == pytest.approx(4 * 4 * 2 * 3 / 1e9)


def test_plain_layers_by_hand():
    inputs = keras.Input((16, 16, 3))
    x = layers.Conv2D(8, 3, strides=2, padding="same", name="conv", **Z)(inputs)  # 8x8x8
    x = layers.DepthwiseConv2D(3, depth_multiplier=2, name="dw",
                               depthwise_initializer="zeros")(x)                 # 6x6x16
    x = layers.SeparableConv2D(4, 3, padding="same", name="sep",
                               depthwise_initializer="zeros",
                               pointwise_initializer="zeros")(x)                 # 6x6x4
    x = layers.Conv2D(6, 1, groups=2, name="grouped", **Z)(x)                    # 6x6x6
    y = layers.Conv2DTranspose(2, 3, strides=2, name="transpose", **Z)(x)        # 13x13x2
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(5, name="dense", **Z)(x)
    model = keras.Model(inputs, [x, y])
    expected = {
        "conv": 8 * 8 * 8 * (3 * 3 * 3),
        "dw": 6 * 6 * 16 * (3 * 3),
        "sep": 6 * 6 * 16 * 9 + 6 * 6 * 16 * 4,
        "grouped": 6 * 6 * 6 * (4 // 2),
        "transpose": 6 * 6 * 6 * 9 * 2,
        "dense": 6 * 5,
    }
    assert layer_macs(model) == expected
    assert profile(model).gflops == pytest.approx(sum(expected.values()) / 1e9)


def test_dense_on_sequences_and_channels_first():
    inputs = keras.Input((7, 10))
    model = keras.Model(inputs, layers.Dense(3, name="d", **Z)(inputs))
    assert layer_macs(model) == {"d": 7 * 10 * 3}
    inputs = keras.Input((3, 8, 8))
    conv = layers.Conv2D(4, 3, padding="same", data_format="channels_first", name="c",
                         **Z)
    model = keras.Model(inputs, conv(inputs))
    assert layer_macs(model) == {"c": 8 * 8 * 4 * 27}


def test_aw_conv2d_counts_branch_and_modulation():
    inputs = keras.Input((10, 10, 8))
    x = AWConv2D(16, 3, padding="same", name="aw", **Z)(inputs)
    y = AWConv2D(16, 3, attention_reduction=4, reduction_c2=4, strides=2, name="aw2",
                 **Z)(inputs)
    model = keras.Model(inputs, [x, y])
    conv = 10 * 10 * 16 * (9 * 8)
    branch = 9 * (8 * 1) + 9 * (1 * 16)  # hidden max(8 // 16, 1) = 1, then 16 outputs
    modulation = 9 * 8 * 16  # kh*kw*C1*C2 per sample
    conv2 = 4 * 4 * 16 * (9 * 8)  # valid, stride 2: 4x4 output
    branch2 = 9 * (8 * 2) + 9 * (2 * 4)  # hidden 8 // 4 = 2, then 16 / 4 groups
    assert layer_macs(model) == {"aw": conv + branch + modulation,
                                 "aw2": conv2 + branch2 + modulation}


@pytest.mark.parametrize("mode,expected", [
    ("full", 2 * (32 * 4 + 4 * 32) + 4 * 4 * 49 * 2),
    ("maxpool", 2 * (32 * 4 + 4 * 32)),
    ("spatial", (32 * 4 + 4 * 32) + 4 * 4 * 49 * 2),
])
def test_cbam_modes(mode, expected):
    inputs = keras.Input((4, 4, 32))
    model = keras.Model(inputs, CBAM(mode=mode, reduction=8, name="cbam")(inputs))
    assert layer_macs(model) == {"cbam": expected}


def test_squeeze_excite():
    inputs = keras.Input((4, 4, 32))
    model = keras.Model(inputs, SqueezeExcite(reduction=8, name="se")(inputs))
    assert layer_macs(model) == {"se": 32 * 4 + 4 * 32}
    assert profile(model).trainable_params == 32 * 4 + 4 + 4 * 32 + 32


def test_trainable_params_exclude_batchnorm_statistics():
    inputs = keras.Input((8, 8, 3))
    x = layers.Conv2D(4, 3, use_bias=False, **Z)(inputs)
    x = layers.BatchNormalization()(x)
    frozen = layers.Dense(2, **Z)
    frozen.trainable = False
    x = frozen(layers.Flatten()(x))
    model = keras.Model(inputs, x)
    assert profile(model).trainable_params == 3 * 3 * 3 * 4 + 2 * 4


def test_undefined_input_size_uses_input_size():
    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, layers.Conv2D(4, 3, padding="same", name="c", **Z)(inputs))
    assert layer_macs(model) == {"c": 224 * 224 * 4 * 27}
    assert layer_macs(model, input_size=20) == {"c": 20 * 20 * 4 * 27}
    assert layer_macs(model, input_size=(10, 20)) == {"c": 10 * 20 * 4 * 27}
    inputs = keras.Input((12, 12, 3))
    fixed = keras.Model(inputs, layers.Conv2D(4, 3, name="c", **Z)(inputs))
    assert layer_macs(fixed, input_size=224) == {"c": 10 * 10 * 4 * 27}


def test_nested_sequential_and_shared_layers():
    inner_in = keras.Input((None, None, 3))
    inner = keras.Model(inner_in, layers.Conv2D(2, 1, name="c", **Z)(inner_in), name="inner")
    inputs = keras.Input((6, 6, 3))
    shared = layers.Dense(3, name="shared", **Z)
    x = inner(inputs)
    x = layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, shared(shared(layers.Dense(3, **Z)(x))))
    macs = layer_macs(model)
    assert macs["inner/c"] == 6 * 6 * 2 * 3
    assert macs["shared"] == 2 * 3 * 3
    sequential = keras.Sequential([keras.Input((5, 5, 2)), layers.Conv2D(3, 3, name="c", **Z),
                                   layers.Flatten(), layers.Dense(4, name="d", **Z)])
    assert layer_macs(sequential) == {"c": 3 * 3 * 3 * 18, "d": 27 * 4}


def test_subclassed_model_is_refused():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.conv = layers.Conv2D(2, 1, **Z)

        def call(self, x):
            return self.conv(x)

    net = Net()
    net(keras.ops.ones((1, 4, 4, 3)))
    with pytest.raises(ValueError, match="profile"):
        profile(net)
