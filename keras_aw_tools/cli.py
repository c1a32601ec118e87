"""The `keras-aw` command line: profile, train, recipes, evaluate, export and visualize.

Run ``keras-aw SUBCOMMAND --help`` for each subcommand's options. The Keras
backend is chosen as usual with ``KERAS_BACKEND`` (tensorflow, jax or torch).
Errors in the input (unknown model or data set, missing file, wrong image
size, unwritable output) are printed as one line and give exit status 2;
set ``KERAS_AW_DEBUG=1`` to see the traceback of an unexpected error.

This module parses the command line, one ``_add_NAME_parser`` function per
subcommand, and `main` runs the command, ``cmd_NAME`` of
`keras_aw_tools.commands` (one module per command), turning its errors into
exit statuses. It imports only the standard library (and the command modules,
which do the same): ``keras-aw --help`` and the argument errors answer without
starting Keras or a backend, and each command imports what it uses when it
runs (keras-hub only for a detector). Run it as ``keras-aw`` (the console
script) or ``python -m keras_aw_tools.cli``.
"""

import argparse
import importlib.util
import json
import os
import sys

from keras_aw_tools.commands.export import cmd_export
from keras_aw_tools.commands.profile import cmd_profile
from keras_aw_tools.commands.recipes import cmd_recipes
from keras_aw_tools.commands.train import cmd_evaluate, cmd_train
from keras_aw_tools.commands.visualize import cmd_visualize

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
#: The training recipes (`keras_aw_tools.recipe.RECIPES`; a test checks they agree), spelled
#: out here so that the parser needs no Keras.
RECIPE_NAMES = ("demo", "imagenet", "coco-1x")


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
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in (_add_profile_parser, _add_train_parser, _add_recipes_parser,
                _add_evaluate_parser, _add_export_parser, _add_visualize_parser):
        add(subparsers)
    return parser


def _add_profile_parser(subparsers):
    """``keras-aw profile``'s options."""
    p = subparsers.add_parser(
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


def _add_train_parser(subparsers):
    """``keras-aw train``'s options."""
    p = subparsers.add_parser(
        "train", help="train a model on the embedded Shapes set or a TFDS data set",
        description="Trains a classifier or a detector (keras_aw.list_models() names both; "
        "detectors train on the embedded Shapes-Detect set, --dataset shapes), writing into --output after every epoch: checkpoint.keras "
        "(model and optimizer), state.json, history.csv and training_curve.png; at the end "
        "model.keras; recipe.json (the recipe, resolved) at the start; best.keras (best "
        "validation top-1) where the recipe keeps it. An interrupted run loses at most the "
        "epoch in progress: run the same command with --resume to continue (the epoch count "
        "continues).",
    )
    p.add_argument("--model", required=True,
                   help="a registered model: a keras_aw.applications builder (ResNet50, "
                   "AWResNet50, ..., MobileNet, AWMobileNet, ..., SmallCNN / AWSmallCNN for "
                   "32x32 images; NAME:CBAM_FORM for CBAM builders) or a detector (FPNResNet101, "
                   "AWFPNResNet101, ..., AWSEFPNResNetSmall)")
    p.add_argument("--dataset", default="shapes",
                   help="'shapes' (embedded, default) or 'tfds:NAME[:SPLIT]' (TensorFlow "
                   "Datasets; SPLIT defaults to train, evaluation uses test or validation)")
    p.add_argument("--recipe", choices=RECIPE_NAMES, default=None,
                   help="the training recipe (keras-aw recipes lists their values; default: "
                   "imagenet for tfds:imagenet2012*, coco-1x for tfds:coco/*, demo otherwise); "
                   "coco-1x is Detectron2's RetinaNet 1x, for detectors; it supplies the "
                   "defaults "
                   "of --epochs, --batch-size, --image-size and --learning-rate, which "
                   "override it; the run prints it and writes it, resolved, to recipe.json")
    p.add_argument("--epochs", type=_positive_int, default=None,
                   help="total epochs (default: the recipe's; demo 5, imagenet 100, coco-1x 12: "
                   "coco-1x's schedule is in steps, an epoch is --steps-per-epoch steps)")
    p.add_argument("--batch-size", type=_positive_int, default=None,
                   help="global batch (default: the recipe's; demo 64, imagenet 256, coco-1x 16)")
    p.add_argument("--image-size", type=_positive_int, default=None,
                   help="image height and width the model takes (default: the recipe's; "
                   "demo 32, imagenet 224, coco-1x 1024)")
    p.add_argument("--output", required=True, help="directory for the run's files")
    p.add_argument("--steps-per-epoch", type=_positive_int, default=None,
                   help="batches per epoch (default: one pass over the data; coco-1x: its "
                   "iterations / --epochs)")
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
                   help="BatchNorm statistics over the global batch on TensorFlow and "
                   "PyTorch (JAX: always)")
    p.add_argument("--cpu-devices", type=_positive_int, default=None,
                   help="split the CPU into N virtual devices (to try --distribute "
                   "without GPUs)")
    p.add_argument("--encoder-weights", default=None, metavar="WEIGHTS",
                   help="detectors: a classifier trained with keras-aw train (e.g. on the "
                   "Shapes classification set) whose trunk and weights become the encoder, "
                   "pyramid levels taken where its strides say (the paper's pretrained "
                   "backbone); with coco-1x also a keras-hub preset or a ResNet weights "
                   "file (keras_aw.detection.load_encoder), frozen as the recipe says")
    p.add_argument("--aw-start", choices=("paper", "plain"), default="paper",
                   help="detectors: AW-FPN's start: the paper's initialisation, or 'plain' "
                   "(every AW convolution starts as its plain convolution; the start "
                   "docs/table2.md's 3-seed study recommends)")
    p.add_argument("--learning-rate", type=_positive_float, default=None,
                   help="learning rate at the start of the schedule, used as given (default: "
                   "the recipe's; demo 2e-3 for Adam's cosine, imagenet 0.1 * batch / 256)")
    p.add_argument("--num-train", type=_positive_int, default=10000,
                   help="Shapes: training images (default 10000)")
    p.add_argument("--num-test", type=_positive_int, default=2000,
                   help="Shapes: test images (default 2000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                   help="Keras fit verbosity: 1 progress bars (default), 2 one line per epoch")
    p.set_defaults(func=cmd_train)


def _add_recipes_parser(subparsers):
    """``keras-aw recipes``' options."""
    p = subparsers.add_parser(
        "recipes", help="the training recipes keras-aw train --recipe takes, with their values",
        description="The named training recipes side by side, one value a row: optimizer, "
        "learning rate and its reference batch, momentum, weight decay, schedule, epochs, "
        "augmentation, evaluation preprocessing, normalization, metrics, checkpoints.")
    p.set_defaults(func=cmd_recipes)


def _add_evaluate_parser(subparsers):
    """``keras-aw evaluate``'s options."""
    p = subparsers.add_parser("evaluate", help="loss and accuracy (detectors: COCO AP) of a saved model",
                       description="Loss and accuracy of MODEL.keras on a data set's test split; "
                       "for a detector, COCO AP, AP50 and AP75 (pycocotools) on the "
                       "Shapes-Detect test split, or AP, AP50, AP75, APs, APm, APl on "
                       "tfds:coco/2017's val2017 (also written to coco_metrics.json beside "
                       "MODEL.keras).")
    p.add_argument("model", metavar="MODEL.keras")
    p.add_argument("--dataset", default="shapes",
                   help="'shapes' (default) or 'tfds:NAME[:SPLIT]' (SPLIT defaults to test)")
    p.add_argument("--batch-size", type=_positive_int, default=64)
    p.add_argument("--num-test", type=_positive_int, default=2000,
                   help="Shapes: test images (default 2000)")
    p.add_argument("--seed", type=int, default=0, help="Shapes: seed (default 0)")
    p.add_argument("--recipe", choices=RECIPE_NAMES, default=None,
                   help="how images are prepared and which metrics (default: the recipe in "
                   "the state.json beside MODEL.keras, else demo); imagenet: resize 256, "
                   "center crop 224 on the validation split, top-1 and top-5")
    p.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1)
    p.set_defaults(func=cmd_evaluate)


def _add_export_parser(subparsers):
    """``keras-aw export``'s options."""
    p = subparsers.add_parser(
        "export", help="export a saved model (.keras, SavedModel, TFLite, ONNX, keras-hub preset)",
        description="Exports MODEL.keras with keras_aw.export (Keras's exporter; TFLite: builtin "
        "ops only) and checks the artifact's outputs against the Keras model's on random "
        "images in the target runtime; exit status 1 if they differ by more than 1e-4 "
        "(relative). A format the current backend cannot export (TFLite and ONNX on JAX or "
        "PyTorch, SavedModel on PyTorch) is exported by a TensorFlow-backend subprocess. A "
        "detector exports its raw predictions (before NMS) to savedmodel or tflite. preset "
        "(any backend): a keras-hub model (a keras_aw detector, backbone or classifier on "
        "one) as the directory save_to_preset writes, checked by loading it back with "
        "keras-hub's from_preset.")
    p.add_argument("model", metavar="MODEL.keras")
    p.add_argument("--format", required=True, choices=EXPORT_FORMATS)
    p.add_argument("--output", required=True,
                   help="path to write (a directory for savedmodel and preset)")
    p.add_argument("--batch-size", type=_positive_int, default=None,
                   help="fix the batch size (default: dynamic)")
    p.set_defaults(func=cmd_export)


def _add_visualize_parser(subparsers):
    """``keras-aw visualize``'s options."""
    p = subparsers.add_parser(
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
