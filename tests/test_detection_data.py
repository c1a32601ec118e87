"""Shapes-Detect, the tfds coco/2017 pipeline, and COCO AP on hand-made cases of known AP."""

import os

import numpy as np
import pytest

from keras_aw.datasets import shapes

pytestmark = pytest.mark.backend_independent


# --------------------------------------------------------------------------- Shapes-Detect


def test_detection_data_format_and_determinism():
    (x, y), (xt, yt) = shapes.load_detection_data(num_train=12, num_test=6, image_size=64,
                                                  min_size=12, max_size=32, seed=3)
    assert x.shape == (12, 64, 64, 3) and x.dtype == np.uint8
    assert y["boxes"].shape == (12, 4, 4) and y["boxes"].dtype == np.float32
    assert y["labels"].shape == (12, 4) and y["labels"].dtype == np.int32
    real = y["labels"] >= 0
    assert real[:, 0].all()  # at least one object per image
    assert (~real).any() and real.sum(1).max() > 1  # varied counts
    assert np.all(y["boxes"][~real] == -1)
    b = y["boxes"][real]
    assert np.all(b[:, 2] > b[:, 0]) and np.all(b[:, 3] > b[:, 1])
    assert b.min() >= 0 and b.max() <= 64
    sizes = np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])
    assert sizes.max() - sizes.min() > 5  # varied sizes
    assert set(y["labels"][real]) <= set(range(shapes.NUM_CLASSES))
    (x2, y2), (xt2, _) = shapes.load_detection_data(num_train=12, num_test=6, image_size=64,
                                                    min_size=12, max_size=32, seed=3)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y["boxes"], y2["boxes"])
    # the test split does not depend on the training size
    _, (xt3, yt3) = shapes.load_detection_data(num_train=3, num_test=6, image_size=64,
                                               min_size=12, max_size=32, seed=3)
    np.testing.assert_array_equal(xt, xt3)
    np.testing.assert_array_equal(yt["labels"], yt3["labels"])
    assert not np.array_equal(x[:6], xt)


def test_detection_boxes_are_proper_parts_of_the_image():
    """Every box covers part, never all, of its image."""
    (x, y), _ = shapes.load_detection_data(num_train=4, num_test=0, image_size=64, seed=5,
                                           min_size=12, max_size=32)
    for i in range(4):
        inside = np.zeros((64, 64), bool)
        for box, label in zip(y["boxes"][i], y["labels"][i]):
            if label >= 0:
                y0, x0, y1, x1 = box.astype(int)
                inside[y0:y1, x0:x1] = True
        assert inside.any() and not inside.all()


def test_detection_box_formats():
    (_, y), _ = shapes.load_detection_data(num_train=5, num_test=0, image_size=64, seed=1,
                                           min_size=12, max_size=32)
    (_, yx), _ = shapes.load_detection_data(num_train=5, num_test=0, image_size=64, seed=1,
                                            min_size=12, max_size=32,
                                            bounding_box_format="xywh")
    real = y["labels"] >= 0
    a, b = y["boxes"][real], yx["boxes"][real]
    np.testing.assert_allclose(b, np.stack([a[:, 1], a[:, 0], a[:, 3] - a[:, 1],
                                            a[:, 2] - a[:, 0]], -1), atol=1e-4)
    assert np.all(yx["boxes"][~real] == -1)


@pytest.mark.parametrize("kwargs, message", [
    (dict(bounding_box_format="ltrb"), "bounding_box_format='ltrb'"),
    (dict(seed=-1), "seed=-1"),
    (dict(min_size=40, max_size=20), "min_size=40, max_size=20"),
    (dict(image_size=8), "image_size=8"),
])
def test_detection_data_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        shapes.load_detection_data(num_train=1, num_test=1, **kwargs)


# --------------------------------------------------------------------------- COCO AP

GT = np.array([[[10, 10, 40, 40], [20, 45, 60, 60], [-1, -1, -1, -1]],
               [[5, 5, 30, 50], [-1, -1, -1, -1], [-1, -1, -1, -1]]], "float32")
GT_LABELS = np.array([[0, 2, -1], [1, -1, -1]])


def metrics(boxes, labels, scores, gt=GT, gt_labels=GT_LABELS, fmt="yxyx"):
    from keras_aw.detection import coco_metrics

    return coco_metrics(gt, gt_labels, boxes, labels, scores, (64, 64), fmt)


def test_coco_perfect_predictions():
    scores = np.where(GT_LABELS >= 0, 0.9, 0.0)
    assert metrics(GT, GT_LABELS, scores) == {"AP": 1.0, "AP50": 1.0, "AP75": 1.0}


def test_coco_other_box_format():
    xyxy = GT[..., [1, 0, 3, 2]]
    scores = np.where(GT_LABELS >= 0, 0.9, 0.0)
    assert metrics(xyxy, GT_LABELS, scores, gt=xyxy, fmt="xyxy")["AP"] == 1.0


def test_coco_shifted_box():
    """One object, one detection with IoU 0.625: matched at thresholds .50, .55, .60 only."""
    gt = np.array([[[0, 0, 40, 40]]], "float32")
    shifted = np.array([[[0, 9.23, 40, 49.23]]], "float32")  # IoU = 0.625
    m = metrics(shifted, [[0]], [[0.8]], gt=gt, gt_labels=np.array([[0]]))
    assert m["AP50"] == 1.0 and m["AP75"] == 0.0
    assert m["AP"] == pytest.approx(0.3, abs=1e-9)


def test_coco_missing_detection():
    """Two objects of one class, one found: recall 0.5 -> 51 of COCO's 101 recall points."""
    gt = np.array([[[0, 0, 20, 20], [30, 30, 60, 60]]], "float32")
    m = metrics(gt[:, :1], [[0]], [[0.9]], gt=gt, gt_labels=np.array([[0, 0]]))
    assert m["AP"] == pytest.approx(51 / 101, abs=1e-9)
    assert m["AP50"] == m["AP75"] == m["AP"]


def test_coco_false_positive_ranked_first():
    """A false positive scored above the true one: precision 0.5 at every recall."""
    gt = np.array([[[0, 0, 20, 20]]], "float32")
    pred = np.array([[[40, 40, 60, 60], [0, 0, 20, 20]]], "float32")
    m = metrics(pred, [[0, 0]], [[0.9, 0.8]], gt=gt, gt_labels=np.array([[0]]))
    assert m["AP"] == pytest.approx(0.5, abs=1e-9)
    # ranked below the true positive it costs nothing
    m = metrics(pred, [[0, 0]], [[0.7, 0.8]], gt=gt, gt_labels=np.array([[0]]))
    assert m["AP"] == pytest.approx(1.0)


def test_coco_wrong_class_and_no_detection():
    scores = np.where(GT_LABELS >= 0, 0.9, 0.0)
    wrong = np.where(GT_LABELS >= 0, (GT_LABELS + 1) % 3, -1)
    assert metrics(GT, wrong, scores)["AP"] == 0.0
    assert metrics(GT, np.full_like(GT_LABELS, -1), scores) == \
        {"AP": 0.0, "AP50": 0.0, "AP75": 0.0}


@pytest.mark.parametrize("boxes, labels, message", [
    ([[[10, 10, 5, 40]]], [[0]], "negative size"),
    ([[[10, 10, 40, 80]]], [[0]], "outside the 64x64 image"),
    ([[[10, 10, 40, 40]]], [[7]], "class id 7 >= num_classes=3"),
])
def test_coco_bad_targets(boxes, labels, message):
    from keras_aw.detection import coco_metrics

    with pytest.raises(ValueError, match=message):
        coco_metrics(np.array(boxes, "float32"), np.array(labels), np.zeros((1, 1, 4)),
                     [[-1]], [[0.0]], (64, 64), "yxyx", num_classes=3)


def test_coco_unknown_format():
    from keras_aw.detection import coco_metrics

    with pytest.raises(ValueError, match="bounding_box_format='ltrb'"):
        coco_metrics(GT, GT_LABELS, GT, GT_LABELS, np.ones((2, 3)), (64, 64), "ltrb")


def test_plot_detections(tmp_path):
    from keras_aw_tools.plots import plot_detections

    output = str(tmp_path / "det.png")
    # GT[0] as xyxy: the same drawing as yxyx, coordinates swapped
    boxes = np.asarray(GT[0])[:, [1, 0, 3, 2]]
    fig = plot_detections(np.zeros((64, 64, 3), np.uint8), boxes, GT_LABELS[0],
                          [0.9, 0.2, 0.0], shapes.CLASS_NAMES, "xyxy", output=output)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == ["circle 0.90"]  # the 0.2 box is below the threshold, -1 is padding
    (patch,) = fig.axes[0].patches
    y0, x0, y1, x1 = np.asarray(GT[0][0], float)
    assert patch.get_xy() == (x0, y0) and patch.get_width() == x1 - x0
    assert os.path.getsize(output) > 0
    with pytest.raises(ValueError, match="bounding_box_format='ltrb'"):
        plot_detections(np.zeros((64, 64, 3)), boxes, GT_LABELS[0], None, None, "ltrb")
    with pytest.raises(ValueError, match=r"boxes.shape=\(3, 3\)"):
        plot_detections(np.zeros((64, 64, 3)), boxes[:, :3], GT_LABELS[0], None, None, "xyxy")


# --------------------------------------------------------------------------- tfds coco/2017


def test_coco_pipeline_with_mock_data():
    import tensorflow_datasets as tfds

    from keras_aw.datasets.coco import load_coco

    with tfds.testing.mock_data(num_examples=3):
        ds = load_coco("validation", image_size=96, max_objects=5, bounding_box_format="xyxy")
        raw = tfds.load("coco/2017", split="validation")
        pairs = list(zip(ds.as_numpy_iterator(), raw.as_numpy_iterator()))
    assert len(pairs) == 3
    for (image, target), example in pairs:
        assert image.shape == (96, 96, 3) and image.dtype == np.float32
        assert target["boxes"].shape == (5, 4) and target["labels"].shape == (5,)
        h, w = example["image"].shape[:2]
        scale = 96 / max(h, w)
        objects = example["objects"]
        m = min(len(objects[k]) for k in ("bbox", "label", "is_crowd"))
        keep = ~objects["is_crowd"][:m].astype(bool)
        rel = objects["bbox"][:m][keep][:5]
        n = len(rel)
        expected = rel[:, [1, 0, 3, 2]] * np.array([w, h, w, h]) * scale
        np.testing.assert_allclose(target["boxes"][:n], expected, rtol=1e-5, atol=1e-3)
        np.testing.assert_array_equal(target["labels"][:n], objects["label"][:m][keep][:5])
        assert np.all(target["labels"][n:] == -1) and np.all(target["boxes"][n:] == -1)
        # padding region is zero
        assert np.all(image[int(np.ceil(h * scale)) + 1:] == 0)
