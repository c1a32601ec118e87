"""AWConv2D as a drop-in for keras.layers.Conv2D: Keras's own Conv2D cases, run on AWConv2D.

The cases are ported from Keras's keras/src/layers/convolutional/conv_test.py (shapes,
NumPy correctness, bad arguments, invalid configurations); `groups > 1` cases run with
`groups=1`, since AWConv2D refuses grouped convolution. Correctness is checked against
tests/reference.py: each sample ``n`` is convolved with ``K ⊙ (1 + A[n])``, A computed by
the reference's own attention branch from the layer's weights.
"""

import inspect

import keras
import numpy as np
import pytest

import reference as ref
from helpers import randomize_batchnorm, rel_err, to_numpy
from keras_aw import AWConv2D

AW_ONLY = {"attention_reduction", "reduction_c1", "reduction_c2", "residual"}


def _base_conv_init():
    """Conv2D's base class __init__ (it declares lora_rank/lora_alpha, Conv2D passes **kwargs)."""
    return keras.layers.Conv2D.__mro__[1].__init__


def test_every_conv2d_argument_with_the_same_default():
    aw = inspect.signature(AWConv2D.__init__).parameters
    for init in (keras.layers.Conv2D.__init__, _base_conv_init()):
        for name, param in inspect.signature(init).parameters.items():
            if name in ("self", "rank", "kwargs"):
                continue
            assert name in aw, f"AWConv2D lacks Conv2D's argument {name!r}"
            if init is keras.layers.Conv2D.__init__ or name.startswith("lora"):
                assert aw[name].default == param.default, name


def test_every_public_conv2d_method_and_attribute():
    public = {n for n in dir(keras.layers.Conv2D) if not n.startswith("_")}
    assert public <= set(dir(AWConv2D))
    assert {"convolution_op", "enable_lora", "kernel"} <= public


CONFIG_KWARGS = dict(
    filters=4, kernel_size=(3, 2), strides=(2, 1), padding="same", data_format="channels_last",
    dilation_rate=(1, 1), activation="relu", use_bias=False, kernel_initializer="he_normal",
    bias_initializer="ones", kernel_regularizer="l2", bias_regularizer="l1",
    activity_regularizer="l2", kernel_constraint=None, bias_constraint="non_neg",
    lora_rank=2, lora_alpha=3, name="conv", dtype="float32", trainable=True,
)


def test_config_holds_conv2d_config():
    conv = keras.layers.Conv2D(**CONFIG_KWARGS).get_config()
    aw = AWConv2D(**CONFIG_KWARGS).get_config()
    assert set(aw) - set(conv) == AW_ONLY
    for key, value in conv.items():
        assert aw[key] == value, key
    assert AWConv2D.from_config(aw).get_config() == aw


# Keras's test_conv2d_basic cases (groups=2 -> 1), plus channels_first.
SHAPE_CASES = [
    dict(filters=5, kernel_size=2, strides=1, padding="valid", dilation_rate=1,
         input_shape=(3, 5, 5, 4), output_shape=(3, 4, 4, 5)),
    dict(filters=6, kernel_size=2, strides=1, padding="same", dilation_rate=(2, 2),
         input_shape=(3, 4, 4, 4), output_shape=(3, 4, 4, 6)),
    dict(filters=6, kernel_size=(2, 2), strides=(2, 1), padding="valid", dilation_rate=(1, 1),
         input_shape=(3, 5, 5, 4), output_shape=(3, 2, 4, 6)),
    dict(filters=6, kernel_size=3, strides=2, padding="same", dilation_rate=1,
         data_format="channels_first", input_shape=(3, 4, 7, 5), output_shape=(3, 6, 4, 3)),
    dict(filters=3, kernel_size=(1, 3), strides=(1, 2), padding="SAME", dilation_rate=1,
         input_shape=(2, 5, 6, 3), output_shape=(2, 5, 3, 3)),  # padding is case-insensitive
]


@pytest.mark.parametrize("case", range(len(SHAPE_CASES)))
def test_shapes_and_weights_as_conv2d(case):
    kwargs = dict(SHAPE_CASES[case])
    input_shape, output_shape = kwargs.pop("input_shape"), kwargs.pop("output_shape")
    x = np.random.RandomState(case).randn(*input_shape).astype("float32")
    conv, aw = keras.layers.Conv2D(**kwargs), AWConv2D(**kwargs, attention_reduction=2)
    assert tuple(to_numpy(aw(x)).shape) == output_shape
    if kwargs.get("data_format") == "channels_first":  # TensorFlow's CPU Conv2D: NHWC only
        conv.build(input_shape)
    else:
        assert tuple(to_numpy(conv(x)).shape) == output_shape
    for shape in (input_shape, (None,) + input_shape[1:]):
        assert aw.compute_output_shape(shape) == conv.compute_output_shape(shape)
    symbolic = AWConv2D(**kwargs)(keras.Input(input_shape[1:]))
    assert tuple(symbolic.shape) == (None,) + output_shape[1:]
    assert aw.kernel.shape == conv.kernel.shape and aw.bias.shape == conv.bias.shape
    # Conv2D's two weights, then the attention branch: 2 conv kernels, 2 BatchNorms.
    assert len(aw.trainable_weights) == 2 + 2 + 4 and len(aw.non_trainable_weights) == 4
    assert aw.weights[:2] == [aw.kernel, aw.bias]


# Keras's ConvCorrectnessTest.test_conv2d cases (groups=2 -> 1).
CORRECTNESS_CASES = [
    dict(filters=5, kernel_size=2, strides=1, padding="valid", dilation_rate=1),
    dict(filters=4, kernel_size=3, strides=2, padding="same", dilation_rate=1),
    dict(filters=6, kernel_size=2, strides=1, padding="same", dilation_rate=(2, 2)),
    dict(filters=6, kernel_size=2, strides=1, padding="same", dilation_rate=(2, 3)),
    dict(filters=6, kernel_size=(4, 3), strides=(2, 1), padding="valid", dilation_rate=(1, 1)),
    dict(filters=6, kernel_size=(4, 3), strides=(2, 1), padding="valid", dilation_rate=(1, 1),
         data_format="channels_first"),
]


def _bn(layer):
    return [to_numpy(layer.gamma), to_numpy(layer.beta), to_numpy(layer.moving_mean),
            to_numpy(layer.moving_variance), layer.epsilon]


def reference(layer, x_last, kernel, bias):
    """The per-sample reference: sample n convolved with kernel ⊙ (1 + A[n]) (+ bias)."""
    a = ref.attention(
        x_last, kernel.shape,
        to_numpy(layer.attention_conv1.kernel)[0, 0], _bn(layer.attention_bn1),
        to_numpy(layer.attention_conv2.kernel)[0, 0], _bn(layer.attention_bn2),
        x_last.shape[-1], 1,
    )
    return ref.aw_conv2d(x_last, kernel, bias, a, layer.strides, layer.padding,
                         layer.dilation_rate, residual=True)


@pytest.mark.parametrize("lora", [False, True])
@pytest.mark.parametrize("case", range(len(CORRECTNESS_CASES)))
def test_matches_numpy_reference(case, lora):
    kwargs = CORRECTNESS_CASES[case]
    rng = np.random.RandomState(case)
    inputs = rng.normal(size=[2, 8, 8, 4]).astype("float32")  # as Keras's test
    layer = AWConv2D(**kwargs, attention_reduction=2)
    layer.build(inputs.shape)
    kernel = rng.normal(size=layer.kernel.shape).astype("float32")
    bias = rng.normal(size=(kwargs["filters"],)).astype("float32")
    layer.kernel.assign(kernel)
    layer.bias.assign(bias)
    randomize_batchnorm(layer, seed=case)
    if lora:
        layer.enable_lora(2, lora_alpha=3.0)
        a = rng.normal(size=layer.lora_kernel_a.shape).astype("float32")
        b = rng.normal(size=layer.lora_kernel_b.shape).astype("float32")
        layer.lora_kernel_a.assign(a)
        layer.lora_kernel_b.assign(b)
        kernel = kernel + 1.5 * (a.reshape(-1, 2) @ b).reshape(kernel.shape)
    outputs = to_numpy(layer(inputs, training=False))
    channels_first = kwargs.get("data_format") == "channels_first"
    x_last = np.transpose(inputs, (0, 2, 3, 1)) if channels_first else inputs
    expected = reference(layer, x_last, kernel, bias)
    if channels_first:
        expected = np.transpose(expected, (0, 3, 1, 2))
    assert outputs.shape == expected.shape
    assert rel_err(outputs, expected) < 1e-5


# Keras's test_bad_init_args for Conv2D, and groups > 1, which AWConv2D refuses.
BAD_INIT = [
    (dict(filters=0, kernel_size=1), "filters"),
    (dict(filters=2, kernel_size=(1, 0)), "kernel_size"),
    (dict(filters=2, kernel_size=(2, 2), strides=(1, 0)), "strides"),
    (dict(filters=2, kernel_size=(2, 2), strides=2, dilation_rate=(2, 1)), "dilation_rate"),
    (dict(filters=5, kernel_size=(2, 2), groups=0), "groups"),
    (dict(filters=6, kernel_size=(2, 2), groups=2), "groups"),
    (dict(filters=4, kernel_size=2, padding="causal"), "padding"),
]


@pytest.mark.parametrize("kwargs, argument", BAD_INIT)
def test_bad_init_args(kwargs, argument):
    if kwargs.get("groups") != 2:  # Conv2D itself accepts groups=2
        with pytest.raises(ValueError):
            keras.layers.Conv2D(**kwargs)
    with pytest.raises(ValueError, match=argument):
        AWConv2D(**kwargs)


def test_symbolic_invalid_configuration():
    """Keras's case: a dilated kernel larger than the input is refused when called."""
    inputs = keras.Input((10, 10, 3))
    for cls in (keras.layers.Conv2D, AWConv2D):
        with pytest.raises(ValueError):
            cls(filters=1, kernel_size=(2, 2), dilation_rate=(10, 10))(inputs)


def test_raises_on_zero_dims():
    """Keras's case: a 5x5 "valid" kernel on a 4x4 input."""
    x = np.random.rand(3, 4, 4, 4).astype("float32")
    for cls in (keras.layers.Conv2D, AWConv2D):
        with pytest.raises(Exception):
            cls(6, [5, 5], 1, "valid")(x)


def test_constraints():
    """Keras's test_conv_constraints."""
    layer = AWConv2D(filters=4, kernel_size=3, kernel_constraint="non_neg")
    layer.build((None, 5, 5, 3))
    assert isinstance(layer.kernel.constraint, keras.constraints.NonNeg)
    layer = AWConv2D(filters=4, kernel_size=3, bias_constraint="non_neg")
    layer.build((None, 5, 5, 3))
    assert isinstance(layer.bias.constraint, keras.constraints.NonNeg)


def test_convolution_op_is_conv2d_s():
    """The public `convolution_op` is Conv2D's plain convolution with a given kernel."""
    x = np.random.RandomState(0).randn(2, 6, 6, 3).astype("float32")
    kwargs = dict(filters=4, kernel_size=3, strides=2, padding="same")
    conv, aw = keras.layers.Conv2D(**kwargs), AWConv2D(**kwargs)
    conv.build(x.shape)
    aw.build(x.shape)
    kernel = np.random.RandomState(1).randn(3, 3, 3, 4).astype("float32")
    np.testing.assert_allclose(to_numpy(aw.convolution_op(x, kernel)),
                               to_numpy(conv.convolution_op(x, kernel)), rtol=1e-6, atol=1e-6)


def test_regularizers_as_conv2d():
    """Kernel, bias and activity regularizers add the same losses as on Conv2D."""
    kwargs = dict(filters=4, kernel_size=3, kernel_regularizer="l2", bias_regularizer="l1",
                  activity_regularizer="l2")
    x = np.random.RandomState(0).randn(2, 6, 6, 3).astype("float32")
    conv, aw = keras.layers.Conv2D(**kwargs), AWConv2D(**kwargs)
    conv.build(x.shape)
    aw.build(x.shape)
    rng = np.random.RandomState(1)
    for name in ("kernel", "bias"):
        value = rng.randn(*getattr(conv, name).shape).astype("float32")
        getattr(conv, name).assign(value)
        getattr(aw, name).assign(value)
    weight_losses = [to_numpy(loss) for loss in aw.losses]
    assert len(weight_losses) == 2
    np.testing.assert_allclose(weight_losses, [to_numpy(loss) for loss in conv.losses],
                               rtol=1e-6)
    y = to_numpy(aw(x))
    losses = [to_numpy(loss) for loss in aw.losses]
    assert len(losses) == 3  # the weights' two, and the output's (l2 0.01, per sample)
    activity = 0.01 * np.sum(y.astype("float64") ** 2) / x.shape[0]
    assert min(abs(loss - activity) / activity for loss in losses) < 1e-5


def test_quantize_as_conv2d():
    """Keras 3.15's Conv2D has no quantized mode; AWConv2D refuses it the same way."""
    errors = []
    for cls in (keras.layers.Conv2D, AWConv2D):
        layer = cls(4, 3)
        layer.build((None, 6, 6, 3))
        with pytest.raises(Exception) as info:
            layer.quantize("int8")
        errors.append(type(info.value))
    assert errors[0] is errors[1]
