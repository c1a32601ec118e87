"""Export a model to `.keras`, SavedModel, TFLite or ONNX, and check it in the target runtime.

`keras_aw.export(model, path)` (this module's `export`) writes the artifact with
Keras's own exporter and, by default, runs it in its runtime (Keras,
`tf.saved_model`, the TFLite interpreter, onnxruntime) on random images,
comparing the outputs with the Keras model's. It works from every backend: a
format the current backend cannot export (Keras 3.15: TFLite and ONNX need
TensorFlow; SavedModel needs TensorFlow or JAX) is exported by a
TensorFlow-backend subprocess from a `.keras` copy of the model (the format is
backend-independent).

A keras-hub detector (`keras_aw.detection`) exports its raw predictions
(box regressions and class logits, before NMS) to SavedModel or TFLite, on
TensorFlow, through `keras_aw.detection.export_detector` and its parity check.

Example:

>>> import tempfile, os, keras_aw
>>> model = keras_aw.create_model("AWSmallCNN", input_shape=(32, 32, 3), classes=10)
>>> result = keras_aw.export(model, os.path.join(tempfile.mkdtemp(), "aw.keras"))
>>> result.max_rel_diff < 1e-4
True
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import warnings
from typing import NamedTuple

import keras
import numpy as np

from keras_aw.utils.files import ensure_writable_dir, ensure_writable_file, load_model_file
from keras_aw._validation import check_choice, check_positive_int
from keras_aw.vocabulary import PARITY_TOLERANCE

FORMATS = ("keras", "savedmodel", "tflite", "onnx")
#: Backends whose Keras exporter handles each format for AW models (Keras 3.15).
EXPORT_BACKENDS = {"keras": ("tensorflow", "jax", "torch"), "savedmodel": ("tensorflow", "jax"),
                   "tflite": ("tensorflow",), "onnx": ("tensorflow",)}
#: Formats and backends of keras-hub detectors (`keras_aw.detection.export_detector`).
DETECTOR_FORMATS = ("savedmodel", "tflite")
DETECTOR_BACKENDS = ("tensorflow",)


def is_detector(model):
    """Whether `model` is a keras-hub object detector (as `keras_aw.detection` builds)."""
    return hasattr(model, "bounding_box_format") and hasattr(model, "prediction_decoder")


class ExportResult(NamedTuple):
    """What `export` wrote and measured.

    Attributes:
        path: the artifact (a directory for SavedModel).
        format: one of `FORMATS`.
        batch_size: None for a dynamic batch, else the fixed batch size.
        max_rel_diff: max |exported - Keras| / max |Keras| on random images, or
            None when not checked (``check=False``, or onnxruntime missing).
        backend: the Keras backend that exported it.
    """

    path: str
    format: str
    batch_size: object
    max_rel_diff: object
    backend: str


class ParityError(ValueError):
    """The exported model's outputs differ from the Keras model's beyond the tolerance."""


def format_of(path):
    """The format a path's extension implies ("savedmodel" for anything else)."""
    ext = os.path.splitext(os.fspath(path))[1].lower()
    return {".keras": "keras", ".tflite": "tflite", ".onnx": "onnx"}.get(ext, "savedmodel")


def random_images(model, batch, seed=0):
    """Uniform 0-255 float32 images of the model's input shape."""
    shape = (batch,) + tuple(model.inputs[0].shape[1:])
    return np.random.RandomState(seed).uniform(0, 255, shape).astype("float32")


def _single_output(outputs):
    flat = keras.tree.flatten(outputs)
    if len(flat) != 1:
        raise ValueError(f"export checks models with one output; this one has {len(flat)}")
    return np.asarray(keras.ops.convert_to_numpy(flat[0]), dtype="float64")


def run_tflite(path, x):
    """Runs a `.tflite` file on the batch `x` (resizing a dynamic batch); returns the output."""
    import tensorflow as tf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
        interpreter = tf.lite.Interpreter(model_path=os.fspath(path))
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    if tuple(inp["shape"]) != x.shape:
        interpreter.resize_tensor_input(inp["index"], list(x.shape))
    interpreter.allocate_tensors()
    interpreter.set_tensor(inp["index"], np.asarray(x, dtype=inp["dtype"]))
    interpreter.invoke()
    return interpreter.get_tensor(out["index"]).copy()


def _write(model, path, fmt, batch_size):
    kwargs = {}
    if batch_size is not None:
        kwargs["input_signature"] = [keras.InputSpec(
            shape=(batch_size,) + tuple(model.inputs[0].shape[1:]), dtype="float32")]
    if fmt == "keras":
        model.save(path)
    elif fmt == "savedmodel":
        model.export(path, format="tf_saved_model", verbose=False, **kwargs)
    elif fmt == "tflite":
        import tensorflow as tf

        model.export(path, format="litert", verbose=False,
                     target_spec={"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]}, **kwargs)
    else:
        model.export(path, format="onnx", verbose=False, **kwargs)


def _run(path, fmt, x):
    """The artifact's outputs on `x` in its own runtime (None: runtime not installed)."""
    if fmt == "keras":
        return _single_output(keras.saving.load_model(path)(x, training=False))
    if fmt == "savedmodel":
        import tensorflow as tf

        loaded = tf.saved_model.load(path)  # keep a reference while serving
        return _single_output(loaded.serve(x))
    if fmt == "tflite":
        return np.asarray(run_tflite(path, x), "float64")
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {session.get_inputs()[0].name: x})
    return np.asarray(got, "float64")


def _check_args(model, path, fmt, batch_size, tolerance):
    if not isinstance(model, keras.Model):
        raise TypeError(f"`model` must be a keras.Model; received {type(model).__name__}")
    if any(d is None for d in model.inputs[0].shape[1:]):
        raise ValueError(f"`model` needs a fixed input size to be exported (AW layers need "
                         f"one); its input shape is {tuple(model.inputs[0].shape)}")
    if is_detector(model):
        if fmt not in DETECTOR_FORMATS:
            raise ValueError(f"a detector exports its raw predictions (before NMS) to one of "
                             f"{DETECTOR_FORMATS}; received format={fmt!r}")
        if batch_size is not None:
            raise ValueError("a detector is exported with a dynamic batch; received "
                             f"batch_size={batch_size!r} (use None)")
    check_choice("format", fmt, FORMATS)
    if batch_size is not None:
        check_positive_int("batch_size", batch_size)
    if not (isinstance(tolerance, (int, float)) and tolerance > 0):
        raise ValueError(f"`tolerance` must be a positive number; received tolerance={tolerance!r}")
    if fmt == "savedmodel":
        ensure_writable_dir(os.path.dirname(os.path.abspath(path)))
        if os.path.isfile(path):
            raise ValueError(f"`path` {os.fspath(path)!r} is a file; a SavedModel is a directory")
    else:
        ensure_writable_file(path)


def export(model, path, format=None, check=True, batch_size=None, tolerance=PARITY_TOLERANCE):
    """Exports `model` and checks the artifact against Keras in the target runtime.

    Args:
        model: a `keras.Model` with a fixed input size, or a keras-hub detector
            from `keras_aw.detection` (raw predictions before NMS; SavedModel
            or TFLite, dynamic batch, checked by `export_detector`).
        path: the file to write (a directory for SavedModel).
        format: "keras", "savedmodel", "tflite" or "onnx"; None infers it from
            the extension (.keras, .tflite, .onnx; anything else: SavedModel).
        check: run the artifact on random 0-255 images and compare its outputs
            with the model's (``Model.predict``).
        batch_size: None exports a dynamic batch; an int fixes it.
        tolerance: the largest accepted max |exported - Keras| / max |Keras|.

    Returns:
        An `ExportResult`.

    Raises:
        ParityError: (a ValueError) the outputs differ beyond `tolerance`.
        ValueError, TypeError: bad arguments (named in the message).
    """
    path = os.fspath(path)
    fmt = format_of(path) if format is None else format
    _check_args(model, path, fmt, batch_size, tolerance)
    backend = keras.backend.backend()
    backends = DETECTOR_BACKENDS if is_detector(model) else EXPORT_BACKENDS[fmt]
    if backend not in backends:
        result = _export_in_subprocess(model, path, fmt, check, batch_size, backends[0])
    elif is_detector(model):
        from keras_aw.detection import export_detector

        done = export_detector(model, path, fmt, check=check, tolerance=float("inf"))
        result = ExportResult(path, fmt, None, done.max_rel_diff, backend)
    else:
        # Keras's ONNX exporter needs a model that has been called: predict first.
        x = random_images(model, batch_size or 2)
        expected = _single_output(model.predict(x, verbose=0))
        _write(model, path, fmt, batch_size)
        diff = None
        if check:
            got = _run(path, fmt, x)
            if got is not None:
                scale = max(float(np.abs(expected).max()), 1e-12)
                diff = float(np.max(np.abs(got - expected)) / scale)
        result = ExportResult(path, fmt, batch_size, diff, backend)
    if result.max_rel_diff is not None and result.max_rel_diff > tolerance:
        raise ParityError(f"the exported {fmt} model at {path!r} differs from the Keras model: "
                          f"max relative difference {result.max_rel_diff:.1e} > "
                          f"tolerance={tolerance:.0e}")
    return result


def _export_in_subprocess(model, path, fmt, check, batch_size, backend):
    """Saves `model` as .keras and exports it under `backend` in a child process."""
    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(tmp, "model.keras")
        model.save(source)
        command = [sys.executable, "-m", "keras_aw.deploy", source, os.path.abspath(path),
                   "--format", fmt]
        if batch_size is not None:
            command += ["--batch-size", str(batch_size)]
        if not check:
            command.append("--no-check")
        if is_detector(model):
            command.append("--detector")
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
        done = subprocess.run(command, env=env, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        message = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"exporting {fmt} under the {backend} backend failed: {message}")
    fields = json.loads(lines[-1])
    return ExportResult(path, fmt, batch_size, fields["max_rel_diff"], backend)


def _main(argv=None):
    """Child-process entry: ``python -m keras_aw.deploy MODEL.keras PATH --format F``."""
    parser = argparse.ArgumentParser(prog="python -m keras_aw.deploy")
    parser.add_argument("model")
    parser.add_argument("path")
    parser.add_argument("--format", required=True, choices=FORMATS)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--no-check", action="store_true")
    parser.add_argument("--detector", action="store_true",
                        help="a keras-hub detector (registers keras_aw.detection's classes)")
    args = parser.parse_args(argv)
    if args.detector:
        import keras_aw.detection  # noqa: F401  (registers the encoder and backbone classes)
    model = load_model_file(args.model)
    result = export(model, args.path, args.format, check=not args.no_check,
                    batch_size=args.batch_size, tolerance=float("inf"))
    print(json.dumps({"max_rel_diff": result.max_rel_diff}))
    return 0


if __name__ == "__main__":
    sys.exit(_main())
