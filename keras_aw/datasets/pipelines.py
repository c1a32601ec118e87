"""Data sets as inputs for `Model.fit` / `Model.evaluate`: the embedded Shapes set or any tfds set.

A data set is named by a spec: ``"shapes"`` (embedded, no download) or
``"tfds:NAME[:SPLIT]"`` (TensorFlow Datasets, e.g. ``"tfds:imagenette/160px"``).
`parse_dataset(spec)` parses a spec once into a `DatasetSpec`;
`load_data(spec, ...)` returns NumPy arrays for Shapes and batched, prefetched
`tf.data` pipelines (resize, random crop and flip for training) for tfds.
`load_detection_data(spec, ...)` feeds the detectors the embedded
Shapes-Detect set: a `tf.data` training pipeline reshuffled every epoch, and
NumPy test arrays, pixels scaled by `keras_aw.vocabulary.DETECTOR_INPUT_SCALE`.
Bad specs and unknown or unusable tfds sets raise `ValueError`.

Example:

>>> from keras_aw.datasets import load_data
>>> data = load_data("shapes", image_size=32, num_train=64, num_test=32)
>>> data["train"][0].shape, data["num_classes"]
((64, 32, 32, 3), 10)
"""

from typing import NamedTuple, Optional

import numpy as np

import keras_aw.datasets.imagenet as imagenet
import keras_aw.datasets.shapes as shapes
from keras_aw.datasets.sharding import process_split
from keras_aw.vocabulary import DETECTOR_INPUT_SCALE


class DatasetSpec(NamedTuple):
    """A parsed data-set spec: ``"shapes"`` or ``"tfds:NAME[:SPLIT]"``.

    Attributes:
        kind: "shapes" (embedded) or "tfds" (TensorFlow Datasets).
        name: the tfds name (None for Shapes).
        split: the tfds split the spec names (None: the default one).
    """

    kind: str
    name: Optional[str] = None
    split: Optional[str] = None

    def __str__(self):
        if self.kind == "shapes":
            return "shapes"
        return f"tfds:{self.name}" + (f":{self.split}" if self.split else "")


def parse_dataset(spec):
    """Parses a data-set spec (a `DatasetSpec` is returned unchanged).

    Args:
        spec: ``"shapes"`` or ``"tfds:NAME[:SPLIT]"``.

    Returns:
        A `DatasetSpec`: ``"shapes"`` -> ``DatasetSpec("shapes")``;
        ``"tfds:NAME[:SPLIT]"`` -> ``DatasetSpec("tfds", NAME, SPLIT or None)``.

    Raises:
        ValueError: any other spec.

    Example:

    >>> from keras_aw.datasets import parse_dataset
    >>> parse_dataset("tfds:cifar10:test")
    DatasetSpec(kind='tfds', name='cifar10', split='test')
    >>> str(parse_dataset("shapes"))
    'shapes'
    """
    if isinstance(spec, DatasetSpec):
        return spec
    text = str(spec)
    if text == "shapes":
        return DatasetSpec("shapes")
    if text.startswith("tfds:"):
        parts = text[len("tfds:"):].split(":", 1)
        if parts[0]:
            return DatasetSpec("tfds", parts[0], (parts[1] if len(parts) > 1 and parts[1]
                                                  else None))
    raise ValueError(f"unknown data set {text!r}; use 'shapes' or 'tfds:NAME[:SPLIT]'")


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


#: `load_data`'s ``preprocessing``: None (the demo recipe's squash, crop and flip) or
#: "imagenet" (`keras_aw.datasets.imagenet`: RandomResizedCrop, resize 256 + center crop 224).
PREPROCESSING = (None, "imagenet")


def load_data(spec, image_size=32, batch_size=64, num_train=10000, num_test=2000, seed=0,
              training=True, drop_remainder=False, repeat=False, part=None, preprocessing=None):
    """Loads a data set for `train` (training=True) or `evaluate` (training=False).

    Returns a dict with ``train`` (training only) and ``test``: for Shapes,
    (x, y) NumPy arrays (float32 0-255 pixels, int32 labels); for tfds, batched
    `tf.data.Dataset`s. Also ``num_classes`` and ``class_names``. A tfds split
    given in the spec is the training split for training (its evaluation split
    is "test", else "validation") and the evaluated split otherwise.

    ``part=(num_processes, process_id)`` (tfds only) reads one process's part
    of each split (`keras_aw.datasets.sharding.process_split`: equal, disjoint
    parts), batched by `batch_size` (then the per-process batch) with the
    remainder dropped, so that every process has the same number of batches.

    ``preprocessing="imagenet"`` (tfds only) reads through
    `keras_aw.datasets.imagenet.load_imagenet`: the `imagenet` recipe's images,
    training on the spec's split (default "train"), validating on
    "validation" (evaluating: the spec's split, default "validation"). An
    evaluation split whose labels are all -1 (imagenet2012's "test") is
    refused with a `ValueError` naming it; chosen automatically, it gives way
    to "validation" when there is one.
    """
    if preprocessing not in PREPROCESSING:
        raise ValueError(f"`preprocessing` must be one of {PREPROCESSING}; received "
                         f"preprocessing={preprocessing!r}")
    kind, name, split = parse_dataset(spec)
    if preprocessing == "imagenet":
        if kind != "tfds":
            raise ValueError("preprocessing='imagenet' reads a tfds set of encoded images; "
                             f"received spec={str(spec)!r}")
        return imagenet.load_imagenet(
            name, image_size, batch_size, training=training, seed=seed,
            train_split=split or "train",
            eval_split="validation" if training else (split or "validation"), part=part,
            drop_remainder=drop_remainder, repeat=repeat)
    if kind == "shapes":
        if part is not None:
            raise ValueError(f"`part` reads a process's part of a tfds set; the Shapes set is "
                             f"generated whole by every process; received part={part!r}")
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

    def read(split):  # the part of `split` this process reads
        if part is not None:
            return process_split(split, *part)
        return split

    def pipeline(split, train, **kwargs):
        ds, num_classes, names, splits = _tfds_load(name, read(split), **kwargs)
        return (_tfds_pipeline(ds, image_size, batch_size, train, seed,
                               drop_remainder or part is not None, repeat and train),
                num_classes, names, splits)

    if training:
        train, num_classes, names, splits = pipeline(split or "train", True, shuffle_files=True)
        out = {"num_classes": num_classes, "class_names": names, "train": train, "test": None}
        eval_split = None
        if not splits or "test" in splits:
            eval_split = "test"
        elif "validation" in splits:
            eval_split = "validation"
        if eval_split is not None and eval_split != (split or "train"):
            if not _labeled(name, read(eval_split)) and "validation" in splits \
                    and (split or "train") != "validation":
                eval_split = "validation"  # e.g. imagenet2012's unlabeled "test"
            _check_labeled(name, eval_split, read(eval_split))
            out["test"] = pipeline(eval_split, False)[0]
        return out
    if split is None:
        available = _splits(name)
        split = "test" if not available or "test" in available else (
            "validation" if "validation" in available else "train")
    test, num_classes, names, _ = pipeline(split, False)
    _check_labeled(name, split, read(split))
    return {"num_classes": num_classes, "class_names": names, "test": test}


def _labeled(name, split):
    """Whether the first labels of a tfds split (read undecoded) are not all -1."""
    labels = imagenet.first_labels(name, split)
    try:
        imagenet.check_labeled(labels, split)
    except ValueError:
        return False
    return True


def _check_labeled(name, split, read_split):
    if not _labeled(name, read_split):
        imagenet.check_labeled([], split, f"tfds data set {name!r}")


def _splits(name):
    """The splits TFDS knows for `name` without downloading ([] when unknown)."""
    try:
        import tensorflow_datasets as tfds

        return list(tfds.builder(name).info.splits.keys())
    except Exception:  # noqa: BLE001
        return []


def load_detection_data(spec="shapes", image_size=64, batch_size=16, num_train=2000,
                        num_test=500, seed=0, training=True, drop_remainder=False,
                        repeat=False, shuffle_seed=None):
    """Loads Shapes-Detect for the detectors: images scaled to [0, 1], keras-hub targets.

    The training split is a `tf.data` pipeline that is reshuffled every epoch
    (``shuffle(..., seed, reshuffle_each_iteration=True)``): keras-hub's
    detectors ignore ``fit(shuffle=True)`` for NumPy inputs, so NumPy arrays
    would give every epoch the same batches. The test split is NumPy arrays
    (for `keras_aw.detection.evaluate_detector` and validation).

    Args:
        spec: "shapes" (the only detection set; see `keras_aw.datasets.coco` for COCO).
        image_size: height and width of the images.
        batch_size: batch size of the training pipeline.
        num_train, num_test: the number of images (`num_train` is ignored when
            `training` is False).
        seed: the data set's seed (`keras_aw.datasets.shapes.load_detection_data`).
        training: also build the training pipeline.
        drop_remainder: drop the last partial batch (and trim the test arrays
            to whole batches), for data-parallel training.
        repeat: repeat the training pipeline (for a fixed ``steps_per_epoch``).
        shuffle_seed: the seed of the training pipeline's shuffling (default `seed`).

    Returns:
        A dict: ``train`` (training only: batches of ``(images, {"boxes",
        "labels"})``), ``train_arrays`` (training only: the same images, uint8
        0-255, and targets as NumPy arrays, for
        `keras_aw.datasets.sharding.epoch_batches`), ``test`` (``(x_test,
        y_test)``), ``num_classes`` and ``class_names``.

    Raises:
        ValueError: `spec` is not "shapes".

    Example:

    >>> from keras_aw.datasets import load_detection_data
    >>> data = load_detection_data(image_size=64, batch_size=4, num_train=8, num_test=2)
    >>> images, targets = next(iter(data["train"]))
    >>> tuple(images.shape), sorted(targets), float(images.numpy().max()) <= 1.0
    ((4, 64, 64, 3), ['boxes', 'labels'], True)
    """
    if parse_dataset(spec).kind != "shapes":
        raise ValueError("detectors train and evaluate on the embedded Shapes-Detect set, "
                         f"dataset='shapes'; received dataset={str(spec)!r} (for COCO see "
                         "keras_aw.datasets.coco)")
    (x, y), (xt, yt) = shapes.load_detection_data(num_train if training else 0, num_test,
                                                  image_size=image_size, seed=seed)
    if drop_remainder:
        keep = len(xt) // batch_size * batch_size
        xt, yt = xt[:keep], {key: value[:keep] for key, value in yt.items()}
    out = {"num_classes": shapes.NUM_CLASSES, "class_names": list(shapes.CLASS_NAMES),
           "test": (xt.astype("float32") * np.float32(DETECTOR_INPUT_SCALE), yt)}
    if training:
        out["train"] = _detection_pipeline(x, y, batch_size, seed if shuffle_seed is None
                                           else shuffle_seed, drop_remainder, repeat)
        out["train_arrays"] = (x, y)
    return out


def _detection_pipeline(x, y, batch_size, seed, drop_remainder, repeat):
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, y))  # uint8 images: 4x less memory
    ds = ds.shuffle(len(x), seed=int(seed), reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()

    def scale(image, target):
        return tf.cast(image, tf.float32) * np.float32(DETECTOR_INPUT_SCALE), target

    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    return ds.map(scale, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
