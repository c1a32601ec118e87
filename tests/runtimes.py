"""Test helper: run an exported model in its own runtime, independently of keras_aw.deploy.

Used to check parity numbers that the code under test also prints: the test
measures them again here, with its own interpreter/session code.
"""

import os
import warnings

import numpy as np


def run_exported(path, fmt, x):
    """Outputs of the artifact at `path` ("keras", "savedmodel", "tflite", "onnx") on batch `x`."""
    x = np.asarray(x, "float32")
    if fmt == "keras":
        import keras

        import keras_aw  # noqa: F401 - registers the layers

        return keras.ops.convert_to_numpy(keras.saving.load_model(path).predict(x, verbose=0))
    if fmt == "savedmodel":
        import tensorflow as tf

        served = tf.saved_model.load(path)
        return np.asarray(served.serve(x))
    if fmt == "tflite":
        import tensorflow as tf

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            interpreter = tf.lite.Interpreter(model_path=os.fspath(path))
        inp = interpreter.get_input_details()[0]
        interpreter.resize_tensor_input(inp["index"], list(x.shape))
        interpreter.allocate_tensors()
        interpreter.set_tensor(inp["index"], x)
        interpreter.invoke()
        return interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).copy()
    if fmt == "onnx":
        import onnxruntime as ort

        session = ort.InferenceSession(os.fspath(path), providers=["CPUExecutionProvider"])
        return session.run(None, {session.get_inputs()[0].name: x})[0]
    raise ValueError(f"unknown format {fmt!r}")
