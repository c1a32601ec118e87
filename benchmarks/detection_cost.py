"""AW-FPN vs FPN detectors: train step time and peak training memory, side by side.

Run: KERAS_BACKEND=tensorflow python benchmarks/detection_cost.py [--quick]

``--quick`` writes runs/benchmarks-quick/NAME-BACKEND.json (never results/).

Pairs (keras-hub RetinaNet, `keras_aw.detection` registered builders, the
paper's FPN settings: P3-P7, 256 filters, 4 head convolutions):
FPNResNet50 / AWFPNResNet50 by default (``--encoder resnet101`` for the paper's
backbone). Both detectors of a pair get the same Shapes-Detect batch (images in
[0, 1], padded keras-hub targets), the same optimizer (Adam) and the default
compile settings (TensorFlow: tf.function without XLA; JAX: jit; PyTorch:
eager).

- time: the wall time of each training step, taken by a callback around every
  batch of `fit`s of `STEPS` steps (keras-hub's `train_on_batch` takes no
  target dicts), the two detectors' fits interleaved in one process, medians in
  ms after a warm-up fit each. Timing whole `fit` calls instead would count
  their set-up and tear-down: on this machine some `fit` calls took ~5 s more
  than others, in both detectors alike, which hid the steps' difference;
- memory: each detector in its own fresh process, the figures of
  `common.training_memory` (``train_peak``: resident memory while training
  once compiled; ``step``: what one training step allocates and frees). The
  process peak (``peak`` in the JSON, from ``ru_maxrss``) is not shown: Linux
  carries a parent's resident-memory high-water mark into a child's
  ``ru_maxrss`` across fork and exec, and this script's parent holds the two
  timed detectors when it starts the children, so both read the parent's
  peak. ``train_peak`` (``VmHWM`` of the child's own memory, reset before the
  measured steps) is not affected.

``--quick``: a width-0.25 MobileNet encoder, 64x64 images, P3-P5, 16 filters,
one head convolution (the detector of the test suite), batch 4, 2 repeats.
"""

import argparse
import json
import statistics
import time

import keras
import numpy as np

from common import memory_ratios, report, run_child, training_memory

PAIRS = [("plain", "aw")]
LABELS = {"plain": "FPN", "aw": "AW-FPN"}
ENCODERS = {"resnet50": "ResNet50", "resnet101": "ResNet101"}
NUM_CLASSES = 10
STEPS = 3  # training steps per timed `fit` call


class StepTimer(keras.callbacks.Callback):
    """Wall time of every training batch, in seconds."""

    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        float(logs["loss"])  # waits for the step (JAX dispatches asynchronously)
        self.seconds.append(time.perf_counter() - self._start)


def train_steps(model, x, y, callbacks=()):
    """A function running `STEPS` training steps on the batch (x, y) with `fit`."""
    xs = np.concatenate([x] * STEPS)
    ys = {k: np.concatenate([v] * STEPS) for k, v in y.items()}
    return lambda: model.fit(xs, ys, batch_size=len(x), epochs=1, shuffle=False, verbose=0,
                             callbacks=list(callbacks))


def step_medians(models, x, y, repeats):
    """Median training-step time (ms) of each model, their fits interleaved."""
    timers = {v: StepTimer() for v in models}
    fits = {v: train_steps(m, x, y, [timers[v]]) for v, m in models.items()}
    for fit in fits.values():
        fit()  # compiles
    for timer in timers.values():
        timer.seconds.clear()
    for _ in range(repeats):
        for fit in fits.values():
            fit()
    return {v: 1e3 * statistics.median(t.seconds) for v, t in timers.items()}


def build(variant, encoder, size):
    """A compiled RetinaNet with the plain or AW FPN."""
    from keras_aw.detection import build_retinanet, MobileNetEncoder

    aw = variant == "aw"
    if encoder == "quick":
        enc = MobileNetEncoder(alpha=0.25, image_shape=(size, size, 3))
        model = build_retinanet(enc, NUM_CLASSES, (size, size, 3), aw=aw, max_level=5, filters=16,
                                head_conv_layers=1, anchor_size=2.0)
    else:
        model = build_retinanet(encoder, NUM_CLASSES, (size, size, 3), aw=aw)
    model.compile(optimizer=keras.optimizers.Adam(1e-4, global_clipnorm=10.0))
    return model


def batch_data(size, batch):
    """One Shapes-Detect batch: (images in [0, 1], {"boxes", "labels"})."""
    from keras_aw.datasets import shapes

    (x, y), _ = shapes.load_detection_data(batch, 1, image_size=size, seed=0,
                                           min_size=max(size // 8, 4), max_size=size // 2)
    return x.astype("float32") / 255.0, y


def child(variant, encoder, size, batch):
    model = build(variant, encoder, size)
    x, y = batch_data(size, batch)
    print(json.dumps(training_memory(train_steps(model, x, y), steps=1)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", choices=sorted(ENCODERS), default="resnet50")
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true",
                        help="the test suite's small MobileNet detector, 64x64, batch 4")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        variant, encoder, size, batch = args.child
        return child(variant, encoder, int(size), int(batch))
    encoder = args.encoder
    if args.quick:
        encoder, args.image_size, args.batch, args.repeats = "quick", 64, 4, 2
    x, y = batch_data(args.image_size, args.batch)
    rows = []
    for plain, aw in PAIRS:
        models = {v: build(v, encoder, args.image_size) for v in (plain, aw)}
        times = step_medians(models, x, y, args.repeats)
        params = {v: m.count_params() for v, m in models.items()}
        del models
        memory = {v: run_child(__file__, v, encoder, args.image_size, args.batch)
                  for v in (plain, aw)}
        base = "MobileNet(0.25)" if encoder == "quick" else ENCODERS[encoder]
        rows.append(dict(pair=f"{LABELS[aw]} / {LABELS[plain]} on {base}", batch=args.batch,
                         plain_params=params[plain], aw_params=params[aw],
                         plain_ms=times[plain], aw_ms=times[aw],
                         time_ratio=times[aw] / times[plain],
                         **memory_ratios(memory[plain], memory[aw])))
        print(rows[-1], flush=True)
    report("detection_cost", ["pair", "batch", "plain_params", "aw_params", "plain_ms", "aw_ms",
                              "time_ratio", "plain_train_peak_mb", "aw_train_peak_mb",
                              "train_peak_ratio", "plain_step_mb", "aw_step_mb", "step_ratio"],
           rows, extra=dict(image_size=args.image_size, encoder=encoder), quick=args.quick)


if __name__ == "__main__":
    main()
