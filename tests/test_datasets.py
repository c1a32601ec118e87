"""The embedded Shapes data set: format, determinism, variety, not trivially separable.

Pure NumPy: nothing here depends on the Keras backend, so it runs under one backend only.
(Generation speed is measured in benchmarks/, not asserted here.)
"""

import numpy as np
import pytest

from keras_aw.datasets import shapes

pytestmark = pytest.mark.backend_independent


@pytest.fixture(scope="module")
def data():
    return shapes.load_data(num_train=1000, num_test=500, seed=0)


def test_format_like_keras_datasets(data):
    (x, y), (xt, yt) = data
    assert x.shape == (1000, 32, 32, 3) and xt.shape == (500, 32, 32, 3)
    assert y.shape == (1000,) and yt.shape == (500,)
    assert x.dtype == np.uint8 and y.dtype == np.uint8
    assert set(np.unique(y)) == set(range(shapes.NUM_CLASSES)) == set(np.unique(yt))
    assert len(shapes.CLASS_NAMES) == shapes.NUM_CLASSES == 10
    # Classes are roughly balanced.
    counts = np.bincount(y, minlength=10)
    assert counts.min() > 60 and counts.max() < 140
    # The full 0-255 range is used and images are not constant.
    assert x.min() == 0 and x.max() == 255
    assert np.all(x.reshape(1000, -1).std(axis=1) > 5)


def test_deterministic_per_seed(data):
    (x, y), (xt, yt) = data
    (x2, y2), (xt2, yt2) = shapes.load_data(num_train=1000, num_test=500, seed=0)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    np.testing.assert_array_equal(xt, xt2)
    (x3, _), (xt3, _) = shapes.load_data(num_train=100, num_test=100, seed=1)
    assert np.mean(x[:100] != x3) > 0.5 and np.mean(xt[:100] != xt3) > 0.5
    # Train and test are different images; the test split does not depend on num_train.
    assert np.mean(x[:500] != xt) > 0.5
    (_, _), (xt4, yt4) = shapes.load_data(num_train=10, num_test=500, seed=0)
    np.testing.assert_array_equal(xt, xt4)
    np.testing.assert_array_equal(yt, yt4)


def test_other_image_sizes_and_empty():
    (x, y), (xt, yt) = shapes.load_data(num_train=20, num_test=0, image_size=48, seed=3)
    assert x.shape == (20, 48, 48, 3) and xt.shape == (0, 48, 48, 3) and yt.shape == (0,)
    with pytest.raises(ValueError):
        shapes.load_data(num_train=10, num_test=10, image_size=4)
    with pytest.raises(ValueError):
        shapes.load_data(num_train=-1, num_test=10)
    with pytest.raises(ValueError):
        shapes.load_data(num_train=10, num_test=10, seed=-2)


def test_varied_colour_size_position(data):
    (x, y), _ = data
    x = x.astype("float32")
    # The shape's pixels are those far from the image's median colour; measure
    # their centroid and area per image.
    median = np.median(x.reshape(len(x), -1, 3), axis=1)[:, None, None, :]
    mask = np.abs(x - median).sum(-1) > 150
    assert mask.any(axis=(1, 2)).all()  # a shape is found in every image
    area = mask.mean(axis=(1, 2))
    assert area.std() > 0.03  # size varies
    # ... in both directions: the rows and columns the shape spans vary per image.
    rows, cols = mask.any(axis=2).sum(axis=1), mask.any(axis=1).sum(axis=1)
    assert rows.std() > 2.0 and cols.std() > 2.0
    centroids = np.array([np.argwhere(m).mean(0) for m in mask if m.any()])
    assert centroids.std(axis=0).min() > 2.0  # position varies (pixels)
    colours = np.array([x[i][mask[i]].mean(0) for i in range(len(x)) if mask[i].any()])
    assert colours.std(axis=0).min() > 30  # colour varies


def test_not_trivially_separable(data):
    """A nearest-class-mean classifier on raw pixels or on colour stays far from 90%."""
    (x, y), (xt, yt) = data
    flat, flat_t = x.reshape(len(x), -1) / 255.0, xt.reshape(len(xt), -1) / 255.0
    means = np.stack([flat[y == c].mean(0) for c in range(10)])
    pred = np.argmin(((flat_t[:, None, :] - means[None]) ** 2).sum(-1), axis=1)
    assert np.mean(pred == yt) < 0.35
    colour, colour_t = x.mean(axis=(1, 2)), xt.mean(axis=(1, 2))
    means = np.stack([colour[y == c].mean(0) for c in range(10)])
    pred = np.argmin(((colour_t[:, None, :] - means[None]) ** 2).sum(-1), axis=1)
    assert np.mean(pred == yt) < 0.25

