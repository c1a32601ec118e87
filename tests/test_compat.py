"""`.keras` files saved by keras_aw 0.2.0 load in this version with the same outputs.

The fixtures in tests/data/v0.2.0/ were written by tests/data/make_v020_fixtures.py
run with keras_aw 0.2.0 (under PyTorch): each ``NAME.keras`` with ``NAME.npz``
holding an input batch ``x`` and the outputs 0.2.0 computed for it. Those stored
outputs are the OLD version's, not this version's: they are the honest reference
for compatibility (a model rebuilt and compared by the code under test would prove
nothing about old files). The files load under every backend (the suite runs per
backend), so this also checks loading across backends.
"""

import os

import keras
import numpy as np
import pytest

HERE = os.path.join(os.path.dirname(__file__), "data", "v0.2.0")
CLASSIFIERS = {
    # fixture: (model class name in 0.2.0, a layer class it must contain)
    "aw_small_cnn": "AWConv2D",
    "aw_se_resnet": "SqueezeExcite",
    "aw_cbam_mobilenet": "CBAM",
}
TOLERANCE = 1e-5


def _fixture(name):
    with np.load(os.path.join(HERE, name + ".npz")) as data:
        return {k: data[k] for k in data.files}


def _layer_classes(model):
    return {type(layer).__name__
            for layer in model._flatten_layers(include_self=False, recursive=True)}


def _check_close(actual, expected, what):
    actual = keras.ops.convert_to_numpy(actual)
    assert actual.shape == expected.shape, (what, actual.shape, expected.shape)
    np.testing.assert_allclose(actual, expected, rtol=TOLERANCE, atol=TOLERANCE, err_msg=what)


@pytest.mark.parametrize("name", sorted(CLASSIFIERS))
def test_v020_classifier_loads_with_identical_outputs(name):
    import keras_aw  # noqa: F401  (registers the layers for deserialization)

    data = _fixture(name)
    model = keras.saving.load_model(os.path.join(HERE, name + ".keras"))
    assert "AWConv2D" in _layer_classes(model) and CLASSIFIERS[name] in _layer_classes(model)
    _check_close(model.predict(data["x"], verbose=0), data["y"], name)
    # The stored outputs are not trivial (uniform or one-hot probabilities would let
    # a wrongly loaded network pass).
    assert np.ptp(data["y"], axis=1).min() > 1e-3


def test_v020_detector_loads_with_identical_raw_predictions():
    pytest.importorskip("keras_hub")
    import keras_aw.detection  # noqa: F401  (registers the encoder / backbone / FPN)

    data = _fixture("aw_se_fpn_detector")
    detector = keras.saving.load_model(os.path.join(HERE, "aw_se_fpn_detector.keras"))
    classes = _layer_classes(detector)
    assert {"FeaturePyramid", "AWConv2D", "SqueezeExcite"} <= classes, classes
    raw = detector(data["x"], training=False)  # the network's outputs, before NMS
    assert set(raw) == {"bbox_regression", "cls_logits"}
    for key in ("bbox_regression", "cls_logits"):
        _check_close(raw[key], data[key], key)


def test_fixture_inputs_and_outputs_are_those_of_distinct_models():
    """Guards the fixtures themselves: every input/output pair differs."""
    ys = [_fixture(name)["y"] for name in CLASSIFIERS]
    for i in range(len(ys)):
        for j in range(i + 1, len(ys)):
            assert not np.allclose(ys[i], ys[j], atol=1e-3)


def test_v020_detector_predicts_at_any_batch_size():
    """The 0.2.0 detector carries keras-hub's own NMS (a static batch size on TensorFlow).

    `predict_detections` swaps it once for `BatchNonMaxSuppression`; batches of 1, 3
    and 5 (partial last batches, one model, one retrace after another) then give
    each image the detections that a second, untouched copy of the file gives it
    on its own (batch 1, keras-hub's NMS).
    """
    pytest.importorskip("keras_hub")
    import keras_hub

    from keras_aw.detection import BatchNonMaxSuppression, predict_detections

    path = os.path.join(HERE, "aw_se_fpn_detector.keras")
    detector = keras.saving.load_model(path)
    reference = keras.saving.load_model(path)
    assert type(detector.prediction_decoder) is keras_hub.layers.NonMaxSuppression
    x = _fixture("aw_se_fpn_detector")["x"]
    rng = np.random.RandomState(0)
    images = np.concatenate([x, x[:, ::-1], x[:, :, ::-1],
                             rng.uniform(0, 1, (2,) + x.shape[1:]).astype("float32") * x.max()])
    expected = [reference.predict(images[i:i + 1], verbose=0) for i in range(len(images))]
    assert type(reference.prediction_decoder) is keras_hub.layers.NonMaxSuppression
    found = sum(int(np.sum(np.asarray(e["labels"]) >= 0)) for e in expected)
    assert found > 0, "no detection at all: the comparison would be empty"
    for batch_size in (1, 3, 5):
        got = predict_detections(detector, images, batch_size=batch_size)
        assert isinstance(detector.prediction_decoder, BatchNonMaxSuppression)
        for i, one in enumerate(expected):
            for key in ("boxes", "labels", "confidence"):
                np.testing.assert_allclose(got[key][i], np.asarray(one[key])[0], rtol=1e-5,
                                           atol=1e-5, err_msg=f"{key}, batch {batch_size}, {i}")
