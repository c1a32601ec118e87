"""The one bounding-box converter of keras_aw: `keras.utils.bounding_boxes.convert_format`.

Data sets, evaluation and plots convert padded targets with `convert_boxes`;
the tf.data pipeline of `keras_aw.datasets.coco` calls Keras's converter
directly (it runs on TensorFlow tensors inside the graph).
"""

import numpy as np

from keras_aw._validation import check_choice
from keras_aw.vocabulary import BOX_FORMATS


def convert_boxes(boxes, source, target, height=None, width=None, labels=None):
    """Converts boxes between `keras.utils.bounding_boxes` formats, as a NumPy array.

    Args:
        boxes: array-like (..., 4) in format `source`.
        source: the boxes' format, one of `keras_aw.vocabulary.BOX_FORMATS`.
        target: the format wanted, one of `BOX_FORMATS`.
        height, width: the image's size (needed by the "rel_" formats).
        labels: optional (...) class ids; rows whose label is < 0 (padding) stay -1.

    Returns:
        A float32 NumPy array of the boxes' shape.

    Raises:
        ValueError: an unknown format.

    Example:

    >>> convert_boxes([[10, 20, 30, 60]], "yxyx", "xywh").tolist()
    [[20.0, 10.0, 40.0, 20.0]]
    """
    import keras

    check_choice("source", source, BOX_FORMATS)
    check_choice("target", target, BOX_FORMATS)
    boxes = np.asarray(boxes, np.float32)
    if source != target:
        boxes = keras.ops.convert_to_numpy(keras.utils.bounding_boxes.convert_format(
            boxes, source=source, target=target, height=height, width=width))
    if labels is not None:
        boxes = np.where((np.asarray(labels) < 0)[..., None], -1.0, boxes)
    return boxes.astype(np.float32)
