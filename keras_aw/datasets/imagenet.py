"""ImageNet-style input pipelines (tf.data): the `imagenet` recipe's training and evaluation images.

For a tfds set of encoded images (``tfds:imagenet2012``: 1.28 M JPEGs), read
without decoding (``tfds.decode.SkipDecoding``) and decoded once per image:

- **Training** (`train_image`): torchvision's ``RandomResizedCrop(224)``
  (area 0.08-1 of the image, aspect ratio 3/4-4/3 drawn log-uniformly, ten
  attempts, then a center crop with the ratio clamped to the range), written
  out in TensorFlow ops (`random_resized_crop_window`), then a horizontal flip
  with probability 1/2. The window is chosen from the JPEG's header
  (``tf.image.extract_jpeg_shape``), and only it is decoded
  (``tf.image.decode_and_crop_jpeg``) and then resized: crop before resize, as
  RandomResizedCrop does, without decoding the whole image.
  ``tf.image.sample_distorted_bounding_box`` is *not* used: it draws the
  aspect ratio uniformly rather than log-uniformly, has no center-crop
  fallback (it returns the whole image), and needs ``min_object_covered``
  to mimic RandomResizedCrop only approximately; the reference is
  torchvision's sampler, so it is reproduced exactly (in distribution: the ten
  attempts are drawn at once, so single draws differ from torch's generator).
  (Today's torchvision; its 2018 releases drew the ratio uniformly with a
  random width/height swap and fell back to the central square.)
- **Evaluation** (`eval_image`): the shorter side resized to
  ``eval_resize_size(size)`` (``round(size / 0.875)``: 256 for 224) keeping
  the aspect ratio (the longer side truncated to an int as torchvision's
  ``Resize(256)``), then a ``size`` x ``size`` center crop (torchvision's
  ``CenterCrop`` offsets: ``round((h - size) / 2)``).
- Resizing is bilinear with antialiasing (PIL's bilinear, which torchvision's
  PIL transforms use); JPEGs are decoded with libjpeg's accurate integer
  DCT (PIL's default).
- **Normalization**: the pipelines return float32 RGB pixels in [0, 255];
  ImageNet's mean and std (`MEAN_RGB`, `STD_RGB`) are applied by the model's
  first layer (`keras_aw_tools.recipe.input_normalization`: a
  ``keras.layers.Normalization``), so that `evaluate`, `keras_aw.export` and a
  saved model apply the same; models saved before (a ``Rescaling`` layer to
  [-1, 1] first) keep working as they are. ``normalize=True`` normalizes in the
  pipeline instead, for models without such a layer.
- **Reading** (`load_imagenet`): file-level shuffling (``shuffle_files=True``,
  a new file order every epoch), an interleaved read of the shard files
  (``tfds.ReadConfig``: 16 files at a time, one example from each in turn),
  and a shuffle of the *encoded* examples with a buffer sized by memory
  (`shuffle_buffer_size`: ``memory_bytes`` divided by the split's average
  encoded example, e.g. ~9,700 ImageNet JPEGs for the default 1 GiB, at
  least 1,000 and at most 100,000 examples); several processes read equal,
  disjoint parts (`keras_aw.datasets.sharding.process_split`).
- A split whose labels are all -1 (imagenet2012's ``test``, prepared without
  labels) is refused with a `ValueError` naming it (`check_labeled`).

Example:

>>> from keras_aw.datasets import imagenet
>>> imagenet.eval_resize_size(224), imagenet.eval_resize_size(160)
(256, 183)
"""

import math

from keras_aw.datasets import sharding

#: ImageNet's per-channel mean and standard deviation of RGB pixels in [0, 1] (torchvision's).
MEAN_RGB = (0.485, 0.456, 0.406)
STD_RGB = (0.229, 0.224, 0.225)
#: RandomResizedCrop's ranges: the crop's fraction of the image area and its aspect ratio (w / h).
CROP_AREA = (0.08, 1.0)
CROP_ASPECT_RATIO = (3.0 / 4.0, 4.0 / 3.0)
#: RandomResizedCrop's attempts before its center-crop fallback.
CROP_ATTEMPTS = 10
#: The evaluation crop's side over the resized shorter side (224 / 256).
EVAL_CROP_FRACTION = 0.875
#: Memory for the shuffle buffer of encoded examples, per process (`shuffle_buffer_size`).
SHUFFLE_MEMORY_BYTES = 2 ** 30
#: Shard files read at the same time (``tfds.ReadConfig.interleave_cycle_length``).
INTERLEAVE_FILES = 16


def eval_resize_size(image_size):
    """The shorter side evaluation images are resized to: ``round(image_size / 0.875)``."""
    return int(round(image_size / EVAL_CROP_FRACTION))


def shuffle_buffer_size(average_example_bytes, memory_bytes=SHUFFLE_MEMORY_BYTES):
    """Encoded examples the shuffle buffer holds: ``memory_bytes / average_example_bytes``.

    Clamped to [1000, 100000]; 10000 when the average size is unknown (None or 0).

    >>> shuffle_buffer_size(110_000)
    9761
    """
    if not average_example_bytes:
        return 10000
    return int(min(100000, max(1000, memory_bytes // average_example_bytes)))


def random_resized_crop_window(height, width, seed, area=CROP_AREA,
                               aspect_ratio=CROP_ASPECT_RATIO, attempts=CROP_ATTEMPTS):
    """torchvision's ``RandomResizedCrop.get_params`` in TensorFlow ops (stateless).

    Up to `attempts` times: a target area ``U(area) * height * width`` and an
    aspect ratio ``exp(U(log aspect_ratio))`` give ``w = round(sqrt(A * r))``,
    ``h = round(sqrt(A / r))``; the first that fits is placed uniformly. If none
    fits: the largest centered window whose ratio is clamped into the range.

    Args:
        height, width: the image's size (int32 scalars).
        seed: a shape [2] int seed (``tf.random.stateless_*``).
        area, aspect_ratio, attempts: RandomResizedCrop's ``scale``, ``ratio``
            and its 10 attempts.

    Returns:
        int32 ``(top, left, crop_height, crop_width)``.
    """
    import tensorflow as tf

    height, width = tf.cast(height, tf.int32), tf.cast(width, tf.int32)
    h_f, w_f = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 4)
    target = h_f * w_f * tf.random.stateless_uniform([attempts], seeds[0], area[0], area[1])
    log_ratio = tf.random.stateless_uniform([attempts], seeds[1], math.log(aspect_ratio[0]),
                                            math.log(aspect_ratio[1]))
    ratio = tf.exp(log_ratio)
    # tf.round rounds half to even, as Python's round() in torchvision.
    crop_w = tf.cast(tf.round(tf.sqrt(target * ratio)), tf.int32)
    crop_h = tf.cast(tf.round(tf.sqrt(target / ratio)), tf.int32)
    fits = (crop_w > 0) & (crop_w <= width) & (crop_h > 0) & (crop_h <= height)
    first = tf.argmax(tf.cast(fits, tf.int32), output_type=tf.int32)

    def sampled():
        h, w = crop_h[first], crop_w[first]
        top = tf.random.stateless_uniform([], seeds[2], 0, height - h + 1, dtype=tf.int32)
        left = tf.random.stateless_uniform([], seeds[3], 0, width - w + 1, dtype=tf.int32)
        return top, left, h, w

    def fallback():
        in_ratio = w_f / h_f
        low, high = aspect_ratio
        h = tf.where(in_ratio < low, tf.cast(tf.round(w_f / low), tf.int32), height)
        w = tf.where(in_ratio > high, tf.cast(tf.round(h_f * high), tf.int32), width)
        return (height - h) // 2, (width - w) // 2, h, w

    return tf.cond(tf.reduce_any(fits), sampled, fallback)


def _decode(image_bytes):
    import tensorflow as tf

    return tf.io.decode_image(image_bytes, channels=3, expand_animations=False)


def train_image(image_bytes, seed, image_size=224):
    """One training image: RandomResizedCrop of the encoded image, resized, flipped at random.

    Args:
        image_bytes: a scalar string tensor, an encoded image (JPEG: only the
            crop is decoded; other formats: decoded whole, then cropped).
        seed: a shape [2] int seed.
        image_size: the square output's side.

    Returns:
        float32 ``(image_size, image_size, 3)`` RGB pixels in [0, 255].
    """
    import tensorflow as tf

    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(
        tf.cast(seed, tf.int64), 2))

    def jpeg():
        shape = tf.image.extract_jpeg_shape(image_bytes)
        top, left, h, w = random_resized_crop_window(shape[0], shape[1], crop_seed)
        return tf.image.decode_and_crop_jpeg(image_bytes, tf.stack([top, left, h, w]),
                                             channels=3, dct_method="INTEGER_ACCURATE")

    def other():
        image = _decode(image_bytes)
        shape = tf.shape(image)
        top, left, h, w = random_resized_crop_window(shape[0], shape[1], crop_seed)
        return image[top:top + h, left:left + w]

    crop = tf.cond(tf.io.is_jpeg(image_bytes), jpeg, other)
    image = tf.image.resize(crop, (image_size, image_size), method="bilinear", antialias=True)
    image = tf.image.stateless_random_flip_left_right(image, flip_seed)
    return tf.ensure_shape(tf.clip_by_value(image, 0.0, 255.0), (image_size, image_size, 3))


def eval_image(image_bytes, image_size=224):
    """One evaluation image: shorter side to ``eval_resize_size(image_size)``, center crop.

    Returns:
        float32 ``(image_size, image_size, 3)`` RGB pixels in [0, 255].
    """
    import tensorflow as tf

    image = tf.cond(tf.io.is_jpeg(image_bytes),
                    lambda: tf.io.decode_jpeg(image_bytes, channels=3,
                                              dct_method="INTEGER_ACCURATE"),
                    lambda: _decode(image_bytes))
    shape = tf.shape(image)
    h, w = shape[0], shape[1]
    short = eval_resize_size(image_size)
    # torchvision's Resize(int): the shorter side to `short`, the longer side to
    # int(short * long / shorter).
    new_h = tf.where(h <= w, short, tf.cast(short * h / w, tf.int32))
    new_w = tf.where(h <= w, tf.cast(short * w / h, tf.int32), short)
    image = tf.image.resize(image, tf.stack([new_h, new_w]), method="bilinear", antialias=True)
    top = tf.cast(tf.round((new_h - image_size) / 2), tf.int32)
    left = tf.cast(tf.round((new_w - image_size) / 2), tf.int32)
    image = image[top:top + image_size, left:left + image_size]
    return tf.ensure_shape(tf.clip_by_value(image, 0.0, 255.0), (image_size, image_size, 3))


def normalize(image):
    """``(image / 255 - MEAN_RGB) / STD_RGB`` (for models without a normalization layer)."""
    import tensorflow as tf

    mean = tf.constant([255.0 * m for m in MEAN_RGB])
    std = tf.constant([255.0 * s for s in STD_RGB])
    return (image - mean) / std


def check_labeled(labels, split, name="the data set"):
    """Refuses a split whose labels are all -1 (an unlabeled split, e.g. imagenet2012's test).

    Args:
        labels: the first labels of the split (an iterable of ints; tfds writes
            -1 for every example of an unlabeled split, so the first ones tell).
        split: the split's name, for the message.
        name: the data set's name, for the message.

    Raises:
        ValueError: every label is negative (or the split is empty).
    """
    labels = [int(v) for v in labels]
    if not labels or all(v < 0 for v in labels):
        raise ValueError(f"split {split!r} of {name} has no labels (every label is -1, as "
                         "imagenet2012's 'test'): train on 'train', validate and evaluate on "
                         f"'validation'; received split={split!r}")


def _load_encoded(name, split, shuffle_files, seed):
    import tensorflow_datasets as tfds

    read_config = tfds.ReadConfig(shuffle_seed=seed, interleave_cycle_length=INTERLEAVE_FILES,
                                  interleave_block_length=1, try_autocache=False)
    try:
        ds, info = tfds.load(name, split=split, as_supervised=True, with_info=True,
                             shuffle_files=shuffle_files, read_config=read_config,
                             decoders={"image": tfds.decode.SkipDecoding()})
    except Exception as e:  # noqa: BLE001 - tfds raises many types; report one line
        message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"cannot load tfds data set {name!r} (split {split!r}): "
                         f"{message}") from e
    return ds, info


def first_labels(name, split, count=64):
    """The first `count` labels of a tfds split, read without decoding its images."""
    ds = _load_encoded(name, split, False, 0)[0]
    return [int(label) for _, label in ds.take(count).as_numpy_iterator()]


def _split_size(info, split):
    """``(examples, bytes)`` of a split or split expression ((None, None) when tfds cannot tell)."""
    try:
        found = info.splits[split]
        return int(found.num_examples), int(getattr(found, "num_bytes", 0) or 0)
    except Exception:  # noqa: BLE001 - a split expression tfds cannot size
        return None, None


def load_split(name, split, image_size=224, batch_size=256, training=False, seed=0,
               part=None, drop_remainder=False, repeat=False, normalize_images=False,
               shuffle_memory_bytes=SHUFFLE_MEMORY_BYTES, probe=64):
    """One split of a tfds image set as batches of the `imagenet` recipe's images.

    Args:
        name: the tfds name, e.g. "imagenet2012".
        split: the split ("train", "validation", or a tfds split expression).
        image_size: the images' side.
        batch_size: the batch (the per-process batch when `part` is given).
        training: `train_image` with file-level and example shuffling; else
            `eval_image` in the split's order.
        seed: seed of the file order, the shuffle and the crops.
        part: ``(num_processes, process_id)``: this process's equal, disjoint
            part (`keras_aw.datasets.sharding.process_split`), remainder dropped.
        drop_remainder, repeat: as `keras_aw.datasets.load_data`.
        normalize_images: apply `normalize` in the pipeline (default: the model does).
        shuffle_memory_bytes: memory for the shuffle buffer (`shuffle_buffer_size`).
        probe: how many first labels `check_labeled` reads.

    Returns:
        ``(dataset, info)``: batches of ``(float32 images, int32 labels)`` and tfds's info.

    Raises:
        ValueError: an unknown set or split, or a split without labels.
    """
    import tensorflow as tf

    read_split = split if part is None else sharding.process_split(split, *part)
    probe_ds, info = _load_encoded(name, read_split, False, seed)
    check_labeled((label for _, label in probe_ds.take(probe).as_numpy_iterator()), split,
                  f"tfds data set {name!r}")
    ds = _load_encoded(name, read_split, training, seed)[0] if training else probe_ds
    message = f"split {split!r} of {name!r} holds a label -1 (an unlabeled example)"

    def checked(label):
        with tf.control_dependencies([tf.debugging.assert_non_negative(label, message)]):
            return tf.cast(label, tf.int32)

    if training:
        examples, size = _split_size(info, split)
        average = size / examples if examples and size else None
        ds = ds.shuffle(shuffle_buffer_size(average, shuffle_memory_bytes), seed=seed,
                        reshuffle_each_iteration=True)
        # One stateless seed per example, new every epoch (rerandomize_each_iteration).
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        ds = tf.data.Dataset.zip((ds, seeds)).map(
            lambda example, s: (train_image(example[0], s, image_size), checked(example[1])),
            num_parallel_calls=tf.data.AUTOTUNE)
    else:
        ds = ds.map(lambda image, label: (eval_image(image, image_size), checked(label)),
                    num_parallel_calls=tf.data.AUTOTUNE)
    if normalize_images:
        ds = ds.map(lambda image, label: (normalize(image), label),
                    num_parallel_calls=tf.data.AUTOTUNE)
    if repeat:
        ds = ds.repeat()
    ds = ds.batch(batch_size, drop_remainder=drop_remainder or part is not None)
    return ds.prefetch(tf.data.AUTOTUNE), info


def load_imagenet(name="imagenet2012", image_size=224, batch_size=256, training=True, seed=0,
                  train_split="train", eval_split="validation", part=None,
                  drop_remainder=False, repeat=False, normalize_images=False,
                  shuffle_memory_bytes=SHUFFLE_MEMORY_BYTES):
    """Training and evaluation inputs of the `imagenet` recipe, a dict like `load_data`'s.

    Trains on `train_split` and validates/evaluates on `eval_split` (imagenet2012:
    "train" and "validation"; its "test" split has no labels and is refused).

    Args:
        name: the tfds name.
        training: also build the training pipeline (else only ``test``).
        train_split, eval_split: the splits.
        Others: as `load_split`.

    Returns:
        A dict: ``train`` (training only) and ``test`` pipelines, ``num_classes``,
        ``class_names``, ``train_examples`` (the training split's size, None if
        unknown or not training) and ``steps_per_epoch`` (batches of one pass
        over this process's part of the training split; None when unknown).
    """
    common = dict(image_size=image_size, batch_size=batch_size, seed=seed, part=part,
                  normalize_images=normalize_images)
    test, info = load_split(name, eval_split, training=False, drop_remainder=drop_remainder,
                            **common)
    label = info.features[info.supervised_keys[1]]
    out = {"test": test, "num_classes": label.num_classes,
           "class_names": list(getattr(label, "names", []) or []),
           "train_examples": None, "steps_per_epoch": None}
    if training:
        out["train"] = load_split(name, train_split, training=True, repeat=repeat,
                                  drop_remainder=drop_remainder,
                                  shuffle_memory_bytes=shuffle_memory_bytes, **common)[0]
        examples = _split_size(info, train_split)[0]
        out["train_examples"] = examples
        if examples:
            per_process = examples if part is None else examples // part[0]
            drop = drop_remainder or part is not None
            out["steps_per_epoch"] = (per_process // batch_size if drop
                                      else -(-per_process // batch_size))
    return out
