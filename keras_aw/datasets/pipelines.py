"""Data sets as inputs for `Model.fit` / `Model.evaluate`: the embedded Shapes set or any tfds set.

A data set is named by a spec: ``"shapes"`` (embedded, no download) or
``"tfds:NAME[:SPLIT]"`` (TensorFlow Datasets, e.g. ``"tfds:imagenette/160px"``).
`load_data(spec, ...)` returns NumPy arrays for Shapes and batched, prefetched
`tf.data` pipelines (resize, random crop and flip for training) for tfds.
Bad specs and unknown or unusable tfds sets raise `ValueError`.

Example:

>>> from keras_aw.datasets import load_data
>>> data = load_data("shapes", image_size=32, num_train=64, num_test=32)
>>> data["train"][0].shape, data["num_classes"]
((64, 32, 32, 3), 10)
"""

import keras_aw.datasets.shapes as shapes



def parse_dataset(spec):
    """``"shapes"`` -> ("shapes", None, None); ``"tfds:NAME[:SPLIT]"`` -> ("tfds", NAME, SPLIT)."""
    spec = str(spec)
    if spec == "shapes":
        return "shapes", None, None
    if spec.startswith("tfds:"):
        parts = spec[len("tfds:"):].split(":", 1)
        if parts[0]:
            return "tfds", parts[0], (parts[1] if len(parts) > 1 and parts[1] else None)
    raise ValueError(f"unknown data set {spec!r}; use 'shapes' or 'tfds:NAME[:SPLIT]'")


def _tfds_load(name, split, shuffle_files=False):
    try:
        import tensorflow_datasets as tfds
    except ImportError as e:
        raise ValueError("tfds data sets need tensorflow-datasets: pip install "
                        "tensorflow tensorflow-datasets") from e
    try:
        ds, info = tfds.load(name, split=split, as_supervised=True, with_info=True,
                             shuffle_files=shuffle_files)
    except Exception as e:  # noqa: BLE001 - tfds raises many types; report one line
        kind = type(e).__name__
        if "NotFound" in kind:
            raise ValueError(f"unknown tfds data set {name!r}") from e
        message = str(e).strip().splitlines()[0] if str(e).strip() else kind
        raise ValueError(f"cannot load tfds data set {name!r} (split {split!r}): {message}") from e
    label = info.supervised_keys[1] if info.supervised_keys else None
    feature = info.features[label] if label is not None else None
    num_classes = getattr(feature, "num_classes", None)
    if not num_classes:
        raise ValueError(f"tfds data set {name!r} has no class label to train on")
    names = list(getattr(feature, "names", []) or [])
    splits = list(info.splits.keys()) if info.splits else []
    return ds, num_classes, names, splits


def _tfds_pipeline(ds, image_size, batch_size, training, seed, drop_remainder, repeat):
    import tensorflow as tf

    size = int(image_size)

    def prepare(image, label):
        if image.shape.rank == 2:
            image = image[..., None]
        if image.shape[-1] == 1:
            image = tf.image.grayscale_to_rgb(image)
        elif image.shape[-1] == 4:
            image = image[..., :3]
        image = tf.cast(image, tf.float32)
        if training:
            big = size + max(size // 8, 1)
            image = tf.image.resize(image, (big, big))
            image = tf.image.random_crop(image, (size, size, 3), seed=seed)
            image = tf.image.random_flip_left_right(image, seed=seed)
        else:
            image = tf.image.resize(image, (size, size))
        return image, tf.cast(label, tf.int32)

    ds = ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
    if training:
        # Shuffle the resized images with a buffer of about 200 MB at most.
        buffer = int(min(10000, max(256, 2e8 // (size * size * 3 * 4))))
        ds = ds.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)


def load_data(spec, image_size=32, batch_size=64, num_train=10000, num_test=2000, seed=0,
              training=True, drop_remainder=False, repeat=False):
    """Loads a data set for `train` (training=True) or `evaluate` (training=False).

    Returns a dict with ``train`` (training only) and ``test``: for Shapes,
    (x, y) NumPy arrays (float32 0-255 pixels, int32 labels); for tfds, batched
    `tf.data.Dataset`s. Also ``num_classes`` and ``class_names``. A tfds split
    given in the spec is the training split for training (its evaluation split
    is "test", else "validation") and the evaluated split otherwise.
    """
    kind, name, split = parse_dataset(spec)
    if kind == "shapes":
        if training:
            (x, y), (xt, yt) = shapes.load_data(num_train, num_test, image_size, seed)
        else:
            (x, y), (xt, yt) = shapes.load_data(0, num_test, image_size, seed)
        out = {"num_classes": shapes.NUM_CLASSES, "class_names": list(shapes.CLASS_NAMES)}
        if drop_remainder:
            x, y = x[: len(x) // batch_size * batch_size], y[: len(y) // batch_size * batch_size]
            xt, yt = xt[: len(xt) // batch_size * batch_size], yt[: len(yt) // batch_size * batch_size]
        if training:
            out["train"] = (x.astype("float32"), y.astype("int32"))
        out["test"] = (xt.astype("float32"), yt.astype("int32"))
        return out
    if training:
        ds, num_classes, names, splits = _tfds_load(name, split or "train", shuffle_files=True)
        out = {"num_classes": num_classes, "class_names": names,
               "train": _tfds_pipeline(ds, image_size, batch_size, True, seed,
                                       drop_remainder, repeat)}
        eval_split = None
        if not splits or "test" in splits:
            eval_split = "test"
        elif "validation" in splits:
            eval_split = "validation"
        if eval_split is not None and eval_split != (split or "train"):
            test, _, _, _ = _tfds_load(name, eval_split)
            out["test"] = _tfds_pipeline(test, image_size, batch_size, False, seed,
                                         drop_remainder, False)
        else:
            out["test"] = None
        return out
    if split is None:
        available = _splits(name)
        split = "test" if not available or "test" in available else (
            "validation" if "validation" in available else "train")
    ds, num_classes, names, _ = _tfds_load(name, split)
    return {"num_classes": num_classes, "class_names": names,
            "test": _tfds_pipeline(ds, image_size, batch_size, False, seed, drop_remainder, False)}


def _splits(name):
    """The splits TFDS knows for `name` without downloading ([] when unknown)."""
    try:
        import tensorflow_datasets as tfds

        return list(tfds.builder(name).info.splits.keys())
    except Exception:  # noqa: BLE001
        return []
