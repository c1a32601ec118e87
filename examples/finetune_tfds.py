"""Warm start on a TensorFlow Datasets set: a plain CNN becomes an AW network.

    python examples/finetune_tfds.py                       # cifar10, downloads it once
    python examples/finetune_tfds.py --dataset tf_flowers --image-size 64
    python examples/finetune_tfds.py --plain-model plain.keras   # start from your own model
    python examples/finetune_tfds.py --fast                # smoke run (also KERAS_AW_FAST=1)

No ImageNet weights exist for AW networks; the practical start is a network
trained without attention. This example:

1. builds a `tf.data` pipeline (resize, random crop and flip, prefetch) for the
   TFDS set with `keras_aw.load_data("tfds:NAME")`;
2. trains a plain `SmallCNN` on it (or loads `--plain-model`, any Keras model
   taking 0-255 RGB images of the data set's classes);
3. converts it with `keras_aw.convert_to_aw`: every plain 3x3 `Conv2D` but the
   first becomes
   an `AWConv2D` carrying the same kernel, its attention branch starting at a
   small constant so that the converted network first behaves like the plain one;
4. fine-tunes the AW network and compares test accuracies.
"""

import argparse
import os
import sys
import time

import keras
import numpy as np

import keras_aw
from keras_aw.convert import default_select
from keras_aw.datasets import load_data
from keras_aw.utils.files import load_model_file
from keras_aw_tools import recipe, training

PLAIN_LEARNING_RATE = 2e-3
FINE_TUNE_LEARNING_RATE = 5e-4  # a smaller learning rate for fine-tuning


def fit(model, data, epochs, steps_per_epoch, learning_rate, validate=True):
    """`Model.fit` with the recipe's per-epoch cosine decay from `learning_rate`."""
    model.fit(data["train"], validation_data=data["test"] if validate else None, epochs=epochs,
              steps_per_epoch=steps_per_epoch, verbose=2,
              callbacks=[recipe.cosine_schedule(learning_rate, epochs)])


def accuracy(model, data, steps):
    return float(model.evaluate(data["test"], steps=steps, verbose=0, return_dict=True)
                 ["accuracy"])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="cifar10", help="a TFDS name (default cifar10)")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=5, help="plain training epochs")
    parser.add_argument("--fine-tune-epochs", type=int, default=3)
    parser.add_argument("--plain-model", default=None,
                        help="a trained plain .keras model to convert instead of training one")
    parser.add_argument("--identity-start", type=float, default=0.05,
                        help="initial attention of the new branches (see convert_to_aw)")
    parser.add_argument("--output", default="finetuned_aw.keras")
    parser.add_argument("--fast", action="store_true",
                        help="smoke run: no plain training, one fine-tuning epoch of two steps")
    args = parser.parse_args(argv)
    fast = args.fast or os.environ.get("KERAS_AW_FAST", "") not in ("", "0")
    steps = 2 if fast else None
    if fast:
        args.image_size = min(args.image_size, 16)
    epochs, fine_tune_epochs = (1, 1) if fast else (args.epochs, args.fine_tune_epochs)

    start = time.time()
    data = load_data(f"tfds:{args.dataset}", image_size=args.image_size,
                     batch_size=args.batch_size, repeat=fast)
    if data["test"] is None:
        sys.exit(f"{args.dataset} has no test or validation split to measure accuracy on")
    shape = (args.image_size, args.image_size, 3)
    print(f"{args.dataset}: {data['num_classes']} classes, images resized to {shape}")

    if args.plain_model:
        plain = recipe.compile_classifier(load_model_file(args.plain_model), PLAIN_LEARNING_RATE)
    else:
        keras.utils.set_random_seed(0)
        plain = recipe.compile_classifier(
            training.build_model("SmallCNN", shape, data["num_classes"]), PLAIN_LEARNING_RATE)
        if not fast:  # the smoke run converts the untrained network
            fit(plain, data, epochs, steps, PLAIN_LEARNING_RATE)
    plain_accuracy = accuracy(plain, data, steps)

    # The paper's choice (every plain 3x3 Conv2D, `default_select`), minus the
    # stem: attention over the 3 colour channels of the input adds little.
    first = next(layer for layer in plain.layers if isinstance(layer, keras.layers.Conv2D))
    aw = keras_aw.convert_to_aw(
        plain, identity_start=args.identity_start,
        select=lambda layer: default_select(layer) and layer is not first)
    converted = [layer.name for layer in aw.layers if isinstance(layer, keras_aw.AWConv2D)]
    print(f"converted {len(converted)} Conv2D layers to AWConv2D: {', '.join(converted)}")
    batch = next(iter(data["test"]))[0]
    before = keras.ops.convert_to_numpy(plain(batch, training=False))
    after = keras.ops.convert_to_numpy(aw(batch, training=False))
    print(f"right after conversion: max |AW - plain| output = {np.max(np.abs(after - before)):.3f}"
          f", same predicted class on {np.mean(after.argmax(-1) == before.argmax(-1)):.0%} "
          "of a test batch")
    recipe.compile_classifier(aw, FINE_TUNE_LEARNING_RATE)
    if not fast:
        print(f"converted, before fine-tuning, test accuracy: {accuracy(aw, data, steps):.2f}")

    fit(aw, data, fine_tune_epochs, steps, FINE_TUNE_LEARNING_RATE, validate=not fast)
    aw_accuracy = accuracy(aw, data, steps)
    aw.save(args.output)
    print(f"plain test accuracy: {plain_accuracy:.2f}")
    print(f"AW fine-tuned test accuracy: {aw_accuracy:.2f}")
    print(f"saved {args.output} ({time.time() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
