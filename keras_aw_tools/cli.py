"""The `keras-aw` command line: profile, train, evaluate, export and visualize.

Run ``keras-aw SUBCOMMAND --help`` for each subcommand's options. The Keras
backend is chosen as usual with ``KERAS_BACKEND`` (tensorflow, jax or torch).
Errors in the input (unknown model or data set, missing file, wrong image
size, unwritable output) are printed as one line and give exit status 2;
set ``KERAS_AW_DEBUG=1`` to see the traceback of an unexpected error.

This module imports only the standard library: ``keras-aw --help`` and the
argument errors answer without starting Keras or a backend, and each command
imports what it uses when it runs (keras-hub only for a detector). Run it as
``keras-aw`` (the console script) or ``python -m keras_aw_tools.cli``.
"""

import argparse
import importlib.util
import json
import os
import sys
import time

EXIT_USAGE = 2
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130


def _export_formats():
    """The formats of `keras_aw.export`, read from the library's table without importing it.

    ``keras_aw/export_formats.json`` is the one list (`keras_aw.deploy.EXPORT_TABLE`
    reads it too); importing `keras_aw` here would start Keras for every ``--help``.
    """
    package = importlib.util.find_spec("keras_aw").submodule_search_locations[0]
    with open(os.path.join(package, "export_formats.json")) as f:
        return tuple(json.load(f))


EXPORT_FORMATS = _export_formats()


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
    """The `keras-aw` argument parser (standard library only)."""
    parser = argparse.ArgumentParser(
        prog="keras-aw",
        description="AW-convolution attention (Zhu et al., ICANN 2021) for Keras 3: profile "
        "the paper's networks, train and evaluate models, export them, draw their attention.",
        epilog="The Keras backend comes from KERAS_BACKEND (tensorflow, jax or torch).",
    )
    parser.add_argument("--version", action="store_true", help="print versions and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

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
    p.add_argument("--input-size", type=_positive_int, default=None,
                   help="image height and width (default 224, the paper's ImageNet size; "
                   "512 with --table 2)")
    p.add_argument("--table", type=int, choices=(1, 2), default=1,
                   help="1 (default): the classifiers of the paper's Table 1; 2: the Table 2 "
                   "detection backbones, ResNet101 + each FPN variant (needs keras-hub)")
    p.add_argument("--classes", type=_positive_int, default=1000,
                   help="classifier size (default 1000, ImageNet)")
    p.set_defaults(func=cmd_profile)

    p = sub.add_parser(
        "train", help="train a model on the embedded Shapes set or a TFDS data set",
        description="Trains a classifier or a detector (keras_aw.list_models() names both; "
        "detectors train on the embedded Shapes-Detect set, --dataset shapes), writing into --output after every epoch: checkpoint.keras "
        "(model and optimizer), state.json, history.csv and training_curve.png; at the end "
        "model.keras. An interrupted run loses at most the epoch in progress: run the same "
        "command with --resume to continue (the epoch count continues).",
    )
    p.add_argument("--model", required=True,
                   help="a registered model: a keras_aw.applications builder (ResNet50, "
                   "AWResNet50, ..., MobileNet, AWMobileNet, ..., SmallCNN / AWSmallCNN for "
                   "32x32 images; NAME:CBAM_FORM for CBAM builders) or a detector (FPNResNet101, "
                   "AWFPNResNet101, ..., AWSEFPNResNetSmall)")
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
                   "keras.distribution.DataParallel on JAX; not on PyTorch (there: several "
                   "processes, see --job-addresses or torchrun)")
    p.add_argument("--job-addresses", default=None,
                   help="several processes (hosts): HOST:PORT of process 0 (JAX, PyTorch) or "
                   "of every process, comma-separated (TensorFlow); also read from "
                   "KERAS_DISTRIBUTION_JOB_ADDRESSES, TF_CONFIG or torchrun's variables. "
                   "--batch-size is the global batch; each process reads its own part of a "
                   "tfds set; only process 0 writes --output")
    p.add_argument("--num-processes", type=_positive_int, default=None,
                   help="the number of processes (with --job-addresses)")
    p.add_argument("--process-id", type=int, default=None,
                   help="this process's index, 0 to --num-processes - 1 (0 writes the run)")
    p.add_argument("--sync-batchnorm", action="store_true",
                   help="BatchNorm statistics over the global batch on TensorFlow (JAX: "
                   "always); not on PyTorch")
    p.add_argument("--cpu-devices", type=_positive_int, default=None,
                   help="split the CPU into N virtual devices (to try --distribute "
                   "without GPUs)")
    p.add_argument("--encoder-weights", default=None, metavar="CLASSIFIER.keras",
                   help="detectors: a classifier trained with keras-aw train (e.g. on the "
                   "Shapes classification set) whose trunk and weights become the encoder, "
                   "pyramid levels taken where its strides say (the paper's pretrained "
                   "backbone)")
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

    p = sub.add_parser("evaluate", help="loss and accuracy (detectors: COCO AP) of a saved model",
                       description="Loss and accuracy of MODEL.keras on a data set's test split; "
                       "for a detector, COCO AP, AP50 and AP75 (pycocotools) on the "
                       "Shapes-Detect test split.")
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
        "export", help="export a saved model (.keras, SavedModel, TFLite, ONNX)",
        description="Exports MODEL.keras with keras_aw.export (Keras's exporter; TFLite: builtin "
        "ops only) and checks the artifact's outputs against the Keras model's on random "
        "images in the target runtime; exit status 1 if they differ by more than 1e-4 "
        "(relative). A format the current backend cannot export (TFLite and ONNX on JAX or "
        "PyTorch, SavedModel on PyTorch) is exported by a TensorFlow-backend subprocess. A "
        "detector exports its raw predictions (before NMS) to savedmodel or tflite.")
    p.add_argument("model", metavar="MODEL.keras")
    p.add_argument("--format", required=True, choices=EXPORT_FORMATS)
    p.add_argument("--output", required=True, help="path to write (directory for savedmodel)")
    p.add_argument("--batch-size", type=_positive_int, default=None,
                   help="fix the batch size (default: dynamic)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser(
        "visualize", help="draw a model's AW attention maps (detectors: its boxes) for an image",
        description="Draws, for one image, the attention A of every AWConv2D layer of "
        "MODEL.keras: per layer the kh x kw attention of the output channels whose attention "
        "varies most, their mean, and the distribution of A. For a detector, draws its "
        "predicted boxes with class names and scores. Without IMAGE, a sample of the "
        "embedded Shapes (or Shapes-Detect) test set is used.",
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
    p.add_argument("--score-threshold", type=float, default=0.3,
                   help="detectors: the lowest score of a drawn box (default 0.3)")
    p.set_defaults(func=cmd_visualize)
    return parser


# --------------------------------------------------------------------------
# Subcommands
# --------------------------------------------------------------------------


def _profile_rows(models):
    """The specs to profile: Table 1's rows then every other builder, or the named ones."""
    from keras_aw import registry

    if models.strip().lower() == "all":
        rows = [spec for spec, _, _ in registry.paper_rows()]
        covered = {registry.parse_spec(spec).name for spec in rows}
        return rows + [n for n in registry.list_models(task="classification")
                       if n not in covered and registry.model_info(n).family != "small_cnn"]
    rows = [registry.canonical_spec(m.strip()) for m in models.split(",") if m.strip()]
    if not rows:
        raise ValueError("`models` is empty")
    return rows


def _paper_row(spec):
    """The Table 1 row of a spec (a CBAM builder without a form is the default, "full")."""
    from keras_aw import registry

    spec = registry.parse_spec(spec)
    info, kwargs = spec.info, spec.kwargs
    if info.takes_cbam and not kwargs:
        kwargs = {"cbam": "full"}
    for row in info.paper:
        if row.table == "Table 1" and row.kwargs == kwargs:
            return row.metrics
    return None


def _gflops(value):
    return f"{value:.3f}" if value < 1 else f"{value:.2f}"


def _profile_table2(args):
    from keras_aw import detection, registry

    size = args.input_size or 512
    print(f"Table 2 backbones (ResNet101 encoder + FPN P3-P7, RetinaNet heads excluded), "
          f"input {size}x{size}; paper AP columns: COCO val2017, Faster R-CNN")
    header = (f"{'FPN variant':<12} {'params (M)':>10} {'GFLOPs':>8} {'FPN params (M)':>14} "
              f"{'FPN GFLOPs':>10}   {'paper AP':>8} {'AP50':>6} {'AP75':>6}")
    print(header)
    print("-" * len(header))
    paper = {row.label: row.metrics for _, _, row in registry.paper_rows("Table 2")}
    for row in detection.profile_table2(image_size=size):
        p = paper.get(row["variant"], {})
        print(f"{row['variant']:<12} {row['params'] / 1e6:>10.2f} {row['gflops']:>8.2f} "
              f"{row['fpn_params'] / 1e6:>14.3f} {row['fpn_gflops']:>10.3f}   "
              f"{p.get('AP', float('nan')):>8.2f} {p.get('AP50', float('nan')):>6.2f} "
              f"{p.get('AP75', float('nan')):>6.2f}", flush=True)
    return 0


def cmd_profile(args):
    if args.table == 2:
        return _profile_table2(args)
    import keras

    from keras_aw import registry
    from keras_aw.utils import profile

    args.input_size = args.input_size or 224
    rows = _profile_rows(args.models)
    header = (f"{'model':<26} {'params (M)':>10} {'GFLOPs':>8}   {'paper params':>12} "
              f"{'paper GFLOPs':>12} {'paper top-1 err':>15}")
    print(f"input {args.input_size}x{args.input_size}, {args.classes} classes; "
          "paper figures are for 224x224 ImageNet")
    print(header)
    print("-" * len(header))
    for spec in rows:
        try:
            model = registry.create_model(spec, input_shape=(args.input_size, args.input_size, 3),
                                          classes=args.classes)
        except (ValueError, TypeError) as e:
            raise ValueError(f"cannot build {spec} at {args.input_size}x{args.input_size}: "
                             f"{str(e).splitlines()[0]}") from e
        result = profile(model)
        paper = _paper_row(spec)
        paper_cols = (f"{paper['params_m']:>12.2f} {_gflops(paper['gflops']):>12} "
                      f"{paper['top1_err']:>14.2f}%" if paper
                      else f"{'-':>12} {'-':>12} {'-':>15}")
        print(f"{spec:<26} {result.trainable_params / 1e6:>10.2f} {result.gflops:>8.3f}   "
              f"{paper_cols}", flush=True)
        del model
        keras.backend.clear_session()
    return 0


def cmd_train(args):
    from keras_aw import devices

    cluster = devices.find_cluster(args.job_addresses, args.num_processes, args.process_id)
    if (args.distribute and cluster is None) or args.cpu_devices:
        devices.check_distribution_backend()
    if args.cpu_devices:
        devices.configure_cpu_devices(args.cpu_devices)
    from keras_aw_tools import training

    start = time.time()
    result = training.train(
        model=args.model, dataset=args.dataset, epochs=args.epochs, batch_size=args.batch_size,
        image_size=args.image_size, output=args.output, steps_per_epoch=args.steps_per_epoch,
        resume=args.resume, mixed_precision=args.mixed_precision, distribute=args.distribute,
        learning_rate=args.learning_rate, num_train=args.num_train, num_test=args.num_test,
        seed=args.seed, verbose=args.verbose, job_addresses=args.job_addresses,
        num_processes=args.num_processes, process_id=args.process_id,
        sync_batchnorm=args.sync_batchnorm, encoder_weights=args.encoder_weights,
    )
    cluster = devices.current_cluster()
    if cluster is not None:
        cluster.shutdown()
        if not cluster.is_chief:
            return 0
    summary = ", ".join(f"{k} {result[k]:.4f}" for k in
                        ("loss", "accuracy", "val_loss", "val_accuracy") if k in result)
    print(f"trained {result['epochs_done']} epoch(s) in {time.time() - start:.0f} s"
          + (f": {summary}" if summary else ""))
    print(f"model: {result['model']}")
    print(f"history: {result['history']}, curve: {result['curve']}")
    return 0


def cmd_evaluate(args):
    from keras_aw_tools import training

    result = training.evaluate(args.model, dataset=args.dataset, batch_size=args.batch_size,
                               num_test=args.num_test, seed=args.seed, verbose=args.verbose)
    for key, value in result.items():  # loss/accuracy, or COCO AP/AP50/AP75
        print(f"{key}: {value:.4f}")
    return 0


def cmd_export(args):
    import keras

    from keras_aw import deploy
    from keras_aw.utils.files import load_model_file

    model = load_model_file(args.model)
    result = deploy.export(model, args.output, format=args.format, batch_size=args.batch_size)
    batch = "dynamic batch" if result.batch_size is None else f"batch {result.batch_size}"
    if deploy.is_detector(model):
        batch += ", raw predictions before NMS"
    via = ("" if result.backend == keras.backend.backend()
           else f", by a {result.backend}-backend subprocess")
    check = ("not checked (onnxruntime is not installed)" if result.max_rel_diff is None
             else f"max |exported - Keras| / max |Keras| = {result.max_rel_diff:.1e} on random "
             "images")
    print(f"exported {args.format} to {args.output} ({batch}{via}): {check}")
    return 0


def _shapes_sample(model, index, seed, class_names):
    """(image, label, class names, description) of a Shapes test image at the model's size."""
    from keras_aw.datasets import shapes

    _, height, width, _ = model.inputs[0].shape
    if height is None or width is None or height != width:
        raise ValueError("the model has no fixed square input size; give an image file")
    if not 0 <= index < 100000:
        raise ValueError(f"`index` must be in [0, 100000); received index={index}")
    x, y = shapes.generate(index + 1, height, seed=[seed, 1])
    if class_names is None and model.outputs[0].shape[-1] == shapes.NUM_CLASSES:
        class_names = list(shapes.CLASS_NAMES)
    return x[index].astype("float32"), int(y[index]), class_names, f"Shapes test image {index}"


def _image_file(model, path, resize):
    """An image file as a float32 array at the model's input size."""
    import keras
    import numpy as np

    _, height, width, _ = model.inputs[0].shape
    try:
        img = keras.utils.load_img(path, color_mode="rgb")
    except Exception as e:  # noqa: BLE001 - PIL raises several types
        raise ValueError(f"cannot read image {path!r}: "
                         f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from e
    if (height, width) != (img.height, img.width):
        if not resize or height is None:
            raise ValueError(f"image {path!r} is {img.width}x{img.height} but the model takes "
                             f"{width}x{height}; pass --resize to resize it")
        img = img.resize((width, height))
    return np.asarray(img, dtype="float32"), os.path.basename(path)


def cmd_visualize(args):
    from keras_aw.utils.files import ensure_writable_file

    ensure_writable_file(args.output)
    if not args.output.lower().endswith(".png"):
        raise ValueError(f"--output must be a .png file, got {args.output!r}")
    if args.image is not None and not os.path.isfile(args.image):
        raise ValueError(f"no such image file: {args.image!r}")
    try:
        import matplotlib  # noqa: F401 - an optional dependency: say so before any work
    except ImportError as e:
        raise ValueError("visualize needs matplotlib: pip install matplotlib") from e
    from keras_aw.deploy import is_detector
    from keras_aw.utils.files import load_model_file
    from keras_aw_tools import plots
    from keras_aw_tools.runs import read_state_near

    model = load_model_file(args.model)
    class_names = read_state_near(args.model).get("class_names") or None
    if is_detector(model):
        return _visualize_detections(model, args, class_names)
    label = None
    if args.image is None:
        image, label, class_names, source = _shapes_sample(model, args.index, args.seed,
                                                           class_names)
    else:
        image, source = _image_file(model, args.image, args.resize)
    channels = model.inputs[0].shape[-1]
    if channels is not None and channels != image.shape[-1]:
        raise ValueError(f"the model takes {channels}-channel images, not {image.shape[-1]}")
    plots.plot_attention(model, image, args.output,
                         title=f"AW attention of {model.name} for {source}",
                         max_channels=args.channels, class_names=class_names, label=label)
    print(f"wrote {args.output}")
    return 0


def _visualize_detections(model, args, class_names):
    """Draws a detector's boxes, class names and scores on one image."""
    from keras_aw import detection
    from keras_aw.datasets import load_detection_data, shapes
    from keras_aw.vocabulary import DETECTOR_INPUT_SCALE
    from keras_aw_tools import plots

    size = model.inputs[0].shape[1]
    if args.image is None:
        xt, _ = load_detection_data("shapes", size, num_test=args.index + 1, seed=args.seed,
                                    training=False)["test"]
        image = xt[args.index]
    else:
        image, _ = _image_file(model, args.image, args.resize)
        image = image * DETECTOR_INPUT_SCALE
    found = detection.predict_detections(model, image[None])
    count = int(found["num_detections"][0])
    plots.plot_detections(image, found["boxes"][0][:count], found["labels"][0][:count],
                          found["confidence"][0][:count],
                          class_names or list(shapes.CLASS_NAMES), model.bounding_box_format,
                          output=args.output, score_threshold=args.score_threshold)
    print(f"wrote {args.output}")
    return 0


def _versions():
    import keras

    from keras_aw.version import __version__

    return f"keras-aw {__version__}, keras {keras.__version__}, backend {keras.backend.backend()}"


def _one_line(error):
    """The first line of an exception's message (its type name when it has none)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def main(argv=None):
    """Runs the command line; returns the exit status (0 on success).

    Errors in the input -- the library's ValueError/TypeError, which name the
    argument and value, and OSError -- are printed as one line with exit status
    2; an exported model that fails its parity check gives status 1; anything
    else is printed as one line with status 1 (KERAS_AW_DEBUG=1 shows the
    traceback).
    """
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
    try:
        return args.func(args) or 0
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
        deploy = sys.modules.get("keras_aw.deploy")  # a ParityError comes from there only
        if deploy is not None and isinstance(e, deploy.ParityError):
            status, text = EXIT_FAILED, _one_line(e)
        elif isinstance(e, (ValueError, TypeError, OSError, ImportError)):
            status, text = EXIT_USAGE, _one_line(e)
        else:
            status = EXIT_FAILED
            text = f"{type(e).__name__}: {_one_line(e)} (set KERAS_AW_DEBUG=1 for the traceback)"
        print(f"keras-aw {args.command}: error: {text}", file=sys.stderr)
        return status


if __name__ == "__main__":
    sys.exit(main())
