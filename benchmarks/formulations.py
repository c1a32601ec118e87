"""Where the time goes: each per-sample-convolution formulation vs the backend's convolution.

Run: KERAS_BACKEND=jax python benchmarks/formulations.py [--quick]

``--quick`` writes runs/benchmarks-quick/NAME-BACKEND.json (never results/).

For the ResNet50 3x3 stage shapes (at the 224 and the 128 input size), times the forward pass
and the forward + backward pass (gradients w.r.t. input, kernel and modulation) of
`keras.ops.conv` and of every (path, gradient) of `keras_aw.ops.per_sample_conv2d`, compiled
the way Keras compiles by default (TensorFlow: tf.function; JAX: jit; PyTorch: eager).
`choose_path` is set from these numbers; the `auto` column says what it picks.
"""

import argparse

import keras
import numpy as np
from keras import ops

from common import interleaved_medians, report
from keras_aw.ops.per_sample_conv import choose_path, per_sample_conv2d

# (batch, H=W, C)
SHAPES = [(16, 56, 64), (16, 28, 128), (16, 14, 256), (16, 7, 512),
          (8, 32, 64), (8, 16, 128), (8, 8, 256), (8, 4, 512)]
FORMULATIONS = [("kernel", "autodiff"), ("groups", "autodiff"), ("taps", "autodiff"),
                ("taps", "correlate"), ("taps", "keep")]


def compiled(fn, upstream):
    """(forward, forward + backward) callables that wait for their results."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        fwd = jax.jit(fn)
        grad = jax.jit(jax.grad(lambda *a: ops.sum(fn(*a) * upstream), argnums=(0, 1, 2)))
        return (lambda *a: jax.block_until_ready(fwd(*a)),
                lambda *a: jax.block_until_ready(grad(*a)))
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function
        def grad(*a):
            with tf.GradientTape() as tape:
                tape.watch(a)
                y = ops.sum(fn(*a) * upstream)
            return tape.gradient(y, a)

        fwd = tf.function(fn)
        return (lambda *a: fwd(*a).numpy(),
                lambda *a: [g.numpy() for g in grad(*a) if g is not None])
    import torch

    def fwd(*a):
        with torch.no_grad():
            return fn(*a)

    def grad(*a):
        a = [t.detach().requires_grad_(True) for t in a]
        return torch.autograd.grad(ops.sum(fn(*a) * upstream), a, allow_unused=True)

    return fwd, grad


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="two shapes, 3 repeats")
    args = parser.parse_args()
    shapes = SHAPES[1:2] + SHAPES[6:7] if args.quick else SHAPES
    repeats = 3 if args.quick else args.repeats
    rng = np.random.RandomState(0)
    rows = []
    for n, size, c in shapes:
        x = ops.convert_to_tensor(rng.rand(n, size, size, c).astype("float32"))
        kernel = ops.convert_to_tensor(rng.rand(3, 3, c, c).astype("float32") - 0.5)
        modulation = ops.convert_to_tensor(rng.rand(n, 3, 3, 1, c).astype("float32") + 0.5)
        upstream = ops.convert_to_tensor(rng.rand(n, size, size, c).astype("float32"))
        fns = {"conv": compiled(lambda x, k, m: ops.conv(x, k, padding="same"), upstream)}
        for path, gradient in FORMULATIONS:
            if path == "groups" and keras.backend.backend() != "torch":
                continue  # XLA's CPU grouped convolution: 46-112x ops.conv, minutes per shape
            fns[f"{path}/{gradient}"] = compiled(
                lambda x, k, m, p=path, g=gradient: per_sample_conv2d(
                    x, k, m, padding="same", path=p, gradient=g), upstream)
        auto = "/".join(choose_path(keras.backend.backend(), size * size, (3, 3, c, c), 1))
        for mode, index in (("forward", 0), ("fwd+bwd", 1)):
            t = interleaved_medians({name: (lambda f=f[index]: f(x, kernel, modulation))
                                     for name, f in fns.items()}, repeats=repeats)
            row = dict(shape=f"{n}x{size}x{size}x{c}", mode=mode, auto=auto)
            row.update({name: ms for name, ms in t.items()})
            rows.append(row)
            print(row, flush=True)
    columns = ["shape", "mode", "conv"] + [c for c in (f"{p}/{g}" for p, g in FORMULATIONS)
                                           if c in rows[0]] + ["auto"]
    report("formulations", columns, rows, quick=args.quick)


if __name__ == "__main__":
    main()
