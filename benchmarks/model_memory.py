"""Peak memory of a training step: AW models vs their plain twins.

Run: KERAS_BACKEND=jax python benchmarks/model_memory.py [--quick]
Each model trains in its own fresh process (peak resident memory is a per-process
high-water mark): the reported figure is the peak RSS during a few train steps minus
the RSS once the model is built, i.e. what the training step itself needs
(activations, gradients, optimizer state, workspace). Default compile settings.
"""

import argparse
import json
import os
import resource
import subprocess
import sys

from common import report

PAIRS = [("ResNet50", "AWResNet50"), ("SEMobileNet", "AWSEMobileNet")]


def _rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024


def child(name, size, batch):
    import keras
    import numpy as np

    import keras_aw.applications as apps

    model = getattr(apps, name)(input_shape=(size, size, 3), classes=100)
    model.compile(optimizer=keras.optimizers.SGD(1e-3), loss="sparse_categorical_crossentropy")
    rng = np.random.RandomState(0)
    x = rng.rand(batch, size, size, 3).astype("float32")
    y = rng.randint(0, 100, batch)
    built = _rss_mb()
    for _ in range(3):
        model.train_on_batch(x, y)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(dict(built_mb=built, peak_mb=peak)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="64x64, batch 4")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child[0], int(args.child[1]), int(args.child[2]))
    if args.quick:
        args.image_size, args.batch = 64, 4
    rows = []
    for plain, aw in PAIRS:
        result = {}
        for name in (plain, aw):
            out = subprocess.run(
                [sys.executable, os.path.abspath(__file__), "--child", name,
                 str(args.image_size), str(args.batch)],
                check=True, capture_output=True, text=True).stdout
            result[name] = json.loads(out.strip().splitlines()[-1])
        step = {n: r["peak_mb"] - r["built_mb"] for n, r in result.items()}
        rows.append(dict(pair=f"{aw} / {plain}", batch=args.batch,
                         plain_peak_mb=result[plain]["peak_mb"], aw_peak_mb=result[aw]["peak_mb"],
                         plain_step_mb=step[plain], aw_step_mb=step[aw],
                         step_ratio=step[aw] / step[plain],
                         peak_ratio=result[aw]["peak_mb"] / result[plain]["peak_mb"]))
        print(rows[-1], flush=True)
    report("model_memory", ["pair", "batch", "plain_peak_mb", "aw_peak_mb", "plain_step_mb",
                            "aw_step_mb", "step_ratio", "peak_ratio"], rows,
           extra=dict(image_size=args.image_size))


if __name__ == "__main__":
    main()
