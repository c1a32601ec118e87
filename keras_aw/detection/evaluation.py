"""COCO AP of a detector's predictions (pycocotools, Table 2's metric).

- `CocoEvaluator`: streaming COCO evaluation of a split (fed batch by batch,
  holds no image; parts of several processes merge), AP, AP50, AP75, APs,
  APm, APl by pycocotools' `COCOeval` (the official evaluator), with COCO's
  crowd regions; `evaluate_coco` feeds it from a detector and
  `keras_aw.datasets.coco.load_coco_evaluation`.
- `coco_metrics`: AP (mAP@[.5:.95]), AP50, AP75 of detections against padded
  ground truth (in-memory arrays, one image size; a `CocoEvaluator` inside).
- `evaluate_detector`: predicts with a keras-hub detector, then `coco_metrics`.
- `predict_detections`: NMS detections of a detector as NumPy arrays.

Drawing detections is `keras_aw_tools.plots.plot_detections` (the tooling).

Values are COCOeval's fractions in [0, 1] (the paper prints them x100).
Targets use keras-hub's padded format: ``boxes`` (N, M, 4), ``labels`` (N, M),
rows with label -1 are padding.
"""

import contextlib
import io
import json

import numpy as np

from keras_aw._validation import check_choice, check_positive_int
from keras_aw.detection._hub import require_pycocotools
from keras_aw.utils.boxes import convert_boxes
from keras_aw.vocabulary import BOX_FORMATS, COCO_CATEGORY_IDS, DEFAULT_BOX_FORMAT

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
    """COCO AP, AP50 and AP75 of detections, by pycocotools' COCOeval (a `CocoEvaluator`).

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
    evaluator = CocoEvaluator(num_classes=None, category_ids=None)
    n = len(gt)
    xywh = np.concatenate([gt[..., :2], gt[..., 2:] - gt[..., :2]], axis=-1)
    evaluator.add_ground_truth({
        "image_id": np.arange(n), "height": np.full(n, height), "width": np.full(n, width),
        "gt_boxes": xywh, "gt_labels": gt_labels,
        "gt_is_crowd": np.zeros(gt_labels.shape, np.int32),
        "gt_area": xywh[..., 2] * xywh[..., 3]})
    evaluator.add_detections(np.arange(n), pred, pred_labels, pred_scores, np.ones(n), "xyxy",
                             clip=False)
    metrics = evaluator.result()
    return {k: metrics[k] for k in ("AP", "AP50", "AP75")}


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


# --------------------------------------------------------------------------- streaming COCO

#: The metrics `CocoEvaluator.result` reports: COCOeval's stats[0:6].
COCO_METRICS = ("AP", "AP50", "AP75", "APs", "APm", "APl")


def _as_int_list(values, name):
    values = np.asarray(values)
    if values.ndim != 1:
        raise ValueError(f"`{name}` must be one value per image; received shape {values.shape}")
    return [int(v) for v in values]


class CocoEvaluator:
    """COCO box AP over a split, fed batch by batch; holds no image.

    It keeps, per image, its id and original size, its ground truth (original
    pixels, COCO's crowd flags and areas) and the detections mapped back to the
    original image: a few numbers per object, so memory grows with the
    annotations and detections, never with the pixels. `result` runs pycocotools'
    `COCOeval` ("bbox") once over all of it: crowd regions stay in the ground
    truth with ``iscrowd=1``, so a detection COCOeval matches to one is ignored
    (neither a true nor a false positive), as in COCO's own evaluation.

    Args:
        num_classes: the detector's classes (labels must be below it); None: any.
        category_ids: COCO's category id of each label (label i -> category_ids[i]);
            the default is tfds' coco/2017 table (`keras_aw.vocabulary.COCO_CATEGORY_IDS`).
            None: a label is its own category id.

    Example (``evaluate_coco`` feeds it from `keras_aw.datasets.coco.load_coco_evaluation`)::

        evaluator = evaluate_coco(detector, load_coco_evaluation("validation"), 8)
        evaluator.write_detections("detections.json")
        evaluator.result()  # {"AP": .., "AP50": .., "AP75": .., "APs": .., "APm": .., "APl": ..}
    """

    def __init__(self, num_classes=80, category_ids=COCO_CATEGORY_IDS):
        if category_ids is not None:
            category_ids = tuple(int(c) for c in category_ids)
            if num_classes is not None and len(category_ids) != num_classes:
                raise ValueError(
                    f"`category_ids` must have one id per class; received {len(category_ids)} "
                    f"ids for num_classes={num_classes}"
                )
            num_classes = len(category_ids)
        if num_classes is not None and (not isinstance(num_classes, int) or num_classes < 1):
            raise ValueError(f"`num_classes` must be a positive int or None; received "
                             f"num_classes={num_classes!r}")
        self.num_classes = num_classes
        self.category_ids = category_ids
        self._images = {}  # image id -> (height, width)
        self._ground_truth = []  # (n, 8): image id, x, y, w, h, category id, iscrowd, area
        self._detections = []  # (n, 7): image id, x, y, w, h, score, category id

    # ------------------------------------------------------------------ feeding
    def _categories(self, labels, name):
        labels = np.asarray(labels).astype(np.int64)
        if np.any(labels < 0):
            raise ValueError(f"`{name}` must be >= 0 (-1 pads); received {int(labels.min())}")
        if self.num_classes is not None and np.any(labels >= self.num_classes):
            raise ValueError(f"`{name}` has class {int(labels.max())} >= num_classes="
                             f"{self.num_classes}")
        if self.category_ids is None:
            return labels
        return np.asarray(self.category_ids, np.int64)[labels]

    def add_ground_truth(self, meta):
        """Adds a batch of `load_coco_evaluation`'s meta (NumPy, batched).

        Uses "image_id", "height", "width", "gt_boxes" (xywh, original pixels),
        "gt_labels" (-1 pads), and where present "gt_is_crowd", "gt_area" (else
        w * h) and "num_objects" (refused if above the padded size: the ground
        truth was cut).
        """
        ids = _as_int_list(meta["image_id"], "image_id")
        heights = _as_int_list(meta["height"], "height")
        widths = _as_int_list(meta["width"], "width")
        boxes = np.asarray(meta["gt_boxes"], np.float64)
        labels = np.asarray(meta["gt_labels"])
        if boxes.shape != labels.shape + (4,) or len(labels) != len(ids):
            raise ValueError(f"`gt_boxes` must be (images, M, 4) with `gt_labels` (images, M); "
                             f"received {boxes.shape} and {labels.shape} for {len(ids)} images")
        if "num_objects" in meta and np.any(np.asarray(meta["num_objects"]) > labels.shape[1]):
            raise ValueError(f"an image has {int(np.max(meta['num_objects']))} annotations, "
                             f"more than max_objects={labels.shape[1]} (the ground truth was "
                             "cut): load the split with a larger `max_objects`")
        crowd = np.asarray(meta.get("gt_is_crowd", np.zeros(labels.shape)), np.float64)
        area = np.asarray(meta["gt_area"], np.float64) if "gt_area" in meta \
            else boxes[..., 2] * boxes[..., 3]
        seen = [i for i in ids if i in self._images] + \
            [i for k, i in enumerate(ids) if i in ids[:k]]
        if seen:
            raise ValueError(f"image_id {seen[0]} was added already (parts must be disjoint)")
        self._images.update((i, (h, w)) for i, h, w in zip(ids, heights, widths))
        valid = labels >= 0
        image = np.broadcast_to(np.asarray(ids, np.float64)[:, None], labels.shape)[valid]
        rows = np.column_stack([image, boxes[valid], self._categories(labels[valid],
                                "gt_labels"), crowd[valid], area[valid]])
        self._ground_truth.append(rows.reshape(-1, 8))

    def add_detections(self, image_ids, boxes, labels, scores, scales,
                       bounding_box_format=DEFAULT_BOX_FORMAT, canvas=None, clip=True):
        """Adds a batch of detections on the canvas, mapped back to the original images.

        Args:
            image_ids: (B,) the images' ids (their ground truth added before).
            boxes: (B, K, 4) detected boxes on the canvas, in `bounding_box_format`.
            labels: (B, K) class ids, -1 for none (as the NMS pads).
            scores: (B, K) confidences.
            scales: (B,) canvas pixels per original pixel (meta's "scale"): boxes are
                divided by it.
            bounding_box_format: the boxes' format.
            canvas: (height, width) of the canvas (or its side): needed by "rel_" formats.
            clip: clip the boxes to the original image and drop those left empty (as
                Detectron2's postprocessing does).
        """
        _check_format(bounding_box_format)
        ids = _as_int_list(image_ids, "image_ids")
        labels = np.asarray(labels)
        scores = np.asarray(scores, np.float64)
        scales = np.asarray(scales, np.float64).reshape(-1)
        boxes = np.asarray(boxes, np.float64)
        if boxes.shape != labels.shape + (4,) or scores.shape != labels.shape \
                or len(labels) != len(ids) or len(scales) != len(ids):
            raise ValueError(f"detections must be (B, K, 4) boxes with (B, K) labels and "
                             f"scores and (B,) scales for the B={len(ids)} images; received "
                             f"{boxes.shape}, {labels.shape}, {scores.shape}, {scales.shape}")
        if bounding_box_format.startswith("rel") and canvas is None:
            raise ValueError(f"bounding_box_format={bounding_box_format!r} is relative: give "
                             "the canvas size (`canvas`)")
        missing = [i for i in ids if i not in self._images]
        if missing:
            raise ValueError(f"image_id {missing[0]} has no ground truth: add_ground_truth first")
        height, width = (canvas, canvas) if np.ndim(canvas) == 0 else canvas
        xyxy = to_xyxy(boxes, bounding_box_format, height, width) / scales[:, None, None]
        if clip:
            size = np.array([self._images[i][::-1] * 2 for i in ids], np.float64)
            xyxy = np.clip(xyxy, 0.0, size[:, None, :])
        valid = labels >= 0
        categories = np.zeros(labels.shape, np.int64)
        categories[valid] = self._categories(labels[valid], "labels")
        if clip:
            valid &= (xyxy[..., 2] > xyxy[..., 0]) & (xyxy[..., 3] > xyxy[..., 1])
        xyxy = xyxy[valid]
        image = np.broadcast_to(np.asarray(ids, np.float64)[:, None], labels.shape)[valid]
        rows = np.column_stack([image, xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2], scores[valid],
                                categories[valid]])
        self._detections.append(rows.reshape(-1, 7))

    # ------------------------------------------------------------------ state
    def _stacked(self, chunks, width):
        return np.concatenate(chunks) if chunks else np.zeros((0, width))

    def _compact(self):
        self._ground_truth = [self._stacked(self._ground_truth, 8)]
        self._detections = [self._stacked(self._detections, 7)]

    @property
    def num_images(self):
        return len(self._images)

    def to_json(self):
        """The evaluator's state as a JSON string (`from_json` restores it)."""
        self._compact()
        return json.dumps({"num_classes": self.num_classes, "category_ids": self.category_ids,
                           "images": [[i, h, w] for i, (h, w) in self._images.items()],
                           "ground_truth": self._ground_truth[0].tolist(),
                           "detections": self._detections[0].tolist()})

    @classmethod
    def from_json(cls, text):
        """An evaluator from `to_json`'s string."""
        state = json.loads(text)
        evaluator = cls(state["num_classes"], state["category_ids"])
        evaluator._images = {int(i): (int(h), int(w)) for i, h, w in state["images"]}
        evaluator._ground_truth = [np.asarray(state["ground_truth"], np.float64).reshape(-1, 8)]
        evaluator._detections = [np.asarray(state["detections"], np.float64).reshape(-1, 7)]
        return evaluator

    def merge(self, other):
        """Adds `other`'s images, ground truth and detections (another part); returns self."""
        if not isinstance(other, CocoEvaluator):
            raise TypeError(f"`other` must be a CocoEvaluator; received {type(other).__name__}")
        if (other.category_ids, other.num_classes) != (self.category_ids, self.num_classes):
            raise ValueError("`other` maps labels to other categories: "
                             f"{other.category_ids} (num_classes={other.num_classes})")
        shared = set(self._images) & set(other._images)
        if shared:
            raise ValueError(f"image_id {min(shared)} is in both evaluators (parts must be "
                             "disjoint)")
        self._images.update(other._images)
        self._ground_truth += other._ground_truth
        self._detections += other._detections
        return self

    # ------------------------------------------------------------------ output
    def write_detections(self, path):
        """Writes the detections as a COCO results JSON (original pixels, COCO category ids)."""
        self._compact()
        with open(path, "w") as f:
            f.write("[")
            for k, (image, x, y, w, h, score, category) in enumerate(self._detections[0]):
                f.write(("," if k else "") + json.dumps(
                    {"image_id": int(image), "category_id": int(category),
                     "bbox": [float(x), float(y), float(w), float(h)], "score": float(score)}))
            f.write("]")
        return path

    def ground_truth(self):
        """The ground truth as a COCO instances dict (what `result` hands pycocotools)."""
        self._compact()
        gt = self._ground_truth[0]
        if self.category_ids is not None:
            categories = self.category_ids
        else:
            categories = sorted(set(gt[:, 5].astype(int)) |
                                set(self._detections[0][:, 6].astype(int)))
        return {"images": [{"id": i, "height": h, "width": w}
                           for i, (h, w) in sorted(self._images.items())],
                "annotations": [{"id": k + 1, "image_id": int(row[0]),
                                 "bbox": [float(v) for v in row[1:5]],
                                 "category_id": int(row[5]), "iscrowd": int(row[6]),
                                 "area": float(row[7])} for k, row in enumerate(gt)],
                "categories": [{"id": int(c), "name": str(c)} for c in categories]}

    def result(self, categories_per_pass=10):
        """``{"AP", "AP50", "AP75", "APs", "APm", "APl"}``: pycocotools' COCOeval ("bbox").

        Fractions in [0, 1] (the paper prints them x100); 0.0 where nothing was
        detected, or (COCOeval's -1) where no ground truth falls in a size range.

        Args:
            categories_per_pass: COCOeval runs on this many categories at a time
                (None: all at once). COCO's precision is computed per category, so
                the passes' precision tables side by side are the one-pass table and
                the averages are the same; COCOeval's memory, which grows with the
                detections it holds, is divided by the number of passes.
        """
        COCO, COCOeval = require_pycocotools()
        self._compact()
        detections = self._detections[0]
        if not len(detections) or not len(self._ground_truth[0]):
            return dict.fromkeys(COCO_METRICS, 0.0)
        if categories_per_pass is not None:
            check_positive_int("categories_per_pass", categories_per_pass)
        precision = []
        with contextlib.redirect_stdout(io.StringIO()):
            coco_gt = COCO()
            coco_gt.dataset = self.ground_truth()
            coco_gt.createIndex()
            categories = sorted(coco_gt.getCatIds())
            step = categories_per_pass or len(categories)
            for first in range(0, len(categories), step):
                chunk = categories[first:first + step]
                rows = detections[np.isin(detections[:, 6], chunk)]
                if len(rows):
                    coco_dt = coco_gt.loadRes(rows)
                else:  # (loadRes refuses an empty list)
                    coco_dt = COCO()
                    coco_dt.dataset = dict(coco_gt.dataset, annotations=[])
                    coco_dt.createIndex()
                evaluator = COCOeval(coco_gt, coco_dt, "bbox")
                evaluator.params.catIds = chunk
                evaluator.evaluate()
                evaluator.accumulate()
                precision.append(evaluator.eval["precision"])
                del coco_dt, evaluator.evalImgs
        stats = summarize_precision(np.concatenate(precision, axis=2), evaluator.params)
        # rounded to 10 decimals: COCOeval's averaging leaves 0.9999999999999998 for 1
        return {k: round(max(float(v), 0.0), 10) for k, v in zip(COCO_METRICS, stats)}


def summarize_precision(precision, params):
    """COCOeval.summarize's first six stats from its (T, R, K, A, M) precision table.

    AP over IoU .50:.95, at .50, at .75, then small, medium, large (maxDets 100); the
    mean of the entries above -1 (COCOeval's "no ground truth"), -1 if none.
    """
    def average(iou=None, area="all"):
        table = precision[..., params.areaRngLbl.index(area), params.maxDets.index(100)]
        if iou is not None:
            table = table[np.where(iou == params.iouThrs)[0]]
        table = table[table > -1]
        return float(np.mean(table)) if table.size else -1.0

    return [average(), average(0.5), average(0.75), average(area="small"),
            average(area="medium"), average(area="large")]


def evaluate_coco(model, dataset, batch_size=8, evaluator=None):
    """Streams a `load_coco_evaluation` pipeline through a detector into a `CocoEvaluator`.

    Predicts batch by batch (`predict_detections`); no image outlives its batch.

    Args:
        model: a keras-hub detector taking the pipeline's canvas.
        dataset: `keras_aw.datasets.coco.load_coco_evaluation`'s (image, meta) dataset,
            unbatched (batched here) or already batched.
        batch_size: images per prediction batch.
        evaluator: a `CocoEvaluator` to add to (None: a new one, COCO's category ids
            for an 80-class detector, labels as ids otherwise).

    Returns:
        The evaluator: call its `result()` (or `merge` it with other processes' first).
    """
    import tensorflow as tf

    if evaluator is None:
        classes = getattr(model, "num_classes", None)
        evaluator = CocoEvaluator() if classes in (None, 80) \
            else CocoEvaluator(num_classes=classes, category_ids=None)
    if not isinstance(dataset, tf.data.Dataset):
        raise TypeError(f"`dataset` must be a tf.data.Dataset of (image, meta); received "
                        f"{type(dataset).__name__}")
    if len(dataset.element_spec[0].shape) == 3:
        dataset = dataset.batch(batch_size)
    for images, meta in dataset.prefetch(1).as_numpy_iterator():
        evaluator.add_ground_truth(meta)
        pred = predict_detections(model, images, batch_size)
        evaluator.add_detections(meta["image_id"], pred["boxes"], pred["labels"],
                                 pred["confidence"], meta["scale"], model.bounding_box_format,
                                 canvas=images.shape[1:3])
    return evaluator
