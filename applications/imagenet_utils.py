"""ImageNet preprocessing and offline prediction decoding, shared by all builders.

`preprocess_input` delegates the arithmetic to
`keras.applications.imagenet_utils.preprocess_input`, so the numbers are
exactly Keras's. `decode_predictions` has Keras's semantics but reads the
ImageNet class index shipped in this package (`imagenet_class_index.json`,
byte-identical to the file Keras downloads; see
`docs/make_imagenet_class_index.py`), so it works without network access.
"""

import json
import os

import numpy as np
from keras import ops
from keras.applications import imagenet_utils as keras_imagenet_utils

CLASS_INDEX_PATH = os.path.join(os.path.dirname(__file__), "imagenet_class_index.json")
_CLASS_INDEX = None


def class_index():
    """The ImageNet-1k class index: ``{"0": ["n01440764", "tench"], ...}``."""
    global _CLASS_INDEX
    if _CLASS_INDEX is None:
        with open(CLASS_INDEX_PATH, encoding="utf-8") as f:
            _CLASS_INDEX = json.load(f)
    return _CLASS_INDEX


def preprocess_input(x, data_format=None, mode="caffe"):
    """Preprocesses a batch of RGB images in [0, 255] for an ImageNet network.

    Args:
        x: a float NumPy array or a tensor, 3-D or 4-D, channels last unless
            `data_format` says otherwise. NumPy inputs are converted in place
            when they are float arrays (as in Keras).
        data_format: "channels_last", "channels_first" or None (Keras config).
        mode: "caffe" (RGB -> BGR, minus the ImageNet channel means; ResNet),
            "tf" (scaled to [-1, 1]; MobileNet) or "torch" (scaled to [0, 1],
            then normalized with the ImageNet mean and std).

    Returns:
        The preprocessed array or tensor, as
        `keras.applications.imagenet_utils.preprocess_input` computes it.

    Example:

    >>> import numpy as np
    >>> from keras_aw.applications import imagenet_utils
    >>> imagenet_utils.preprocess_input(np.full((1, 2, 2, 3), 255.0), mode="tf")[0, 0, 0]
    array([1., 1., 1.])
    """
    return keras_imagenet_utils.preprocess_input(x, data_format=data_format, mode=mode)


def decode_predictions(preds, top=5):
    """Decodes the predictions of an ImageNet classifier, offline.

    Args:
        preds: array or tensor of shape (samples, 1000).
        top: int, how many of the best classes to return per sample.

    Returns:
        One list per sample of ``(wnid, class_name, score)`` tuples, best first.

    Raises:
        ValueError: `preds` is not of shape (samples, 1000).

    Example:

    >>> import numpy as np
    >>> from keras_aw.applications import imagenet_utils
    >>> preds = np.zeros((1, 1000)); preds[0, 1] = 1.0
    >>> imagenet_utils.decode_predictions(preds, top=1)[0][0][:2]
    ('n01443537', 'goldfish')
    """
    preds = np.asarray(ops.convert_to_numpy(preds))
    if preds.ndim != 2 or preds.shape[1] != 1000:
        raise ValueError(
            "`decode_predictions` expects a batch of predictions, a 2-D array of "
            f"shape (samples, 1000); received an array of shape {preds.shape}"
        )
    index = class_index()
    results = []
    for pred in preds:
        top_indices = pred.argsort()[-top:][::-1]
        result = [tuple(index[str(i)]) + (pred[i],) for i in top_indices]
        result.sort(key=lambda item: item[2], reverse=True)
        results.append(result)
    return results
