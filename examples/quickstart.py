"""Quick start: an AW-convolution network and its plain twin on the built-in Shapes set.

    python examples/quickstart.py            # a few minutes on 2 CPU cores
    python examples/quickstart.py --fast     # a smoke run in seconds (also: KERAS_AW_FAST=1)

1. Generates the Shapes data set (10 classes of shapes with random colour, size,
   position and rotation on cluttered, noisy backgrounds; no download).
2. Trains `SmallCNN` (plain 3x3 convolutions) and `AWSmallCNN` (the same network
   whose two deeper 3x3 convolutions are `keras_aw.AWConv2D`) with the same
   recipe (`keras_aw_tools.recipe`: Adam, a per-epoch cosine decay), and prints ``test accuracy: 0.xx`` for both.
3. Exports the AW model to TFLite with `keras_aw.export` (from any backend) and
   checks that the TFLite interpreter gives the Keras model's outputs on the test
   images; with ``--output DIR`` the `.keras` and `.tflite` files are kept there.

Exits with status 1 if the AW model's test accuracy is below 0.9 (full run only)
or if the TFLite outputs differ from Keras's.
"""

import argparse
import os
import sys
import tempfile
import time

import keras
import numpy as np

import keras_aw
from keras_aw.datasets import shapes
from keras_aw.deploy import run_tflite
from keras_aw_tools import recipe
from keras_aw_tools.training import build_model

FULL = {"num_train": 8000, "num_test": 2000, "epochs": 5, "batch_size": 64}
FAST = {"num_train": 128, "num_test": 64, "epochs": 1, "batch_size": 64}
LEARNING_RATE = 3e-3
PARITY_TOLERANCE = 1e-4  # max |TFLite - Keras| on softmax outputs


def train_and_test(name, data, epochs, batch_size, seed=0):
    """Trains model `name` with the recipe (Adam, per-epoch cosine decay); returns (model, accuracy)."""
    (x_train, y_train), (x_test, y_test) = data
    keras.utils.set_random_seed(seed)
    model = build_model(name, input_shape=x_train.shape[1:], classes=shapes.NUM_CLASSES)
    recipe.compile_classifier(model, LEARNING_RATE)
    start = time.time()
    model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, verbose=2,
              callbacks=[recipe.cosine_schedule(LEARNING_RATE, epochs)])
    _, accuracy = model.evaluate(x_test, y_test, batch_size=256, verbose=0)
    print(f"{name:<11} ({model.count_params():,} parameters, trained in "
          f"{time.time() - start:.0f} s)  test accuracy: {accuracy:.2f}", flush=True)
    return model, accuracy


def export_and_check(model, x_test, workdir):
    """Exports `model` to TFLite with `keras_aw.export` and compares the interpreter with Keras.

    `keras_aw.export` checks parity on random images (and raises if it fails);
    here the exported file also runs on real test images. TFLite conversion
    needs the TensorFlow backend: on JAX and PyTorch `keras_aw.export` runs it
    in a TensorFlow-backend subprocess from a `.keras` copy of the model.
    """
    model.save(os.path.join(workdir, "aw_small_cnn.keras"))
    tflite_path = os.path.join(workdir, "aw_small_cnn.tflite")
    keras_aw.export(model, tflite_path)
    expected = keras.ops.convert_to_numpy(model.predict(x_test, verbose=0))
    actual = run_tflite(tflite_path, x_test)
    diff = float(np.max(np.abs(actual - expected)))
    same = int(np.sum(actual.argmax(-1) == expected.argmax(-1)))
    size_kb = os.path.getsize(tflite_path) / 1024
    print(f"TFLite ({size_kb:.0f} KB): max |TFLite - Keras| = {diff:.2e} on {len(x_test)} test "
          f"images, same predicted class on {same}/{len(x_test)}")
    return diff <= PARITY_TOLERANCE and same == len(x_test)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true",
                        help="tiny data and one epoch (smoke test); also KERAS_AW_FAST=1")
    parser.add_argument("--output", default=None,
                        help="directory for the exported files (default: a temporary one)")
    args = parser.parse_args(argv)
    fast = args.fast or os.environ.get("KERAS_AW_FAST", "") not in ("", "0")
    config = FAST if fast else FULL
    print(f"keras_aw {keras_aw.__version__} on the {keras.backend.backend()} backend"
          + (" (fast mode)" if fast else ""))

    start = time.time()
    data = shapes.load_data(config["num_train"], config["num_test"], image_size=32, seed=0)
    print(f"Shapes: {len(data[0][0])} training and {len(data[1][0])} test images of 32x32, "
          f"classes {', '.join(shapes.CLASS_NAMES)} ({time.time() - start:.1f} s)")

    _, plain_accuracy = train_and_test("SmallCNN", data, config["epochs"], config["batch_size"])
    aw_model, aw_accuracy = train_and_test("AWSmallCNN", data, config["epochs"],
                                           config["batch_size"])

    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.output or tmp
        os.makedirs(workdir, exist_ok=True)
        parity = export_and_check(aw_model, data[1][0][:64 if fast else 256], workdir)

    print(f"plain SmallCNN test accuracy: {plain_accuracy:.2f}")
    print(f"AW AWSmallCNN test accuracy: {aw_accuracy:.2f}")
    print(f"total time: {time.time() - start:.0f} s")
    failures = []
    if not parity:
        failures.append("the TFLite model's outputs differ from the Keras model's")
    if not fast and aw_accuracy < 0.9:
        failures.append(f"the AW model's test accuracy {aw_accuracy:.2f} is below 0.9")
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
