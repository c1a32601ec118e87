"""Peak memory of a training step: AW models vs their plain twins.

Run: KERAS_BACKEND=jax python benchmarks/model_memory.py [--quick]

``--quick`` writes runs/benchmarks-quick/NAME-BACKEND.json (never results/).

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
import json

from common import memory_ratios, report, run_child, training_memory

PAIRS = [("ResNet50", "AWResNet50"), ("SEMobileNet", "AWSEMobileNet")]


def child(name, size, batch):
    import keras
    import numpy as np

    import keras_aw.applications as apps

    model = getattr(apps, name)(input_shape=(size, size, 3), classes=100)
    model.compile(optimizer=keras.optimizers.SGD(1e-3), loss="sparse_categorical_crossentropy")
    rng = np.random.RandomState(0)
    x = rng.rand(batch, size, size, 3).astype("float32")
    y = rng.randint(0, 100, batch)
    print(json.dumps(training_memory(lambda: model.train_on_batch(x, y))))


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
        result = {name: run_child(__file__, name, args.image_size, args.batch)
                  for name in (plain, aw)}
        rows.append(dict(pair=f"{aw} / {plain}", batch=args.batch,
                         **memory_ratios(result[plain], result[aw])))
        print(rows[-1], flush=True)
    report("model_memory", ["pair", "batch", "plain_peak_mb", "aw_peak_mb", "peak_ratio",
                            "plain_train_peak_mb", "aw_train_peak_mb", "train_peak_ratio",
                            "plain_step_mb", "aw_step_mb", "step_ratio"], rows,
           extra=dict(image_size=args.image_size), quick=args.quick)


if __name__ == "__main__":
    main()
