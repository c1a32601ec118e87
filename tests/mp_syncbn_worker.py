"""One process of the PyTorch synchronized-BatchNorm test (tests/test_multiprocess_detection.py).

``python tests/mp_syncbn_worker.py --out DIR --job-addresses A --num-processes 2 --process-id I``
joins the cluster (`keras_aw.distribute.initialize_cluster`), builds a Conv2D and a
BatchNormalization, synchronizes it (`keras_aw.distribute.synchronize_batchnorm`),
runs its part (the I-th half) of a fixed global batch through it in training mode,
backpropagates ``sum(outputs * weights)`` (fixed weights) and all-reduces (sums) the
parameter gradients, and writes ``DIR/syncbn_{I}.npz``: its inputs, the conv output
(the BatchNorm's input), the BatchNorm's output, the gradient of the conv output, the
gradients of gamma and beta, and the moving mean and variance after the step.
"""

import argparse
import os
import sys

import numpy as np

#: The global batch: (8, 5, 5, 3) inputs and (8, 5, 5, 4) output weights, fixed.
GLOBAL_BATCH, SIZE, CHANNELS, FILTERS = 8, 5, 3, 4


def global_batch():
    """The global inputs and the output weights of the loss, the same on every process."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(GLOBAL_BATCH, SIZE, SIZE, CHANNELS)).astype("float32")
    w = rng.normal(size=(GLOBAL_BATCH, SIZE, SIZE, FILTERS)).astype("float32")
    return x, w


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--job-addresses")
    parser.add_argument("--num-processes", type=int)
    parser.add_argument("--process-id", type=int)
    args = parser.parse_args(argv)

    import keras
    import torch
    import torch.distributed as dist

    from keras_aw import distribute

    cluster = distribute.initialize_cluster(args.job_addresses, args.num_processes,
                                            args.process_id)
    keras.utils.set_random_seed(0)
    conv = keras.layers.Conv2D(FILTERS, 3, padding="same", kernel_initializer="glorot_uniform")
    bn = keras.layers.BatchNormalization(momentum=0.9, gamma_initializer="ones",
                                         beta_initializer="zeros")
    inputs = keras.Input((SIZE, SIZE, CHANNELS))
    features = conv(inputs)
    model = keras.Model(inputs, bn(features))
    assert distribute.synchronize_batchnorm(model, cluster) == 1
    x, w = global_batch()
    part = np.array_split(np.arange(GLOBAL_BATCH), cluster.num_processes)[cluster.process_id]
    x_part = torch.tensor(x[part])
    h = conv(x_part)
    h.retain_grad()
    y = bn(h, training=True)
    loss = torch.sum(y * torch.tensor(w[part]))
    loss.backward()
    grads = {}
    for name, variable in (("gamma", bn.gamma), ("beta", bn.beta)):
        grad = variable.value.grad.detach().clone()
        dist.all_reduce(grad)
        grads[name] = grad.numpy()
    np.savez(os.path.join(args.out, f"syncbn_{cluster.process_id}.npz"), part=part,
             kernel=keras.ops.convert_to_numpy(conv.kernel),
             bias=keras.ops.convert_to_numpy(conv.bias), h=h.detach().numpy(),
             y=y.detach().numpy(), dh=h.grad.numpy(), dgamma=grads["gamma"],
             dbeta=grads["beta"], moving_mean=keras.ops.convert_to_numpy(bn.moving_mean),
             moving_variance=keras.ops.convert_to_numpy(bn.moving_variance),
             epsilon=np.float32(bn.epsilon))
    cluster.shutdown()
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    sys.exit(main())
