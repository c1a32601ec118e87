"""The `keras-aw` command line: profile, train, evaluate, export and visualize.

Run ``keras-aw SUBCOMMAND --help`` for each subcommand's options. The Keras
backend is chosen as usual with ``KERAS_BACKEND`` (tensorflow, jax or torch).
Errors in the input (unknown model or data set, missing file, wrong image
size, unwritable output) are printed as one line and give exit status 2;
set ``KERAS_AW_DEBUG=1`` to see the traceback of an unexpected error.
"""

import argparse
import json
import os
import sys
import time

from keras_aw.utils.paper import TABLE1

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

# The paper's Table 1 by CLI row name ("AWCBAMResNet50:spatial"):
# row -> (builder, builder kwargs, top-1 err %, GFLOPs, params M).
PAPER_TABLE1 = {
    builder + (f":{kwargs['cbam']}" if "cbam" in kwargs else ""):
        (builder, kwargs, float(top1.rstrip("%")), gflops, params)
    for _, builder, kwargs, top1, _, gflops, params in TABLE1
}


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (plus the usage line)."""


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def build_parser():
    parser = _Parser(
        prog="keras-aw",
        description="AW-convolution attention (Zhu et al., ICANN 2021) for Keras 3: profile "
        "the paper's networks, train and evaluate models, export them, draw their attention.",
        epilog="The Keras backend comes from KERAS_BACKEND (tensorflow, jax or torch).",
    )
    parser.add_argument("--version", action="store_true", help="print versions and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser(
        "profile", help="trainable parameters and GFLOPs of the networks, beside the paper's",
        description="One row per model: trainable parameters (M) and GFLOPs "
        "(multiply-accumulates, batch 1) measured on the built network, beside the paper's "
        "Table 1 figures (ImageNet, 224x224).",
    )
    p.add_argument("--models", default="all",
                   help="comma-separated builder names, optionally NAME:CBAM_MODE "
                   "(e.g. AWResNet50,AWCBAMResNet50:spatial); 'all' (default) is every row of "
                   "Table 1 plus the other builders")
    p.add_argument("--input-size", type=_positive_int, default=224,
                   help="image height and width (default 224, the paper's)")
    p.add_argument("--classes", type=_positive_int, default=1000,
                   help="classifier size (default 1000, ImageNet)")
    p.set_defaults(func=cmd_profile)

    p = sub.add_parser(
        "train", help="train a model on the embedded Shapes set or a TFDS data set",
        description="Trains a model, writing into --output after every epoch: checkpoint.keras "
        "(model and optimizer), state.json, history.csv and training_curve.png; at the end "
        "model.keras. An interrupted run loses at most the epoch in progress: run the same "
        "command with --resume to continue (the epoch count continues).",
    )
    p.add_argument("--model", required=True,
                   help="a keras_aw.applications builder (ResNet50, AWResNet50, SEResNet50, "
                   "AWSEResNet50, CBAMResNet50, AWCBAMResNet50, ... MobileNet, AWMobileNet, ...) "
                   "or SmallCNN / AWSmallCNN (small networks for 32x32 images)")
    p.add_argument("--dataset", default="shapes",
                   help="'shapes' (embedded, default) or 'tfds:NAME[:SPLIT]' (TensorFlow "
                   "Datasets; SPLIT defaults to train, evaluation uses test or validation)")
    p.add_argument("--epochs", type=_positive_int, default=5, help="total epochs (default 5)")
    p.add_argument("--batch-size", type=_positive_int, default=64, help="default 64")
    p.add_argument("--image-size", type=_positive_int, default=32,
                   help="image height and width the model takes (default 32)")
    p.add_argument("--output", required=True, help="directory for the run's files")
    p.add_argument("--steps-per-epoch", type=_positive_int, default=None,
                   help="batches per epoch (default: one pass over the data)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --output from its last checkpoint")
    p.add_argument("--mixed-precision", action="store_true",
                   help="mixed_float16 on a GPU, mixed_bfloat16 on a CPU")
    p.add_argument("--distribute", action="store_true",
                   help="data-parallel training over all GPUs (or CPU devices): "
                   "tf.distribute.MirroredStrategy on TensorFlow, "
                   "keras.distribution.DataParallel on JAX; not on PyTorch")
    p.add_argument("--cpu-devices", type=_positive_int, default=None,
                   help="split the CPU into N virtual devices (to try --distribute "
                   "without GPUs)")
    p.add_argument("--learning-rate", type=_positive_float, default=2e-3,
                   help="Adam learning rate at the start of the cosine decay (default 2e-3)")
    p.add_argument("--num-train", type=_positive_int, default=10000,
                   help="Shapes: training images (default 10000)")
    p.add_argument("--num-test", type=_positive_int, default=2000,
                   help="Shapes: test images (default 2000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                   help="Keras fit verbosity: 1 progress bars (default), 2 one line per epoch")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="loss and accuracy of a saved model",
                       description="Loss and accuracy of MODEL.keras on a data set's test split.")
    p.add_argument("model", metavar="MODEL.keras")
    p.add_argument("--dataset", default="shapes",
                   help="'shapes' (default) or 'tfds:NAME[:SPLIT]' (SPLIT defaults to test)")
    p.add_argument("--batch-size", type=_positive_int, default=64)
    p.add_argument("--num-test", type=_positive_int, default=2000,
                   help="Shapes: test images (default 2000)")
    p.add_argument("--seed", type=int, default=0, help="Shapes: seed (default 0)")
    p.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser(
        "export", help="export a saved model (SavedModel, TFLite, ONNX)",
        description="Exports MODEL.keras with Keras's exporter (TFLite: builtin ops only) and "
        "checks the artifact's outputs against the Keras model's on random images. A format "
        "the current backend cannot export (TFLite and ONNX on JAX or PyTorch, SavedModel on "
        "PyTorch) is exported by a TensorFlow-backend subprocess from the .keras file.")
    p.add_argument("model", metavar="MODEL.keras")
    p.add_argument("--format", required=True, choices=("savedmodel", "tflite", "onnx"))
    p.add_argument("--output", required=True, help="path to write (directory for savedmodel)")
    p.add_argument("--batch-size", type=_positive_int, default=None,
                   help="fix the batch size (default: dynamic; TFLite falls back to 1 if the "
                   "dynamic-batch conversion does not load)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser(
        "visualize", help="draw the attention maps of a model's AW layers for an image",
        description="Draws, for one image, the attention A of every AWConv2D layer of "
        "MODEL.keras: per layer the kh x kw attention of the output channels whose attention "
        "varies most, their mean, and the distribution of A. Without IMAGE, a sample of the "
        "embedded Shapes test set is used.",
    )
    p.add_argument("model", metavar="MODEL.keras")
    p.add_argument("image", metavar="IMAGE", nargs="?", default=None,
                   help="an image file (PNG, JPEG, ...) of the model's input size")
    p.add_argument("--output", required=True, metavar="FILE.png")
    p.add_argument("--index", type=int, default=0,
                   help="without IMAGE: which Shapes test image (default 0)")
    p.add_argument("--seed", type=int, default=0, help="without IMAGE: Shapes seed")
    p.add_argument("--resize", action="store_true",
                   help="resize IMAGE to the model's input size instead of refusing it")
    p.add_argument("--channels", type=_positive_int, default=12,
                   help="output channels drawn per layer (default 12)")
    p.set_defaults(func=cmd_visualize)
    return parser


# --------------------------------------------------------------------------
# Subcommands
# --------------------------------------------------------------------------


_FAMILIES = ("ResNet50", "ResNet101", "ResNet152", "MobileNet")
_VARIANTS = ("", "AW", "SE", "AWSE", "CBAM", "AWCBAM")


def _family_order(name):
    """Sort key: network (ResNet50, 101, 152, MobileNet), then variant (plain, AW, SE, ...)."""
    for i, family in enumerate(_FAMILIES):
        if name.endswith(family) and name[: -len(family)] in _VARIANTS:
            return (i, _VARIANTS.index(name[: -len(family)]), name)
    return (len(_FAMILIES), 0, name)


def _profile_rows(models):
    from keras_aw.training import UserError, available_models

    builders = available_models()
    if models.strip().lower() == "all":
        rows = list(PAPER_TABLE1)
        covered = {spec.split(":")[0] for spec in rows}
        extra = [n for n in builders if n not in covered and n not in ("SmallCNN", "AWSmallCNN")]
        return rows + sorted(extra, key=_family_order)
    by_key = {n.lower(): n for n in builders}
    rows = []
    for item in [m.strip() for m in models.split(",") if m.strip()]:
        name, _, mode = item.partition(":")
        canonical = by_key.get(name.lower().replace("-", "").replace("_", ""))
        if canonical is None:
            canonical = by_key.get(name.lower())
        if canonical is None:
            raise UserError(f"unknown model {name!r}; choose from: {', '.join(sorted(builders))}")
        if mode and "CBAM" not in canonical:
            raise UserError(f"{canonical} takes no CBAM mode (got {item!r})")
        if mode and mode not in ("full", "maxpool", "spatial"):
            raise UserError(f"unknown CBAM mode {mode!r}; use full, maxpool or spatial")
        rows.append(f"{canonical}:{mode}" if mode else canonical)
    if not rows:
        raise UserError("--models is empty")
    return rows


def _gflops(value):
    return f"{value:.3f}" if value < 1 else f"{value:.2f}"


def cmd_profile(args):
    import keras

    from keras_aw.training import UserError, available_models
    from keras_aw.utils import profile

    builders = available_models()
    rows = _profile_rows(args.models)
    header = (f"{'model':<26} {'params (M)':>10} {'GFLOPs':>8}   {'paper params':>12} "
              f"{'paper GFLOPs':>12} {'paper top-1 err':>15}")
    print(f"input {args.input_size}x{args.input_size}, {args.classes} classes; "
          "paper figures are for 224x224 ImageNet")
    print(header)
    print("-" * len(header))
    for spec in rows:
        name, _, mode = spec.partition(":")
        kwargs = {"cbam": mode} if mode else {}
        if name not in ("SmallCNN", "AWSmallCNN"):
            kwargs["weights"] = None
        try:
            model = builders[name](input_shape=(args.input_size, args.input_size, 3),
                                   classes=args.classes, **kwargs)
        except (ValueError, TypeError) as e:
            raise UserError(f"cannot build {spec} at {args.input_size}x{args.input_size}: "
                            f"{str(e).splitlines()[0]}") from e
        result = profile(model)
        # A CBAM builder without a mode builds the default, "full".
        paper = PAPER_TABLE1.get(spec if mode or "CBAM" not in name else f"{name}:full")
        paper_cols = (f"{paper[4]:>12.2f} {_gflops(paper[3]):>12} {paper[2]:>14.2f}%" if paper
                      else f"{'-':>12} {'-':>12} {'-':>15}")
        print(f"{spec:<26} {result.trainable_params / 1e6:>10.2f} {result.gflops:>8.3f}   "
              f"{paper_cols}", flush=True)
        del model
        keras.backend.clear_session()
    return 0


def cmd_train(args):
    from keras_aw import training

    if args.distribute or args.cpu_devices:
        training.check_distribution_backend()
    if args.cpu_devices:
        training.configure_cpu_devices(args.cpu_devices)
    start = time.time()
    result = training.train(
        model=args.model, dataset=args.dataset, epochs=args.epochs, batch_size=args.batch_size,
        image_size=args.image_size, output=args.output, steps_per_epoch=args.steps_per_epoch,
        resume=args.resume, mixed_precision=args.mixed_precision, distribute=args.distribute,
        learning_rate=args.learning_rate, num_train=args.num_train, num_test=args.num_test,
        seed=args.seed, verbose=args.verbose,
    )
    summary = ", ".join(f"{k} {result[k]:.4f}" for k in
                        ("loss", "accuracy", "val_loss", "val_accuracy") if k in result)
    print(f"trained {result['epochs_done']} epoch(s) in {time.time() - start:.0f} s"
          + (f": {summary}" if summary else ""))
    print(f"model: {result['model']}")
    print(f"history: {result['history']}, curve: {result['curve']}")
    return 0


def cmd_evaluate(args):
    from keras_aw import training

    result = training.evaluate(args.model, dataset=args.dataset, batch_size=args.batch_size,
                               num_test=args.num_test, seed=args.seed, verbose=args.verbose)
    print(f"loss: {result['loss']:.4f}")
    print(f"accuracy: {result['accuracy']:.4f}")
    return 0


#: Backends whose Keras exporter handles each format for AW models (Keras 3.15; torch's
#: ONNX exporter rejects AWConv2D's batch-of-one convolution path, so ONNX goes through
#: tf2onnx).
EXPORT_BACKENDS = {"savedmodel": ("tensorflow", "jax"), "tflite": ("tensorflow",),
                   "onnx": ("tensorflow",)}
PARITY_TOLERANCE = 1e-4  # max |exported - Keras| / max |Keras|


def _random_images(model, batch, seed=0):
    shape = (batch,) + tuple(model.inputs[0].shape[1:])
    import numpy as np

    return np.random.RandomState(seed).uniform(0, 255, shape).astype("float32")


def _tflite_run(path, x):
    import warnings

    import tensorflow as tf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
        interpreter = tf.lite.Interpreter(model_path=path)
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    if tuple(inp["shape"]) != x.shape:
        interpreter.resize_tensor_input(inp["index"], list(x.shape))
    interpreter.allocate_tensors()
    interpreter.set_tensor(inp["index"], x)
    interpreter.invoke()
    return interpreter.get_tensor(out["index"]).copy()


def export_model(model, fmt, output, batch_size=None):
    """Exports `model` with Keras's exporter and checks the artifact against Keras.

    Args:
        model: a Keras model with a fixed input size.
        fmt: "savedmodel", "tflite" or "onnx" (see `EXPORT_BACKENDS`).
        output: file path (directory for "savedmodel").
        batch_size: None for a dynamic batch; an int fixes it.

    Returns:
        (batch description, max relative difference to Keras on random images,
        or None when the runtime to check it is not installed).
    """
    import keras
    import numpy as np

    def signature(batch):
        return [keras.InputSpec(shape=(batch,) + tuple(model.inputs[0].shape[1:]),
                                dtype="float32")]

    x = _random_images(model, batch_size or 2)
    expected = np.asarray(model.predict(x, verbose=0), dtype="float64")
    scale = max(float(np.abs(expected).max()), 1e-12)
    kwargs = {} if batch_size is None else {"input_signature": signature(batch_size)}
    batch = "dynamic batch" if batch_size is None else f"batch {batch_size}"
    if fmt == "savedmodel":
        import tensorflow as tf

        model.export(output, format="tf_saved_model", verbose=False, **kwargs)
        loaded = tf.saved_model.load(output)  # keep a reference while serving
        got = loaded.serve(x).numpy()
    elif fmt == "tflite":
        import tensorflow as tf

        options = {"target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]}}
        model.export(output, format="litert", verbose=False, **kwargs, **options)
        got = _tflite_run(output, x)
    else:
        model.export(output, format="onnx", verbose=False, **kwargs)
        try:
            import onnxruntime as ort
        except ImportError:
            return batch, None
        session = ort.InferenceSession(output, providers=["CPUExecutionProvider"])
        (got,) = session.run(None, {session.get_inputs()[0].name: x})
    return batch, float(np.max(np.abs(np.asarray(got, "float64") - expected)) / scale)


def cmd_export(args):
    import keras

    from keras_aw import training

    if not os.path.exists(args.model):
        raise training.UserError(f"no such file: {args.model!r}")
    if args.format == "savedmodel":
        training.ensure_writable_dir(os.path.dirname(os.path.abspath(args.output)))
        if os.path.isfile(args.output):
            raise training.UserError(f"--output {args.output!r} is a file; a SavedModel is a "
                                     "directory")
    else:
        training.ensure_writable_file(args.output)
    backend = keras.backend.backend()
    supported = EXPORT_BACKENDS[args.format]
    if backend not in supported:
        # The .keras file is backend-independent: export it under a backend that can.
        import subprocess

        print(f"{args.format} export needs the {' or '.join(supported)} backend: running it "
              f"with KERAS_BACKEND={supported[0]}", flush=True)
        env = dict(os.environ, KERAS_BACKEND=supported[0])
        command = [sys.executable, "-m", "keras_aw.cli", "export", args.model, "--format",
                   args.format, "--output", args.output]
        if args.batch_size is not None:
            command += ["--batch-size", str(args.batch_size)]
        return subprocess.run(command, env=env).returncode
    model = training.load_saved_model(args.model)
    if any(d is None for d in model.inputs[0].shape[1:]):
        raise training.UserError("the model has no fixed input size; AW layers need one")
    try:
        batch, diff = export_model(model, args.format, args.output, args.batch_size)
    except ImportError as e:
        raise training.UserError(f"{args.format} export needs a missing package: {e}") from e
    check = ("not checked (onnxruntime is not installed)" if diff is None
             else f"max |exported - Keras| / max |Keras| = {diff:.1e} on random images")
    print(f"exported {args.format} to {args.output} ({batch}): {check}")
    if diff is not None and diff > PARITY_TOLERANCE:
        print(f"keras-aw export: error: the exported model differs from the Keras model "
              f"({diff:.1e} > {PARITY_TOLERANCE:.0e})", file=sys.stderr)
        return 1
    return 0


def _read_state(model_path):
    path = os.path.join(os.path.dirname(os.path.abspath(model_path)), "state.json")
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def cmd_visualize(args):
    import numpy as np

    from keras_aw import training, visualize
    from keras_aw.datasets import shapes

    training.ensure_writable_file(args.output)
    if not args.output.lower().endswith(".png"):
        raise training.UserError(f"--output must be a .png file, got {args.output!r}")
    if args.image is not None and not os.path.isfile(args.image):
        raise training.UserError(f"no such image file: {args.image!r}")
    try:
        import matplotlib  # noqa: F401
    except ImportError as e:
        raise training.UserError("visualize needs matplotlib: pip install matplotlib") from e
    model = training.load_saved_model(args.model)
    _, height, width, channels = model.inputs[0].shape
    state = _read_state(args.model)
    class_names = state.get("class_names") or None
    label = None
    if args.image is None:
        if height is None or width is None or height != width:
            raise training.UserError("the model has no fixed square input size; give an IMAGE")
        if not 0 <= args.index < 100000:
            raise training.UserError(f"--index must be in [0, 100000), got {args.index}")
        x, y = shapes.generate(args.index + 1, height, seed=[args.seed, 1])
        image, label = x[args.index].astype("float32"), int(y[args.index])
        if class_names is None and model.outputs[0].shape[-1] == shapes.NUM_CLASSES:
            class_names = list(shapes.CLASS_NAMES)
        source = f"Shapes test image {args.index}"
    else:
        import keras

        try:
            img = keras.utils.load_img(args.image, color_mode="rgb")
        except Exception as e:  # noqa: BLE001 - PIL raises several types
            raise training.UserError(f"cannot read image {args.image!r}: "
                                     f"{str(e).splitlines()[0] if str(e) else type(e).__name__}"
                                     ) from e
        if (height, width) != (img.height, img.width):
            if not args.resize or height is None:
                raise training.UserError(
                    f"image {args.image!r} is {img.width}x{img.height} but the model takes "
                    f"{width}x{height}; pass --resize to resize it")
            img = img.resize((width, height))
        image = np.asarray(img, dtype="float32")
        source = os.path.basename(args.image)
    if channels is not None and channels != image.shape[-1]:
        raise training.UserError(f"the model takes {channels}-channel images, not 3")
    try:
        visualize.plot_attention(model, image, args.output,
                                 title=f"AW attention of {model.name} for {source}",
                                 max_channels=args.channels, class_names=class_names,
                                 label=label)
    except ValueError as e:
        raise training.UserError(str(e).splitlines()[0]) from e
    print(f"wrote {args.output}")
    return 0


def _versions():
    import keras

    import keras_aw

    return f"keras-aw {keras_aw.__version__}, keras {keras.__version__}, backend {keras.backend.backend()}"


def main(argv=None):
    """Runs the command line; returns the exit status (0 on success)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, or a usage error already printed by argparse
        return e.code if isinstance(e.code, int) else EXIT_USAGE
    if args.version:
        print(_versions())
        return 0
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    from keras_aw.training import UserError

    try:
        return args.func(args) or 0
    except UserError as e:
        print(f"keras-aw {args.command}: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        hint = ""
        if args.command == "train":
            hint = (f"; completed epochs are saved in {args.output!r}: run the same command "
                    "with --resume to continue")
        print(f"keras-aw {args.command}: interrupted{hint}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as e:  # noqa: BLE001 - one line unless debugging
        if os.environ.get("KERAS_AW_DEBUG"):
            raise
        message = str(e).strip().splitlines()[0] if str(e).strip() else ""
        print(f"keras-aw {args.command}: error: {type(e).__name__}: {message} "
              "(set KERAS_AW_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
