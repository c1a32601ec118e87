"""Memory of streaming COCO evaluation (`evaluate_coco` + `CocoEvaluator`) at two split sizes.

Run: KERAS_BACKEND=tensorflow python benchmarks/coco_eval_memory.py [--sizes 500 5000]
     [--canvas 512] [--categories-per-pass 10]
     [--output benchmarks/results/coco_eval_memory.json]

Each split size runs in its own fresh process (resident-memory high-water marks are
per process). The split is synthetic and COCO-shaped: `--canvas`-square float32
images from a tf.data pipeline (never all in memory), with `load_coco_evaluation`'s
meta (original sizes 640x480 or 480x640, 0-20 objects per image, 7.3 on average as
in val2017, one in twenty a crowd region). The detector is a stub Keras model (global
average pooling and a dense layer) that returns 100 detections per image (RetinaNet's
usual maximum) of random classes: its cost is not what is measured. Figures (MB of
resident memory, Linux):

- ``before_mb``: after imports, the model's first prediction and the pipeline's start;
- ``stream_peak_mb``: the peak while `evaluate_coco` streams the whole split;
- ``stream_growth_mb``: ``stream_peak_mb - before_mb``, what streaming the split costs;
- ``state_mb``: the evaluator's own arrays (ground truth and detections, 8 and 7
  float64 per object);
- ``result_peak_mb``: the peak during ``result()`` (pycocotools' COCOeval,
  `--categories-per-pass` categories at a time; the high-water mark is reset before it);
- ``images_as_array_mb``: what holding the split's images as one float32 array (the
  old ``evaluate_detector`` way) would take, for comparison.
"""

import argparse
import ctypes
import json
import os
import resource
import sys
import time

from common import machine, run_child

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUTPUT = os.path.join(HERE, "results", "coco_eval_memory.json")
DETECTIONS = 100


def _status_mb(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    raise KeyError(key)


def _reset_peak():
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM to the current RSS


def synthetic_split(num_images, canvas, max_objects=100):
    """A COCO-shaped (image, meta) tf.data pipeline, one image at a time."""
    import tensorflow as tf

    def example(index):
        seed = tf.stack([tf.constant(7, tf.int64), index])
        portrait = tf.random.stateless_uniform([], seed, maxval=4, dtype=tf.int32) == 0
        height = tf.where(portrait, 640.0, 480.0)
        width = tf.where(portrait, 480.0, 640.0)
        scale = canvas / tf.maximum(height, width)
        image = tf.random.stateless_uniform((canvas, canvas, 3), seed, maxval=255.0)
        count = tf.random.stateless_uniform([], seed + 1, maxval=21, dtype=tf.int32)
        xy = tf.random.stateless_uniform((max_objects, 2), seed + 2) * [width * .7, height * .7]
        wh = tf.random.stateless_uniform((max_objects, 2), seed + 3, 4.0, 200.0)
        real = tf.range(max_objects) < tf.minimum(count, 20)
        labels = tf.random.stateless_uniform((max_objects,), seed + 4, maxval=80,
                                             dtype=tf.int32)
        crowd = tf.random.stateless_uniform((max_objects,), seed + 5) < 0.05
        boxes = tf.concat([xy, wh], -1)
        meta = {"image_id": index + 1, "scale": scale, "height": tf.cast(height, tf.int32),
                "width": tf.cast(width, tf.int32), "num_objects": count,
                "gt_boxes": tf.where(real[:, None], boxes, -1.0),
                "gt_labels": tf.where(real, labels, -1),
                "gt_is_crowd": tf.cast(real & crowd, tf.int32),
                "gt_area": tf.where(real, wh[:, 0] * wh[:, 1] * 0.7, 0.0)}
        return image, meta

    return tf.data.Dataset.range(num_images).map(example)


def stub_detector(canvas):
    """A Keras model returning 100 random-looking detections per image (xyxy, 80 classes)."""
    import keras

    images = keras.Input((canvas, canvas, 3))
    features = keras.layers.GlobalAveragePooling2D()(images)
    raw = keras.layers.Dense(DETECTIONS * 6, kernel_initializer=keras.initializers.RandomNormal(
        stddev=0.05, seed=1), bias_initializer=keras.initializers.RandomUniform(-3, 3, seed=2))(
        keras.layers.Rescaling(1 / 255.0)(features))
    raw = keras.layers.Reshape((DETECTIONS, 6))(raw)
    unit = keras.ops.sigmoid(raw)
    xy, wh = unit[..., :2] * canvas * 0.8, unit[..., 2:4] * canvas * 0.3 + 2.0
    boxes = keras.ops.concatenate([xy, xy + wh], axis=-1)
    labels = keras.ops.cast(keras.ops.floor(unit[..., 4] * 79.999), "int32")
    model = keras.Model(images, {"boxes": boxes, "labels": labels, "confidence": unit[..., 5]})
    model.bounding_box_format = "xyxy"
    model.num_classes = 80
    return model


def child(num_images, canvas, batch, per_pass):
    import numpy as np

    from keras_aw.detection.evaluation import CocoEvaluator, evaluate_coco, predict_detections

    model = stub_detector(canvas)
    predict_detections(model, np.zeros((batch, canvas, canvas, 3), "float32"), batch)
    list(synthetic_split(2, canvas).batch(batch).take(1).as_numpy_iterator())  # warm tf.data
    _reset_peak()
    before = _status_mb("VmRSS")
    start = time.perf_counter()
    evaluator = evaluate_coco(model, synthetic_split(num_images, canvas), batch,
                              CocoEvaluator())
    stream_s = time.perf_counter() - start
    stream_peak = _status_mb("VmHWM")
    evaluator._compact()
    state = sum(a.nbytes for a in evaluator._ground_truth + evaluator._detections) / 2 ** 20
    detections = len(evaluator._detections[0])
    _reset_peak()
    start = time.perf_counter()
    metrics = evaluator.result(categories_per_pass=per_pass or None)
    result_s = time.perf_counter() - start
    print(json.dumps(dict(
        images=num_images, canvas=canvas, detections=detections,
        before_mb=before, stream_peak_mb=stream_peak, stream_growth_mb=stream_peak - before,
        state_mb=state, result_peak_mb=_status_mb("VmHWM"),
        process_peak_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        images_as_array_mb=num_images * canvas * canvas * 3 * 4 / 2 ** 20,
        stream_s=stream_s, result_s=result_s, AP=metrics["AP"])))


COLUMNS = ("images", "detections", "before_mb", "stream_peak_mb", "stream_growth_mb",
           "state_mb", "result_peak_mb", "images_as_array_mb", "stream_s", "result_s")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 5000])
    parser.add_argument("--canvas", type=int, default=512)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--categories-per-pass", type=int, default=10,
                        help="CocoEvaluator.result's categories_per_pass (0: all at once)")
    parser.add_argument("--output", default=DEFAULT_OUTPUT)
    parser.add_argument("--child", nargs=4, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(*args.child)
    rows = []
    for size in args.sizes:
        rows.append(run_child(__file__, size, args.canvas, args.batch,
                              args.categories_per_pass))
        print(rows[-1], flush=True)
    print(" | ".join(COLUMNS))
    for row in rows:
        print(" | ".join(f"{row[c]:.1f}" if isinstance(row[c], float) else str(row[c])
                         for c in COLUMNS))
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w") as f:
        json.dump({"machine": machine(), "canvas": args.canvas, "batch": args.batch,
                   "detections_per_image": DETECTIONS,
                   "categories_per_pass": args.categories_per_pass or None,
                   "columns": list(COLUMNS), "rows": rows}, f, indent=1)
    print(f"wrote {os.path.abspath(args.output)}")


if __name__ == "__main__":
    sys.exit(main())
