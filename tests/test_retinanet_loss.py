"""keras_aw's RetinaNet loss (`keras_aw.detection.upstream.detectron2_loss`) against Detectron2.

The reference is Detectron2's RetinaNet loss written out in NumPy from
detectron2/modeling/meta_arch/retinanet.py and modeling/matcher.py (IoU
thresholds 0.4 / 0.5 with the band between ignored, low-quality matches
allowed, Box2BoxTransform with weights (1, 1, 1, 1), sigmoid focal loss
alpha 0.25 gamma 2 summed, smooth-L1 beta 0.1 summed, both divided by the
number of foreground anchors), with the normalizer the batch's own count
(the one difference the package keeps: see the module's docstring). It
reads the detector's anchors (keras-hub's AnchorGenerator) and nothing else
of the code under test. keras-hub 0.32's own loss fails the same check.
"""

import keras
import numpy as np
import pytest

from detection_helpers import small_detector

pytest.importorskip("keras_hub")

from keras_aw.detection.upstream import (  # noqa: E402
    Detectron2LabelEncoder, SigmoidFocalLoss, SmoothL1Loss, detectron2_loss)

NUM_CLASSES = 3
# yxyx pixels on 64x64 images: a 20x20 box (IoU >= 0.5 with some anchors), a 5x5 box
# (no anchor reaches 0.4: only Detectron2's low-quality match makes it foreground),
# a 30x12 box; the second image has one box and padding.
GT_BOXES = np.array([[[10, 12, 30, 32], [40, 44, 45, 49], [2, 30, 32, 42]],
                     [[20, 20, 44, 40], [-1, -1, -1, -1], [-1, -1, -1, -1]]], "float32")
GT_LABELS = np.array([[0, 2, 1], [1, -1, -1]], "float32")


def _iou(a, b):
    """IoU of yxyx boxes a (N, 4) and b (M, 4): (N, M)."""
    top = np.maximum(a[:, None, 0], b[None, :, 0])
    left = np.maximum(a[:, None, 1], b[None, :, 1])
    bottom = np.minimum(a[:, None, 2], b[None, :, 2])
    right = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(bottom - top, 0, None) * np.clip(right - left, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / (area_a[:, None] + area_b[None, :] - inter)


def _deltas(anchors, boxes):
    """Box2BoxTransform(weights=(1, 1, 1, 1)).get_deltas, yxyx in, (dx, dy, dw, dh) out."""
    def center(b):
        h, w = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
        return b[:, 1] + 0.5 * w, b[:, 0] + 0.5 * h, w, h
    ax, ay, aw, ah = center(anchors)
    gx, gy, gw, gh = center(boxes)
    return np.stack([(gx - ax) / aw, (gy - ay) / ah, np.log(gw / aw), np.log(gh / ah)], -1)


def detectron2_reference(anchors, gt_boxes, gt_labels, cls_logits, box_pred, alpha=0.25,
                         gamma=2.0, beta=0.1):
    """Detectron2 RetinaNet's loss_cls + loss_box_reg for one batch, in float64."""
    cls_sum = box_sum = 0.0
    num_fg = 0
    for i in range(len(gt_boxes)):
        keep = gt_labels[i] >= 0
        boxes, labels = gt_boxes[i][keep], gt_labels[i][keep].astype(int)
        iou = _iou(boxes, anchors)  # (G, A): Detectron2's match_quality_matrix
        matched = iou.argmax(0)
        best = iou.max(0)
        match_labels = np.where(best < 0.4, 0, np.where(best < 0.5, -1, 1))
        for g in range(len(boxes)):  # set_low_quality_matches_
            match_labels[iou[g] == iou[g].max()] = 1
        classes = labels[matched]
        classes[match_labels == 0] = NUM_CLASSES
        classes[match_labels == -1] = -1
        valid = classes >= 0
        fg = valid & (classes != NUM_CLASSES)
        num_fg += fg.sum()
        target = np.eye(NUM_CLASSES + 1)[classes[valid]][:, :-1]
        x = cls_logits[i][valid].astype(np.float64)
        p = 1 / (1 + np.exp(-x))
        ce = np.maximum(x, 0) - x * target + np.log1p(np.exp(-np.abs(x)))
        p_t = p * target + (1 - p) * (1 - target)
        a_t = alpha * target + (1 - alpha) * (1 - target)
        cls_sum += (a_t * ce * (1 - p_t) ** gamma).sum()
        d = np.abs(box_pred[i][fg].astype(np.float64) - _deltas(anchors[fg], boxes[matched[fg]]))
        box_sum += np.where(d < beta, 0.5 * d ** 2 / beta, d - 0.5 * beta).sum()
    normalizer = max(num_fg, 1)
    return cls_sum / normalizer + box_sum / normalizer, num_fg


def _batch(detector, seed=0):
    x = np.zeros((2, 64, 64, 3), "float32")
    anchors = keras.ops.convert_to_numpy(keras.ops.concatenate(
        list(detector.anchor_generator(x).values()), axis=0)).astype(np.float64)
    assert detector.anchor_generator.bounding_box_format == "yxyx"
    rng = np.random.default_rng(seed)
    y_pred = {"bbox_regression": rng.normal(0, 0.3, (2, len(anchors), 4)).astype("float32"),
              "cls_logits": rng.normal(-2.5, 1.5, (2, len(anchors), NUM_CLASSES))
              .astype("float32")}
    return x, anchors, y_pred


def _model_loss(detector, x, y_pred):
    y = {"boxes": GT_BOXES, "labels": GT_LABELS}
    return float(keras.ops.convert_to_numpy(detector.compute_loss(
        x=x, y=y, y_pred=y_pred, sample_weight=None)))


def _check_detectron2(detector):
    x, anchors, y_pred = _batch(detector)
    expected, num_fg = detectron2_reference(anchors, GT_BOXES, GT_LABELS,
                                            y_pred["cls_logits"], y_pred["bbox_regression"])
    assert num_fg > 3  # the boxes match several anchors: the normalizer is not trivial
    np.testing.assert_allclose(_model_loss(detector, x, y_pred), expected, rtol=1e-4)


def test_corrected_loss_equals_detectron2_formula():
    detector = small_detector(num_classes=NUM_CLASSES)
    detector.compile(optimizer="sgd", **detectron2_loss(detector))
    _check_detectron2(detector)


def test_keras_hub_own_loss_fails_the_detectron2_check():
    detector = small_detector(num_classes=NUM_CLASSES)
    detector.compile(optimizer="sgd")  # keras-hub's defaults: Huber, unbalanced focal, means
    with pytest.raises(AssertionError):
        _check_detectron2(detector)


@pytest.mark.parametrize("deviation", ["matching", "box", "classification"])
def test_each_keras_hub_deviation_alone_fails(deviation):
    """Each correction is needed: undo one, the check fails."""
    detector = small_detector(num_classes=NUM_CLASSES)
    losses = detectron2_loss(detector)
    if deviation == "matching":
        config = detector.label_encoder.get_config()
        config["anchor_generator"] = detector.label_encoder.anchor_generator
        config["allow_low_quality_matches"] = False
        detector.label_encoder = Detectron2LabelEncoder(**config)
    elif deviation == "box":
        losses["box_loss"] = keras.losses.Huber(reduction="sum")
    else:
        losses["classification_loss"] = keras.losses.BinaryFocalCrossentropy(
            from_logits=True, reduction="sum")
    detector.compile(optimizer="sgd", **losses)
    with pytest.raises(AssertionError):
        _check_detectron2(detector)


def test_losses_per_anchor_equal_formula():
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 2, (5, 4)).astype("float32")
    target = (rng.random((5, 4)) < 0.3).astype("float32")
    p = 1 / (1 + np.exp(-logits.astype(np.float64)))
    ce = -(target * np.log(p) + (1 - target) * np.log(1 - p))
    p_t = np.where(target == 1, p, 1 - p)
    expected = (np.where(target == 1, 0.25, 0.75) * ce * (1 - p_t) ** 2).sum(-1)
    got = keras.ops.convert_to_numpy(SigmoidFocalLoss(reduction=None)(target, logits))
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    d = np.array([[0.05, -0.3, 0.0, 1.5]], "float32")
    got = keras.ops.convert_to_numpy(SmoothL1Loss(0.1, reduction=None)(np.zeros_like(d), d))
    np.testing.assert_allclose(got, [0.5 * 0.05 ** 2 / 0.1 + 0.25 + 0 + 1.45], rtol=1e-5)
    got = keras.ops.convert_to_numpy(SmoothL1Loss(0.0, reduction=None)(np.zeros_like(d), d))
    np.testing.assert_allclose(got, [1.85], rtol=1e-6)
    with pytest.raises(ValueError, match="beta"):
        SmoothL1Loss(-1.0)


def test_corrected_detector_round_trips(tmp_path):
    detector = small_detector(num_classes=NUM_CLASSES)
    detector.compile(optimizer="sgd", **detectron2_loss(detector))
    path = tmp_path / "d.keras"
    detector.save(path)
    again = keras.saving.load_model(path)
    assert isinstance(again.label_encoder, Detectron2LabelEncoder)
    assert again.label_encoder.allow_low_quality_matches
    # the saved compile comes back (FPNRetinaNetObjectDetector.compile_from_config), not
    # the keras-hub defaults its constructor compiles with
    assert type(again.optimizer).__name__ == "SGD"
    _check_detectron2(again)
