"""AW models vs their plain twins: train step and batch-1 inference, side by side.

Run: KERAS_BACKEND=tensorflow python benchmarks/model_speed.py [--quick]

``--quick`` writes runs/benchmarks-quick/NAME-BACKEND.json (never results/).

Pairs: AWResNet50 vs ResNet50, AWSEMobileNet vs SEMobileNet. Train step is
`model.train_on_batch` (forward, backward, SGD update); inference is
`model.predict_on_batch` at batch 1. Both with the default compile settings
(TensorFlow: tf.function without XLA; JAX: jit; PyTorch: eager) and, on
TensorFlow, also with `jit_compile=True` (XLA). The two models of a pair are
run interleaved in one process; medians in ms.
"""

import argparse

import keras
import numpy as np

from common import interleaved_medians, report, sync
import keras_aw.applications as apps

PAIRS = [("ResNet50", "AWResNet50"), ("SEMobileNet", "AWSEMobileNet")]


def build(name, size, jit):
    model = getattr(apps, name)(input_shape=(size, size, 3), classes=100)
    model.compile(optimizer=keras.optimizers.SGD(1e-3), loss="sparse_categorical_crossentropy",
                  jit_compile=jit)
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="64x64, batch 4, 2 repeats")
    args = parser.parse_args()
    if args.quick:
        args.image_size, args.batch, args.repeats = 64, 4, 2
    modes = ["auto"] + (["xla"] if keras.backend.backend() == "tensorflow" else [])
    rng = np.random.RandomState(0)
    x = rng.rand(args.batch, args.image_size, args.image_size, 3).astype("float32")
    y = rng.randint(0, 100, args.batch)
    x1 = x[:1]
    rows = []
    for plain, aw in PAIRS:
        for mode in modes:
            jit = True if mode == "xla" else "auto"
            models = {"plain": build(plain, args.image_size, jit), "aw": build(aw, args.image_size, jit)}
            train = interleaved_medians(
                {n: (lambda m=m: sync(m.train_on_batch(x, y))) for n, m in models.items()},
                repeats=args.repeats)
            infer = interleaved_medians(
                {n: (lambda m=m: sync(m.predict_on_batch(x1))) for n, m in models.items()},
                repeats=max(args.repeats * 3, 5))
            for what, t, batch in (("train", train, args.batch), ("infer", infer, 1)):
                rows.append(dict(pair=f"{aw} / {plain}", compile=mode, mode=what, batch=batch,
                                 plain_ms=t["plain"], aw_ms=t["aw"], ratio=t["aw"] / t["plain"]))
                print(rows[-1], flush=True)
            del models
    report("model_speed", ["pair", "compile", "mode", "batch", "plain_ms", "aw_ms", "ratio"], rows,
           extra=dict(image_size=args.image_size), quick=args.quick)


if __name__ == "__main__":
    main()
