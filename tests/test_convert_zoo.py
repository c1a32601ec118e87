"""convert_to_aw over the CNN zoos: every family of keras.applications, every CNN backbone of keras-hub.

Each model is built with random weights (no download) at a small input and the smallest width.
It either converts -- the identity start computes the source's outputs within 1e-5 relative,
one training step changes every AW layer, the `.keras` round trip keeps the outputs -- or, where
the default selection finds nothing (no plain 3x3 Conv2D in the graph), it is refused with
convert_to_aw's "matched no Conv2D" message. The families are read from the libraries, so a
family added upstream fails `test_*_families_are_all_listed` until it is added to the tables
here (and to docs/convert.md).

The identity start here is a0 = 1e-7: each AW layer scales its output by exactly 1 + a0 (the
default 1e-6 makes VGG19's 16 layers in a row 1.6e-5 apart from the source by design), so the
1e-5 bound tests the conversion itself: weights, graph, operations.

Cost: the keras.applications models run under one backend (`single_backend`), ResNet50 and
the small keras-hub backbones under every backend; the four largest families and NASNet are
`extended` (deselected by tests/run_all_backends.sh unless KERAS_AW_EXTENDED=1).
"""

import keras
import numpy as np
import pytest

from helpers import BACKEND, assert_same_outputs, call_outputs, run_model_test
from keras_aw import AWConv2D, convert_to_aw
from keras_aw._graph import flatten_layers

A0 = 1e-7
#: The largest families (1.5-3 minutes each on CI's 2 cores): run with KERAS_AW_EXTENDED=1.
#: NASNetMobile (one AW layer, TensorFlow only) was the slowest family left in CI's run:
#: CONTRIBUTING.md records its last runs.
EXTENDED = {"inception_resnet_v2", "densenet", "inception_v3", "efficientnet_v2", "nasnet"}

# family (the keras.applications module) -> (smallest constructor, smallest input, kwargs,
# number of AW layers, or None where nothing is selectable)
APPLICATIONS = {
    "convnext": ("ConvNeXtTiny", 32, {}, None),  # 7x7 depthwise and 1x1 convolutions only
    "densenet": ("DenseNet121", 32, {}, 58),
    "efficientnet": ("EfficientNetB0", 32, {}, 1),
    "efficientnet_v2": ("EfficientNetV2B0", 32, {}, 6),
    "inception_resnet_v2": ("InceptionResNetV2", 75, {}, 43),
    "inception_v3": ("InceptionV3", 75, {}, 17),
    "mobilenet": ("MobileNet", 32, {"alpha": 0.25}, 1),
    "mobilenet_v2": ("MobileNetV2", 32, {"alpha": 0.35}, 1),
    "mobilenet_v3": ("MobileNetV3Small", 32, {"alpha": 0.75}, 1),
    "nasnet": ("NASNetMobile", 32, {}, 1),
    "resnet": ("ResNet50", 32, {}, 16),
    "resnet_v2": ("ResNet50V2", 32, {}, 16),
    "vgg16": ("VGG16", 32, {}, 13),
    "vgg19": ("VGG19", 32, {}, 16),
    "xception": ("Xception", 71, {}, 2),
}
#: Families tested under every backend (small and quick); the rest under one (tests/conftest.py).
EVERY_BACKEND = ("mobilenet_v3",)
#: Keras builds NASNet on TensorFlow and JAX only ("not available with the torch backend").
NASNET_BACKEND = "tensorflow"


def hub_models():
    return pytest.importorskip("keras_hub").models


# keras-hub image backbone -> (small random constructor, number of AW layers or None)
def _hub_resnet(**kwargs):
    return hub_models().ResNetBackbone(
        input_conv_filters=[64], input_conv_kernel_sizes=[3], stackwise_num_filters=[64, 8],
        stackwise_num_blocks=[1, 1], stackwise_num_strides=[1, 2], image_shape=(32, 32, 3),
        **kwargs)


HUB = {
    "ResNetBackbone": (lambda: _hub_resnet(block_type="basic_block"), 5),
    "ResNetBackbone-v2": (  # pre-activation: ops.pad in the graph
        lambda: _hub_resnet(block_type="bottleneck_block", use_pre_activation=True), 3),
    "DenseNetBackbone": (lambda: hub_models().DenseNetBackbone(
        stackwise_num_repeats=[1, 1], growth_rate=4, image_shape=(32, 32, 3)), 2),
    "VGGBackbone": (lambda: hub_models().VGGBackbone(
        stackwise_num_repeats=[1, 1], stackwise_num_filters=[4, 8], image_shape=(32, 32, 3)), 2),
    "EfficientNetBackbone": (lambda: hub_models().EfficientNetBackbone(
        stackwise_kernel_sizes=[3, 3], stackwise_num_repeats=[1, 1],
        stackwise_input_filters=[8, 8], stackwise_output_filters=[8, 16],
        stackwise_expansion_ratios=[1, 4], stackwise_squeeze_and_excite_ratios=[0.0, 0.25],
        stackwise_strides=[1, 2], stackwise_block_types=["fused", "unfused"],
        stackwise_force_input_filters=[0, 0], stackwise_nores_option=[False, False],
        width_coefficient=1.0, depth_coefficient=1.0, num_features=32,
        input_shape=(32, 32, 3)), 1),
    "MobileNetBackbone": (lambda: hub_models().MobileNetBackbone(
        stackwise_expansion=[[16], [24]], stackwise_num_blocks=[1, 1],
        stackwise_num_filters=[[8], [8]], stackwise_kernel_size=[[3], [3]],
        stackwise_num_strides=[[2], [1]], stackwise_se_ratio=[[None], [0.25]],
        stackwise_activation=[["relu"], ["hard_swish"], ["hard_swish"]],
        stackwise_padding=[[1], [1]], output_num_filters=16, depthwise_filters=8,
        depthwise_stride=2, depthwise_residual=False, squeeze_and_excite=0.5,
        last_layer_filter=16, input_num_filters=8, image_shape=(32, 32, 3)), 1),
    "CSPNetBackbone": (lambda: hub_models().CSPNetBackbone(
        stem_filters=8, stem_kernel_size=3, stem_strides=1, stackwise_strides=2,
        stackwise_depth=[1, 1], stackwise_num_filters=[8, 16], down_growth=True,
        bottle_ratio=(0.5, 1.0), block_ratio=(1.0, 0.5), expand_ratio=(2.0, 1.0),
        block_type="dark_block", stage_type="csp", stem_padding="same",
        image_shape=(32, 32, 3)), 5),
    "XceptionBackbone": (lambda: hub_models().XceptionBackbone(
        stackwise_conv_filters=[[8, 16], [16, 16]], stackwise_pooling=[False, True],
        image_shape=(32, 32, 3)), 2),
    # its convolutions live inside keras-hub's custom layers, which are copied unchanged
    "HGNetV2Backbone": (lambda: hub_models().HGNetV2Backbone(
        embedding_size=16, stem_channels=[3, 8, 16], hidden_act="relu",
        use_learnable_affine_block=False, depths=[1], hidden_sizes=[32],
        stackwise_stage_filters=[[16, 8, 32, 1, 1, 3]], apply_downsample=[False],
        use_lightweight_conv_block=[False], out_features=["stem", "stage1"],
        image_shape=(32, 32, 3)), None),
}
#: keras-hub image backbones that are not CNNs (transformers), or hybrids whose blocks are
#: custom layers: not part of this zoo.
HUB_NOT_CNN = {"DeiTBackbone", "MiTBackbone", "SwinTransformerBackbone", "ViTBackbone",
               "MobileNetV5Backbone"}


def aw_count(model):
    return sum(isinstance(layer, AWConv2D) for layer in flatten_layers(model))


def flat_outputs(model, x):
    """All outputs (pyramid levels included for keras-hub backbones) as one dict."""
    out = call_outputs(model, x)
    pyramid = getattr(model, "pyramid_outputs", None)
    if pyramid:
        levels = keras.Model(model.inputs, pyramid)(x, training=False)
        out = {"output": out, **{k: keras.ops.convert_to_numpy(v) for k, v in levels.items()}}
    return out if isinstance(out, dict) else {"output": out}


def check_zoo_model(model, x, tmp_path, expected_aw):
    """Converts `model`, or checks the refusal where `expected_aw` is None."""
    if expected_aw is None:
        with pytest.raises(ValueError, match="matched no Conv2D"):
            convert_to_aw(model, identity_start=A0)
        return
    expected = flat_outputs(model, x)
    aw = convert_to_aw(model, identity_start=A0)
    assert aw_count(aw) == expected_aw
    assert_same_outputs(flat_outputs(aw, x), expected, max_rel_err=1e-5)
    y = keras.ops.convert_to_numpy(aw(x, training=False))
    converted = [layer for layer in flatten_layers(aw) if isinstance(layer, AWConv2D)]
    run_model_test(aw, x, tmp_path, train=(np.zeros_like(y), keras.optimizers.SGD(1e-3), "mse"),
                   must_train=converted)


def zoo_images(size):
    return np.random.RandomState(0).uniform(0.0, 255.0, (2, size, size, 3)).astype("float32")


# ----------------------------------------------------------------------- keras.applications


@pytest.mark.backend_independent
def test_applications_families_are_all_listed():
    families = {getattr(keras.applications, name).__module__.rsplit(".", 1)[-1]
                for name in dir(keras.applications) if name[:1].isupper()}
    assert families == set(APPLICATIONS), sorted(families ^ set(APPLICATIONS))


def _application_params():
    for family in sorted(APPLICATIONS):
        # NASNet runs under NASNET_BACKEND instead of the single backend (torch)
        every = family in EVERY_BACKEND or family == "nasnet"
        marks = [] if every else [pytest.mark.single_backend]
        if family in EXTENDED:
            marks.append(pytest.mark.extended)
        yield pytest.param(family, marks=marks, id=family)


@pytest.mark.parametrize("family", list(_application_params()))
def test_application_family(family, tmp_path):
    name, size, kwargs, expected_aw = APPLICATIONS[family]
    if family == "nasnet" and BACKEND != NASNET_BACKEND:
        pytest.skip(f"Keras builds NASNet on TensorFlow and JAX only; tested under {NASNET_BACKEND}")
    keras.utils.set_random_seed(0)
    model = getattr(keras.applications, name)(
        weights=None, input_shape=(size, size, 3), include_top=False, pooling="avg", **kwargs)
    check_zoo_model(model, zoo_images(size), tmp_path, expected_aw)


# ----------------------------------------------------------------------- keras-hub


@pytest.mark.backend_independent
def test_hub_families_are_all_listed():
    models = hub_models()

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    # keras-hub's own tasks only: keras_aw.detection.tasks adds subclasses paired with
    # keras_aw's backbones once any test imports it.
    backbones = {getattr(task, "backbone_cls", None) for task in subclasses(models.ImageClassifier)
                 if task.__module__.startswith("keras_hub.")}
    names = {cls.__name__ for cls in backbones if cls is not None}
    listed = {name.split("-")[0] for name in HUB} | HUB_NOT_CNN
    assert names == listed, sorted(names ^ listed)


@pytest.mark.parametrize("name", sorted(HUB))
def test_hub_backbone(name, tmp_path):
    build, expected_aw = HUB[name]
    keras.utils.set_random_seed(0)
    model = build()
    x = np.random.RandomState(0).uniform(-1.0, 1.0, (2, 32, 32, 3)).astype("float32")
    check_zoo_model(model, x, tmp_path, expected_aw)
