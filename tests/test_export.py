"""Deployment: SavedModel (dynamic batch), TFLite with builtin ops only, ONNX.

Every exported artifact is run by an independent harness (tf.saved_model.load,
the TFLite interpreter, onnxruntime) and compared with the Keras model in numpy.

Which export runs where (Keras 3.15):
- "tf_saved_model": TensorFlow and JAX backends (torch: Keras's exporter fails
  for any model with torch 2.13, a Keras/torch issue -- go through `.keras`).
- "litert" and `tf.lite.TFLiteConverter`: TensorFlow backend (torch needs the
  `litert-torch` package, JAX is not supported by Keras).
- "onnx": TensorFlow (tf2onnx) and torch backends (JAX needs `jax2onnx`, not a
  test dependency).
"""

import os
import warnings

import keras
import numpy as np
import pytest

import keras_aw
from helpers import (BACKEND, calibrate_batchnorm, images, keras_outputs, rel_err,
                     small_aw_model, to_numpy)

SIZE = 16
PARITY = 1e-5  # max |diff| / max |expected| for float32 artifacts

tf_only = pytest.mark.skipif(BACKEND != "tensorflow", reason="TFLite conversion needs the TensorFlow backend")


def assert_attention_is_per_sample(model, x):
    """Guards the parity checks: a runtime reusing one sample's kernel would fail them."""
    layer = next(l for l in model.layers if isinstance(l, keras_aw.AWConv2D))
    features = keras.Model(model.input, layer.input)(x)
    a = to_numpy(layer.attention_maps(features))
    assert np.max(np.abs(a - a[:1])) > 1e-2


@pytest.fixture(scope="module")
def small_model():
    return small_aw_model()


# --------------------------------------------------------------------------- SavedModel


@pytest.fixture(scope="module")
def saved_model_dir(small_model, tmp_path_factory):
    if BACKEND == "torch":
        pytest.skip("Keras 3.15's tf_saved_model export fails on torch for every model")
    path = str(tmp_path_factory.mktemp("export") / "saved_model")
    small_model.export(path, format="tf_saved_model", verbose=False)
    return path


def test_saved_model_serves_any_batch(small_model, saved_model_dir):
    import tensorflow as tf

    reloaded = tf.saved_model.load(saved_model_dir)
    spec = reloaded.signatures["serving_default"].structured_input_signature[1]
    (input_spec,) = spec.values()
    assert input_spec.shape.as_list() == [None, SIZE, SIZE, 3]
    for batch, seed in ((1, 1), (5, 2)):
        x = images(batch, SIZE, seed)
        served = reloaded.serve(tf.constant(x)).numpy()
        assert served.shape == (batch, 10)
        assert rel_err(served, keras_outputs(small_model, x)) < PARITY
    (by_signature,) = reloaded.signatures["serving_default"](tf.constant(x)).values()
    assert rel_err(by_signature.numpy(), served) < PARITY


# --------------------------------------------------------------------------- TFLite


def tflite_operators(content):
    """Names of the operators in a .tflite flatbuffer; custom ops as CUSTOM:<code>."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    ops = set()
    for code in model.operatorCodes:
        name = names[max(code.builtinCode, code.deprecatedBuiltinCode)]
        if name == "CUSTOM":
            name = "CUSTOM:" + code.customCode.decode()
        ops.add(name)
    return ops


def tflite_tensor_types(content):
    """The set of tensor element types (FLOAT32, FLOAT16, INT8, ...) of a .tflite flatbuffer."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    names = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    return {names[t.type] for graph in model.subgraphs for t in graph.tensors}


def assert_builtin_only(content):
    ops = tflite_operators(content)
    assert ops, "no operator found in the flatbuffer"
    custom = sorted(op for op in ops if op.startswith("CUSTOM") or op.startswith("Flex"))
    assert not custom, f"non-builtin (Flex/custom) operators: {custom}"


def tflite_interpreter(content):
    import tensorflow as tf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
        return tf.lite.Interpreter(model_content=content)


def tflite_run(interpreter, x):
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    if tuple(inp["shape"]) != x.shape:
        interpreter.resize_tensor_input(inp["index"], list(x.shape))
        interpreter.allocate_tensors()
    interpreter.set_tensor(inp["index"], x)
    interpreter.invoke()
    return interpreter.get_tensor(out["index"]).copy()


def check_tflite_parity(content, model, tolerance=PARITY, seeds=(11, 12, 13), size=SIZE):
    """Several different inputs in a row, single samples and a batch; returns the worst error."""
    interpreter = tflite_interpreter(content)
    (inp,) = interpreter.get_input_details()
    assert list(inp["shape_signature"]) == [-1, size, size, 3]
    interpreter.allocate_tensors()
    worst = 0.0
    first = None
    for seed in seeds:
        x = images(1, size, seed)
        got = tflite_run(interpreter, x)
        first = got if first is None else first
        worst = max(worst, rel_err(got, keras_outputs(model, x)))
    x = np.concatenate([images(1, size, seeds[0]), images(3, size, 99)])
    got = tflite_run(interpreter, x)
    worst = max(worst, rel_err(got, keras_outputs(model, x)))
    # The batch's first sample is the first single input: same answer, nothing cached.
    assert rel_err(got[:1], first) < tolerance
    assert worst < tolerance, f"TFLite vs Keras relative error {worst:.2e}"
    return worst


def convert_saved_model(path, quantization=None):
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(path)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantization is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantization == "float16":
        converter.target_spec.supported_types = [tf.float16]
    return converter.convert()


@tf_only
def test_tflite_converter_builtin_ops_only(small_model, saved_model_dir):
    content = convert_saved_model(saved_model_dir)
    assert_builtin_only(content)
    assert_attention_is_per_sample(small_model, images(4, SIZE, 0))
    check_tflite_parity(content, small_model)


@tf_only
def test_tflite_static_batch_of_one(small_model, tmp_path):
    """A fixed batch-1 signature (typical on phones) takes AWConv2D's convolution path."""
    import tensorflow as tf

    path = str(tmp_path / "b1.tflite")
    signature = [tf.TensorSpec((1, SIZE, SIZE, 3), tf.float32)]
    small_model.export(path, format="litert", verbose=False, input_signature=signature)
    with open(path, "rb") as f:
        content = f.read()
    assert_builtin_only(content)
    interpreter = tflite_interpreter(content)
    interpreter.allocate_tensors()
    for seed in (31, 32, 33):
        x = images(1, SIZE, seed)
        assert rel_err(tflite_run(interpreter, x), keras_outputs(small_model, x)) < PARITY


# Output drift of post-training quantization, relative to the largest logit.
QUANTIZATION_BOUNDS = {"float16": 1e-2, "dynamic_int8": 1e-1}
QUANTIZED_TYPE = {"float16": "FLOAT16", "dynamic_int8": "INT8"}


@tf_only
@pytest.mark.parametrize("quantization", sorted(QUANTIZATION_BOUNDS))
def test_tflite_post_training_quantization(small_model, saved_model_dir, quantization):
    content = convert_saved_model(saved_model_dir, quantization)
    assert_builtin_only(content)
    assert QUANTIZED_TYPE[quantization] in tflite_tensor_types(content)  # weights were quantized
    drift = check_tflite_parity(content, small_model, QUANTIZATION_BOUNDS[quantization])
    print(f"\n{quantization} drift (max abs diff / max |logit|): {drift:.2e}")


# The paper's AW networks at 32x32 (and alpha=0.25 for MobileNet: the same graph with
# fewer channels) to keep conversions fast; full-size numbers are in docs/deploy.md.
# BatchNorm statistics are calibrated on real activations: random statistics can make
# an untrained network's output independent of its input, which would void the check.
# Such random deep networks still amplify float32 rounding: Keras's own graph and eager
# outputs differ by up to 3e-5 here, the interpreter's by up to 2.2e-4 (AW-CBAM-MobileNet).
APPLICATIONS = {
    # The generic builder behind AWResNet50 with one block per stage and an identity block
    # in the first: every kind of AW bottleneck (stride 1 and 2, projection and identity)
    # at a third of ResNet50's graph, which is what the converter's time grows with.
    "ResNet": dict(stack_blocks=(2, 1, 1, 1), aw=True, input_shape=(32, 32, 3)),
    "AWSEMobileNet": dict(input_shape=(32, 32, 3), alpha=0.25),
    "AWCBAMMobileNet": dict(input_shape=(32, 32, 3), alpha=0.25),
}
APPLICATION_PARITY = 1e-3


def application(name, seed=0):
    from keras_aw import applications

    keras.utils.set_random_seed(seed)
    model = getattr(applications, name)(classes=10, classifier_activation=None,
                                        **APPLICATIONS[name])
    calibrate_batchnorm(model, images(16, 32, seed + 50))
    return model


def check_application(content, model):
    x = images(4, 32, 3)
    expected = keras_outputs(model, x)
    # outputs depend on the input far beyond the tolerance: a runtime mixing up the
    # samples' attention (or ignoring the input) would fail
    assert rel_err(expected[1:], expected[:1]) > 100 * APPLICATION_PARITY
    assert_builtin_only(content)
    return check_tflite_parity(content, model, APPLICATION_PARITY, size=32)


@tf_only
def test_tflite_aw_resnet_converter(tmp_path):
    model = application("ResNet")
    assert sum(type(layer).__name__ == "AWConv2D" for layer in model.layers) == 5
    path = str(tmp_path / "saved_model")
    model.export(path, format="tf_saved_model", verbose=False)
    check_application(convert_saved_model(path), model)


@tf_only
@pytest.mark.parametrize("name", ["AWSEMobileNet", "AWCBAMMobileNet"])
def test_tflite_aw_mobilenets_litert(name, tmp_path):
    import tensorflow as tf

    model = application(name)
    path = str(tmp_path / "m.tflite")
    if name == "AWCBAMMobileNet":  # builtin ops enforced through the exporter's converter
        options = dict(target_spec={"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]})
    else:  # Keras's default (builtins + Select TF ops): none may be used
        options = {}
    model.export(path, format="litert", verbose=False, **options)
    with open(path, "rb") as f:
        check_application(f.read(), model)


# --------------------------------------------------------------------------- ONNX


@pytest.mark.skipif(BACKEND == "jax", reason="ONNX export on JAX needs jax2onnx (not a test dependency)")
def test_onnx_dynamic_batch(small_model, tmp_path):
    import onnx
    import onnxruntime as ort

    path = str(tmp_path / "m.onnx")
    keras_outputs(small_model, images(2, SIZE, 20))  # torch's exporter needs a model called once
    small_model.export(path, format="onnx", verbose=False)
    graph_input = onnx.load(path).graph.input[0]
    dims = graph_input.type.tensor_type.shape.dim
    assert dims[0].dim_param and not dims[0].dim_value, "batch dimension is not dynamic"
    assert [d.dim_value for d in dims[1:]] == [SIZE, SIZE, 3]
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    for batch, seed in ((1, 21), (6, 22), (3, 23)):
        x = images(batch, SIZE, seed)
        (got,) = session.run(None, {name: x})
        assert got.shape == (batch, 10)
        assert rel_err(got, keras_outputs(small_model, x)) < PARITY
