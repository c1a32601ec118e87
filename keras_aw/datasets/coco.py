"""COCO 2017 from TensorFlow Datasets as detector input (the paper's Table 2 data).

``load_coco(split)`` reads tfds' ``coco/2017`` (which downloads ~25 GB once,
or reads a prepared `data_dir`) and yields ``(image, {"boxes", "labels"})``
pairs in keras-hub's format:

- the image is resized so that its longer side is `image_size` (aspect kept)
  and zero-padded at the bottom/right to ``image_size x image_size``, float32
  in 0..255;
- tfds' boxes (relative ``[y_min, x_min, y_max, x_max]``) become pixels of
  the resized image, converted to `bounding_box_format` by
  `keras.utils.bounding_boxes.convert_format`; crowd annotations are
  dropped (as COCO's evaluator ignores them); the 80 class ids are tfds'
  contiguous 0..79;
- boxes and labels are padded with -1 to `max_objects` (objects beyond are cut).

Example (needs the data, or ``tfds.testing.mock_data``)::

    ds = load_coco("validation", image_size=512).batch(8)
    model.fit(load_coco("train").shuffle(1000).batch(8), ...)
"""

from keras_aw._validation import check_choice, check_positive_int
from keras_aw.vocabulary import BOX_FORMATS, DEFAULT_BOX_FORMAT

NUM_CLASSES = 80
def preprocess_example(example, image_size=512, max_objects=100,
                       bounding_box_format=DEFAULT_BOX_FORMAT):
    """One tfds COCO example -> (image, {"boxes", "labels"}); see the module docstring."""
    import keras
    import tensorflow as tf

    image = tf.cast(example["image"], tf.float32)
    height = tf.cast(tf.shape(image)[0], tf.float32)
    width = tf.cast(tf.shape(image)[1], tf.float32)
    scale = image_size / tf.maximum(height, width)
    new_h = tf.cast(tf.round(height * scale), tf.int32)
    new_w = tf.cast(tf.round(width * scale), tf.int32)
    image = tf.image.resize(image, (new_h, new_w))
    image = tf.image.pad_to_bounding_box(image, 0, 0, image_size, image_size)

    objects = example["objects"]
    # (the fields have one entry per object; tfds' mock data may not, so align them)
    n = tf.reduce_min([tf.shape(objects[k])[0] for k in ("bbox", "label", "is_crowd")])
    keep = tf.logical_not(tf.cast(objects["is_crowd"][:n], tf.bool))
    rel = tf.boolean_mask(objects["bbox"][:n], keep)
    labels = tf.cast(tf.boolean_mask(objects["label"][:n], keep), tf.int32)
    size = tf.stack([height, width, height, width]) * scale
    boxes = keras.utils.bounding_boxes.convert_format(rel * size, "yxyx", bounding_box_format,
                                                      height=image_size, width=image_size)
    boxes, labels = boxes[:max_objects], labels[:max_objects]
    pad = max_objects - tf.shape(labels)[0]
    boxes = tf.pad(boxes, [[0, pad], [0, 0]], constant_values=-1.0)
    labels = tf.pad(labels, [[0, pad]], constant_values=-1)
    boxes = tf.ensure_shape(boxes, (max_objects, 4))
    labels = tf.ensure_shape(labels, (max_objects,))
    return image, {"boxes": boxes, "labels": labels}


def load_coco(split="validation", image_size=512, max_objects=100,
              bounding_box_format=DEFAULT_BOX_FORMAT,
              data_dir=None, download=False, shuffle_files=False):
    """tfds ``coco/2017`` as an unbatched `tf.data.Dataset` of (image, targets).

    Args:
        split: a tfds split of coco/2017 ("train", "validation", "test", or a slice).
        image_size: side of the square (padded) images.
        max_objects: padded number of objects per image.
        bounding_box_format: one of `keras_aw.vocabulary.BOX_FORMATS` (a "rel_" one
            is relative to the padded square image).
        data_dir: tfds data directory (None: tfds' default).
        download: whether tfds may download and prepare the data set (~25 GB).
        shuffle_files: passed to `tfds.load`.

    Returns:
        A `tf.data.Dataset` of ``(float32 (S, S, 3) image, {"boxes": (M, 4), "labels": (M,)})``.
    """
    import tensorflow as tf
    import tensorflow_datasets as tfds

    check_positive_int("image_size", image_size)
    check_positive_int("max_objects", max_objects)
    check_choice("bounding_box_format", bounding_box_format, BOX_FORMATS)
    ds = tfds.load("coco/2017", split=split, data_dir=data_dir, download=download,
                   shuffle_files=shuffle_files)
    return ds.map(lambda ex: preprocess_example(ex, image_size, max_objects,
                                                bounding_box_format),
                  num_parallel_calls=tf.data.AUTOTUNE)
