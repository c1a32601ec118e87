"""Every picture keras_aw's tools draw (matplotlib): training curves, attention maps, boxes.

- `plot_history`: loss and metrics against epoch, train and validation.
- `plot_attention`: for one image, the attention A of every `AWConv2D` layer of
  a model (per layer the kh x kw attention of the output channels whose
  attention varies most, their mean, and the distribution of A).
- `plot_detections`: boxes with class names and scores on an image.

matplotlib is imported when a function draws (with the Agg backend), so the
rest of keras_aw and its tools work without it.
"""

import os

import numpy as np

import keras_aw.attention as attention
from keras_aw.detection.evaluation import to_xyxy


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_history(history, path, title="training", metrics=("loss", "accuracy")):
    """Draws a training history into a PNG: one panel per metric, train and validation.

    Args:
        history: list of per-epoch dicts with "epoch" and the metrics (and their
            "val_" forms).
        path: the PNG to write (replaced atomically).
        title: the figure's title.
        metrics: the metrics to draw, one panel each; a metric whose name ends
            in "accuracy" or starts with "AP" gets a [0, 1] axis.

    Returns:
        True, or False when matplotlib is not installed.
    """
    try:
        plt = _pyplot()
        import matplotlib.ticker
    except ImportError:
        return False
    epochs = [row["epoch"] for row in history]
    metrics = tuple(metrics)
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 4), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for prefix, style, what in (("", "o-", "train"), ("val_", "s--", "validation")):
            values = [row.get(prefix + metric) for row in history]
            if any(v is not None for v in values):
                ax.plot(epochs, [np.nan if v is None else v for v in values], style, label=what)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.set_title(metric)
        ax.grid(alpha=0.3)
        ax.legend()
        if metric.endswith("accuracy") or metric.startswith("AP"):
            ax.set_ylim(0, 1)
        if len(epochs) <= 20:
            ax.set_xticks(epochs)
        else:
            ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    fig.suptitle(title)
    fig.tight_layout()
    tmp = path + ".tmp.png"
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)
    return True


def _channel_maps(a):
    """(kh, kw, C1, C2) -> (C2, kh, kw): the attention of each output channel
    (averaged over input channels; with the default reduction_c1 = C1 it is
    the same for every input channel)."""
    return np.transpose(a.mean(axis=2), (2, 0, 1))


def plot_attention(model, image, output, title=None, max_channels=12, class_names=None,
                   label=None):
    """Draws the attention of every AWConv2D layer of `model` for `image` into a PNG.

    Args:
        model: a Keras model with AWConv2D layers (raise ValueError otherwise).
        image: one image (H, W, 3) as the model takes it (0-255 for models
            built by `keras_aw_tools.training.build_model`).
        output: path of the PNG to write.
        title: figure title (default: the model's name).
        max_channels: output channels drawn per layer (those whose attention
            varies most across the kernel taps).
        class_names: optional names of the model's classes, for the prediction.
        label: optional true class index of the image.

    Returns:
        `output`.
    """
    plt = _pyplot()
    maps = attention.attention_maps(model, image)
    if not maps:
        raise ValueError(f"model {model.name!r} has no AWConv2D layers: no attention to draw")
    image = np.asarray(image, dtype="float32")
    probs = np.asarray(model.predict(image[None], verbose=0)[0], dtype="float64")

    def name_of(index):
        if class_names is not None and 0 <= index < len(class_names):
            return f"{class_names[index]}"
        return f"class {index}"

    cols = max_channels + 2  # channels, mean map, distribution
    rows = len(maps) + 1
    height = 1.45 * rows + 0.6
    fig = plt.figure(figsize=(1.25 * cols + 1.6, height))
    grid = fig.add_gridspec(rows, cols + 1, width_ratios=[1.6] + [1] * cols,
                            hspace=0.75, wspace=0.35, top=1.0 - 0.55 / height,
                            bottom=0.25 / height)

    # First row: the image and the prediction.
    ax = fig.add_subplot(grid[0, 1:3])
    shown = image / 255.0 if image.max() > 1.5 else image
    ax.imshow(np.clip(shown, 0, 1), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title("input image", fontsize=9)
    top = np.argsort(-probs)[:3]
    text = "prediction: " + ", ".join(f"{name_of(int(i))} {probs[i]:.2f}" for i in top)
    if label is not None:
        text = f"true class: {name_of(int(label))}\n" + text
    text += (
        "\n\nEach row: one AWConv2D layer. Cells show A[j, k] for the kernel taps\n"
        "(kernel used: K + A*K, so A = 0 keeps K, A = 1 doubles it);\n"
        "colour scale per layer, shown at its right."
    )
    tax = fig.add_subplot(grid[0, 3:])
    tax.axis("off")
    tax.text(0.0, 0.5, text, fontsize=9, va="center", family="monospace")

    for row, (name, a) in enumerate(maps, start=1):
        kh, kw, c1, c2 = a.shape
        per_channel = _channel_maps(a)  # (C2, kh, kw)
        vmin, vmax = float(a.min()), float(a.max())
        if vmax - vmin < 1e-6:
            vmin, vmax = vmin - 0.01, vmax + 0.01
        lax = fig.add_subplot(grid[row, 0])
        lax.axis("off")
        lax.text(1.0, 0.5, f"{name}\n{kh}x{kw}, {c1}->{c2} ch\nA: mean {a.mean():.3f}\n"
                 f"range {a.min():.3f}-{a.max():.3f}", ha="right", va="center", fontsize=8)
        if kh * kw > 1:
            spread = per_channel.reshape(c2, -1).std(axis=1)
            chosen = np.sort(np.argsort(-spread)[:max_channels])
            for i, channel in enumerate(chosen):
                ax = fig.add_subplot(grid[row, 1 + i])
                im = ax.imshow(per_channel[channel], vmin=vmin, vmax=vmax, cmap="viridis",
                               interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                ax.set_title(f"out ch {channel}", fontsize=7)
            ax = fig.add_subplot(grid[row, 1 + max_channels])
            im = ax.imshow(per_channel.mean(axis=0), vmin=vmin, vmax=vmax, cmap="viridis",
                           interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"mean of {c2} ch", fontsize=7)
        else:
            ax = fig.add_subplot(grid[row, 1:1 + max_channels + 1])
            strip = per_channel.reshape(1, c2)
            im = ax.imshow(strip, vmin=vmin, vmax=vmax, cmap="viridis", aspect="auto",
                           interpolation="nearest")
            ax.set_yticks([])
            ax.tick_params(labelsize=6, pad=1)
            ax.set_title("1x1 kernel: attention of each output channel (x axis: channel index)",
                         fontsize=7)
        # Histogram of A over (taps, output channels), its bars coloured with
        # the colour map: it doubles as the colour scale of the row.
        cax = fig.add_subplot(grid[row, cols])
        _, edges, patches = cax.hist(per_channel.reshape(-1), bins=24, range=(vmin, vmax),
                                     orientation="horizontal")
        for left, right, patch in zip(edges[:-1], edges[1:], patches):
            patch.set_facecolor(im.cmap(im.norm(0.5 * (left + right))))
        cax.set_ylim(vmin, vmax)
        cax.yaxis.tick_right()
        cax.tick_params(labelsize=6)
        cax.set_xticks([])
        cax.set_title("scale / histogram", fontsize=7)
    fig.suptitle(title or f"AW attention of {model.name}", fontsize=12,
                 y=1.0 - 0.15 / height)
    directory = os.path.dirname(os.path.abspath(output))
    os.makedirs(directory, exist_ok=True)
    fig.savefig(output, dpi=90, bbox_inches="tight")
    plt.close(fig)
    return output


def plot_detections(image, boxes, labels, scores, class_names, bounding_box_format,
                    output=None, score_threshold=0.3):
    """Draws detected (or ground-truth) boxes with class names and scores on an image.

    Args:
        image: (H, W, 3) image, uint8 or float in [0, 1].
        boxes: (K, 4) boxes in `bounding_box_format`.
        labels: (K,) class ids; entries of -1 (padding) are skipped.
        scores: (K,) confidences, or None (ground truth: every box drawn, no score).
            Boxes scoring below `score_threshold` are skipped.
        class_names: sequence naming the class ids, or None (the ids are printed).
        bounding_box_format: a `keras.utils.bounding_boxes` format ("yxyx", "xyxy",
            "xywh", "center_xywh", "center_yxhw" or a "rel_" one).
        output: optional path of a PNG to write.
        score_threshold: lowest score drawn. Defaults to 0.3.

    Returns:
        The `matplotlib.figure.Figure` (also written to `output` when given).

    Raises:
        ValueError: an image that is not (H, W, 3), boxes that are not (K, 4) with
            K labels (and K scores), or an unknown `bounding_box_format`.

    Example:

    >>> import numpy as np
    >>> from keras_aw_tools.plots import plot_detections
    >>> fig = plot_detections(np.zeros((64, 64, 3), np.uint8), [[8, 8, 40, 40]], [0],
    ...                       [0.9], ["circle"], "yxyx")
    >>> [t.get_text() for t in fig.axes[0].texts]
    ['circle 0.90']
    """
    plt = _pyplot()
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"`image` must be (H, W, 3); received image.shape={image.shape}")
    height, width = image.shape[:2]
    boxes = np.asarray(boxes, np.float64)
    labels = np.asarray(labels).reshape(-1)
    if boxes.shape != (len(labels), 4):
        raise ValueError(
            f"`boxes` must be (K, 4) with K = len(labels) = {len(labels)}; received "
            f"boxes.shape={boxes.shape}"
        )
    if scores is not None:
        scores = np.asarray(scores, np.float64).reshape(-1)
        if scores.shape != labels.shape:
            raise ValueError(
                f"`scores` must have one entry per box ({len(labels)}); received "
                f"scores.shape={scores.shape}"
            )
    xyxy = to_xyxy(boxes, bounding_box_format, height, width)
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(image if image.dtype == np.uint8 else np.clip(image, 0, 1))
    colours = plt.get_cmap("tab10")
    for k, (box, label) in enumerate(zip(xyxy, labels)):
        score = None if scores is None else float(scores[k])
        if label < 0 or (score is not None and score < score_threshold):
            continue
        colour = colours(int(label) % 10)
        ax.add_patch(plt.Rectangle((box[0], box[1]), box[2] - box[0], box[3] - box[1],
                                   fill=False, edgecolor=colour, linewidth=2))
        name = class_names[int(label)] if class_names is not None else str(int(label))
        text = name if score is None else f"{name} {score:.2f}"
        ax.text(box[0], box[1], text, color="white", fontsize=8, va="bottom",
                bbox=dict(facecolor=colour, alpha=0.7, pad=1, edgecolor="none"))
    ax.set_axis_off()
    if output is not None:
        directory = os.path.dirname(os.path.abspath(output))
        os.makedirs(directory, exist_ok=True)
        fig.savefig(output, dpi=90, bbox_inches="tight")
    return fig
