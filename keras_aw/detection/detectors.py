"""RetinaNet detectors with the paper's six FPN variants (Table 2), one generic builder.

`build_retinanet` builds a `keras_hub.models.RetinaNetObjectDetector` (anchors,
label encoding, focal loss and NMS are keras-hub's) on an `FPNBackbone`: a
plain keras_aw ResNet encoder and a `FeaturePyramid` in one of the paper's
variants. The named detectors are declared as data in `MODELS` (name ->
family, variant, `build_retinanet` arguments, the paper's Table 2 row); each one
is a function generated from its row (name, signature ``(num_classes=80,
image_shape=DEFAULT_IMAGE_SHAPE, **kwargs)`` and docstring), and the table is
registered in `keras_aw.registry` with ``task="detection"``:

==========================  ===========  ============================================
variant                     FPN          names (ResNet101 / ResNet50 / small ResNet)
==========================  ===========  ============================================
"plain"                     FPN          FPNResNet101, FPNResNet50, FPNResNetSmall
"aw"                        AW-FPN       AWFPNResNet101, AWFPNResNet50, AWFPNResNetSmall
"se"                        SE-FPN       SEFPNResNet101, ...
"aw-se"                     AW-SE-FPN    AWSEFPNResNet101, ...
"cbam"                      CBAM-FPN     CBAMFPNResNet101, ...
"aw-cbam"                   AW-CBAM-FPN  AWCBAMFPNResNet101, ...
==========================  ===========  ============================================

The paper's detector is Faster R-CNN; keras-hub has none, and AW-FPN does not
depend on the head, so RetinaNet is the vehicle here. The backbone stays plain
(as in the paper); only the pyramid changes between variants.

Importing this module does not import keras-hub (``import keras_aw`` imports it,
so the registry lists the detectors at once); calling a builder does, and raises
an ImportError naming the ``[detection]`` extra when keras-hub is missing.
"""

from keras_aw._validation import check_positive_int
from keras_aw.applications import resnet
from keras_aw.detection._hub import require_keras_hub
from keras_aw.registry import register_models, table2
from keras_aw.vocabulary import DEFAULT_BOX_FORMAT, variant_arguments, variant_label

#: Encoders by name: a ResNet depth's blocks per stage, "resnet_small" (one
#: bottleneck per stage, for demos and tests) or "mobilenet".
ENCODERS = {
    "resnet50": resnet.STACKS[50],
    "resnet101": resnet.STACKS[101],
    "resnet152": resnet.STACKS[152],
    "resnet_small": (1, 1, 1, 1),
    "mobilenet": None,
}
DEFAULT_IMAGE_SHAPE = (512, 512, 3)


def build_encoder(encoder, image_shape, dtype=None):
    """An image encoder by name (see `ENCODERS`), or `encoder` itself if it is a model."""
    from keras_aw.detection.backbone import MobileNetEncoder, ResNetEncoder

    if not isinstance(encoder, str):
        inputs = getattr(encoder, "inputs", None) or [None]
        known = tuple(getattr(inputs[0], "shape", (None,))[1:])
        if image_shape is not None and len(known) == len(image_shape) and any(
                k is not None and s is not None and k != s for k, s in zip(known, image_shape)):
            raise ValueError(
                f"the encoder {getattr(encoder, 'name', encoder)!r} takes images of shape "
                f"{known}, not image_shape={tuple(image_shape)}: build it (e.g. "
                "`load_encoder(..., image_shape=...)`) for the detector's image shape")
        return encoder
    if encoder not in ENCODERS:
        raise ValueError(
            f"`encoder` must be one of {tuple(ENCODERS)} or a FeaturePyramidBackbone; "
            f"received encoder={encoder!r}"
        )
    if encoder == "mobilenet":
        return MobileNetEncoder(image_shape=image_shape, dtype=dtype, name="image_encoder")
    return ResNetEncoder(ENCODERS[encoder], image_shape=image_shape, dtype=dtype,
                         name="image_encoder")


def build_retinanet(
    encoder="resnet101",
    num_classes=80,
    image_shape=DEFAULT_IMAGE_SHAPE,
    aw=False,
    attention=None,
    cbam="full",
    min_level=3,
    max_level=7,
    filters=256,
    use_p5=False,
    bounding_box_format=DEFAULT_BOX_FORMAT,
    anchor_size=4.0,
    head_conv_layers=4,
    confidence_threshold=0.05,
    max_detections=100,
    dtype=None,
    name=None,
):
    """Builds a keras-hub RetinaNet whose FPN is one of the paper's Table 2 variants.

    Args:
        encoder: "resnet101" (the paper's backbone), "resnet50", "resnet152",
            "resnet_small", "mobilenet", or a keras-hub
            `FeaturePyramidBackbone` (e.g. a `ResNetEncoder`, or an
            ImageNet-pretrained one from `keras_aw.detection.load_encoder`) built
            for `image_shape` (a ValueError otherwise). Named encoders are plain
            (no AW, no attention), as in the paper.
        num_classes: number of object classes (class ids 0 .. num_classes - 1).
        image_shape: (H, W, 3), channels last. AW variants need H and W.
            Defaults to (512, 512, 3).
        aw: bool, AW-convolution in every lateral and output FPN convolution.
        attention: None, "se" or "cbam" right before those convolutions.
        cbam: CBAM form, "full" (default), "maxpool" or "spatial".
        min_level, max_level: pyramid levels (keras-hub's RetinaNet: 3, 7).
        filters: channels of the pyramid (256).
        use_p5: see `FeaturePyramid` (False: P6 from P5, as keras-hub's FPN).
        bounding_box_format: the format of the boxes `fit` takes and `predict`
            returns ("yxyx" default; any `keras.utils.bounding_boxes` format).
        anchor_size: keras-hub `AnchorGenerator` base size: anchors at level
            ``i`` are ``anchor_size * 2**i`` pixels (times 3 scales, 3 ratios).
        head_conv_layers: convolutions in each RetinaNet head before its
            logits (keras-hub's ``pre_logits_num_conv_layers``, 4).
        confidence_threshold: NMS score threshold of `predict` (0.05, the
            usual threshold for COCO AP; keras-hub's own default is 0.5).
        max_detections: detections kept per image by NMS.
        dtype: dtype or `keras.DTypePolicy` of every layer.
        name: name of the detector.

    Raises:
        ImportError: keras-hub is missing (``pip install "keras-aw[detection]"``).
        TypeError: a non-bool `aw`.

    Returns:
        A `keras_aw.detection.FPNRetinaNetObjectDetector` (a
        `keras_hub.models.RetinaNetObjectDetector`). Calling it returns the
        raw ``{"bbox_regression", "cls_logits"}``; `predict` returns NMS
        detections ``{"boxes", "classes", "confidence", "num_detections"}``.

    Example:

    >>> from keras_aw.detection import build_retinanet
    >>> det = build_retinanet("resnet_small", num_classes=3, image_shape=(64, 64, 3),
    ...                       aw=True, attention="se", max_level=5, filters=32,
    ...                       head_conv_layers=1)
    >>> type(det.backbone.feature_pyramid.lateral_convs["P3"]).__name__
    'AWConv2D'
    """
    keras_hub = require_keras_hub()
    from keras_aw.detection.backbone import FPNBackbone
    from keras_aw.detection.tasks import FPNRetinaNetObjectDetector
    from keras_aw.detection.upstream import correct_retinanet

    check_positive_int("num_classes", num_classes)
    if isinstance(head_conv_layers, bool) or not isinstance(head_conv_layers, int) \
            or head_conv_layers < 0:
        raise ValueError(
            f"`head_conv_layers` must be an int >= 0; received head_conv_layers={head_conv_layers!r}"
        )
    image_encoder = build_encoder(encoder, image_shape, dtype)
    backbone = FPNBackbone(image_encoder, min_level, max_level, filters=filters, aw=aw,
                           attention=attention, cbam=cbam, use_p5=use_p5,
                           image_shape=image_shape, data_format="channels_last", dtype=dtype,
                           name="fpn_backbone")
    anchors = keras_hub.layers.AnchorGenerator(
        bounding_box_format, min_level=min_level, max_level=max_level, num_scales=3,
        aspect_ratios=[0.5, 1.0, 2.0], anchor_size=anchor_size,
    )
    decoder = keras_hub.layers.NonMaxSuppression(
        bounding_box_format=bounding_box_format, from_logits=True,
        confidence_threshold=confidence_threshold, max_detections=max_detections,
    )
    # keras-hub 0.32's head biases and NMS under a TF retrace: see upstream.py.
    # keras-hub's RetinaNet as the subclass paired with FPNBackbone: presets load by class.
    return correct_retinanet(FPNRetinaNetObjectDetector(
        backbone=backbone, num_classes=num_classes, bounding_box_format=bounding_box_format,
        anchor_generator=anchors, pre_logits_num_conv_layers=head_conv_layers,
        prediction_decoder=decoder, dtype=dtype, name=name,
    ))


# --- the named detectors: a table of data, which generates one function per name ---

#: The paper's Table 2 (COCO val2017, ResNet101 backbone, Faster R-CNN), row per variant.
TABLE2 = {
    "plain": table2("FPN", 37.13, 58.28, 40.29),
    "aw": table2("AW-FPN", 37.76, 59.17, 40.91),
    "se": table2("SE-FPN", 38.11, 59.41, 41.33),
    "aw-se": table2("AW-SE-FPN", 38.45, 59.70, 41.86),
    "cbam": table2("CBAM-FPN", 37.74, 58.84, 40.77),
    "aw-cbam": table2("AW-CBAM-FPN", 38.19, 59.52, 41.43),
}

#: The named detectors: name -> (family, variant, `build_retinanet` arguments besides
#: the variant's, the paper's Table 2 rows). Only the ResNet101 ones are Table 2's.
MODELS = {
    "FPNResNet101": ("resnet101_fpn", "plain", {"encoder": "resnet101"}, [TABLE2["plain"]]),
    "AWFPNResNet101": ("resnet101_fpn", "aw", {"encoder": "resnet101"}, [TABLE2["aw"]]),
    "SEFPNResNet101": ("resnet101_fpn", "se", {"encoder": "resnet101"}, [TABLE2["se"]]),
    "AWSEFPNResNet101": ("resnet101_fpn", "aw-se", {"encoder": "resnet101"}, [TABLE2["aw-se"]]),
    "CBAMFPNResNet101": ("resnet101_fpn", "cbam", {"encoder": "resnet101"}, [TABLE2["cbam"]]),
    "AWCBAMFPNResNet101": ("resnet101_fpn", "aw-cbam", {"encoder": "resnet101"},
                           [TABLE2["aw-cbam"]]),
    "FPNResNet50": ("resnet50_fpn", "plain", {"encoder": "resnet50"}, []),
    "AWFPNResNet50": ("resnet50_fpn", "aw", {"encoder": "resnet50"}, []),
    "SEFPNResNet50": ("resnet50_fpn", "se", {"encoder": "resnet50"}, []),
    "AWSEFPNResNet50": ("resnet50_fpn", "aw-se", {"encoder": "resnet50"}, []),
    "CBAMFPNResNet50": ("resnet50_fpn", "cbam", {"encoder": "resnet50"}, []),
    "AWCBAMFPNResNet50": ("resnet50_fpn", "aw-cbam", {"encoder": "resnet50"}, []),
    "FPNResNetSmall": ("resnet_small_fpn", "plain", {"encoder": "resnet_small"}, []),
    "AWFPNResNetSmall": ("resnet_small_fpn", "aw", {"encoder": "resnet_small"}, []),
    "SEFPNResNetSmall": ("resnet_small_fpn", "se", {"encoder": "resnet_small"}, []),
    "AWSEFPNResNetSmall": ("resnet_small_fpn", "aw-se", {"encoder": "resnet_small"}, []),
    "CBAMFPNResNetSmall": ("resnet_small_fpn", "cbam", {"encoder": "resnet_small"}, []),
    "AWCBAMFPNResNetSmall": ("resnet_small_fpn", "aw-cbam", {"encoder": "resnet_small"}, []),
}


def _build(name, num_classes, image_shape, kwargs):
    """Builds the named detector of `MODELS`; its name defaults to the lower-case name.

    An ``encoder=`` in `kwargs` (e.g. `encoder_from_classifier` of a pretrained
    classifier) replaces the family's named encoder; the pyramid stays the variant's.
    """
    _, variant, fixed, _ = MODELS[name]
    kwargs.setdefault("name", name.lower())
    encoder = kwargs.pop("encoder", fixed["encoder"])
    arguments = {k: v for k, v in variant_arguments(variant).items() if v}
    return build_retinanet(encoder, num_classes, image_shape, **arguments, **kwargs)


#: How the docstrings name each encoder of `MODELS`.
_ENCODER_LABELS = {"resnet101": "ResNet101", "resnet50": "ResNet50",
                   "resnet_small": "small ResNet (one bottleneck per stage)"}


def _docstring(name):
    """The docstring of the named detector, rendered from its row of `MODELS`."""
    _, variant, fixed, paper = MODELS[name]
    label = variant_label(variant, "FPN")
    encoder = fixed["encoder"]
    call = ", ".join([repr(encoder).replace("'", '"'), "num_classes", "image_shape"]
                     + [f"{k}={v!r}".replace("'", '"')
                        for k, v in variant_arguments(variant).items() if v]
                     + ["**kwargs"])
    row = (f'The paper\'s Table 2 row "{paper[0].label}".' if paper else
           f"The {label} of the paper's Table 2 on another encoder; the paper reports no "
           "row for it.")
    further = "``cbam``, ``filters``" if "cbam" in variant else "``filters``"
    return f"""A RetinaNet with {label} on a plain {_ENCODER_LABELS[encoder]}.

    {row}
    ``build_retinanet({call})``, named "{name.lower()}" unless `kwargs` names it.

    Args:
        num_classes: number of object classes.
        image_shape: (H, W, 3), channels last; {DEFAULT_IMAGE_SHAPE} by default.
        **kwargs: further `build_retinanet` arguments ({further},
            ``max_level``, ``bounding_box_format``, ...).

    Returns:
        A `keras_hub.models.RetinaNetObjectDetector` (needs the ``[detection]`` extra).
    """


def _named_builder(name):
    """The public builder function of the named detector of `MODELS`."""
    def builder(num_classes=80, image_shape=DEFAULT_IMAGE_SHAPE, **kwargs):
        return _build(name, num_classes, image_shape, kwargs)

    builder.__name__ = builder.__qualname__ = name
    builder.__module__ = __name__
    builder.__doc__ = _docstring(name)
    return builder


#: One function per name of `MODELS` (FPNResNet101, AWFPNResNet101, ...,
#: AWCBAMFPNResNetSmall), module attributes like written ones.
BUILDERS = {name: _named_builder(name) for name in MODELS}
globals().update(BUILDERS)
register_models(MODELS, build_retinanet, BUILDERS.values(), task="detection")

__all__ = ["build_retinanet", "build_encoder", "ENCODERS", "MODELS", "TABLE2", *MODELS]
