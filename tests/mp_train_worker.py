"""One process of the multi-process training tests: `keras_aw_tools.training.train` as is.

``python tests/mp_train_worker.py --out DIR --runs RUN[,RUN...] [cluster flags]
[--kill EPOCH:BATCH] [train options]`` trains, one after the other in this
process, each RUN into ``DIR/NAME``: ``NAME:EPOCHS`` or ``NAME:EPOCHS:resume`` on the
Shapes set, ``NAME:EPOCHS:tfds`` on the prepared tfds set ``keras_aw_tiny``
(tests/tiny_tfds.py, found through ``TFDS_DATA_DIR``; every tfds split the process
reads is appended to ``DIR/NAME.splits_{I}.txt``).
The cluster comes from the flags, `TF_CONFIG`, torchrun's or Keras's variables,
exactly as `keras-aw train` finds it. For each run it writes
``DIR/NAME.proc_{I}.npz`` (the trainable weights after `fit`), appends each epoch's
logs (as `fit`'s callbacks see them) to ``DIR/NAME.logs_{I}.jsonl``, and appends every
model file it saves to ``DIR/saves.proc_{I}.txt`` (``runs.atomic_save_model``
wrapped), so a test can tell which process wrote what. ``--kill E:B`` makes
process 1 SIGKILL itself after batch B of epoch E (0-based) of the first run.
``--evaluate RUN`` (a detector): after the runs, every process loads ``DIR/RUN/model.keras``
and evaluates it on the Shapes-Detect test split, each its part
(`keras_aw_tools.distributed_fit.evaluate_detector`, with every box kept: `lenient`),
writing ``DIR/eval_{I}.json`` and the gathered detections ``DIR/detections_{I}.npz``.
`reference` (imported by tests/test_multiprocess.py on PyTorch) is one process
computing each step as two half-batch passes.
"""

import argparse
import json
import os
import signal
import sys

import numpy as np


def reference(out, epochs, model="AWSmallCNN", batch_size=16, image_size=16, num_train=64,
              num_test=32, seed=0, splits=1, cpu_devices=None, sync_batchnorm=False):
    """What `train` computes in one process on the same global batches, from its pieces.

    ``splits=2``: each step as two half-batch passes with averaged gradients (what two
    PyTorch DDP processes compute, BatchNorm statistics per half). ``cpu_devices=2``
    (JAX and TensorFlow, before the backend starts): `DataParallel` / `MirroredStrategy`
    over 2 CPU devices of this one process, reducing in the order two processes do
    (``sync_batchnorm``: as `train(sync_batchnorm=True)`). Writes the trainable weights
    to ``out``.
    """
    import keras

    from keras_aw import distribute, registry
    from keras_aw.datasets import load_data, sharding
    from keras_aw_tools import recipe, training

    if cpu_devices:
        distribute.configure_cpu_devices(cpu_devices)
    keras.utils.set_random_seed(seed)
    data = load_data("shapes", image_size, batch_size, num_train, num_test, seed,
                     training=True, drop_remainder=True)
    with distribute.distribution(bool(cpu_devices), batch_size):
        net = training.TASKS["classification"].new_model(
            registry.parse_spec(model), image_size, data["num_classes"],
            recipe.resolve("demo", batch_size, epochs=epochs))
        if sync_batchnorm:
            distribute.synchronize_batchnorm(net)
        if splits > 1:
            import mp_worker

            mp_worker.install_split_step(net, splits)
        batches, steps = sharding.epoch_batches(*data["train"], batch_size, seed,
                                                epochs=epochs)
        net.fit(batches, epochs=epochs, steps_per_epoch=steps, verbose=0,
                callbacks=[recipe.cosine_schedule(recipe.DEFAULT_LEARNING_RATE, epochs)])
    np.savez(out, *[keras.ops.convert_to_numpy(w) for w in net.trainable_weights])


def lenient(detector, threshold=0.0):
    """`detector` keeping its `max_detections` best boxes whatever their scores.

    A detector trained a few steps scores below the default confidence threshold
    everywhere (no detection, AP 0 whatever the evaluation does); with every box kept
    the AP is above 0, so that two evaluations can be told apart.
    """
    from keras_aw.detection.upstream import BatchNonMaxSuppression

    config = detector.prediction_decoder.get_config()
    config["confidence_threshold"] = threshold
    detector.prediction_decoder = BatchNonMaxSuppression.from_config(config)
    detector.predict_function = None
    return detector


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--runs", required=True)
    parser.add_argument("--job-addresses")
    parser.add_argument("--num-processes", type=int)
    parser.add_argument("--process-id", type=int)
    parser.add_argument("--kill")
    parser.add_argument("--sync-batchnorm", action="store_true")
    parser.add_argument("--model", default="AWSmallCNN")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--image-size", type=int, default=16)
    parser.add_argument("--num-train", type=int, default=64)
    parser.add_argument("--num-test", type=int, default=32)
    parser.add_argument("--evaluate")
    args = parser.parse_args(argv)

    import keras

    from keras_aw import distribute
    from keras_aw_tools import runs, training

    process = {"id": 0}
    saved = runs.atomic_save_model

    def logged_save(model, path):
        saved(model, path)
        with open(os.path.join(args.out, f"saves.proc_{process['id']}.txt"), "a") as f:
            f.write(os.path.relpath(path, args.out) + "\n")  # ../ : outside the output

    runs.atomic_save_model = logged_save
    from keras_aw.datasets import pipelines

    tfds_load, current = pipelines._tfds_load, {"run": None}

    def logged_tfds_load(name, split, **kwargs):
        with open(os.path.join(args.out, f"{current['run']}.splits_{process['id']}.txt"),
                  "a") as f:
            f.write(f"{name} {split!r}\n")
        return tfds_load(name, split, **kwargs)

    pipelines._tfds_load = logged_tfds_load
    kill = tuple(int(v) for v in args.kill.split(":")) if args.kill else None

    class Probe(keras.callbacks.Callback):
        def __init__(self, name, first):
            super().__init__()
            self.name, self.first, self.epoch = name, first, 0

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if self.first and process["id"] == 1 and (self.epoch, batch) == kill:
                print(f"process 1: killing itself at epoch {self.epoch} batch {batch}",
                      flush=True)
                os.kill(os.getpid(), signal.SIGKILL)

        def on_epoch_end(self, epoch, logs=None):
            path = os.path.join(args.out, f"{self.name}.logs_{process['id']}.jsonl")
            with open(path, "a") as f:
                f.write(json.dumps({k: float(v) for k, v in (logs or {}).items()}) + "\n")

        def on_train_end(self, logs=None):
            np.savez(os.path.join(args.out, f"{self.name}.proc_{process['id']}.npz"),
                     *[keras.ops.convert_to_numpy(w) for w in self.model.trainable_weights])

    os.makedirs(args.out, exist_ok=True)
    # This process's index, as `train` will find it (flags or the scheduler's variables).
    spec = distribute.find_cluster(args.job_addresses, args.num_processes, args.process_id)
    process["id"] = spec.process_id if spec else 0
    for i, run in enumerate(args.runs.split(",")):
        name, epochs, *flags = run.split(":")
        current["run"] = name
        try:
            result = training.train(
                args.model, dataset="tfds:keras_aw_tiny" if "tfds" in flags else "shapes",
                epochs=int(epochs), batch_size=args.batch_size,
                image_size=args.image_size, num_train=args.num_train, num_test=args.num_test,
                output=os.path.join(args.out, name), resume="resume" in flags, verbose=0,
                job_addresses=args.job_addresses, num_processes=args.num_processes,
                process_id=args.process_id, sync_batchnorm=args.sync_batchnorm,
                callbacks=[Probe(name, i == 0)])
        except (ValueError, TypeError, ConnectionError) as e:
            print(f"error: {e}", flush=True)
            return 2
        print(f"process {process['id']}: {name}: {result['epochs_done']} epochs, loss "
              f"{result.get('loss')}", flush=True)
    cluster = distribute.current_cluster()
    if args.evaluate:
        from keras_aw.datasets import load_detection_data
        from keras_aw_tools import distributed_fit

        model = lenient(keras.saving.load_model(os.path.join(args.out, args.evaluate,
                                                             "model.keras")))
        xt, yt = load_detection_data(image_size=args.image_size, num_test=args.num_test,
                                     training=False)["test"]
        metrics = distributed_fit.evaluate_detector(model, xt, yt["boxes"], yt["labels"],
                                                    cluster, batch_size=4)
        np.savez(os.path.join(args.out, f"detections_{process['id']}.npz"),
                 **distributed_fit.gather_detections(model, xt, cluster, batch_size=4))
        with open(os.path.join(args.out, f"eval_{process['id']}.json"), "w") as f:
            json.dump(metrics, f)
        print(f"process {process['id']}: {metrics}", flush=True)
    if cluster is not None:
        cluster.shutdown()
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    sys.exit(main())
