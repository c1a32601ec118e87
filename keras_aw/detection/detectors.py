"""RetinaNet detectors with the paper's six FPN variants (Table 2), one generic builder.

`FPNRetinaNet` builds a `keras_hub.models.RetinaNetObjectDetector` (anchors,
label encoding, focal loss and NMS are keras-hub's) on an `FPNBackbone`: a
plain keras_aw ResNet encoder and a `FeaturePyramid` in one of the paper's
variants. Every named builder is one line over it, registered in
`keras_aw.registry` with ``task="detection"``:

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

Importing this module does not need keras-hub (the builders register
themselves); calling a builder does.
"""

from keras_aw.applications import resnet
from keras_aw.detection._hub import require_keras_hub
from keras_aw.registry import PaperResult, register_model
from keras_aw.validation import check_positive_int

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


def table2(label, ap, ap50, ap75):
    """A `PaperResult` of the paper's Table 2 (COCO val2017, ResNet101, Faster R-CNN)."""
    return PaperResult(label, {"AP": ap, "AP50": ap50, "AP75": ap75}, table="Table 2")


def build_encoder(encoder, image_shape, dtype=None):
    """An image encoder by name (see `ENCODERS`), or `encoder` itself if it is a model."""
    from keras_aw.detection.backbone import MobileNetEncoder, ResNetEncoder

    if not isinstance(encoder, str):
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


def FPNRetinaNet(
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
    bounding_box_format="yxyx",
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
            `FeaturePyramidBackbone` (e.g. a `ResNetEncoder`). Named encoders
            are plain (no AW, no attention), as in the paper.
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

    Returns:
        A `keras_hub.models.RetinaNetObjectDetector`. Calling it returns the
        raw ``{"bbox_regression", "cls_logits"}``; `predict` returns NMS
        detections ``{"boxes", "classes", "confidence", "num_detections"}``.

    Example:

    >>> from keras_aw.detection import FPNRetinaNet
    >>> det = FPNRetinaNet("resnet_small", num_classes=3, image_shape=(64, 64, 3),
    ...                    aw=True, attention="se", max_level=5, filters=32,
    ...                    head_conv_layers=1)
    >>> type(det.backbone.feature_pyramid.lateral_convs["P3"]).__name__
    'AWConv2D'
    """
    keras_hub = require_keras_hub()
    from keras_aw.detection.backbone import FPNBackbone
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
    return correct_retinanet(keras_hub.models.RetinaNetObjectDetector(
        backbone=backbone, num_classes=num_classes, bounding_box_format=bounding_box_format,
        anchor_generator=anchors, pre_logits_num_conv_layers=head_conv_layers,
        prediction_decoder=decoder, dtype=dtype, name=name,
    ))


# --- the six variants per depth: one line each over FPNRetinaNet --------------

_VARIANTS = {  # variant -> (builder prefix, FPNRetinaNet arguments, Table 2 row)
    "plain": ("FPN", {}, ("FPN", 37.13, 58.28, 40.29)),
    "aw": ("AWFPN", {"aw": True}, ("AW-FPN", 37.76, 59.17, 40.91)),
    "se": ("SEFPN", {"attention": "se"}, ("SE-FPN", 38.11, 59.41, 41.33)),
    "aw-se": ("AWSEFPN", {"aw": True, "attention": "se"}, ("AW-SE-FPN", 38.45, 59.70, 41.86)),
    "cbam": ("CBAMFPN", {"attention": "cbam"}, ("CBAM-FPN", 37.74, 58.84, 40.77)),
    "aw-cbam": ("AWCBAMFPN", {"aw": True, "attention": "cbam"},
                ("AW-CBAM-FPN", 38.19, 59.52, 41.43)),
}
_DEPTHS = {"resnet101": "ResNet101", "resnet50": "ResNet50", "resnet_small": "ResNetSmall"}


def _make(encoder, variant):
    prefix, fixed, row = _VARIANTS[variant]
    func_name = prefix + _DEPTHS[encoder]

    def builder(num_classes=80, image_shape=DEFAULT_IMAGE_SHAPE, **kwargs):
        kwargs.setdefault("name", func_name.lower())
        return FPNRetinaNet(encoder, num_classes, image_shape, **fixed, **kwargs)

    builder.__name__ = builder.__qualname__ = func_name
    builder.__doc__ = (
        f"{row[0]} RetinaNet on a plain {_DEPTHS[encoder]} (Zhu et al., ICANN 2021, Table 2).\n\n"
        f"    ``FPNRetinaNet({encoder!r}, num_classes, image_shape, "
        + ", ".join(f"{k}={v!r}" for k, v in fixed.items())
        + (", **kwargs)``" if fixed else "**kwargs)``")
        + "; see `FPNRetinaNet` for the arguments (CBAM variants take ``cbam=``).\n\n"
        "    Example:\n\n"
        f"    >>> from keras_aw.detection import {func_name}\n"
        f"    >>> callable({func_name})\n    True\n"
    )
    paper = [table2(*row)] if encoder == "resnet101" else []
    return register_model(f"{encoder}_fpn", variant, task="detection", paper=paper)(builder)


for _encoder in _DEPTHS:
    for _variant in _VARIANTS:
        _builder = _make(_encoder, _variant)
        globals()[_builder.__name__] = _builder
del _encoder, _variant, _builder

__all__ = ["FPNRetinaNet", "build_encoder", "table2", "ENCODERS"] + [
    prefix + depth for depth in _DEPTHS.values() for prefix, _, _ in _VARIANTS.values()
]
