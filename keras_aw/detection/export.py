"""Export of a detector's raw predictions to SavedModel and TFLite, checked for parity.

`export_detector` writes what calling a keras-hub `RetinaNetObjectDetector`
returns: the raw ``{"bbox_regression", "cls_logits"}`` for every anchor, before
box decoding and NMS. The SavedModel and the TFLite model take a batch of any
size (the batch dimension stays dynamic); the TFLite model uses TFLite's builtin
ops only (no Select TF ops).

Box decoding and NMS are not in the artifacts. keras-hub's `NonMaxSuppression`
is a Keras-ops padded NMS (score sorting, nested ``while_loop``s over
suppression rounds), not a call of a runtime's NMS op, and its output is a
fixed-size padded set; converting it with builtin ops only has NOT been tried
here (time), so it is not offered. A deployment decodes the regressions against
the detector's anchors (``model.anchor_generator``, keras-hub's
``decode_deltas_to_boxes``) and applies its runtime's own NMS (e.g. TFLite's
builtin ``NON_MAX_SUPPRESSION_V5`` through ``tf.image.non_max_suppression``).

Exporting needs the TensorFlow backend (Keras 3.15's TFLite path does; a
`.keras` copy of a model trained under JAX or PyTorch loads under TensorFlow).

Example:

>>> import os, tempfile
>>> import keras
>>> from keras_aw.detection import build_retinanet, MobileNetEncoder, export_detector
>>> det = build_retinanet(MobileNetEncoder(alpha=0.25, image_shape=(64, 64, 3)), 3,
...                       image_shape=(64, 64, 3), max_level=5, filters=8, head_conv_layers=1)
>>> if keras.backend.backend() == "tensorflow":  # doctest: +SKIP
...     result = export_detector(det, os.path.join(tempfile.mkdtemp(), "det"))
...     assert result.max_rel_diff < 1e-4
"""

import os
from typing import Callable, NamedTuple

import keras
import numpy as np

from keras_aw.vocabulary import PARITY_TOLERANCE

FORMATS = ("savedmodel", "tflite")
OUTPUTS = ("bbox_regression", "cls_logits")


class DetectorExport(NamedTuple):
    """What `export_detector` wrote.

    Attributes:
        path: the SavedModel directory or the .tflite file.
        format: "savedmodel" or "tflite".
        max_rel_diff: the largest max |exported - Keras| / max |Keras| over both
            outputs on the check images (None when not checked).
        run: a function of an (N, H, W, 3) float32 array returning the exported
            model's ``{"bbox_regression", "cls_logits"}`` as NumPy arrays.
    """

    path: str
    format: str
    max_rel_diff: float
    run: Callable


def _check(model, path, format, tolerance):
    if not hasattr(model, "bounding_box_format") or not isinstance(model, keras.Model):
        raise TypeError(
            "`model` must be a keras-hub RetinaNetObjectDetector (e.g. from build_retinanet); "
            f"received model={model!r}"
        )
    if format not in FORMATS:
        raise ValueError(f"`format` must be one of {FORMATS}; received format={format!r}")
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise TypeError(f"`path` must be a file path; received path={path!r}")
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or tolerance <= 0:
        raise ValueError(f"`tolerance` must be a number > 0; received tolerance={tolerance!r}")
    if keras.backend.backend() != "tensorflow":
        raise ValueError(
            "export_detector needs the TensorFlow backend (KERAS_BACKEND=tensorflow); "
            f"the current backend is {keras.backend.backend()!r}. Save the model as .keras "
            "and load it under TensorFlow."
        )


def _savedmodel_runner(path):
    import tensorflow as tf

    loaded = tf.saved_model.load(path)  # kept alive: `serve` reads its variables

    def run(x):
        out = loaded.serve(tf.constant(np.asarray(x, np.float32)))
        return {k: np.asarray(out[k]) for k in OUTPUTS}

    return run


def _tflite_runner(path):
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_path=path)
    runner = interpreter.get_signature_runner()
    (input_name,) = runner.get_input_details()

    def run(x):
        out = runner(**{input_name: np.asarray(x, np.float32)})
        return {k: np.asarray(out[k]) for k in OUTPUTS}

    return run


def export_detector(model, path, format="savedmodel", check=True, tolerance=PARITY_TOLERANCE,
                    seed=0, saved_model=None):
    """Writes a detector's raw predictions (before NMS) as a SavedModel or a TFLite model.

    Args:
        model: a keras-hub `RetinaNetObjectDetector` (e.g. from `build_retinanet`).
        path: the SavedModel directory, or the .tflite file.
        format: "savedmodel" or "tflite" (builtin ops only).
        check: run the artifact in its runtime (``tf.saved_model`` / the TFLite
            interpreter) on random images, batches of 1 and 2, and raise if its
            outputs differ from the Keras model's by more than `tolerance`.
        tolerance: bound of max |exported - Keras| / max |Keras| per output.
        seed: seed of the check images.
        saved_model: with ``format="tflite"``, a SavedModel directory this function
            already wrote for the same model, converted instead of exporting again.

    Returns:
        A `DetectorExport` (path, format, max_rel_diff, run).

    Raises:
        TypeError: `model` is not a keras-hub detector, or `path` is not a path.
        ValueError: an unknown `format`, a bad `tolerance`, a backend other than
            TensorFlow, or (with `check`) a parity failure.
    """
    _check(model, path, format, tolerance)
    path = os.fspath(path)
    if format == "savedmodel":
        model.export(path, format="tf_saved_model", verbose=False)
        run = _savedmodel_runner(path)
    else:
        import tensorflow as tf

        with _temporary_dir() as tmp:
            if saved_model is None:
                model.export(tmp, format="tf_saved_model", verbose=False)
            elif not os.path.isfile(os.path.join(os.fspath(saved_model), "saved_model.pb")):
                raise ValueError(
                    f"`saved_model` must be a SavedModel directory; received "
                    f"saved_model={saved_model!r}"
                )
            converter = tf.lite.TFLiteConverter.from_saved_model(
                tmp if saved_model is None else os.fspath(saved_model))
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
            flatbuffer = converter.convert()
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        with open(path, "wb") as f:
            f.write(flatbuffer)
        run = _tflite_runner(path)
    max_rel = None
    if check:
        rng = np.random.RandomState(seed)
        max_rel = 0.0
        for batch in (1, 2):
            x = rng.uniform(0, 1, (batch,) + tuple(model.inputs[0].shape[1:])).astype("float32")
            expected = model(x, training=False)
            got = run(x)
            for key in OUTPUTS:
                e = keras.ops.convert_to_numpy(expected[key])
                diff = float(np.max(np.abs(got[key] - e)) / max(np.max(np.abs(e)), 1e-12))
                max_rel = max(max_rel, diff)
        if max_rel > tolerance:
            raise ValueError(
                f"the exported {format} model differs from the Keras model: max relative "
                f"difference {max_rel:.2e} > tolerance={tolerance}"
            )
    return DetectorExport(path, format, max_rel, run)


def _temporary_dir():
    import tempfile

    return tempfile.TemporaryDirectory()
