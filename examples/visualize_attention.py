"""Look at what AW-convolution's attention does, image by image and class by class.

    python examples/visualize_attention.py                          # trains AWSmallCNN first
    python examples/visualize_attention.py --model runs/aw/model.keras
    python examples/visualize_attention.py --fast                   # smoke run (KERAS_AW_FAST=1)

Writes into --output-dir (default ``attention/``):

- ``attention_<class>.png``: for one Shapes test image of each of a few classes,
  every AWConv2D layer's attention A (per output channel, over the kernel taps),
  drawn by `keras_aw_tools.plots.plot_attention` (the figure `keras-aw visualize`
  draws);
- ``attention_by_class.png``: for each AWConv2D layer, the attention averaged
  over each class's test images: per output channel (how strongly each filter is
  amplified for that class) and per kernel tap.

Without --model, an `AWSmallCNN` is first trained on Shapes for 4 epochs
(a couple of minutes on 2 CPU cores).
"""

import argparse
import os
import sys
import time

import keras
import numpy as np

from keras_aw import attention
from keras_aw.datasets import shapes
from keras_aw.utils.files import load_model_file
from keras_aw_tools import plots, recipe, training


def class_attention(model, x, y):
    """Per layer: (classes, C2) mean attention per output channel and (classes, kh, kw) per tap."""
    counts = np.maximum(np.bincount(y, minlength=shapes.NUM_CLASSES), 1)
    stats = {}
    for name, a in attention.attention_summary(model, x):  # a: (N, kh, kw, C2)
        channel = np.zeros((shapes.NUM_CLASSES, a.shape[-1]))
        tap = np.zeros((shapes.NUM_CLASSES,) + a.shape[1:3])
        np.add.at(channel, y, a.mean(axis=(1, 2)))
        np.add.at(tap, y, a.mean(axis=3))
        stats[name] = (channel / counts[:, None], tap / counts[:, None, None])
    return stats


def plot_class_attention(stats, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(stats)
    fig = plt.figure(figsize=(16, 3.6 * len(names) + 0.8))
    grid = fig.add_gridspec(2 * len(names), shapes.NUM_CLASSES, height_ratios=[2.2, 1] * len(names),
                            hspace=0.6)
    for i, name in enumerate(names):
        channel, tap = stats[name]
        ax = fig.add_subplot(grid[2 * i, :])
        # Deviation from the channel's mean over classes: what is class-specific.
        deviation = channel - channel.mean(axis=0, keepdims=True)
        limit = float(np.abs(deviation).max()) or 1e-6
        im = ax.imshow(deviation, aspect="auto", cmap="RdBu_r", vmin=-limit, vmax=limit,
                       interpolation="nearest")
        ax.set_yticks(range(shapes.NUM_CLASSES), shapes.CLASS_NAMES, fontsize=8)
        ax.set_xlabel("output channel", fontsize=8)
        ax.set_title(f"{name}: attention per output channel, class mean minus mean over classes "
                     f"(channel attention ranges {channel.min():.2f}-{channel.max():.2f})",
                     fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.02, pad=0.01)
        vmin, vmax = float(tap.min()), float(tap.max())
        for c in range(shapes.NUM_CLASSES):
            ax = fig.add_subplot(grid[2 * i + 1, c])
            ax.imshow(tap[c], vmin=vmin, vmax=vmax, cmap="viridis", interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(shapes.CLASS_NAMES[c], fontsize=8)
            if c == 0:
                ax.set_ylabel(f"per tap\n{vmin:.3f}-\n{vmax:.3f}", fontsize=7)
    fig.suptitle(title, fontsize=12)
    fig.savefig(path, dpi=80, bbox_inches="tight")
    plt.close(fig)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="a trained .keras model with AWConv2D")
    parser.add_argument("--output-dir", default="attention")
    parser.add_argument("--classes", default="circle,star,crescent",
                        help="classes to draw one image of (comma-separated)")
    parser.add_argument("--fast", action="store_true", help="tiny training, few images")
    args = parser.parse_args(argv)
    fast = args.fast or os.environ.get("KERAS_AW_FAST", "") not in ("", "0")
    unknown = [c for c in args.classes.split(",") if c not in shapes.CLASS_NAMES]
    if unknown:
        sys.exit(f"unknown classes {unknown}; Shapes has {', '.join(shapes.CLASS_NAMES)}")
    os.makedirs(args.output_dir, exist_ok=True)
    start = time.time()

    if args.model:
        model = load_model_file(args.model)
        size = model.inputs[0].shape[1]
    else:
        size = 32
        num_train, epochs = (128, 1) if fast else (8000, 4)
        (x, y), _ = shapes.load_data(num_train, 0, image_size=size, seed=0)
        keras.utils.set_random_seed(0)
        model = training.build_model("AWSmallCNN", (size, size, 3), shapes.NUM_CLASSES)
        recipe.compile_classifier(model, 3e-3)
        model.fit(x.astype("float32"), y, batch_size=64, epochs=epochs, verbose=2,
                  callbacks=[recipe.cosine_schedule(3e-3, epochs)])

    num_test = 40 if fast else 1000
    _, (xt, yt) = shapes.load_data(0, num_test, image_size=size, seed=0)
    xt = xt.astype("float32")
    for name in args.classes.split(","):
        index = int(np.flatnonzero(yt == shapes.CLASS_NAMES.index(name))[0])
        path = os.path.join(args.output_dir, f"attention_{name}.png")
        plots.plot_attention(model, xt[index], path, class_names=shapes.CLASS_NAMES,
                                 label=int(yt[index]),
                                 title=f"AW attention of {model.name} for a test {name}")
        print(f"wrote {path}")
    stats = class_attention(model, xt, yt.astype("int64"))
    path = plot_class_attention(stats, os.path.join(args.output_dir, "attention_by_class.png"),
                                f"AW attention of {model.name} by class ({num_test} Shapes test "
                                "images)")
    print(f"wrote {path} ({time.time() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
