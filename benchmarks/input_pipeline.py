"""The imagenet recipe's input pipeline alone: images/s per core on full-size JPEGs.

Writes `--images` (default 200) random 500x375 and 375x500 JPEGs (ImageNet's
typical sizes; smooth content plus noise, quality 90, ~100 KB each like
ImageNet's average) into a temporary folder, then times `tf.data` pipelines
reading them from disk (no model):

- ``train``: `keras_aw.datasets.imagenet.train_image` (RandomResizedCrop 224
  decoded and cropped once with ``decode_and_crop_jpeg``, resize, flip);
- ``train, decode whole``: the same crops cut from the fully decoded image
  (what a crop-after-decode pipeline costs);
- ``eval``: `keras_aw.datasets.imagenet.eval_image` (resize 256, center crop 224).

Each runs with one thread (``tf.data`` private thread pool of 1, intra-op
parallelism 1: images/s per core) and with all of the machine's cores
(AUTOTUNE), in interleaved rounds; the table shows medians. Run::

    KERAS_BACKEND=tensorflow python benchmarks/input_pipeline.py          # prints the table
    KERAS_BACKEND=tensorflow python benchmarks/input_pipeline.py --save   # + the JSON in results/
"""

import argparse
import io
import os
import statistics
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tensorflow as tf  # noqa: E402
from PIL import Image  # noqa: E402

from keras_aw.datasets import imagenet  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common  # noqa: E402


def write_jpegs(folder, count, seed=0):
    """`count` JPEGs of 500x375 / 375x500 pixels; returns their paths and mean size in KB."""
    rng = np.random.default_rng(seed)
    paths, sizes = [], []
    for i in range(count):
        height, width = (375, 500) if i % 2 == 0 else (500, 375)
        small = rng.integers(0, 256, (height // 12 + 1, width // 12 + 1, 3)).astype(np.uint8)
        image = np.asarray(Image.fromarray(small).resize((width, height), Image.BICUBIC),
                           np.float32)
        image += rng.normal(0.0, 18.0, image.shape)
        buffer = io.BytesIO()
        Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(buffer, "JPEG",
                                                                      quality=90)
        path = os.path.join(folder, f"{i:05d}.JPEG")
        with open(path, "wb") as f:
            f.write(buffer.getvalue())
        paths.append(path)
        sizes.append(len(buffer.getvalue()) / 1024)
    return paths, float(np.mean(sizes))


def train_decode_whole(image_bytes, seed, size):
    """The same RandomResizedCrop window, cut after decoding the whole JPEG."""
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    image = tf.io.decode_jpeg(image_bytes, channels=3, dct_method="INTEGER_ACCURATE")
    shape = tf.shape(image)
    top, left, h, w = imagenet.random_resized_crop_window(shape[0], shape[1], crop_seed)
    image = tf.image.resize(image[top:top + h, left:left + w], (size, size),
                            method="bilinear", antialias=True)
    return tf.image.stateless_random_flip_left_right(image, flip_seed)


def pipeline(paths, kind, threads, size=224, batch=32):
    files = tf.data.Dataset.from_tensor_slices(paths).map(tf.io.read_file)
    seeds = tf.data.Dataset.random(seed=0).batch(2)
    if kind == "train":
        ds = tf.data.Dataset.zip((files, seeds)).map(
            lambda b, s: imagenet.train_image(b, s, size), num_parallel_calls=tf.data.AUTOTUNE)
    elif kind == "train, decode whole":
        ds = tf.data.Dataset.zip((files, seeds)).map(
            lambda b, s: train_decode_whole(b, s, size), num_parallel_calls=tf.data.AUTOTUNE)
    else:
        ds = files.map(lambda b: imagenet.eval_image(b, size),
                       num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.batch(batch).prefetch(2)
    options = tf.data.Options()
    if threads == 1:
        options.threading.private_threadpool_size = 1
        options.threading.max_intra_op_parallelism = 1
    return ds.with_options(options)


def images_per_second(ds, count):
    start = time.perf_counter()
    seen = 0
    for batch in ds:
        seen += int(batch.shape[0])
    assert seen == count
    return count / (time.perf_counter() - start)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--save", action="store_true",
                        help="write benchmarks/results/input_pipeline-tensorflow.json")
    args = parser.parse_args(argv)
    cores = os.cpu_count()
    with tempfile.TemporaryDirectory(prefix="input_pipeline_") as folder:
        paths, kb = write_jpegs(folder, args.images)
        variants = [(kind, threads) for kind in ("train", "train, decode whole", "eval")
                    for threads in (1, cores)]
        pipelines = {v: pipeline(paths, *v) for v in variants}
        for ds in pipelines.values():  # warm-up: traces, file cache
            images_per_second(ds, args.images)
        rates = {v: [] for v in variants}
        for _ in range(args.rounds):
            for v, ds in pipelines.items():
                rates[v].append(images_per_second(ds, args.images))
    rows = []
    for (kind, threads), values in rates.items():
        rate = statistics.median(values)
        rows.append({"pipeline": kind, "threads": threads, "images/s": rate,
                     "images/s per core": rate / threads})
    columns = ["pipeline", "threads", "images/s", "images/s per core"]
    extra = {"images": args.images, "mean_jpeg_kb": round(kb, 1), "rounds": args.rounds,
             "image_size": 224}
    if args.save:
        common.report("input_pipeline", columns, rows, extra)
    else:
        widths = [max(len(c), 10) for c in columns]
        print(" | ".join(c.ljust(w) for c, w in zip(columns, widths)))
        for row in rows:
            print(" | ".join((f"{row[c]:.1f}" if isinstance(row[c], float) else str(row[c]))
                             .ljust(w) for c, w in zip(columns, widths)))
    print(f"{args.images} JPEGs of 500x375/375x500, mean {kb:.0f} KB; {cores} cores")


if __name__ == "__main__":
    main()
