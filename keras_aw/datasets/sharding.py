"""Input for several processes: each process takes its part of the global batches.

Every process builds the same global `tf.data` pipeline (same seeds, batched by
the global batch, ``drop_remainder=True``; NumPy arrays through `epoch_batches`,
which `keras-aw train` uses on one process too); then either the engine shards it
(Keras's JAX `DataParallel` and TensorFlow's `MultiWorkerMirroredStrategy` do
it themselves) or `shard_batches` does (PyTorch): process ``p`` of ``P`` takes
the ``p``-th slice of every global batch, so the processes together see
exactly the global batches a single process gets.

For tfds sets, decoding everything on every process and dropping ``(P-1)/P``
of it wastes the input pipeline: `process_split` gives each process its own
equal part of a split to read (``tfds.even_splits``), batched by the
per-process batch, and `process_input` hands such a pipeline to the engine as
it is (`keras_aw.datasets.load_data(..., part=...)`; `keras-aw train` does this
for every tfds set under several processes).

Example:

>>> import numpy as np, tensorflow as tf
>>> from keras_aw.datasets.sharding import shard_batches
>>> ds = tf.data.Dataset.from_tensor_slices(np.arange(8)).batch(4)
>>> [b.tolist() for b in shard_batches(ds, 2, 1, 4).as_numpy_iterator()]
[[2, 3], [6, 7]]
"""

from keras_aw.distribute.checks import check_global_batch, check_processes


def shard_batches(dataset, num_processes, process_id, global_batch_size):
    """Process `process_id`'s slice of each global batch of a batched `tf.data` pipeline.

    ``dataset.rebatch(global_batch_size // num_processes).shard(num_processes,
    process_id)``: what Keras's JAX `DataParallel` does with a global pipeline.
    The pipeline must yield full global batches (``drop_remainder=True``).

    Args:
        dataset: a `tf.data.Dataset` batched by `global_batch_size`.
        num_processes: the number of processes.
        process_id: this process's index.
        global_batch_size: the batch size of `dataset`.

    Returns:
        A `tf.data.Dataset` of batches of ``global_batch_size // num_processes``.

    Raises:
        ValueError: a global batch size that does not divide by `num_processes`,
            or a `process_id` out of range.
        TypeError: a count, id or batch size that is not an int.
    """
    check_processes(num_processes, process_id)
    check_global_batch(global_batch_size, num_processes, f"num_processes={num_processes}",
                       name="global_batch_size")
    if num_processes == 1:
        return dataset
    import tensorflow as tf

    count = int(dataset.cardinality())
    part = dataset.rebatch(global_batch_size // num_processes).shard(num_processes, process_id)
    if count >= 0:  # one part of every global batch; `rebatch` loses the count
        part = part.apply(tf.data.experimental.assert_cardinality(count))
    return part


def process_split(split, num_processes, process_id):
    """The part of tfds split `split` that process `process_id` reads (``tfds.even_splits``).

    The parts are disjoint and of equal size: the remainder of the split (fewer
    than `num_processes` examples) is dropped, so that every process has the
    same number of batches.

    Args:
        split: a tfds split, e.g. "train" or "train[:90%]".
        num_processes: the number of processes.
        process_id: this process's index.

    Returns:
        A split for `tfds.load` holding ``len(split) // num_processes`` examples,
        disjoint from the other processes' parts (`split` itself for one process).

    Example:

    >>> part = process_split("train", 2, 1)  # for tfds.load(name, split=part)
    >>> part.index, part.count
    (1, 2)
    """
    check_processes(num_processes, process_id)
    if num_processes == 1:
        return split
    import tensorflow_datasets as tfds

    return tfds.even_splits(split, n=num_processes, drop_remainder=True)[process_id]


def process_input(dataset, cluster, global_batch_size):
    """The `fit` input of a pipeline that holds this process's part only (`process_split`).

    `dataset` yields batches of ``global_batch_size // num_processes``, the
    same number on every process. JAX (under ``cluster.scope(...,
    auto_shard_dataset=False)``) and PyTorch take it as it is; TensorFlow's
    `MultiWorkerMirroredStrategy` gets it through
    ``distribute_datasets_from_function``, which does not shard it again.
    """
    per_replica = cluster.check_batch_size(global_batch_size)
    if cluster.backend != "tensorflow":
        return dataset
    return cluster.strategy.distribute_datasets_from_function(
        lambda context: dataset.rebatch(per_replica))


def for_cluster(dataset, cluster, global_batch_size):
    """The input pipeline one process of `cluster` feeds to `fit`.

    PyTorch: `shard_batches` (nothing in Keras shards for it); JAX and
    TensorFlow: `dataset` unchanged (Keras's `DataParallel` and
    `MultiWorkerMirroredStrategy` shard the global pipeline themselves).
    No cluster: unchanged.
    """
    if cluster is None or cluster.backend != "torch":
        return dataset
    return shard_batches(dataset, cluster.num_processes, cluster.process_id,
                         global_batch_size)


def epoch_batches(x, y, batch_size, seed, first_epoch=0, epochs=None, first_batch=0):
    """Global batches of NumPy arrays, shuffled per epoch by `(seed, epoch)` alone.

    Epoch ``e`` is a stateless shuffle (``tf.random.experimental.stateless_shuffle``
    with seed ``(seed, e)``) cut into ``len(x) // batch_size`` full batches (the
    remainder of every epoch is left out); the epochs follow one another in one
    pipeline (give `fit` ``steps_per_epoch``). The batches depend on `seed`, the
    epoch and the batch's index only: every process of a cluster (before
    `for_cluster` takes its part), one process (`keras-aw train` feeds its
    Shapes set through this function too), and a run resumed at `first_epoch`
    (or at `first_batch`) all get the same batches for the same epoch, which an
    iterator-seeded ``Dataset.shuffle`` or ``fit(x, y, shuffle=True)`` does not
    promise (their order depends on how many iterators were made before, or on
    the global random state).

    Args:
        x, y: NumPy arrays with the same first dimension (`y` may be a dict of
            them, such as a detector's ``{"boxes", "labels"}``).
        batch_size: the global batch size.
        seed: int seed of the shuffles.
        first_epoch: the first epoch's index (a resumed run's epochs done).
        epochs: the number of epochs in the pipeline (None: without end).
        first_batch: batches of `first_epoch` to leave out first; it may exceed
            an epoch (a run resumed after ``k`` fit epochs of ``steps_per_epoch``
            steps other than an epoch of data: ``first_batch=k * steps_per_epoch``
            with ``first_epoch=0``); `epochs` counts from the epoch it falls in.

    Returns:
        ``(dataset, steps_per_epoch)``: steps_per_epoch is ``len(x) // batch_size``.

    Raises:
        ValueError: fewer samples than `batch_size`, or a negative `first_batch`.
    """
    import tensorflow as tf

    n = len(x)
    steps = n // batch_size
    if steps < 1:
        raise ValueError(f"`batch_size` must be at most the {n} samples; received "
                         f"batch_size={batch_size}")
    if isinstance(first_batch, bool) or not isinstance(first_batch, int) or first_batch < 0:
        raise ValueError(f"`first_batch` must be an int >= 0; received "
                         f"first_batch={first_batch!r}")
    first_epoch, skip = first_epoch + first_batch // steps, first_batch % steps
    images, labels = tf.constant(x), tf.nest.map_structure(tf.constant, y)

    def one_epoch(epoch):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(n), seed=tf.stack([tf.constant(seed, tf.int64), epoch]))
        batches = tf.reshape(order[: steps * batch_size], (steps, batch_size))
        start = tf.where(epoch == first_epoch, tf.constant(skip, tf.int64),
                         tf.constant(0, tf.int64))
        return tf.data.Dataset.from_tensor_slices(batches[start:]).map(
            lambda index: (tf.gather(images, index),
                           tf.nest.map_structure(lambda t: tf.gather(t, index), labels)))

    last = first_epoch + epochs if epochs is not None else 2 ** 62
    dataset = tf.data.Dataset.range(first_epoch, last).flat_map(one_epoch)
    return dataset.prefetch(tf.data.AUTOTUNE), steps


def scale_images(dataset, scale):
    """`dataset`'s ``(images, targets)`` batches with the images as float32 times `scale`."""
    import tensorflow as tf

    def scaled(images, targets):
        return tf.cast(images, tf.float32) * tf.constant(scale, tf.float32), targets

    return dataset.map(scaled, num_parallel_calls=tf.data.AUTOTUNE)


def cluster_input(data, batch_size, cluster, seed=0, first_epoch=0, epochs=None,
                  training=True, first_batch=0):
    """One process's `fit` input for `cluster` from NumPy ``(x, y)`` or a global `tf.data` pipeline.

    NumPy training data become `epoch_batches` (validation data plain full
    batches in order, the remainder left out), then `for_cluster` shards them
    where the engine does not. ``cluster=None`` (one process): the same global
    batches, unsharded, so that one process trains and validates on exactly the
    batches a cluster does.

    Returns:
        ``(dataset, steps_per_epoch)``; steps_per_epoch is None for a `tf.data` input.
    """
    import tensorflow as tf

    steps = None
    if isinstance(data, tuple):
        x, y = data
        if training:
            data, steps = epoch_batches(x, y, batch_size, seed, first_epoch, epochs,
                                        first_batch=first_batch)
        else:
            data = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size,
                                                                   drop_remainder=True)
    return for_cluster(data, cluster, batch_size), steps
