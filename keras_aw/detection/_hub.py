"""The optional keras-hub dependency, imported in one place with a clear error."""

INSTALL_HINT = 'pip install "keras-aw[detection]"'


def require_keras_hub():
    """Returns the `keras_hub` module, or raises an ImportError saying how to install it."""
    try:
        import keras_hub
    except ImportError as err:  # pragma: no cover - exercised without the extra
        raise ImportError(
            "keras_aw's detectors use keras-hub (RetinaNet, anchors, label encoding, focal "
            f"loss, NMS). Install it with: {INSTALL_HINT}"
        ) from err
    return keras_hub


def require_pycocotools():
    """Returns (COCO, COCOeval), or raises an ImportError saying how to install pycocotools."""
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError as err:  # pragma: no cover
        raise ImportError(
            f"COCO evaluation uses pycocotools. Install it with: {INSTALL_HINT}"
        ) from err
    return COCO, COCOeval
