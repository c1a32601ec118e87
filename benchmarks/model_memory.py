"""Peak memory of a training step: AW models vs their plain twins.

Run: KERAS_BACKEND=jax python benchmarks/model_memory.py [--quick]
Each model trains in its own fresh process (resident memory high-water marks are per
process). Three figures per model, default compile settings:
- ``peak``: the process's peak resident memory (ru_maxrss), compilation included;
- ``train_peak``: the peak resident memory during three training steps after a warm-up
  step, once the memory the allocator kept from compiling is given back (``malloc_trim``)
  and the high-water mark reset (/proc/self/clear_refs): what training holds once
  compiled (weights, optimizer state, compiled programs, activations, workspace);
- ``step``: ``train_peak`` minus the resident memory before those steps, i.e. what one
  training step allocates and frees (activations kept for the backward pass, gradients,
  workspace).
"""

import argparse
import ctypes
import json
import os
import resource
import subprocess
import sys

from common import report

PAIRS = [("ResNet50", "AWResNet50"), ("SEMobileNet", "AWSEMobileNet")]


def _status_mb(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
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
    model.train_on_batch(x, y)  # compiles
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    warm = _status_mb("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM to the current RSS
    for _ in range(3):
        model.train_on_batch(x, y)
    train_peak = _status_mb("VmHWM")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(dict(peak_mb=peak, train_peak_mb=train_peak, step_mb=train_peak - warm)))


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
        row = dict(pair=f"{aw} / {plain}", batch=args.batch)
        for key in ("peak", "train_peak", "step"):
            for role, name in (("plain", plain), ("aw", aw)):
                row[f"{role}_{key}_mb"] = result[name][f"{key}_mb"]
            row[f"{key}_ratio"] = row[f"aw_{key}_mb"] / row[f"plain_{key}_mb"]
        rows.append(row)
        print(rows[-1], flush=True)
    report("model_memory", ["pair", "batch", "plain_peak_mb", "aw_peak_mb", "peak_ratio",
                            "plain_train_peak_mb", "aw_train_peak_mb", "train_peak_ratio",
                            "plain_step_mb", "aw_step_mb", "step_ratio"], rows,
           extra=dict(image_size=args.image_size))


if __name__ == "__main__":
    main()
