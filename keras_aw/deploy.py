"""Export a classifier or a detector, and check it in the target runtime: `keras_aw.export`.

`keras_aw.export(model, path)` (this module's `export`) writes the artifact with
Keras's own exporter and, by default, runs it in its runtime (Keras,
`tf.saved_model`, the TFLite interpreter, onnxruntime) on random images,
comparing the outputs with the Keras model's. One table, `EXPORT_TABLE` (read
from ``export_formats.json``, which the command line reads too), says which
formats exist, their file suffix, and which backends' Keras exporter writes
each for a classifier and for a detector. A format the current backend cannot
export (Keras 3.15: TFLite and ONNX need TensorFlow; SavedModel needs
TensorFlow or JAX) is exported by a TensorFlow-backend subprocess from a
`.keras` copy of the model (the format is backend-independent).

A keras-hub detector (`keras_aw.detection`) exports its raw predictions (box
regressions and class logits for every anchor, before box decoding and NMS) to
SavedModel or TFLite (builtin ops only) with a dynamic batch; `export_detector`
(also `keras_aw.detection.export_detector`) is the same path with the
detector's own options and returns a runner of the artifact. keras-hub's
`NonMaxSuppression` is a Keras-ops padded NMS, not a call of a runtime's NMS
op, so it is not in the artifacts: a deployment decodes the regressions against
the detector's anchors (``model.anchor_generator``, keras-hub's
``decode_deltas_to_boxes``) and applies its runtime's own NMS.

A keras-hub model (a keras_aw backbone, a classifier or a detector of
`keras_aw.detection`) also exports as a keras-hub preset (``format="preset"``,
any backend): the directory ``save_to_preset`` writes, checked by loading it
back with keras-hub's ``from_preset`` of the model's generic class
(``keras_hub.models.Backbone``, ``ImageClassifier``, ``ObjectDetector``). A
task built from keras-hub's base class on a backbone that has a task class of
its own (`keras_aw.detection.GraphImageClassifier` for a `GraphBackbone`,
keras-hub's ``ResNetImageClassifier`` for a ``ResNetBackbone``) is saved as that
class, which is what ``from_preset`` looks for.

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
from typing import Callable, NamedTuple

import keras
import numpy as np

from keras_aw._validation import check_choice, check_positive_int
from keras_aw.utils.files import ensure_writable_dir, ensure_writable_file, load_model_file
from keras_aw.vocabulary import PARITY_TOLERANCE


class ExportFormat(NamedTuple):
    """One row of `EXPORT_TABLE`.

    Attributes:
        suffix: the file suffix that implies the format (None: a directory).
        classifier: the backends whose Keras exporter writes it for a classifier.
        detector: the backends that write a detector's raw predictions (empty:
            not offered for detectors); for a "keras-hub" format, the whole detector.
        models: "any" (any `keras.Model`) or "keras-hub" (keras-hub Backbones and
            Tasks only: the preset).
    """

    suffix: object
    classifier: tuple
    detector: tuple
    models: str = "any"


def _read_table():
    with open(os.path.join(os.path.dirname(__file__), "export_formats.json")) as f:
        rows = json.load(f)
    return {name: ExportFormat(row["suffix"], tuple(row["classifier"]), tuple(row["detector"]),
                               row.get("models", "any"))
            for name, row in rows.items()}


#: The one list of export formats: format -> `ExportFormat` (Keras 3.15's exporters).
EXPORT_TABLE = _read_table()
FORMATS = tuple(EXPORT_TABLE)
#: Backends whose Keras exporter handles each format for AW classifiers.
EXPORT_BACKENDS = {name: row.classifier for name, row in EXPORT_TABLE.items()}
#: Formats and backends of keras-hub detectors' raw predictions (`export_detector`).
DETECTOR_FORMATS = tuple(name for name, row in EXPORT_TABLE.items()
                         if row.detector and row.models == "any")
DETECTOR_BACKENDS = tuple(sorted({b for row in EXPORT_TABLE.values() if row.models == "any"
                                  for b in row.detector}))
#: Formats that hold a keras-hub model whole (Backbone or Task): the preset.
HUB_FORMATS = tuple(name for name, row in EXPORT_TABLE.items() if row.models == "keras-hub")
#: What a detector's artifact returns: its raw predictions, before NMS.
DETECTOR_OUTPUTS = ("bbox_regression", "cls_logits")


def is_detector(model):
    """Whether `model` is a keras-hub object detector (as `keras_aw.detection` builds)."""
    return hasattr(model, "bounding_box_format") and hasattr(model, "prediction_decoder")


def is_hub_model(model):
    """Whether `model` is a keras-hub Backbone or Task (it can ``save_to_preset``)."""
    return isinstance(model, keras.Model) and callable(getattr(model, "save_to_preset", None))


def backends_for(fmt, detector=False):
    """The backends that can write format `fmt` for a classifier (or a detector)."""
    row = EXPORT_TABLE[fmt]
    return row.detector if detector else row.classifier


class ExportResult(NamedTuple):
    """What `export` wrote and measured.

    Attributes:
        path: the artifact (a directory for SavedModel and preset).
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


class ParityError(ValueError):
    """The exported model's outputs differ from the Keras model's beyond the tolerance."""


def format_of(path):
    """The format a path's extension implies ("savedmodel" for anything else)."""
    ext = os.path.splitext(os.fspath(path))[1].lower()
    suffixes = {row.suffix: name for name, row in EXPORT_TABLE.items() if row.suffix}
    return suffixes.get(ext, "savedmodel")


def random_images(model, batch, seed=0, high=255.0):
    """Uniform 0-`high` float32 images of the model's input shape."""
    shape = (batch,) + tuple(model.inputs[0].shape[1:])
    return np.random.RandomState(seed).uniform(0, high, shape).astype("float32")


def _named(outputs):
    """Model or runtime outputs as a dict of NumPy arrays (by name, or output_i)."""
    if not isinstance(outputs, dict):
        outputs = {f"output_{i}": v for i, v in enumerate(keras.tree.flatten(outputs))}
    return {k: np.asarray(keras.ops.convert_to_numpy(v)) for k, v in outputs.items()}


def _max_rel_diff(expected, got):
    """max |got - expected| / max |expected|, the largest over the outputs."""
    if len(expected) == 1 and len(got) == 1:
        pairs = [(next(iter(expected.values())), next(iter(got.values())))]
    else:
        pairs = [(value, got[key]) for key, value in expected.items()]
    pairs = [(np.asarray(e, "float64"), np.asarray(g, "float64")) for e, g in pairs]
    return max(float(np.max(np.abs(g - e)) / max(float(np.max(np.abs(e))), 1e-12))
               for e, g in pairs)


def tflite_runner(path):
    """The one TFLite runner: a function of a batch returning a `.tflite` model's outputs.

    The model's serving signature is run with the TFLite interpreter (a batch
    of another size resizes a dynamic batch); the outputs come as a dict of
    NumPy arrays by output name.
    """
    import tensorflow as tf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
        interpreter = tf.lite.Interpreter(model_path=os.fspath(path))
    runner = interpreter.get_signature_runner()
    (input_name,) = runner.get_input_details()

    def run(x):
        out = runner(**{input_name: np.asarray(x, np.float32)})
        return {k: np.asarray(v) for k, v in out.items()}

    return run


def run_tflite(path, x):
    """Runs a `.tflite` file on the batch `x`; returns its output (a dict if several)."""
    out = tflite_runner(path)(x)
    return next(iter(out.values())) if len(out) == 1 else out


def runner(path, fmt):
    """A function of a batch returning the artifact's outputs in its own runtime.

    Returns None for ONNX when onnxruntime is not installed.
    """
    if fmt == "keras":
        loaded = keras.saving.load_model(path)
        return lambda x: _named(loaded(x, training=False))
    if fmt in HUB_FORMATS:
        loaded = load_preset(path)
        return lambda x: _named(loaded(x, training=False))
    if fmt == "savedmodel":
        import tensorflow as tf

        loaded = tf.saved_model.load(path)  # kept alive: `serve` reads its variables
        return lambda x: _named(loaded.serve(tf.constant(np.asarray(x, np.float32))))
    if fmt == "tflite":
        return tflite_runner(path)
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]

    def run(x):
        got = session.run(None, {session.get_inputs()[0].name: np.asarray(x, np.float32)})
        return dict(zip(names, got))

    return run


def _write(model, path, fmt, batch_size, saved_model=None):
    """Writes the artifact with Keras's exporter (a detector's TFLite: from a SavedModel)."""
    kwargs = {}
    if batch_size is not None:
        kwargs["input_signature"] = [keras.InputSpec(
            shape=(batch_size,) + tuple(model.inputs[0].shape[1:]), dtype="float32")]
    if fmt == "keras":
        model.save(path)
    elif fmt == "savedmodel":
        model.export(path, format="tf_saved_model", verbose=False, **kwargs)
    elif fmt == "tflite" and is_detector(model):
        _write_tflite_from_savedmodel(model, path, saved_model)
    elif fmt == "tflite":
        import tensorflow as tf

        model.export(path, format="litert", verbose=False,
                     target_spec={"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]}, **kwargs)
    else:
        model.export(path, format="onnx", verbose=False, **kwargs)


def _write_tflite_from_savedmodel(model, path, saved_model=None):
    """TFLite (builtin ops) converted from `saved_model`, or from a SavedModel of `model`."""
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as tmp:
        if saved_model is None:
            model.export(tmp, format="tf_saved_model", verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(
            tmp if saved_model is None else os.fspath(saved_model))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        flatbuffer = converter.convert()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "wb") as f:
        f.write(flatbuffer)


def _check_batches(model, batch_size, seed):
    """The check images: detectors batches of 1 and 2 in [0, 1]; classifiers one 0-255 batch."""
    if is_detector(model):
        rng = np.random.RandomState(seed)
        shape = tuple(model.inputs[0].shape[1:])
        return [rng.uniform(0, 1, (batch,) + shape).astype("float32") for batch in (1, 2)]
    return [random_images(model, batch_size or 2, seed)]


def _expected(model, x):
    if is_detector(model):
        out = model(x, training=False)
        return _named({k: out[k] for k in DETECTOR_OUTPUTS})
    out = _named(model.predict(x, verbose=0))
    if len(out) != 1:
        raise ValueError(f"export checks models with one output; this one has {len(out)}")
    return out


# --- keras-hub presets (the keras-hub extra: keras_hub is imported only here) ---------------


def _generic_class(cls):
    """keras-hub's most generic class with a `from_preset` that finds `cls` (mro order)."""
    import keras_hub

    if issubclass(cls, keras_hub.models.Backbone):
        return keras_hub.models.Backbone
    mro = cls.__mro__
    return mro[mro.index(keras_hub.models.Task) - 1]


def preset_model(model):
    """`model` as the class keras-hub's `from_preset` picks for its backbone (see `export`).

    keras-hub's ``from_preset`` of a task class reads the preset's backbone class
    and takes the registered subclass whose ``backbone_cls`` is it. A task built
    from a base class (``keras_hub.models.ImageClassifier(backbone=...)``) is
    rebuilt as that subclass from its config, with its weights; any other model
    is returned as it is.
    """
    import keras_hub

    if not isinstance(model, keras_hub.models.Task) or model.backbone is None:
        return model
    backbone_cls = type(model.backbone)
    if type(model).backbone_cls is backbone_cls:
        return model
    found = sorted((c for c in set(keras.saving.get_custom_objects().values())
                    if isinstance(c, type) and issubclass(c, type(model))
                    and getattr(c, "backbone_cls", None) is backbone_cls),
                   key=lambda c: c.__name__)
    if not found:
        return model
    rebuilt = found[0].from_config(model.get_config())
    rebuilt.set_weights(model.get_weights())
    return rebuilt


def load_preset(path):
    """A keras-hub preset directory loaded with ``from_preset`` of its generic class.

    ``keras_hub.models.Backbone`` for a backbone's preset; for a task's, the
    keras-hub class right below ``Task`` above the saved class
    (``ImageClassifier``, ``ObjectDetector``, ...). The preset's classes must be
    registered with Keras (for keras_aw's: ``import keras_aw.detection.tasks``).
    """
    import keras_hub

    path = os.fspath(path)
    task_file = os.path.join(path, "task.json")
    if not os.path.isfile(task_file):
        return keras_hub.models.Backbone.from_preset(path)
    with open(task_file, encoding="utf-8") as f:
        name = json.load(f)["registered_name"]
    cls = keras.saving.get_registered_object(name)
    if not isinstance(cls, type) or not issubclass(cls, keras_hub.models.Task):
        raise ValueError(f"the preset {path!r} holds a {name!r}, which is not a registered "
                         "keras-hub Task class; import the module that defines it "
                         "(keras_aw's: keras_aw.detection.tasks)")
    return _generic_class(cls).from_preset(path)


def _export_preset(model, path, check, seed=0):
    """Writes `model` as a keras-hub preset and (with `check`) loads it back: (diff, run)."""
    model = preset_model(model)
    batches = _check_batches(model, None, seed)
    expected = [_named(model(x, training=False)) for x in batches] if check else []
    model.save_to_preset(path)
    if not check:
        return None, None
    run = runner(path, "preset")
    return max(_max_rel_diff(e, run(x)) for x, e in zip(batches, expected)), run


def _export_here(model, path, fmt, check, batch_size, seed=0, saved_model=None):
    """Writes and (with `check`) measures the artifact under this backend: (diff, run)."""
    if fmt in HUB_FORMATS:
        return _export_preset(model, path, check, seed)
    batches = _check_batches(model, batch_size, seed)
    # Keras's ONNX exporter needs a model that has been called: predict first.
    expected = [_expected(model, x) for x in batches] if check or not is_detector(model) else []
    _write(model, path, fmt, batch_size, saved_model)
    run = runner(path, fmt) if check or is_detector(model) else None
    diff = None
    if check and run is not None:
        diff = max(_max_rel_diff(e, run(x)) for x, e in zip(batches, expected))
    return diff, run


def _check_args(model, path, fmt, batch_size, tolerance):
    if not isinstance(model, keras.Model):
        raise TypeError(f"`model` must be a keras.Model; received {type(model).__name__}")
    if any(d is None for d in model.inputs[0].shape[1:]):
        raise ValueError(f"`model` needs a fixed input size to be exported (AW layers need "
                         f"one); its input shape is {tuple(model.inputs[0].shape)}")
    check_choice("format", fmt, FORMATS)
    if fmt in HUB_FORMATS:
        if not is_hub_model(model):
            raise ValueError(f"a {fmt} holds a keras-hub Backbone or Task (e.g. a keras_aw "
                             f"detector, GraphBackbone or GraphImageClassifier); received a "
                             f"{type(model).__name__}")
        if batch_size is not None:
            raise ValueError(f"a {fmt} holds the model, not a trace at a batch size; "
                             f"received batch_size={batch_size!r} (use None)")
    elif is_detector(model):
        if fmt not in DETECTOR_FORMATS:
            raise ValueError(f"a detector exports its raw predictions (before NMS) to one of "
                             f"{DETECTOR_FORMATS}; received format={fmt!r}")
        if batch_size is not None:
            raise ValueError("a detector is exported with a dynamic batch; received "
                             f"batch_size={batch_size!r} (use None)")
    if batch_size is not None:
        check_positive_int("batch_size", batch_size)
    if isinstance(tolerance, bool) or not (isinstance(tolerance, (int, float)) and tolerance > 0):
        raise ValueError(f"`tolerance` must be a positive number; received tolerance={tolerance!r}")
    if EXPORT_TABLE[fmt].suffix is None:  # a directory: SavedModel, preset
        ensure_writable_dir(os.path.dirname(os.path.abspath(path)))
        if os.path.isfile(path):
            raise ValueError(f"`path` {os.fspath(path)!r} is a file; a {fmt} is a directory")
    else:
        ensure_writable_file(path)


def _check_parity(fmt, path, diff, tolerance):
    if diff is not None and diff > tolerance:
        raise ParityError(f"the exported {fmt} model at {path!r} differs from the Keras model: "
                          f"max relative difference {diff:.1e} > tolerance={tolerance:.0e}")


def export(model, path, format=None, check=True, batch_size=None, tolerance=PARITY_TOLERANCE):
    """Exports `model` and checks the artifact against Keras in the target runtime.

    Args:
        model: a `keras.Model` with a fixed input size, or a keras-hub detector
            from `keras_aw.detection` (raw predictions before NMS; SavedModel
            or TFLite, dynamic batch; see `EXPORT_TABLE`). "preset": a keras-hub
            Backbone or Task (a keras_aw backbone, classifier or detector).
        path: the file to write (a directory for SavedModel and preset).
        format: one of `FORMATS` ("keras", "savedmodel", "tflite", "onnx",
            "preset"); None infers it from the extension (.keras, .tflite,
            .onnx; anything else: SavedModel).
        check: run the artifact on random images and compare its outputs with
            the model's (a classifier: one batch of 0-255 images through
            ``Model.predict``; a detector: batches of 1 and 2; a preset: loaded
            with keras-hub's ``from_preset`` of the generic class, called).
        batch_size: None exports a dynamic batch; an int fixes it (classifiers).
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
    backends = backends_for(fmt, is_detector(model))
    if backend not in backends:
        result = _export_in_subprocess(model, path, fmt, check, batch_size, backends[0])
    else:
        diff, _ = _export_here(model, path, fmt, check, batch_size)
        result = ExportResult(path, fmt, batch_size, diff, backend)
    _check_parity(fmt, path, result.max_rel_diff, tolerance)
    return result


def export_detector(model, path, format="savedmodel", check=True, tolerance=PARITY_TOLERANCE,
                    seed=0, saved_model=None):
    """Writes a detector's raw predictions (before NMS) as a SavedModel or a TFLite model.

    The artifact takes a batch of any size; the TFLite model uses TFLite's
    builtin ops only. Needs the TensorFlow backend (`keras_aw.export` runs a
    TensorFlow subprocess from other backends).

    Args:
        model: a keras-hub `RetinaNetObjectDetector` (e.g. from `build_retinanet`).
        path: the SavedModel directory, or the .tflite file.
        format: "savedmodel" or "tflite" (`DETECTOR_FORMATS`).
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
            TensorFlow, a `saved_model` that is no SavedModel, or (with
            `check`) a parity failure (`ParityError`).

    Example:

    >>> import os, tempfile
    >>> import keras
    >>> from keras_aw.detection import build_retinanet, MobileNetEncoder, export_detector
    >>> det = build_retinanet(MobileNetEncoder(alpha=0.25, image_shape=(64, 64, 3)), 3,
    ...                       image_shape=(64, 64, 3), max_level=5, filters=8,
    ...                       head_conv_layers=1)
    >>> if keras.backend.backend() == "tensorflow":  # doctest: +SKIP
    ...     result = export_detector(det, os.path.join(tempfile.mkdtemp(), "det"))
    ...     assert result.max_rel_diff < 1e-4
    """
    if not is_detector(model) or not isinstance(model, keras.Model):
        raise TypeError(
            "`model` must be a keras-hub RetinaNetObjectDetector (e.g. from build_retinanet); "
            f"received model={model!r}"
        )
    if format not in DETECTOR_FORMATS:
        raise ValueError(f"`format` must be one of {DETECTOR_FORMATS}; received format={format!r}")
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise TypeError(f"`path` must be a file path; received path={path!r}")
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or tolerance <= 0:
        raise ValueError(f"`tolerance` must be a number > 0; received tolerance={tolerance!r}")
    if keras.backend.backend() not in DETECTOR_BACKENDS:
        raise ValueError(
            f"export_detector needs the TensorFlow backend (KERAS_BACKEND=tensorflow); "
            f"the current backend is {keras.backend.backend()!r}. Save the model as .keras "
            "and load it under TensorFlow."
        )
    if saved_model is not None and not os.path.isfile(
            os.path.join(os.fspath(saved_model), "saved_model.pb")):
        raise ValueError(f"`saved_model` must be a SavedModel directory; received "
                         f"saved_model={saved_model!r}")
    path = os.fspath(path)
    diff, run = _export_here(model, path, format, check, None, seed, saved_model)
    _check_parity(format, path, diff, tolerance)
    return DetectorExport(path, format, diff, run)


def _export_in_subprocess(model, path, fmt, check, batch_size, backend):
    """Saves `model` as .keras and exports it under `backend` in a child process.

    The child imports `keras_aw` (which registers every layer and detector class).
    """
    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(tmp, "model.keras")
        model.save(source)
        command = [sys.executable, "-m", "keras_aw.deploy", source, os.path.abspath(path),
                   "--format", fmt]
        if batch_size is not None:
            command += ["--batch-size", str(batch_size)]
        if not check:
            command.append("--no-check")
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
    args = parser.parse_args(argv)
    model = load_model_file(args.model)
    result = export(model, args.path, args.format, check=not args.no_check,
                    batch_size=args.batch_size, tolerance=float("inf"))
    print(json.dumps({"max_rel_diff": result.max_rel_diff}))
    return 0


if __name__ == "__main__":
    sys.exit(_main())
