"""What every builder of `keras_aw.applications` shares.

Argument validation with keras.applications' rules, the model input and weight
loading. The attention factory that lets one block definition serve the plain,
SE and CBAM variants is `keras_aw.layers.factory.attention_factory` (shared
with the detectors' pyramid); ``builder_utils.attention_factory`` is the same
function.
"""

import numbers
import os

import keras
from keras import layers

from keras_aw._validation import check_choice, check_positive_int
from keras_aw.layers.factory import attention_factory  # noqa: F401  (the builders' name for it)
from keras_aw.vocabulary import ATTENTIONS, CBAM_MODES

POOLINGS = (None, "avg", "max")
MIN_SIZE = 32
DEFAULT_SIZE = 224

IMAGENET_WEIGHTS_MESSAGE = (
    "weights='imagenet' is not available: no ImageNet-trained weights exist "
    "for AW/SE/CBAM networks (the paper released none). Build the model with "
    "weights=None and train it, or warm-start an AW network from a plain "
    "pretrained Keras network: "
    'keras_aw.convert_to_aw(keras.applications.ResNet50(weights="imagenet")).'
)


def validate_common_args(weights, pooling, classes, attention, cbam):
    """Checks the arguments every builder takes; raises a ValueError naming the bad one."""
    if isinstance(weights, str) and weights == "imagenet":
        raise ValueError(IMAGENET_WEIGHTS_MESSAGE)
    if weights is not None:
        if not isinstance(weights, (str, os.PathLike)):
            raise ValueError(
                "`weights` must be None or the path to a weights file; "
                f"received weights={weights!r}"
            )
        if not os.path.exists(weights):
            raise ValueError(
                "`weights` must be None or the path to an existing weights file; "
                f"no file found at weights={os.fspath(weights)!r}"
            )
    check_choice("pooling", pooling, POOLINGS)
    check_positive_int("classes", classes)
    check_choice("attention", attention, ATTENTIONS)
    check_choice("cbam", cbam, CBAM_MODES)


def check_positive_number(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise ValueError(f"`{name}` must be a positive number; received {name}={value!r}")
    return value


def obtain_input_shape(input_shape, data_format, require_flatten, static):
    """keras.applications' input-shape rules, with 3 channels required.

    Args:
        input_shape: None or a tuple of 3 entries (channels last or first as
            `data_format` says); spatial entries may be None.
        data_format: "channels_last" or "channels_first".
        require_flatten: True when the model has its classifier top (the
            spatial size must then be known).
        static: True for networks with AW-convolutions, which need a known
            spatial size even without a top (the per-sample convolution is
            built for a fixed grid).

    Returns:
        The input shape to build the model with.
    """
    channels_first = data_format == "channels_first"
    if input_shape is None:
        if require_flatten or static:
            size = (DEFAULT_SIZE, DEFAULT_SIZE)
        else:
            size = (None, None)
        return (3,) + size if channels_first else size + (3,)
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3:
        raise ValueError(
            "`input_shape` must be a tuple of 3 entries ("
            + ("channels, height, width" if channels_first else "height, width, channels")
            + f"); received input_shape={input_shape!r}"
        )
    input_shape = tuple(input_shape)
    channels = input_shape[0] if channels_first else input_shape[2]
    spatial = input_shape[1:] if channels_first else input_shape[:2]
    if channels != 3:
        raise ValueError(
            f"The input must have 3 channels; received input_shape={input_shape} "
            f"({channels} channels, data_format={data_format!r})"
        )
    for size in spatial:
        if size is not None and (
            isinstance(size, bool) or not isinstance(size, numbers.Integral)
        ):
            raise ValueError(
                f"`input_shape` entries must be ints or None; received input_shape={input_shape}"
            )
        if size is not None and size < MIN_SIZE:
            raise ValueError(
                f"Input size must be at least {MIN_SIZE}x{MIN_SIZE}; "
                f"received input_shape={input_shape}"
            )
    if None in spatial and require_flatten:
        raise ValueError(
            "If `include_top` is True, `input_shape` must have a static height and "
            f"width; received input_shape={input_shape}"
        )
    if None in spatial and static:
        raise ValueError(
            "Networks with AW-convolutions need a static height and width (the "
            "per-sample convolution is built for a fixed grid); received "
            f"input_shape={input_shape}"
        )
    return input_shape


def model_input(input_tensor, input_shape, data_format, require_flatten, static, dtype=None):
    """Returns (img_input, model_inputs) as keras.applications builds them."""
    if input_shape is None and input_tensor is not None:
        input_shape = tuple(input_tensor.shape)[1:]
    input_shape = obtain_input_shape(input_shape, data_format, require_flatten, static)
    if input_tensor is None:
        img_input = layers.Input(shape=input_shape, dtype=dtype)
        return img_input, img_input
    if keras.backend.is_keras_tensor(input_tensor):
        img_input = input_tensor
    else:
        img_input = layers.Input(tensor=input_tensor, shape=input_shape, dtype=dtype)
    return img_input, keras.utils.get_source_inputs(input_tensor)


def classifier_or_pooling(x, include_top, pooling, classes, classifier_activation,
                          data_format, dtype):
    """keras.applications' ResNet top: avg pool + Dense, or the optional pooling."""
    if include_top:
        x = layers.GlobalAveragePooling2D(data_format=data_format, name="avg_pool",
                                          dtype=dtype)(x)
        return layers.Dense(classes, activation=classifier_activation,
                            name="predictions", dtype=dtype)(x)
    if pooling == "avg":
        return layers.GlobalAveragePooling2D(data_format=data_format, name="avg_pool",
                                             dtype=dtype)(x)
    if pooling == "max":
        return layers.GlobalMaxPooling2D(data_format=data_format, name="max_pool",
                                         dtype=dtype)(x)
    return x


def finish(model, weights):
    """Loads a weights file into the built model (None leaves the initialization)."""
    if weights is not None:
        model.load_weights(os.fspath(weights))
    return model
