"""Every registered model, as timm tests its models: parametrised over `keras_aw.list_models()`.

A model registered later is tested without editing this file. Each one is built at a small
input and run forward; the small families also take a training step and a `.keras` round
trip. What is expected comes from outside the model: the output shape from the builder's
arguments, the attention layers from the registry's variant (SPEC §3: AW variants hold
`AWConv2D`, SE variants `SqueezeExcite`, CBAM variants `CBAM`, plain ones none of them).

Every backend runs AWSEMobileNet, AWCBAMMobileNet and AWSmallCNN (every attention layer
kind, AWConv2D, SqueezeExcite and CBAM, in whole registered networks) and the small AW-FPN
detector, which is what can differ by backend; the other models, ResNet152 and the 18
detectors included, are marked `single_backend` and run under one backend (PyTorch, the
fastest eager one; tests/conftest.py chooses it). tests/test_applications.py trains every
MobileNet and ResNet block variant on every backend.
"""

import keras
import numpy as np
import pytest

import keras_aw
from helpers import randomize_batchnorm, run_model_test, to_numpy

CLASSIFIERS = keras_aw.list_models(task="classification")
DETECTORS = keras_aw.list_models(task="detection")
#: Families whose members also train one step and round-trip through `.keras` on every run.
SMALL_FAMILIES = ("resnet50", "mobilenet", "small_cnn")
ATTENTION_LAYERS = ("AWConv2D", "SqueezeExcite", "CBAM")
CLASSES = 5

#: The models tested under every backend; the others are `single_backend` (see the docstring).
EVERY_BACKEND = ("AWSEMobileNet", "AWCBAMMobileNet", "AWSmallCNN", "AWFPNResNetSmall")
ONE_BACKEND = pytest.mark.single_backend(
    reason="AWSEMobileNet, AWCBAMMobileNet, AWSmallCNN and AWFPNResNetSmall run under "
           "every backend")


def cases(names):
    return [name if name in EVERY_BACKEND else pytest.param(name, marks=ONE_BACKEND)
            for name in names]


CLASSIFIER_CASES, DETECTOR_CASES = cases(CLASSIFIERS), cases(DETECTORS)


def expected_layer_kinds(variant):
    """The attention layer classes a variant's network must hold (from the variant's name)."""
    kinds = set()
    if variant.startswith("aw"):
        kinds.add("AWConv2D")
    if variant.endswith("se"):
        kinds.add("SqueezeExcite")
    if variant.endswith("cbam"):
        kinds.add("CBAM")
    return kinds


def layer_kinds(model):
    return {type(l).__name__ for l in model._flatten_layers(include_self=False, recursive=True)
            if type(l).__name__ in ATTENTION_LAYERS}


def small_kwargs(info):
    kwargs = {"input_shape": (32, 32, 3), "classes": CLASSES}
    if info.family == "mobilenet":
        kwargs["alpha"] = 0.25
    return kwargs


@pytest.mark.parametrize("name", CLASSIFIER_CASES)
def test_registered_classifier(name, tmp_path):
    info = keras_aw.model_info(name)
    keras.utils.set_random_seed(0)
    model = keras_aw.create_model(name, **small_kwargs(info))
    assert layer_kinds(model) == expected_layer_kinds(info.variant), name

    # Four samples: a BatchNorm over two samples of a 1x1 map outputs +-1 whatever its input,
    # which would leave the attention branches before it without a gradient.
    x = np.random.RandomState(0).uniform(-1, 1, (4, 32, 32, 3)).astype("float32")
    randomize_batchnorm(model)
    small = info.family in SMALL_FAMILIES
    # Every attention layer trains (a ReLU unit of a narrow SE may be dead for this batch,
    # so the check is per layer, not per weight).
    attention = [l for l in model._flatten_layers(include_self=False)
                 if type(l).__name__ in ATTENTION_LAYERS]
    train = (np.array([0, 1, 2, 3]), keras.optimizers.SGD(0.05),
             keras.losses.SparseCategoricalCrossentropy())
    y = run_model_test(model, x, tmp_path, expected_output_shape=(4, CLASSES), save=small,
                       train=train if small else None, must_train=attention,
                       rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y.sum(axis=-1), 1.0, rtol=1e-5)  # softmax probabilities
    assert np.all(y >= 0)


@pytest.mark.parametrize("name", DETECTOR_CASES)
def test_registered_detector(name):
    pytest.importorskip("keras_hub")
    info = keras_aw.model_info(name)
    keras.utils.set_random_seed(0)
    size = 128  # RetinaNet's coarsest level, P7, is 1/128 of the image
    model = keras_aw.create_model(name, num_classes=CLASSES, image_shape=(size, size, 3),
                                  filters=16, head_conv_layers=1)
    assert layer_kinds(model.backbone.feature_pyramid) == expected_layer_kinds(info.variant)
    x = np.random.RandomState(0).uniform(0, 1, (1, size, size, 3)).astype("float32")
    raw = model(x, training=False)
    anchors = sum((size // 2**level) ** 2 for level in range(3, 8)) * 9  # 3 scales x 3 ratios
    assert tuple(raw["bbox_regression"].shape) == (1, anchors, 4)
    assert tuple(raw["cls_logits"].shape) == (1, anchors, CLASSES)
    assert np.all(np.isfinite(to_numpy(raw["cls_logits"])))
