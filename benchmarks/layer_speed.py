"""AWConv2D vs keras.layers.Conv2D: train step and inference, at ResNet50 / MobileNet shapes.

Run: KERAS_BACKEND=jax python benchmarks/layer_speed.py [--quick]

``--quick`` writes runs/benchmarks-quick/NAME-BACKEND.json (never results/).

Each row times both layers in one process, interleaved, and quotes medians (ms).
Train step = forward, backward and SGD update through `model.train_on_batch` with the
default compile settings (TensorFlow: tf.function without XLA; JAX: jit; PyTorch: eager).
"""

import argparse

import keras
import numpy as np

from common import interleaved_medians, report, sync
from keras_aw import AWConv2D

# (label, H=W, C1, C2, kernel, stride)
SHAPES = [
    ("res2 3x3", 56, 64, 64, 3, 1),
    ("res3 3x3", 28, 128, 128, 3, 1),
    ("res4 3x3", 14, 256, 256, 3, 1),
    ("res5 3x3", 7, 512, 512, 3, 1),
    ("3x3 stride 2", 56, 128, 128, 3, 2),
    ("mbnet pw 56", 56, 128, 128, 1, 1),
    ("mbnet pw 14", 14, 512, 512, 1, 1),
    ("mbnet pw 7", 7, 1024, 1024, 1, 1),
]


def make(cls, size, c1, c2, k, s, jit):
    model = keras.Sequential([keras.Input((size, size, c1)),
                              cls(c2, k, strides=s, padding="same", use_bias=False)])
    model.compile(optimizer=keras.optimizers.SGD(1e-3), loss="mse", jit_compile=jit)
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", default="16,32")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="two shapes, batch 16, 3 repeats")
    args = parser.parse_args()
    shapes, batches = SHAPES, [int(b) for b in args.batches.split(",")]
    if args.quick:
        shapes, batches, args.repeats = SHAPES[1:2] + SHAPES[3:4], [16], 3
    jit = "auto"
    rows = []
    rng = np.random.RandomState(0)
    for label, size, c1, c2, k, s in shapes:
        models = {name: make(cls, size, c1, c2, k, s, jit)
                  for name, cls in (("conv", keras.layers.Conv2D), ("aw", AWConv2D))}
        out = models["conv"].output_shape[1:]
        for batch in batches:
            x = rng.rand(batch, size, size, c1).astype("float32")
            y = rng.rand(batch, *out).astype("float32")
            t = interleaved_medians({n: (lambda m=m: sync(m.train_on_batch(x, y)))
                                     for n, m in models.items()}, repeats=args.repeats)
            rows.append(dict(shape=f"{label} {size}x{size}x{c1}->{c2}", mode="train", batch=batch,
                             conv_ms=t["conv"], aw_ms=t["aw"], ratio=t["aw"] / t["conv"]))
            print(rows[-1], flush=True)
        for batch in (1, 32) if not args.quick else (1,):
            x = rng.rand(batch, size, size, c1).astype("float32")
            t = interleaved_medians({n: (lambda m=m: sync(m.predict_on_batch(x)))
                                     for n, m in models.items()}, repeats=args.repeats)
            rows.append(dict(shape=f"{label} {size}x{size}x{c1}->{c2}", mode="infer", batch=batch,
                             conv_ms=t["conv"], aw_ms=t["aw"], ratio=t["aw"] / t["conv"]))
            print(rows[-1], flush=True)
    report("layer_speed", ["shape", "mode", "batch", "conv_ms", "aw_ms", "ratio"], rows,
           quick=args.quick)


if __name__ == "__main__":
    main()
