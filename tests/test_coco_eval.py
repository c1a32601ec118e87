"""Streaming COCO evaluation (`CocoEvaluator`, `evaluate_coco`) against pycocotools run directly.

The reference: pycocotools' own ``COCO(instances json).loadRes(detections json)``
and ``COCOeval``, written out here, on the instances file the tiny COCO fixture
wrote (tests/tiny_coco.py) and the detections JSON the package writes.
"""

import contextlib
import io
import json

import numpy as np
import pytest

import tiny_coco
from tiny_coco import tiny_coco_dir  # noqa: F401  (the session fixture)

SIZE = 128
KEYS = ("AP", "AP50", "AP75", "APs", "APm", "APl")


def pycocotools_stats(instances_path, detections_path):
    """COCOeval's six first stats, straight from pycocotools on the two JSON files."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(instances_path))
        dt = gt.loadRes(str(detections_path))
        evaluator = COCOeval(gt, dt, "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return {k: max(float(v), 0.0) for k, v in zip(KEYS, evaluator.stats[:6])}


def write_instances(tmp_path, split="val"):
    path = tmp_path / f"instances_{split}.json"
    path.write_text(json.dumps(tiny_coco.instances(split)[0]))
    return path


def fake_detections(meta, rng):
    """Canvas detections from the ground truth: jittered, relabelled, spurious, on crowds."""
    boxes = meta["gt_boxes"] * meta["scale"][:, None, None]  # xywh on the canvas
    labels = meta["gt_labels"].copy()
    jitter = rng.normal(0, 0.12, boxes.shape) * boxes[..., 2:].repeat(2, -1)
    boxes = boxes + jitter * (labels >= 0)[..., None]
    relabel = (rng.random(labels.shape) < 0.2) & (labels >= 0)
    labels = np.where(relabel, rng.integers(0, 80, labels.shape), labels)
    spurious = rng.uniform(0, SIZE * 0.7, boxes.shape) * [1, 1, 0.4, 0.4]
    boxes = np.concatenate([boxes, spurious], 1)
    labels = np.concatenate([labels, rng.integers(0, 80, labels.shape)], 1)
    labels[:, labels.shape[1] // 2:] *= rng.random(labels[:, labels.shape[1] // 2:].shape) < 0.5
    xyxy = np.concatenate([boxes[..., :2], boxes[..., :2] + boxes[..., 2:]], -1)
    scores = rng.random(labels.shape)
    return xyxy, labels, scores


def evaluate_split(data_dir, part=None, seed=0):
    from keras_aw.datasets.coco import load_coco_evaluation
    from keras_aw.detection.evaluation import CocoEvaluator

    evaluator = CocoEvaluator()
    ds = load_coco_evaluation("validation", SIZE, max_objects=6, data_dir=data_dir, part=part)
    for _, meta in ds.batch(2).as_numpy_iterator():
        evaluator.add_ground_truth(meta)
        for k, image_id in enumerate(meta["image_id"]):  # the same detections in any part
            one = {key: value[k:k + 1] for key, value in meta.items()}
            boxes, labels, scores = fake_detections(one, np.random.default_rng([seed, image_id]))
            evaluator.add_detections(one["image_id"], boxes, labels, scores, one["scale"],
                                     "xyxy")
    return evaluator


@pytest.mark.backend_independent
def test_ap_equals_pycocotools_on_written_detections(tiny_coco_dir, tmp_path):
    evaluator = evaluate_split(tiny_coco_dir)
    result = evaluator.result()
    path = evaluator.write_detections(tmp_path / "detections.json")
    expected = pycocotools_stats(write_instances(tmp_path), path)
    assert result == pytest.approx(expected, abs=1e-9)
    assert 0.05 < result["AP"] < 0.95 and 0.05 < result["AP50"] < 1
    # COCOeval over a few categories at a time: the same averages
    for per_pass in (None, 1, 7):
        assert evaluator.result(categories_per_pass=per_pass) == pytest.approx(result, abs=1e-9)
    with pytest.raises(ValueError, match="categories_per_pass"):
        evaluator.result(categories_per_pass=0)
    written = json.loads(path.read_text())
    categories = {c for c, _ in tiny_coco.CATEGORIES}
    assert written and all(d["category_id"] in categories for d in written)
    images = {i["id"]: i for i in tiny_coco.instances("val")[0]["images"]}
    for d in written:  # clipped to the original image
        x, y, w, h = d["bbox"]
        info = images[d["image_id"]]
        assert 0 <= x and 0 <= y and x + w <= info["width"] + 1e-6 \
            and y + h <= info["height"] + 1e-6 and w > 0 and h > 0


@pytest.mark.backend_independent
def test_merged_parts_equal_the_whole(tiny_coco_dir):
    from keras_aw.detection.evaluation import CocoEvaluator

    whole = evaluate_split(tiny_coco_dir).result()
    first = evaluate_split(tiny_coco_dir, part=(2, 0))
    second = CocoEvaluator.from_json(evaluate_split(tiny_coco_dir, part=(2, 1)).to_json())
    assert first.num_images + second.num_images == tiny_coco.COUNTS["val"]
    assert first.merge(second).result() == whole
    with pytest.raises(ValueError, match="in both evaluators"):
        first.merge(evaluate_split(tiny_coco_dir, part=(2, 1)))


def _one_image(evaluator, crowd):
    evaluator.add_ground_truth({
        "image_id": np.array([7]), "height": np.array([100]), "width": np.array([120]),
        "gt_boxes": np.array([[[10, 10, 30, 30], [50, 50, 40, 40], [-1, -1, -1, -1]]], float),
        "gt_labels": np.array([[0, 0, -1]]), "gt_is_crowd": np.array([[0, crowd, 0]]),
        "gt_area": np.array([[900.0, 1600.0, 0.0]])})


@pytest.mark.backend_independent
def test_detection_on_a_crowd_region_is_ignored(tmp_path):
    from keras_aw.detection.evaluation import CocoEvaluator

    # a true detection (score .5) and a higher-scored one inside the crowd region
    boxes = np.array([[[10, 10, 40, 40], [60, 60, 80, 80]]], float)
    labels, scores = np.array([[0, 0]]), np.array([[0.5, 0.9]])
    evaluator = CocoEvaluator()
    _one_image(evaluator, crowd=1)
    evaluator.add_detections([7], boxes, labels, scores, [1.0], "xyxy")
    result = evaluator.result()
    assert result["AP50"] == 1.0 and result["AP"] == 1.0  # the crowd detection counts for nothing
    gt = {"images": [{"id": 7, "height": 100, "width": 120}],
          "categories": [{"id": 1, "name": "person"}],
          "annotations": [{"id": 1, "image_id": 7, "category_id": 1, "bbox": [10, 10, 30, 30],
                           "area": 900, "iscrowd": 0},
                          {"id": 2, "image_id": 7, "category_id": 1, "bbox": [50, 50, 40, 40],
                           "area": 1600, "iscrowd": 1}]}
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    evaluator.write_detections(tmp_path / "dt.json")
    assert pycocotools_stats(tmp_path / "gt.json", tmp_path / "dt.json") == \
        pytest.approx(result, abs=1e-9)
    # the same detection where nothing is annotated is a false positive ranked first
    control = CocoEvaluator()
    control.add_ground_truth({
        "image_id": np.array([7]), "height": np.array([100]), "width": np.array([120]),
        "gt_boxes": np.array([[[10, 10, 30, 30]]], float), "gt_labels": np.array([[0]])})
    control.add_detections([7], boxes, labels, scores, [1.0], "xyxy")
    assert control.result()["AP50"] == pytest.approx(0.5, abs=0.01)


@pytest.mark.backend_independent
def test_boxes_mapped_back_by_the_scale_and_clipped(tmp_path):
    from keras_aw.detection.evaluation import CocoEvaluator

    evaluator = CocoEvaluator()
    _one_image(evaluator, crowd=0)
    canvas = np.array([[[20, 40, 100, 60], [0.5, 0.25, 0.75, 2.0]]])  # yxyx; rel_yxyx
    evaluator.add_detections([7], canvas[:, :1] * 1.0, [[3]], [[0.7]], [2.0], "yxyx")
    evaluator.add_detections([7], canvas[:, 1:], [[79]], [[0.6]], [2.0], "rel_yxyx",
                             canvas=(200, 240))
    path = evaluator.write_detections(tmp_path / "dt.json")
    written = json.loads(path.read_text())
    # yxyx (20, 40, 100, 60) / 2 -> x 20..30, y 10..50
    assert written[0] == {"image_id": 7, "category_id": 4, "bbox": [20.0, 10.0, 10.0, 40.0],
                          "score": 0.7}
    # rel (0.5, 0.25, 0.75, 2.0) on 200x240 -> y 100..150, x 60..480 -> /2, x clipped at 120
    assert written[1]["bbox"] == [30.0, 50.0, 90.0, 25.0] and written[1]["category_id"] == 90
    with pytest.raises(ValueError, match="canvas"):
        evaluator.add_detections([7], canvas[:, 1:], [[0]], [[0.6]], [2.0], "rel_yxyx")


@pytest.mark.backend_independent
def test_evaluator_refuses_bad_input():
    from keras_aw.detection.evaluation import CocoEvaluator

    evaluator = CocoEvaluator()
    with pytest.raises(ValueError, match="image_id 3 has no ground truth"):
        evaluator.add_detections([3], np.zeros((1, 1, 4)), [[0]], [[1.0]], [1.0], "xyxy")
    _one_image(evaluator, crowd=0)
    with pytest.raises(ValueError, match="was added already"):
        _one_image(evaluator, crowd=0)
    with pytest.raises(ValueError, match="num_classes=80"):
        evaluator.add_detections([7], np.ones((1, 1, 4)), [[80]], [[1.0]], [1.0], "xyxy")
    with pytest.raises(ValueError, match="max_objects=1"):
        CocoEvaluator().add_ground_truth({
            "image_id": np.array([1]), "height": np.array([10]), "width": np.array([10]),
            "gt_boxes": np.zeros((1, 1, 4)), "gt_labels": np.zeros((1, 1)),
            "num_objects": np.array([2])})
    with pytest.raises(ValueError, match="one id per class"):
        CocoEvaluator(num_classes=3)
    with pytest.raises(TypeError, match="CocoEvaluator"):
        evaluator.merge({})
    assert CocoEvaluator().result() == dict.fromkeys(KEYS, 0.0)


def test_evaluate_coco_streams_a_detector(tiny_coco_dir, tmp_path):
    """A real (untrained) detector through evaluate_coco: written detections are its
    canvas boxes / scale, clipped; the AP is pycocotools' on them."""
    import keras

    from detection_helpers import small_detector
    from keras_aw.datasets.coco import load_coco_evaluation
    from keras_aw.detection.evaluation import evaluate_coco, predict_detections

    model = small_detector(num_classes=80, image_shape=(64, 64, 3), bounding_box_format="xyxy",
                           confidence_threshold=0.0, max_detections=20)
    keras.utils.set_random_seed(1)
    ds = load_coco_evaluation("validation", 64, max_objects=6, data_dir=tiny_coco_dir)
    evaluator = evaluate_coco(model, ds, batch_size=2)
    assert evaluator.num_images == tiny_coco.COUNTS["val"]
    path = evaluator.write_detections(tmp_path / "dt.json")
    assert evaluator.result() == pytest.approx(
        pycocotools_stats(write_instances(tmp_path), path), abs=1e-9)
    # the mapping, in NumPy: the detector's own predictions on the canvas
    images, metas = zip(*ds.as_numpy_iterator())
    pred = predict_detections(model, np.stack(images))
    expected = []
    for k, meta in enumerate(metas):
        for box, label, score in zip(pred["boxes"][k], pred["labels"][k], pred["confidence"][k]):
            if label < 0:
                continue
            x0, y0, x1, y1 = np.clip(np.asarray(box, float) / float(meta["scale"]), 0,
                                     [meta["width"], meta["height"]] * 2)
            if x1 > x0 and y1 > y0:
                expected.append((int(meta["image_id"]), x0, y0, x1 - x0, y1 - y0, score))
    written = json.loads(path.read_text())
    assert len(written) == len(expected) > 0
    got = sorted((d["image_id"], *d["bbox"], d["score"]) for d in written)
    np.testing.assert_allclose(np.array(got), np.array(sorted(expected)), rtol=1e-4, atol=1e-3)
