"""One process at the engine level: `keras_aw.distribute` with Keras's `fit`, no training loop.

Run as ``python tests/mp_worker.py --out DIR [--job-addresses ... --num-processes N
--process-id I]`` (or with `TF_CONFIG` / torchrun's variables / `KERAS_DISTRIBUTION_*`
set): joins the cluster with `keras_aw.distribute.initialize_cluster`, trains a
tiny model with an AWConv2D inside for `--epochs` epochs on fixed global batches
with Keras's `fit`, writes its weights to ``DIR/proc_{I}.npz`` and its logs to
``DIR/proc_{I}.json``; a bad cluster or batch size prints ``error: ...`` and
exits with status 2. tests/test_multiprocess.py uses it for the faults met
before training (bad process id, unreachable coordinator, indivisible batch);
without a cluster it is a single-process run, and ``--splits 2`` runs each step
as two half-batch forward passes with averaged gradients (what two PyTorch DDP
processes compute, BatchNorm statistics per half: `install_split_step`, also
used by the training reference of tests/mp_train_worker.py).
"""

import argparse
import json
import os
import signal
import sys
import time

import numpy as np

NUM_SAMPLES = 64
IMAGE = 8
CLASSES = 4


def build_model():
    import keras

    from keras_aw.layers import AWConv2D

    inputs = keras.Input((IMAGE, IMAGE, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", use_bias=False)(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    x = AWConv2D(8, 3, padding="same", attention_reduction=2, name="awconv")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(CLASSES, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="tiny_aw")


def global_data():
    rng = np.random.RandomState(1)
    x = rng.uniform(-1, 1, (NUM_SAMPLES, IMAGE, IMAGE, 3)).astype("float32")
    y = (x[:, :4, :4, 0].mean(axis=(1, 2)) > 0).astype("int32") + 2 * (
        x[:, 4:, 4:, 1].mean(axis=(1, 2)) > 0).astype("int32")
    return x, y


def global_dataset(batch_size, shuffle=True):
    """The global batches every process (and the reference) iterates: shuffled with a seed.

    Shuffled once (``reshuffle_each_iteration=False``): with reshuffling, the
    order of epoch k depends on how many iterators were made from the pipeline
    before, and Keras's TensorFlow `fit` makes a different number of them under
    MultiWorkerMirroredStrategy than in one process (measured: the processes
    agree, the single-process reference differs by 0.04).
    """
    import tensorflow as tf

    x, y = global_data()
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        ds = ds.shuffle(NUM_SAMPLES, seed=7, reshuffle_each_iteration=False)
    return ds.batch(batch_size, drop_remainder=True)


def compile_model(model):
    import keras

    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.5),
                  loss=keras.losses.SparseCategoricalCrossentropy(),
                  metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
    return model


def install_split_step(model, splits):
    """Torch reference: each step as `splits` forward passes with averaged gradients."""
    import keras
    import torch

    def train_step(data):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        model.zero_grad()
        n = x.shape[0] // splits
        grads, preds = None, []
        for k in range(splits):
            xs, ys = x[k * n:(k + 1) * n], y[k * n:(k + 1) * n]
            pred = model(xs, training=True)
            loss = model._compute_loss(x=xs, y=ys, y_pred=pred, training=True)
            model._loss_tracker.update_state(loss, sample_weight=n)
            weights = model.trainable_weights[:]
            g = torch.autograd.grad(loss, [v.value for v in weights])
            grads = list(g) if grads is None else [a + b for a, b in zip(grads, g)]
            preds.append(pred)
        weights = model.trainable_weights[:]
        with torch.no_grad():
            model.optimizer.apply([g / splits for g in grads], weights)
        return model.compute_metrics(x, y, torch.cat(preds), sample_weight=None)

    model.train_step = train_step


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--job-addresses")
    parser.add_argument("--num-processes", type=int)
    parser.add_argument("--process-id", type=int)
    parser.add_argument("--timeout", type=int)
    parser.add_argument("--sync-batchnorm", action="store_true")
    parser.add_argument("--splits", type=int, default=1)
    parser.add_argument("--no-shuffle", action="store_true")
    parser.add_argument("--kill", help="EPOCH:BATCH: this process SIGKILLs itself there "
                        "(process 1 only)")
    args = parser.parse_args(argv)

    start = time.monotonic()
    from keras_aw import distribute
    from keras_aw.datasets import sharding
    from keras_aw_tools import distributed_fit

    try:
        cluster = distribute.initialize_cluster(args.job_addresses, args.num_processes,
                                                args.process_id, timeout=args.timeout)
    except (ValueError, ConnectionError) as e:
        print(f"error: {e}", flush=True)
        return 2
    import keras

    pid = cluster.process_id if cluster else 0
    print(f"process {pid}: {cluster!r} joined after {time.monotonic() - start:.1f} s",
          flush=True)
    keras.utils.set_random_seed(0)
    kill = None
    if args.kill and pid == 1:
        kill = tuple(int(v) for v in args.kill.split(":"))

    class Killer(keras.callbacks.Callback):
        epoch = 0

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if (self.epoch, batch) == kill:
                print(f"process {pid}: killing itself at epoch {self.epoch} batch {batch}",
                      flush=True)
                os.kill(os.getpid(), signal.SIGKILL)

    history = []

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs = cluster.mean_logs(dict(logs or {})) if cluster else dict(logs or {})
            history.append({k: float(v) for k, v in logs.items()})

    try:
        with distribute.distribution(False, args.batch_size, cluster=cluster):
            model = compile_model(build_model())
            if args.sync_batchnorm:
                distribute.synchronize_batchnorm(model, cluster)
            if cluster is not None and cluster.backend == "torch":
                distributed_fit.install_ddp_train_step(model, cluster)
            elif args.splits > 1:
                install_split_step(model, args.splits)
            data = sharding.for_cluster(global_dataset(args.batch_size, not args.no_shuffle), cluster,
                                        args.batch_size)
            model.fit(data, epochs=args.epochs, verbose=0, callbacks=[Killer(), Record()])
    except ValueError as e:
        print(f"error: {e}", flush=True)
        return 2
    os.makedirs(args.out, exist_ok=True)
    np.savez(os.path.join(args.out, f"proc_{pid}.npz"),
             **{f"{i}:{w.path}": keras.ops.convert_to_numpy(w)
                for i, w in enumerate(model.trainable_weights)})
    with open(os.path.join(args.out, f"proc_{pid}.json"), "w") as f:
        json.dump({"history": history, "seconds": time.monotonic() - start}, f)
    print(f"process {pid}: trained in {time.monotonic() - start:.1f} s", flush=True)
    if cluster is not None:
        cluster.barrier("end")
        cluster.shutdown()
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    sys.exit(main())
