"""RetinaNet head initialisation as the focal-loss paper prescribes.

Lin et al., "Focal Loss for Dense Object Detection" (ICCV 2017, §4.1
"Initialization"): the last convolution of the **classification** subnet gets
the bias ``b = -log((1 - pi) / pi)`` with the prior ``pi = 0.01``, so that every
anchor starts at confidence ``pi`` for every class and the loss of the many
background anchors does not swamp the first iterations; the **box** subnet's
last bias is 0.

Upstream defect: keras-hub 0.32's `keras_hub.models.RetinaNetObjectDetector`
passes ``use_prior_probability=True`` to its ``box_head`` and not to its
``classification_head`` (``retinanet_object_detector.py``), so the prior bias
lands on the box regression (every box delta starts at -4.6) and every class
starts at probability 0.5. `initialize_retinanet_heads` undoes that on a built
detector; keras_aw's detector builders call it.
"""

import math

import keras
import numpy as np

#: The focal-loss paper's prior probability of a foreground class at the start.
PRIOR_PROBABILITY = 0.01


def prior_bias(prior_probability=PRIOR_PROBABILITY):
    """The classification bias ``-log((1 - pi) / pi)`` that starts every class at ``pi``."""
    if isinstance(prior_probability, bool) or not isinstance(prior_probability, (int, float)) \
            or not 0.0 < prior_probability < 1.0:
        raise ValueError("`prior_probability` must be a number in (0, 1); received "
                         f"prior_probability={prior_probability!r}")
    return -math.log((1.0 - prior_probability) / prior_probability)


def _logits_layer(detector, head_name):
    head = getattr(detector, head_name, None)
    layer = getattr(head, "prediction_layer", None)
    if layer is None or getattr(layer, "bias", None) is None:
        raise TypeError(
            "`detector` must be a built keras_hub.models.RetinaNetObjectDetector (with "
            f"`{head_name}.prediction_layer` and its bias); received detector={detector!r}"
        )
    return layer


def initialize_retinanet_heads(detector, prior_probability=PRIOR_PROBABILITY):
    """Sets a RetinaNet's last head biases as in the focal-loss paper; returns `detector`.

    The classification head's logits bias becomes ``-log((1 - pi) / pi)`` and
    the box head's 0. Kernels are left as they are. Call it on a freshly built
    detector, before training (it overwrites trained biases).

    Args:
        detector: a `keras_hub.models.RetinaNetObjectDetector`.
        prior_probability: ``pi``, the starting foreground probability (0.01).

    Returns:
        `detector`, changed in place.

    Raises:
        TypeError: `detector` has no RetinaNet heads.
        ValueError: `prior_probability` is not in (0, 1).

    Example:

    >>> import numpy as np
    >>> from keras_aw.detection import MobileNetEncoder, build_retinanet
    >>> det = build_retinanet(MobileNetEncoder(alpha=0.25, image_shape=(64, 64, 3)), 3,
    ...                    (64, 64, 3), max_level=5, filters=16, head_conv_layers=1)
    >>> det = initialize_retinanet_heads(det)
    >>> round(float(np.mean(det.classification_head.prediction_layer.bias)), 3)
    -4.595
    >>> float(np.abs(det.box_head.prediction_layer.bias).max())
    0.0
    """
    bias = prior_bias(prior_probability)
    cls_layer = _logits_layer(detector, "classification_head")
    box_layer = _logits_layer(detector, "box_head")
    cls_layer.bias.assign(np.full(tuple(cls_layer.bias.shape), bias, "float32"))
    box_layer.bias.assign(np.zeros(tuple(box_layer.bias.shape), "float32"))
    return detector


__all__ = ["PRIOR_PROBABILITY", "initialize_retinanet_heads", "prior_bias"]
