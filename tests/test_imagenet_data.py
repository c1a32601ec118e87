"""The imagenet recipe's input (keras_aw.datasets.imagenet) against independent references.

- Evaluation crops against PIL: ``Image.resize`` (bilinear) of the shorter
  side to 256 (the longer ``int(256 * long / short)``, torchvision's
  ``Resize(256)``), then torchvision's ``CenterCrop(224)`` offsets. Tolerance:
  at most 1.5 gray levels per pixel and 0.5 on average (PIL rounds to uint8:
  up to 0.5 alone; TensorFlow's antialiased bilinear filter equals PIL's up to
  float rounding); a squashed image is off by tens of levels.
- Training crop windows against torchvision's ``RandomResizedCrop.get_params``
  written out in NumPy (two-sample KS tests of the area fraction and the log
  aspect ratio), and against the analytic law where every attempt fits
  (area uniform, log aspect ratio uniform); today's resize-and-crop fails them.
- Splits whose labels are all -1 refused, on a tiny imagenet2012-shaped tfds
  set prepared from full-size JPEGs (tests/tiny_imagenet.py).

tf.data only: nothing here depends on the Keras backend.
"""

import io
import math

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from scipy import stats

from keras_aw.datasets import imagenet, load_data

import tiny_imagenet

pytestmark = pytest.mark.backend_independent


def pil_eval_crop(data, size=224):
    """torchvision's Resize(round(size / 0.875)) + CenterCrop(size) on a PIL image."""
    image = Image.open(io.BytesIO(data)).convert("RGB")
    width, height = image.size
    short = round(size / 0.875)
    if width <= height:
        new_w, new_h = short, int(short * height / width)
    else:
        new_w, new_h = int(short * width / height), short
    resized = np.asarray(image.resize((new_w, new_h), Image.BILINEAR), np.float32)
    top, left = int(round((new_h - size) / 2.0)), int(round((new_w - size) / 2.0))
    return resized[top:top + size, left:left + size]


@pytest.mark.parametrize("shape", [(375, 500), (500, 375), (256, 256), (180, 240),
                                   (600, 200)])
def test_eval_crop_equals_pil_resize_and_center_crop(shape):
    data = tiny_imagenet.jpeg(*shape, seed=sum(shape))
    got = imagenet.eval_image(tf.constant(data), 224).numpy()
    expected = pil_eval_crop(data)
    assert got.shape == expected.shape == (224, 224, 3) and got.dtype == np.float32
    diff = np.abs(got - expected)
    assert diff.max() <= 1.5 and diff.mean() <= 0.5, (diff.max(), diff.mean())
    # A squashed image (today's demo evaluation) is not within that tolerance.
    squashed = np.asarray(Image.open(io.BytesIO(data)).convert("RGB").resize(
        (224, 224), Image.BILINEAR), np.float32)
    if shape[0] != shape[1]:
        assert np.abs(got - squashed).mean() > 10


def test_eval_crop_other_sizes():
    data = tiny_imagenet.jpeg(375, 500, seed=1)
    got = imagenet.eval_image(tf.constant(data), 160).numpy()
    assert imagenet.eval_resize_size(160) == 183
    diff = np.abs(got - pil_eval_crop(data, 160))
    assert diff.max() <= 1.5 and diff.mean() <= 0.5


def torchvision_get_params(height, width, rng, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)):
    """torchvision.transforms.RandomResizedCrop.get_params, transcribed with NumPy's generator."""
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target_area = area * rng.uniform(scale[0], scale[1])
        aspect_ratio = math.exp(rng.uniform(log_ratio[0], log_ratio[1]))
        w = int(round(math.sqrt(target_area * aspect_ratio)))
        h = int(round(math.sqrt(target_area / aspect_ratio)))
        if 0 < w <= width and 0 < h <= height:
            i = int(rng.integers(0, height - h + 1))
            j = int(rng.integers(0, width - w + 1))
            return i, j, h, w
    in_ratio = float(width) / float(height)
    if in_ratio < min(ratio):
        w = width
        h = int(round(w / min(ratio)))
    elif in_ratio > max(ratio):
        h = height
        w = int(round(h * max(ratio)))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def _windows(height, width, n=3000):
    seeds = tf.data.Dataset.range(n).map(lambda i: tf.stack([i, tf.constant(7, tf.int64)]))
    windows = seeds.map(lambda s: tf.stack(imagenet.random_resized_crop_window(
        height, width, s))).batch(n)
    return next(iter(windows)).numpy()


def _area_and_log_ratio(windows, height, width):
    top, left, h, w = windows.T.astype(np.float64)
    return h * w / (height * width), np.log(w / h)


@pytest.mark.parametrize("shape", [(375, 500), (500, 333)])
def test_training_crops_follow_random_resized_crop(shape):
    height, width = shape
    windows = _windows(height, width)
    top, left, h, w = windows.T
    assert np.all((top >= 0) & (left >= 0) & (top + h <= height) & (left + w <= width))
    area, log_ratio = _area_and_log_ratio(windows, height, width)
    rng = np.random.default_rng(0)
    reference = np.array([torchvision_get_params(height, width, rng) for _ in range(3000)])
    ref_area, ref_log_ratio = _area_and_log_ratio(reference, height, width)
    assert stats.ks_2samp(area, ref_area).pvalue > 1e-3
    assert stats.ks_2samp(log_ratio, ref_log_ratio).pvalue > 1e-3
    # Where every attempt fits (area <= 0.5 of these images), the law is the
    # sampled one: area uniform on [0.08, 0.5], log aspect ratio uniform and independent.
    small = area <= 0.5
    low, high = math.log(3 / 4), math.log(4 / 3)
    assert small.sum() > 1000
    assert stats.kstest(area[small], stats.uniform(0.08, 0.42).cdf).pvalue > 1e-3
    assert stats.kstest(log_ratio[small], stats.uniform(low, high - low).cdf).pvalue > 1e-3
    assert abs(stats.spearmanr(area[small], log_ratio[small])[0]) < 0.08
    # Today's squash to 252 + random 224 crop (in the image's coordinates) fails the same tests.
    plain_area = np.full(3000, (224 / 252) ** 2)
    plain_log_ratio = np.full(3000, math.log(width / height))
    assert stats.ks_2samp(plain_area, ref_area).pvalue < 1e-6
    assert stats.ks_2samp(plain_log_ratio, ref_log_ratio).pvalue < 1e-6


def test_crop_fallback_is_torchvisions_center_crop():
    # No attempt can fit a 10 x 1000 image: the centered window with the ratio clamped.
    wide = _windows(10, 1000, n=20)
    assert np.all(wide == [0, (1000 - 13) // 2, 10, 13])
    tall = _windows(1000, 10, n=20)
    assert np.all(tall == [(1000 - 13) // 2, 0, 13, 10])
    assert torchvision_get_params(10, 1000, np.random.default_rng(0)) == (0, 493, 10, 13)


def test_training_image_is_the_decoded_crop_resized_and_maybe_flipped():
    data = tiny_imagenet.jpeg(375, 500, seed=3)
    full = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    flips = 0
    for i in range(6):
        seed = tf.constant([i, 11], tf.int64)
        got = imagenet.train_image(tf.constant(data), seed, 96).numpy()
        assert got.shape == (96, 96, 3) and got.dtype == np.float32
        assert got.min() >= 0 and got.max() <= 255
        # The crop seed is the first of the example seed's split (imagenet.train_image).
        crop_seed = tf.random.experimental.stateless_split(seed, 2)[0]
        top, left, h, w = (int(v) for v in imagenet.random_resized_crop_window(375, 500,
                                                                               crop_seed))
        crop = Image.fromarray(full[top:top + h, left:left + w])
        expected = np.asarray(crop.resize((96, 96), Image.BILINEAR), np.float32)
        straight = np.abs(got - expected).mean()
        mirrored = np.abs(got[:, ::-1] - expected).mean()
        assert min(straight, mirrored) <= 0.5, (straight, mirrored)
        flips += mirrored < straight
    assert 0 < flips < 6


@pytest.mark.parametrize("shape", [(375, 500), (20, 900)])
def test_non_jpeg_images_take_the_same_crops(shape):
    buffer = io.BytesIO()
    Image.open(io.BytesIO(tiny_imagenet.jpeg(*shape, seed=5))).save(buffer, "PNG")
    got = imagenet.train_image(tf.constant(buffer.getvalue()), tf.constant([1, 2]), 64)
    assert tuple(got.shape) == (64, 64, 3)
    assert imagenet.eval_image(tf.constant(buffer.getvalue()), 64).shape == (64, 64, 3)


def test_normalize_and_buffer_rule():
    x = np.random.default_rng(0).uniform(0, 255, (3, 3)).astype("float32")
    x = np.stack([x] * 3, axis=-1)
    mean, std = np.array(imagenet.MEAN_RGB), np.array(imagenet.STD_RGB)
    np.testing.assert_allclose(imagenet.normalize(tf.constant(x)).numpy(),
                               (x / 255 - mean) / std, rtol=1e-5, atol=1e-5)
    assert imagenet.shuffle_buffer_size(110_000) == 2 ** 30 // 110_000
    assert imagenet.shuffle_buffer_size(110_000, 2 ** 20) == 1000
    assert imagenet.shuffle_buffer_size(10) == 100000
    assert imagenet.shuffle_buffer_size(None) == 10000


# ------------------------------------------ a tiny imagenet2012-shaped tfds set


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    import tensorflow_datasets as tfds

    path = tmp_path_factory.mktemp("tfds")
    tiny_imagenet.prepare(path)
    tfds.core.add_data_dir(str(path))
    return tiny_imagenet.NAME


def test_unlabelled_split_refused_naming_it(tiny):
    with pytest.raises(ValueError, match=r"split 'test' of tfds data set "
                                         r"'keras_aw_tiny_imagenet' has no labels"):
        imagenet.load_split(tiny, "test")
    with pytest.raises(ValueError, match="split 'test'"):
        imagenet.load_imagenet(tiny, 32, 4, eval_split="test")
    with pytest.raises(ValueError, match="split 'test'"):
        load_data(f"tfds:{tiny}:test", 32, 4, training=False)
    with pytest.raises(ValueError, match="split 'test'"):
        load_data(f"tfds:{tiny}:test", 32, 4, training=False, preprocessing="imagenet")
    with pytest.raises(ValueError, match="split 'test'"):
        imagenet.check_labeled([-1, -1, -1], "test")
    imagenet.check_labeled([-1, 2], "validation")  # some labels: accepted


def test_load_imagenet_trains_on_train_and_validates_on_validation(tiny):
    data = imagenet.load_imagenet(tiny, 48, 4, seed=1)
    assert data["num_classes"] == tiny_imagenet.CLASSES
    assert data["train_examples"] == tiny_imagenet.TRAIN and data["steps_per_epoch"] == 3
    train = [(x.numpy(), y.numpy()) for x, y in data["train"]]
    assert [x.shape for x, _ in train] == [(4, 48, 48, 3)] * 3
    labels = np.concatenate([y for _, y in train])
    assert sorted(labels) == sorted(i % 3 for i in range(tiny_imagenet.TRAIN))
    test = np.concatenate([y.numpy() for _, y in data["test"]])
    assert sorted(test) == sorted(i % 3 for i in range(100, 100 + tiny_imagenet.VALIDATION))
    # The training order and crops change from epoch to epoch; evaluation does not.
    again = [x.numpy() for x, _ in data["train"]]
    assert not np.allclose(train[0][0], again[0])
    first = [x.numpy() for x, _ in data["test"]]
    np.testing.assert_array_equal(first[0], next(iter(data["test"]))[0].numpy())


def test_load_data_hook_and_process_parts(tiny):
    parts = [load_data(f"tfds:{tiny}", 32, 2, preprocessing="imagenet", part=(2, p))
             for p in range(2)]
    assert [p["steps_per_epoch"] for p in parts] == [3, 3]
    counts = [sum(len(y) for _, y in p["train"]) for p in parts]
    assert counts == [6, 6]
    with pytest.raises(ValueError, match="preprocessing='squash'"):
        load_data(f"tfds:{tiny}", 32, 2, preprocessing="squash")
    with pytest.raises(ValueError, match="tfds set"):
        load_data("shapes", 32, 2, preprocessing="imagenet")
    # The demo pipeline, test split chosen automatically: it gives way to validation.
    demo = load_data(f"tfds:{tiny}", 32, 4)
    assert sum(len(y) for _, y in demo["test"]) == tiny_imagenet.VALIDATION
