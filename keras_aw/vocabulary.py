"""The package's vocabulary: every name and constant more than one module uses.

Attention variants, tasks, attention kinds, CBAM forms, bounding-box formats
and tolerances are defined here once; the registry, builders, layers,
detectors, data sets and export import them from this module. It imports
nothing (not even Keras), so any module may import it.

Example:

>>> from keras_aw import vocabulary
>>> vocabulary.VARIANTS
('plain', 'aw', 'se', 'aw-se', 'cbam', 'aw-cbam')
>>> vocabulary.variant_arguments("aw-se")
{'aw': True, 'attention': 'se'}
>>> vocabulary.variant_label("aw-cbam", "FPN"), vocabulary.variant_prefix("aw-cbam")
('AW-CBAM-FPN', 'AWCBAM')
"""

#: The attention variants of the paper's tables, in the order the tables list them.
VARIANTS = ("plain", "aw", "se", "aw-se", "cbam", "aw-cbam")
#: What a registered model does.
TASKS = ("classification", "detection")
#: The activation attention modules a builder or pyramid may insert (None: none).
ATTENTIONS = (None, "se", "cbam")
#: The forms of CBAM (`keras_aw.layers.CBAM` ``mode``; the ``:MODE`` of a model spec).
CBAM_MODES = ("full", "maxpool", "spatial")

#: variant -> (aw, attention): the builder arguments a variant stands for.
VARIANT_ARGUMENTS = {
    "plain": (False, None),
    "aw": (True, None),
    "se": (False, "se"),
    "aw-se": (True, "se"),
    "cbam": (False, "cbam"),
    "aw-cbam": (True, "cbam"),
}

#: variant -> the prefix the paper writes before a network's name ("AW-SE-ResNet50").
VARIANT_LABELS = {"plain": "", "aw": "AW-", "se": "SE-", "aw-se": "AW-SE-", "cbam": "CBAM-",
                  "aw-cbam": "AW-CBAM-"}

#: The `keras.utils.bounding_boxes` formats the detectors and data sets accept (those
#: `keras.utils.bounding_boxes.convert_format` converts; absolute pixels, or "rel_" ones
#: relative to the image's height and width).
BOX_FORMATS = ("xyxy", "yxyx", "xywh", "center_xywh", "center_yxhw", "rel_xyxy", "rel_yxyx",
               "rel_xywh", "rel_center_xywh")
#: Box format of the detectors and the detection data unless asked otherwise: absolute
#: pixels (y_min, x_min, y_max, x_max), keras-hub's RetinaNet default.
DEFAULT_BOX_FORMAT = "yxyx"

#: Largest relative difference between an exported model's outputs and the Keras model's
#: that `keras_aw.export` and `keras_aw.detection.export_detector` accept by default.
PARITY_TOLERANCE = 1e-4
#: The detectors take images in [0, 1]: uint8 pixels are multiplied by this.
DETECTOR_INPUT_SCALE = 1.0 / 255.0


def variant_arguments(variant):
    """The builder arguments ``{"aw": .., "attention": ..}`` that `variant` stands for.

    Args:
        variant: one of `VARIANTS`.

    Returns:
        A new dict with the keys "aw" (bool) and "attention" (one of `ATTENTIONS`).

    Raises:
        ValueError: an unknown variant.
    """
    if variant not in VARIANT_ARGUMENTS:
        raise ValueError(f"`variant` must be one of {VARIANTS}; received variant={variant!r}")
    aw, attention = VARIANT_ARGUMENTS[variant]
    return {"aw": aw, "attention": attention}


def variant_of(aw, attention):
    """The variant of a network with AW-convolution `aw` and attention `attention`.

    Example:

    >>> variant_of(True, "cbam")
    'aw-cbam'
    """
    for variant, arguments in VARIANT_ARGUMENTS.items():
        if arguments == (aw, attention):
            return variant
    raise ValueError(
        f"no variant has aw={aw!r} and attention={attention!r}; `attention` must be one of "
        f"{ATTENTIONS} and `aw` a bool"
    )


def variant_label(variant, network):
    """The paper's name of `network` in `variant`: ``("aw-se", "FPN")`` -> ``"AW-SE-FPN"``."""
    variant_arguments(variant)
    return VARIANT_LABELS[variant] + network


def variant_prefix(variant):
    """The prefix of a builder's name in `variant`: ``"aw-se"`` -> ``"AWSE"``."""
    variant_arguments(variant)
    return VARIANT_LABELS[variant].replace("-", "")


#: COCO's 80 detection categories as tfds numbers them: tfds' label i is COCO's category
#: id ``COCO_CATEGORY_IDS[i]`` (tfds' coco builder numbers the categories in the order of
#: the instances file, which lists them by increasing id; ids 12, 26, 29, 30, 45, 66, 68,
#: 69, 71, 83 and 91 have no annotations in COCO 2017 and no tfds label).
COCO_CATEGORY_IDS = (
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21,
    22, 23, 24, 25, 27, 28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44,
    46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65,
    67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84, 85, 86, 87, 88, 89, 90,
)

#: The names of the categories of `COCO_CATEGORY_IDS`, as COCO's instances files spell them.
COCO_CLASS_NAMES = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat",
    "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack",
    "umbrella", "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball",
    "kite", "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket",
    "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair",
    "couch", "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse",
    "remote", "keyboard", "cell phone", "microwave", "oven", "toaster", "sink",
    "refrigerator", "book", "clock", "vase", "scissors", "teddy bear", "hair drier",
    "toothbrush",
)
