"""COCO 2017 from TensorFlow Datasets as detector input (the paper's Table 2 data).

``load_coco(split)`` reads tfds' ``coco/2017`` (which downloads ~25 GB once,
or reads a prepared `data_dir`) and yields ``(image, {"boxes", "labels"})``
pairs in keras-hub's format:

- the image is resized so that its longer side is `image_size` (aspect kept)
  and zero-padded at the bottom/right to ``image_size x image_size``, float32
  in 0..255 (`DEFAULT_CANVAS`: why 1024);
- tfds' boxes (relative ``[y_min, x_min, y_max, x_max]``) become pixels of
  the resized image, converted to `bounding_box_format` by
  `keras.utils.bounding_boxes.convert_format`; crowd annotations are
  dropped (they are no training targets: Detectron2's training mapper drops
  them; COCO's evaluator ignores detections on them, see
  `load_coco_evaluation`); the 80 class ids are tfds' contiguous 0..79
  (`COCO_CATEGORY_IDS[i]` is COCO's category id of label i);
- ``training=True`` adds a random horizontal flip (probability 1/2, seeded by
  `seed`) of the resized image that moves its boxes with it;
- boxes and labels are padded with -1 to `max_objects` (objects beyond are cut);
- ``part=(n, i)``: the i-th of n disjoint parts of the split (tfds'
  `even_splits`), together the whole split: one per process.

``load_coco_evaluation(split)`` yields ``(image, meta)``: the same canvas, and
what `keras_aw.detection.evaluation.CocoEvaluator` needs to score detections
in the original image's pixels (image id, scale, original size, and the
original-coordinate ground truth with COCO's crowd flags and areas).

Example (needs the data, or ``tfds.testing.mock_data``)::

    ds = load_coco("validation", image_size=512).batch(8)
    model.fit(load_coco("train", training=True, seed=1).shuffle(1000).batch(8), ...)
"""

from keras_aw._validation import check_choice, check_positive_int
from keras_aw.vocabulary import (BOX_FORMATS, COCO_CATEGORY_IDS, COCO_CLASS_NAMES,  # noqa: F401
                                 DEFAULT_BOX_FORMAT)

NUM_CLASSES = 80
# COCO_CATEGORY_IDS (tfds label i -> COCO's category id) and COCO_CLASS_NAMES: the
# table is in keras_aw.vocabulary, where the evaluator (keras_aw.detection) reads it too.

#: The side of the square canvas COCO images are resized (longer side) and padded onto.
#:
#: AW's detectors take one fixed input shape, so the canvas replaces Detectron2's
#: per-image resize (shorter side 800, longer side at most 1333; a typical 640x480 COCO
#: image becomes 1067x800 there). With 1024 the same image becomes 1024x768: 0.96 of
#: Detectron2's scale (768 vs 800 on the shorter side, 1024 vs 1067 on the longer), 0.92
#: of its pixels, on a canvas of 1.05 M pixels (a quarter of it padding for 4:3 images).
#: A larger canvas (1152, 1280) would match the shorter side of 4:3 images but spend
#: 1.3-1.6x the memory and time on padding; a smaller one (768, 896) would shrink every
#: object, which costs AP on COCO's small objects (APs) first. 1024 = 8 x 128 keeps every
#: level P3..P7 (strides 8..128) an integer grid. `image_size` chooses another canvas.
DEFAULT_CANVAS = 1024


def _check_part(part):
    """Validates ``part=(num_parts, index)``; returns it as a tuple of ints (or None)."""
    if part is None:
        return None
    try:
        n, i = (int(v) for v in part)
        ok = (n, i) == tuple(part) and n >= 1 and 0 <= i < n
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(
            f"`part` must be (num_parts, index) with num_parts >= 1 and 0 <= index < "
            f"num_parts; received part={part!r}"
        )
    return n, i


def _check_common(image_size, max_objects):
    check_positive_int("image_size", image_size)
    check_positive_int("max_objects", max_objects)


def read_split(split="validation", data_dir=None, download=False, shuffle_files=False,
               part=None):
    """tfds ``coco/2017`` examples of `split` (this process's `part` of it)."""
    import tensorflow_datasets as tfds

    part = _check_part(part)
    if part is not None:
        split = tfds.even_splits(split, n=part[0])[part[1]]
    return tfds.load("coco/2017", split=split, data_dir=data_dir, download=download,
                     shuffle_files=shuffle_files)


def resize_and_pad(image, image_size):
    """Resizes `image` (longer side `image_size`, aspect kept) without padding it.

    Returns:
        ``(resized float32 image, scale, original height, original width)``, the
        scale being ``image_size / max(height, width)`` (the boxes' scale too).
    """
    import tensorflow as tf

    image = tf.cast(image, tf.float32)
    height = tf.cast(tf.shape(image)[0], tf.float32)
    width = tf.cast(tf.shape(image)[1], tf.float32)
    scale = image_size / tf.maximum(height, width)
    new_h = tf.cast(tf.round(height * scale), tf.int32)
    new_w = tf.cast(tf.round(width * scale), tf.int32)
    return tf.image.resize(image, (new_h, new_w)), scale, height, width


def _objects(example):
    """The objects' fields, aligned (tfds' mock data may give them different lengths)."""
    import tensorflow as tf

    objects = example["objects"]
    keys = [k for k in ("bbox", "label", "is_crowd", "area") if k in objects]
    n = tf.reduce_min([tf.shape(objects[k])[0] for k in keys])
    return {k: objects[k][:n] for k in keys}


def _pad(values, max_objects, value):
    import tensorflow as tf

    values = values[:max_objects]
    pad = max_objects - tf.shape(values)[0]
    paddings = [[0, pad]] + [[0, 0]] * (len(values.shape) - 1)
    values = tf.pad(values, paddings, constant_values=value)
    return tf.ensure_shape(values, (max_objects,) + tuple(values.shape[1:]))


def preprocess_example(example, image_size=DEFAULT_CANVAS, max_objects=100,
                       bounding_box_format=DEFAULT_BOX_FORMAT, flip=None):
    """One tfds COCO example -> (image, {"boxes", "labels"}); see the module docstring.

    `flip`: None, or a scalar bool tensor: flip the image and its boxes horizontally.
    """
    import keras
    import tensorflow as tf

    image, scale, height, width = resize_and_pad(example["image"], image_size)
    objects = _objects(example)
    keep = tf.logical_not(tf.cast(objects["is_crowd"], tf.bool))
    rel = tf.boolean_mask(objects["bbox"], keep)
    labels = tf.cast(tf.boolean_mask(objects["label"], keep), tf.int32)
    size = tf.stack([height, width, height, width]) * scale
    yxyx = rel * size
    if flip is not None:
        # the resized image's width (before padding): x -> new_w - x, min and max swapped
        new_w = tf.cast(tf.shape(image)[1], tf.float32)
        flipped = tf.stack([yxyx[:, 0], new_w - yxyx[:, 3], yxyx[:, 2], new_w - yxyx[:, 1]],
                           axis=-1)
        image = tf.cond(flip, lambda: tf.reverse(image, axis=[1]), lambda: image)
        yxyx = tf.cond(flip, lambda: flipped, lambda: yxyx)
    image = tf.image.pad_to_bounding_box(image, 0, 0, image_size, image_size)
    boxes = keras.utils.bounding_boxes.convert_format(yxyx, "yxyx", bounding_box_format,
                                                      height=image_size, width=image_size)
    return image, {"boxes": _pad(boxes, max_objects, -1.0),
                   "labels": _pad(labels, max_objects, -1)}


def load_coco(split="validation", image_size=DEFAULT_CANVAS, max_objects=100,
              bounding_box_format=DEFAULT_BOX_FORMAT, data_dir=None, download=False,
              shuffle_files=False, training=False, seed=None, part=None):
    """tfds ``coco/2017`` as an unbatched `tf.data.Dataset` of (image, targets).

    Args:
        split: a tfds split of coco/2017 ("train", "validation", "test", or a slice).
        image_size: side of the square (padded) canvas (`DEFAULT_CANVAS`; a multiple
            of 128 keeps P7's grid whole).
        max_objects: padded number of objects per image.
        bounding_box_format: one of `keras_aw.vocabulary.BOX_FORMATS` (a "rel_" one
            is relative to the padded square image).
        data_dir: tfds data directory (None: tfds' default).
        download: whether tfds may download and prepare the data set (~25 GB).
        shuffle_files: passed to `tfds.load`.
        training: add the random horizontal flip (boxes flipped with the image).
        seed: the flips' seed (None: not reproducible).
        part: None, or ``(num_parts, index)``: only that part of the split (parts are
            disjoint and together the split; one per process).

    Returns:
        A `tf.data.Dataset` of ``(float32 (S, S, 3) image, {"boxes": (M, 4), "labels": (M,)})``;
        crowd annotations are not among the targets.
    """
    import tensorflow as tf

    _check_common(image_size, max_objects)
    check_choice("bounding_box_format", bounding_box_format, BOX_FORMATS)
    if seed is not None and not isinstance(seed, int):
        raise TypeError(f"`seed` must be an int or None; received seed={seed!r}")
    ds = read_split(split, data_dir, download, shuffle_files, part)
    if not training:
        return ds.map(lambda ex: preprocess_example(ex, image_size, max_objects,
                                                    bounding_box_format),
                      num_parallel_calls=tf.data.AUTOTUNE)
    # a coin per example: stateless, from (seed, part's index, example's index) when seeded
    offset = 0 if part is None else _check_part(part)[1] << 40

    def coin(index):
        if seed is None:
            return tf.random.uniform([]) < 0.5
        key = tf.stack([tf.constant(seed, tf.int64), index + offset])
        return tf.random.stateless_uniform([], seed=key) < 0.5

    return ds.enumerate().map(
        lambda index, ex: preprocess_example(ex, image_size, max_objects, bounding_box_format,
                                             coin(index)),
        num_parallel_calls=tf.data.AUTOTUNE)


def evaluation_example(example, image_size=DEFAULT_CANVAS, max_objects=100):
    """One tfds COCO example -> (image, meta); see `load_coco_evaluation`."""
    import tensorflow as tf

    image, scale, height, width = resize_and_pad(example["image"], image_size)
    image = tf.image.pad_to_bounding_box(image, 0, 0, image_size, image_size)
    objects = _objects(example)
    rel = tf.cast(objects["bbox"], tf.float32)
    xywh = tf.stack([rel[:, 1] * width, rel[:, 0] * height, (rel[:, 3] - rel[:, 1]) * width,
                     (rel[:, 2] - rel[:, 0]) * height], axis=-1)
    count = tf.shape(rel)[0]
    area = tf.cast(objects["area"], tf.float32) if "area" in objects \
        else xywh[:, 2] * xywh[:, 3]
    meta = {"image_id": tf.cast(example["image/id"], tf.int64),
            "scale": tf.cast(scale, tf.float32), "height": tf.cast(height, tf.int32),
            "width": tf.cast(width, tf.int32), "num_objects": tf.cast(count, tf.int32),
            "gt_boxes": _pad(xywh, max_objects, -1.0),
            "gt_labels": _pad(tf.cast(objects["label"], tf.int32), max_objects, -1),
            "gt_is_crowd": _pad(tf.cast(objects["is_crowd"], tf.int32), max_objects, 0),
            "gt_area": _pad(area, max_objects, 0.0)}
    return image, meta


def load_coco_evaluation(split="validation", image_size=DEFAULT_CANVAS, max_objects=100,
                         data_dir=None, download=False, part=None):
    """tfds ``coco/2017`` as an unbatched `tf.data.Dataset` of (image, meta) to evaluate on.

    The image is `load_coco`'s canvas (no flip). ``meta`` holds fixed-shape tensors:
    "image_id" (int64, COCO's), "scale" (float32: canvas pixels per original pixel),
    "height", "width" (int32, the original image's), "num_objects" (int32: the
    annotations of the image, crowd ones included, before padding), and the
    original-coordinate ground truth padded to `max_objects` (label -1):
    "gt_boxes" (float32 (M, 4) xywh pixels of the original image), "gt_labels" (int32,
    tfds' 0..79), "gt_is_crowd" (int32 0/1), "gt_area" (float32, COCO's area).
    `keras_aw.detection.evaluation.evaluate_coco` consumes it.

    Args:
        split, image_size, data_dir, download, part: as for `load_coco`.
        max_objects: padded number of ground-truth objects per image (the evaluator
            refuses an image with more annotations: raise it then).
    """
    import tensorflow as tf

    _check_common(image_size, max_objects)
    ds = read_split(split, data_dir, download, False, part)
    return ds.map(lambda ex: evaluation_example(ex, image_size, max_objects),
                  num_parallel_calls=tf.data.AUTOTUNE)
