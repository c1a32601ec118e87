"""ImageNet-pretrained encoders (`load_encoder`) and the fine-tuning freezes (`freeze_encoder`).

No download anywhere: the tests write the weights files (keras.applications' ResNet50 with
random weights, Keras 3 ``.weights.h5`` and the legacy ``.h5``; a keras_aw encoder's
``.weights.h5``) and a keras-hub preset directory (`save_to_preset` of a tiny random
`ResNetBackbone`). Every expected value comes from elsewhere than `load_encoder`: the
weights from keras.applications' own loader or h5py, the features from keras.applications'
model on its own `preprocess_input`, from keras-hub's backbone on a NumPy normalization.
"""

import os

import keras
import numpy as np
import pytest

from detection_helpers import TINY
from helpers import BACKEND, keras_round_trip, to_numpy

keras_hub = pytest.importorskip("keras_hub")

from keras_aw.detection import (  # noqa: E402
    ResNetEncoder, build_retinanet, freeze_encoder, load_encoder,
)

SHAPE = (64, 64, 3)
R50_STAGE_OUTPUTS = ("conv2_block3_out", "conv3_block4_out", "conv4_block6_out",
                     "conv5_block3_out")


def randomize(model, seed=0):
    """Random weights everywhere (biases and moving statistics too), variances positive."""
    rng = np.random.default_rng(seed)
    values = []
    for w in model.weights:
        v = rng.normal(0.0, 0.05, w.shape)
        if "variance" in w.path:
            v = rng.uniform(0.5, 1.5, w.shape)
        elif "gamma" in w.path:
            v = rng.uniform(0.8, 1.2, w.shape)
        values.append(v.astype("float32"))
    model.set_weights(values)
    return model


@pytest.fixture(scope="module")
def r50_files(tmp_path_factory):
    """keras.applications' ResNet50 (random weights, with the top): two weights files."""
    keras.utils.set_random_seed(0)
    model = randomize(keras.applications.ResNet50(weights=None, input_shape=SHAPE))
    root = tmp_path_factory.mktemp("r50")
    modern = str(root / "resnet50.weights.h5")
    model.save_weights(modern)  # Keras 3: layers keyed by class ("conv2d_12"), in model order
    legacy = str(root / "resnet50_legacy.h5")
    model.save(legacy)  # legacy HDF5, the format of keras.applications' downloads (names kept)
    return {"model": model, "weights.h5": modern, "legacy.h5": legacy}


def reference_r50(path):
    """keras.applications' own ResNet50, its own loader on `path`."""
    if path.endswith(".weights.h5"):
        ref = keras.applications.ResNet50(weights=None, input_shape=SHAPE)
        ref.load_weights(path)
        return ref
    return keras.saving.load_model(path, compile=False)


def resnet_layers(encoder):
    """The encoder's convolution and BatchNorm layers by name (nested models walked)."""
    found = {}

    def walk(model):
        for layer in model.layers:
            if isinstance(layer, keras.Model):
                walk(layer)
            elif isinstance(layer, (keras.layers.Conv2D, keras.layers.BatchNormalization)):
                found[layer.name] = layer
    walk(encoder)
    return found


def pyramid(encoder, x):
    out = keras.Model(encoder.inputs, encoder.pyramid_outputs)([x])
    return {k: to_numpy(v) for k, v in out.items()}


# --- keras.applications weights files --------------------------------------------------


@pytest.mark.parametrize("kind", ["weights.h5", "legacy.h5"])
def test_keras_applications_weights_are_the_files(r50_files, kind):
    ref = reference_r50(r50_files[kind])
    encoder = load_encoder(r50_files[kind], SHAPE)
    layers = resnet_layers(encoder)
    convs = [l for l in ref.layers if isinstance(l, keras.layers.Conv2D)]
    assert len(convs) == 53 and all(l.name in layers for l in convs)
    for conv in convs:
        kernel, bias = (to_numpy(w) for w in conv.weights)
        if conv.name == "conv1_conv":
            kernel = kernel[:, :, ::-1, :]  # the encoder takes RGB: caffe's BGR order flipped
        got = [to_numpy(w) for w in layers[conv.name].weights]
        assert len(got) == 1  # the package's layout: no convolution bias
        np.testing.assert_array_equal(got[0], kernel)
        bn = ref.get_layer(conv.name[:-len("_conv")] + "_bn")
        gamma, beta, mean, var = (to_numpy(w) for w in bn.weights)
        g_gamma, g_beta, g_mean, g_var = (to_numpy(w) for w in layers[bn.name].weights)
        np.testing.assert_array_equal(g_gamma, gamma)
        np.testing.assert_array_equal(g_beta, beta)
        np.testing.assert_array_equal(g_var, var)
        # keras.applications' bias folded into the moving mean: BN(z + b) with mean m is
        # BN(z) with mean m - b.
        np.testing.assert_array_equal(g_mean, mean - bias)


def test_the_file_read_with_h5py_is_what_keras_applications_loads(r50_files):
    """The reference itself: the legacy file's arrays by name, read with h5py alone."""
    import h5py

    ref = r50_files["model"]
    with h5py.File(r50_files["legacy.h5"], "r") as f:
        group = f["model_weights"]["conv4_block2_2_conv"]
        names = [n.decode() if isinstance(n, bytes) else n
                 for n in group.attrs["weight_names"]]
        kernel = np.asarray(group[names[0]])
    np.testing.assert_array_equal(kernel, to_numpy(ref.get_layer("conv4_block2_2_conv").kernel))


@pytest.mark.parametrize("input_scale", [1.0, 255.0])
def test_features_equal_keras_applications_stage_outputs(r50_files, input_scale):
    ref = r50_files["model"]
    x = np.random.default_rng(1).uniform(0, 255, (2, *SHAPE)).astype("float32")
    stages = keras.Model(ref.inputs, [ref.get_layer(n).output for n in R50_STAGE_OUTPUTS])
    expected = stages(keras.applications.resnet.preprocess_input(x.copy()))
    encoder = load_encoder(r50_files["weights.h5"], SHAPE, input_scale=input_scale)
    got = pyramid(encoder, x / input_scale)
    for level, want in zip(("P2", "P3", "P4", "P5"), expected):
        want = to_numpy(want)
        assert got[level].shape == want.shape
        np.testing.assert_allclose(got[level], want, rtol=1e-4,
                                   atol=1e-4 * np.abs(want).max())


def test_normalization_is_the_encoders_first_layer(r50_files):
    encoder = load_encoder(r50_files["weights.h5"], SHAPE)
    norm = encoder.network.get_layer("input_normalization")
    x = np.full((1, *SHAPE), 100.0, "float32")
    got = to_numpy(norm(x))[0, 0, 0]
    np.testing.assert_allclose(got, [100 - 123.68, 100 - 116.779, 100 - 103.939], rtol=1e-6)
    none = load_encoder(r50_files["weights.h5"], SHAPE, normalization=None)
    assert "input_normalization" not in [l.name for l in none.network.layers]


def test_detector_on_a_keras_applications_encoder(r50_files):
    encoder = load_encoder(r50_files["weights.h5"], SHAPE)
    det = build_retinanet(encoder, 3, **TINY)
    out = det(np.zeros((1, *SHAPE), "float32"))
    assert np.all(np.isfinite(to_numpy(out["cls_logits"])))
    with pytest.raises(ValueError, match=r"image_shape=\(128, 128, 3\)"):
        build_retinanet(encoder, 3, **dict(TINY, image_shape=(128, 128, 3)))


def test_detector_on_a_pretrained_encoder_saves_and_loads(r50_files, tmp_path):
    """`keras-aw train` saves the detector as .keras: the encoder and its normalization too."""
    det = build_retinanet(load_encoder(r50_files["weights.h5"], SHAPE), 3, **TINY)
    x = np.random.default_rng(3).uniform(0, 255, (2, *SHAPE)).astype("float32")
    loaded = keras_round_trip(det, tmp_path, x, rtol=1e-5, atol=1e-5)
    assert loaded.backbone.image_encoder.network.get_layer("input_normalization") is not None


# --- a keras_aw encoder's weights, a keras_aw classifier ------------------------------


def test_keras_aw_encoder_weights_file(tmp_path):
    source = randomize(ResNetEncoder((1, 1, 1, 1), image_shape=SHAPE), seed=3)
    path = str(tmp_path / "encoder.weights.h5")
    source.save_weights(path)
    encoder = load_encoder(path, SHAPE, stack_blocks=(1, 1, 1, 1))
    layers = resnet_layers(encoder)
    for layer in source.layers:
        if layer.weights:
            for w, v in zip(layers[layer.name].weights, layer.weights):
                np.testing.assert_array_equal(to_numpy(w), to_numpy(v))
    assert "input_normalization" not in [l.name for l in encoder.network.layers]
    x = np.random.default_rng(2).uniform(0, 255, (2, *SHAPE)).astype("float32")
    got, want = pyramid(encoder, x), pyramid(source, x)
    for level in ("P2", "P3", "P4", "P5"):
        np.testing.assert_allclose(got[level], want[level], rtol=1e-5, atol=1e-5)


def test_a_mismatching_file_names_the_first_layer(tmp_path):
    path = str(tmp_path / "other.weights.h5")
    ResNetEncoder((2, 1, 1, 1), image_shape=SHAPE).save_weights(path)  # as many layers
    with pytest.raises(ValueError, match=r"other\.weights\.h5.*at its layer 'conv2d_\d+'.*"
                                         r"the encoder's layer 'conv"):
        load_encoder(path, SHAPE, stack_blocks=(1, 2, 1, 1))


def test_keras_classifier_file_is_encoder_from_classifier(tmp_path):
    from keras_aw.applications import SmallCNN
    from keras_aw.detection import encoder_from_classifier

    cnn = SmallCNN((32, 32, 3), widths=(8, 8, 8, 8, 8))
    path = str(tmp_path / "cnn.keras")
    cnn.save(path)
    x = np.random.default_rng(0).uniform(0, 1, (1, *SHAPE)).astype("float32")
    got = pyramid(load_encoder(path, SHAPE, input_scale=255.0), x)
    want = pyramid(encoder_from_classifier(path, image_shape=SHAPE, input_scale=255.0), x)
    assert sorted(got) == sorted(want)
    for level in got:
        np.testing.assert_array_equal(got[level], want[level])


# --- keras-hub preset directories ------------------------------------------------------


def tiny_hub_backbone():
    return randomize(keras_hub.models.ResNetBackbone(
        input_conv_filters=[64], input_conv_kernel_sizes=[7],
        stackwise_num_filters=[64, 8, 8, 8], stackwise_num_blocks=[1, 1, 1, 1],
        stackwise_num_strides=[1, 2, 2, 2], block_type="bottleneck_block",
        image_shape=(None, None, 3)), seed=5)


@pytest.mark.parametrize("with_converter", [True, False])
def test_preset_directory_round_trip(tmp_path, with_converter):
    backbone = tiny_hub_backbone()
    preset = str(tmp_path / "preset")
    backbone.save_to_preset(preset)
    scale = np.array([0.01, 0.02, 0.03], "float32")
    offset = np.array([-1.0, -0.5, 0.25], "float32")
    if with_converter:
        keras_hub.layers.ResNetImageConverter(image_size=(224, 224), scale=scale.tolist(),
                                              offset=offset.tolist()).save_to_preset(preset)
    else:  # keras-hub's ResNet presets: ImageNet mean/std of [0, 1] pixels
        scale = (1.0 / (255.0 * np.array([0.229, 0.224, 0.225]))).astype("float32")
        offset = (-np.array([0.485, 0.456, 0.406]) / np.array([0.229, 0.224, 0.225]))
    encoder = load_encoder(preset, SHAPE)
    layers = resnet_layers(encoder)
    for layer in backbone.layers:
        if layer.weights:
            for w, v in zip(layers[layer.name].weights, layer.weights):
                np.testing.assert_array_equal(to_numpy(w), to_numpy(v))
    x = np.random.default_rng(4).uniform(0, 255, (2, *SHAPE)).astype("float32")
    normalized = (x * scale + offset).astype("float32")  # what keras-hub's converter computes
    want = keras.Model(backbone.inputs, backbone.pyramid_outputs)([normalized])
    got = pyramid(encoder, x)
    for level in ("P2", "P3", "P4", "P5"):
        w = to_numpy(want[level])
        np.testing.assert_allclose(got[level], w, rtol=1e-4, atol=1e-4 * np.abs(w).max())
    with pytest.raises(ValueError, match=r"stack_blocks=\(3, 4, 6, 3\)"):
        load_encoder(preset, SHAPE, stack_blocks=(3, 4, 6, 3))


# --- bad input --------------------------------------------------------------------------


@pytest.mark.backend_independent
def test_bad_input_names_the_argument(tmp_path, r50_files):
    with pytest.raises(ValueError, match=r"resnet_50_imagenet.*"
                                         r"encoder_weights='resnet_50_imagenett'"):
        load_encoder("resnet_50_imagenett", SHAPE)
    with pytest.raises(ValueError, match=r"names no file.*missing\.weights\.h5"):
        load_encoder(str(tmp_path / "missing.weights.h5"), SHAPE)
    with pytest.raises(ValueError, match=r"names no file.*missing\.keras"):
        load_encoder(str(tmp_path / "missing.keras"), SHAPE)
    with pytest.raises(ValueError, match=r"resnet50\.weights\.h5.*ResNet50.*ResNet101"):
        load_encoder(r50_files["weights.h5"], SHAPE, stack_blocks=101)
    with pytest.raises(ValueError, match=r"stack_blocks=7"):
        load_encoder(r50_files["weights.h5"], SHAPE, stack_blocks=7)
    with pytest.raises(ValueError, match=r"image_shape=\(64, 64\)"):
        load_encoder(r50_files["weights.h5"], (64, 64))
    with pytest.raises(ValueError, match=r"normalization='bgr'"):
        load_encoder(r50_files["weights.h5"], SHAPE, normalization="bgr")
    with pytest.raises(ValueError, match=r"input_scale=0"):
        load_encoder(r50_files["weights.h5"], SHAPE, input_scale=0)
    with pytest.raises(TypeError, match=r"encoder_weights=3"):
        load_encoder(3, SHAPE)
    os.makedirs(tmp_path / "empty")
    with pytest.raises(ValueError, match=r"without config\.json"):
        load_encoder(str(tmp_path / "empty"), SHAPE)
    not_weights = tmp_path / "notes.txt"
    not_weights.write_text("x")
    with pytest.raises(ValueError, match=r"notes\.txt"):
        load_encoder(str(not_weights), SHAPE)


# --- freezing ---------------------------------------------------------------------------


def values(layer):
    return [to_numpy(w).copy() for w in layer.weights]


def test_frozen_parts_stay_frozen_while_the_rest_trains(tmp_path):
    """A few `fit` steps of an AW-FPN detector on a frozen, pretrained encoder."""
    keras.utils.set_random_seed(7)
    source = ResNetEncoder((1, 1, 1, 1), image_shape=SHAPE)  # He init: stable steps
    path = str(tmp_path / "encoder.weights.h5")
    source.save_weights(path)
    encoder = load_encoder(path, SHAPE, stack_blocks=(1, 1, 1, 1))
    det = build_retinanet(encoder, 3, aw=True, **TINY)
    assert freeze_encoder(det, batchnorm=True, stages=1) is encoder
    layers = resnet_layers(encoder)
    stem_res2 = [l for n, l in layers.items() if n.startswith(("conv1_", "conv2_"))]
    bns = [l for l in layers.values() if isinstance(l, keras.layers.BatchNormalization)]
    trained_convs = [l for n, l in layers.items()
                     if isinstance(l, keras.layers.Conv2D) and n.startswith(("conv3_", "conv4_"))]
    fpn = det.backbone.feature_pyramid
    attention_bn = fpn.lateral_convs["P4"].attention_bn1
    heads = [det.classification_head, det.box_head]
    before = {id(l): values(l) for l in [*stem_res2, *bns, *trained_convs, fpn, attention_bn,
                                         *heads]}
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (4, *SHAPE)).astype("float32")
    boxes = np.tile(np.array([[[8.0, 8.0, 40.0, 40.0], [20.0, 30.0, 60.0, 62.0]]], "float32"),
                    (4, 1, 1))
    y = {"boxes": boxes, "labels": np.array([[0, 2]] * 4, "int32")}
    det.compile(optimizer=keras.optimizers.SGD(0.01, global_clipnorm=1.0),
                run_eagerly=BACKEND == "tensorflow")
    det.fit(x, y, epochs=2, batch_size=2, verbose=0)

    def changed(layer):
        return any(not np.array_equal(a, b) for a, b in zip(before[id(layer)], values(layer)))

    frozen = [l.name for l in [*stem_res2, *bns] if changed(l)]
    assert not frozen, frozen  # stem, res2 and every BatchNorm (moving statistics too)
    assert all(not l.trainable for l in [*stem_res2, *bns])
    assert all(changed(l) for l in trained_convs), [l.name for l in trained_convs]
    assert changed(fpn) and all(changed(h) for h in heads)
    assert attention_bn.trainable and changed(attention_bn)  # AW's attention BN trains


def test_freeze_a_keras_hub_backbone():
    backbone = tiny_hub_backbone()
    freeze_encoder(backbone, stages=1)
    state = {l.name: l.trainable for l in backbone.layers if l.weights}
    assert not state["conv1_conv"] and not state["stack0_block0_1_conv"]
    assert state["stack1_block0_1_conv"] and state["stack3_block0_3_conv"]
    assert not any(state[n] for n in state if n.endswith("_bn"))
    freeze_encoder(tiny_hub_backbone(), batchnorm=False, stages=None)


@pytest.mark.backend_independent
def test_freeze_refuses_bad_arguments():
    from keras_aw.detection import MobileNetEncoder

    encoder = ResNetEncoder((1, 1, 1, 1), image_shape=SHAPE)
    with pytest.raises(ValueError, match=r"exceeds the 4 stages.*stages=5"):
        freeze_encoder(encoder, stages=5)
    with pytest.raises(ValueError, match=r"stages=-1"):
        freeze_encoder(encoder, stages=-1)
    with pytest.raises(TypeError, match=r"batchnorm=1"):
        freeze_encoder(encoder, batchnorm=1)
    with pytest.raises(TypeError, match=r"encoder='resnet50'"):
        freeze_encoder("resnet50")
    mobile = MobileNetEncoder(alpha=0.25, image_shape=SHAPE)
    with pytest.raises(ValueError, match=r"cannot be told by layer name"):
        freeze_encoder(mobile, stages=1)
    freeze_encoder(mobile, stages=None)
    assert not any(l.trainable for l in mobile.layers
                   if isinstance(l, keras.layers.BatchNormalization))
