"""COCO AP of a detector's predictions (pycocotools, Table 2's metric).

- `coco_metrics`: AP (mAP@[.5:.95]), AP50, AP75 of detections against padded
  ground truth, computed by pycocotools' `COCOeval` (the official evaluator).
- `evaluate_detector`: predicts with a keras-hub detector, then `coco_metrics`.
- `predict_detections`: NMS detections of a detector as NumPy arrays.

Drawing detections is `keras_aw_tools.plots.plot_detections` (the tooling).

Values are COCOeval's fractions in [0, 1] (the paper prints them x100).
Targets use keras-hub's padded format: ``boxes`` (N, M, 4), ``labels`` (N, M),
rows with label -1 are padding.
"""

import contextlib
import io

import numpy as np

from keras_aw._validation import check_choice
from keras_aw.detection._hub import require_pycocotools
from keras_aw.utils.boxes import convert_boxes
from keras_aw.vocabulary import BOX_FORMATS, DEFAULT_BOX_FORMAT

def _check_format(bounding_box_format):
    check_choice("bounding_box_format", bounding_box_format, BOX_FORMATS)


def to_xyxy(boxes, bounding_box_format, height, width):
    """Absolute (x_min, y_min, x_max, y_max) boxes from any keras bounding-box format.

    `keras_aw.utils.boxes.convert_boxes` (Keras's converter) with target "xyxy".
    """
    _check_format(bounding_box_format)
    return convert_boxes(boxes, bounding_box_format, "xyxy", height, width).astype(np.float64)


def check_targets(boxes, labels, bounding_box_format, height, width, num_classes=None,
                  name="boxes", tolerance=0.5):
    """Validates padded boxes/labels; returns the boxes as absolute xyxy.

    Raises:
        ValueError: an unknown format, mismatched shapes, a box with negative size
            or outside the ``height`` x ``width`` image (by more than
            `tolerance` pixels), or a class id >= `num_classes` (or < -1).
    """
    _check_format(bounding_box_format)
    boxes = np.asarray(boxes, np.float64)
    labels = np.asarray(labels)
    if boxes.shape[:-1] != labels.shape or boxes.shape[-1:] != (4,):
        raise ValueError(
            f"`{name}` must have shape labels.shape + (4,); received {name}.shape="
            f"{boxes.shape} with labels.shape={labels.shape}"
        )
    valid = labels >= 0
    if np.any(labels < -1):
        raise ValueError(f"class ids must be >= 0 (-1 pads); received {int(labels.min())}")
    if num_classes is not None and np.any(labels >= num_classes):
        raise ValueError(
            f"class id {int(labels.max())} >= num_classes={num_classes} in the labels"
        )
    xyxy = to_xyxy(boxes, bounding_box_format, height, width)
    real = xyxy[valid]
    negative = (real[:, 2] < real[:, 0]) | (real[:, 3] < real[:, 1])
    if np.any(negative):
        raise ValueError(
            f"a box has a negative size: {boxes[valid][np.argmax(negative)].tolist()} "
            f"({bounding_box_format})"
        )
    outside = (real[:, 0] < -tolerance) | (real[:, 1] < -tolerance) | \
        (real[:, 2] > width + tolerance) | (real[:, 3] > height + tolerance)
    if np.any(outside):
        raise ValueError(
            f"a box lies outside the {height}x{width} image: "
            f"{boxes[valid][np.argmax(outside)].tolist()} ({bounding_box_format})"
        )
    return xyxy


def coco_metrics(gt_boxes, gt_labels, pred_boxes, pred_labels, pred_scores, image_shape,
                 bounding_box_format=DEFAULT_BOX_FORMAT, num_classes=None):
    """COCO AP, AP50 and AP75 of detections, by pycocotools' COCOeval.

    Args:
        gt_boxes: (N, M, 4) ground-truth boxes, padded (label -1).
        gt_labels: (N, M) int class ids, -1 for padding.
        pred_boxes: (N, K, 4) detected boxes (same format).
        pred_labels: (N, K) detected class ids, -1 for none (as keras-hub's NMS pads).
        pred_scores: (N, K) confidences.
        image_shape: (height, width) of the images (for relative formats and checks).
        bounding_box_format: the boxes' `keras.utils.bounding_boxes` format.
        num_classes: if given, ground-truth class ids must be below it.

    Returns:
        ``{"AP": .., "AP50": .., "AP75": ..}``, floats in [0, 1] (0.0 when nothing is
        detected).

    Example:

    >>> import numpy as np
    >>> from keras_aw.detection import coco_metrics
    >>> gt = np.array([[[10, 10, 50, 50]]], "float32"); cls = np.array([[0]])
    >>> coco_metrics(gt, cls, gt, cls, np.array([[0.9]]), (64, 64))
    {'AP': 1.0, 'AP50': 1.0, 'AP75': 1.0}
    """
    COCO, COCOeval = require_pycocotools()
    height, width = int(image_shape[0]), int(image_shape[1])
    gt = check_targets(gt_boxes, gt_labels, bounding_box_format, height, width, num_classes,
                       name="gt_boxes")
    gt_labels = np.asarray(gt_labels)
    pred_labels = np.asarray(pred_labels)
    pred_scores = np.asarray(pred_scores, np.float64)
    pred = to_xyxy(pred_boxes, bounding_box_format, height, width)
    if pred.shape[:-1] != pred_labels.shape or pred_labels.shape != pred_scores.shape \
            or len(pred) != len(gt):
        raise ValueError(
            "predictions must be (N, K, 4) boxes with (N, K) labels and scores for the "
            f"N={len(gt)} images; received {pred.shape}, {pred_labels.shape}, "
            f"{pred_scores.shape}"
        )
    classes = sorted(set(int(c) for c in gt_labels[gt_labels >= 0])
                     | set(int(c) for c in pred_labels[pred_labels >= 0]))
    annotations = []
    for i in range(len(gt)):
        for box, label in zip(gt[i], gt_labels[i]):
            if label < 0:
                continue
            w, h = box[2] - box[0], box[3] - box[1]
            annotations.append({"id": len(annotations) + 1, "image_id": i, "category_id":
                                int(label), "bbox": [box[0], box[1], w, h], "area": w * h,
                                "iscrowd": 0})
    dataset = {"images": [{"id": i, "height": height, "width": width} for i in range(len(gt))],
               "annotations": annotations,
               "categories": [{"id": c, "name": str(c)} for c in classes]}
    results = []
    for i in range(len(pred)):
        for box, label, score in zip(pred[i], pred_labels[i], pred_scores[i]):
            if label < 0:
                continue
            results.append({"image_id": i, "category_id": int(label), "score": float(score),
                            "bbox": [box[0], box[1], box[2] - box[0], box[3] - box[1]]})
    if not results or not annotations:
        return {"AP": 0.0, "AP50": 0.0, "AP75": 0.0}
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = dataset
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(results)
        evaluator = COCOeval(coco_gt, coco_dt, "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    # rounded to 10 decimals: COCOeval's averaging leaves 0.9999999999999998 for 1
    ap, ap50, ap75 = (round(max(float(v), 0.0), 10) for v in evaluator.stats[:3])
    return {"AP": ap, "AP50": ap50, "AP75": ap75}


def check_images(model, images):
    """Raises a ValueError if `images` do not fit the detector's static input shape."""
    images = np.asarray(images)
    expected = tuple(model.inputs[0].shape[1:])
    if images.ndim != 4 or any(e is not None and e != g
                               for e, g in zip(expected, images.shape[1:])):
        raise ValueError(
            f"the detector takes images of shape (batch,) + {expected}; received images of "
            f"shape {images.shape}"
        )
    return images


def predict_detections(model, images, batch_size=16):
    """NMS detections of a keras-hub detector: dict of NumPy boxes, labels, confidence.

    Any number of images, any `batch_size` (a partial last batch included):
    keras_aw's detectors decode with `BatchNonMaxSuppression`
    (`keras_aw.detection.upstream`), which works when TensorFlow retraces
    ``predict`` with an unknown batch size. A detector that still carries
    keras-hub's own `NonMaxSuppression` (a keras_aw 0.2.0 file, a keras-hub
    RetinaNet not corrected) gets a `BatchNonMaxSuppression` with the same
    configuration in its place the first time it comes here
    (`keras_aw.detection.upstream.use_batch_nms`; `model` is changed).
    """
    images = check_images(model, images).astype("float32")
    from keras_aw.detection.upstream import use_batch_nms  # keras-hub: the model holds it

    use_batch_nms(model)
    out = model.predict(images, batch_size=batch_size, verbose=0)
    return {k: np.asarray(v) for k, v in out.items()}


def evaluate_detector(model, images, boxes, labels, batch_size=16, bounding_box_format=None):
    """COCO AP / AP50 / AP75 of a keras-hub detector on images with padded ground truth.

    Args:
        model: a `keras_hub.models.RetinaNetObjectDetector` (e.g. from `build_retinanet`).
        images: (N, H, W, 3) images, as the model was trained on.
        boxes: (N, M, 4) ground-truth boxes, -1 padded.
        labels: (N, M) class ids, -1 padded.
        batch_size: prediction batch size.
        bounding_box_format: the format of `boxes`; defaults to the model's.

    Returns:
        ``{"AP": .., "AP50": .., "AP75": ..}`` in [0, 1].
    """
    model_format = model.bounding_box_format
    images = check_images(model, images)
    height, width = images.shape[1:3]
    fmt = bounding_box_format or model_format
    gt = np.asarray(boxes, np.float32)
    if fmt != model_format:
        gt = to_xyxy(gt, fmt, height, width)
        fmt = "xyxy"
    check_targets(gt, labels, fmt, height, width, model.num_classes)
    pred = predict_detections(model, images, batch_size)
    pred_boxes = to_xyxy(pred["boxes"], model_format, height, width)
    return coco_metrics(to_xyxy(gt, fmt, height, width), labels, pred_boxes, pred["labels"],
                        pred["confidence"], (height, width), "xyxy", model.num_classes)
