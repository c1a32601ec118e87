"""Tests of keras_aw.applications: signatures, Table 1 counts, names, training, saving, errors.

Expected values come from outside the implementation: keras.applications'
signatures and models, torchvision's published parameter counts, the paper's
Table 1 (SPEC §4; the registry's copy of it is checked in test_registry.py) and
the SPEC's parameter formulas, Keras's pinned hash of its ImageNet class index.

Tests of structure, counts, signatures, pre/post-processing and argument errors are
marked `backend_independent` (run under one backend); training and saving run under all.
"""

import hashlib
import inspect
import os
import re

import keras
import numpy as np
import pytest

import keras_aw
from helpers import keras_round_trip, randomize_batchnorm, to_numpy
from keras_aw import applications, registry
from keras_aw.applications import imagenet_utils, mobilenet, resnet
from keras_aw.layers import CBAM, AWConv2D, SqueezeExcite
from keras_aw.utils import profile

DEPTHS = (50, 101, 152)
RESNET_VARIANTS = ("", "AW", "SE", "AWSE", "CBAM", "AWCBAM")
RESNET_BUILDERS = [f"{v}ResNet{d}" for d in DEPTHS for v in RESNET_VARIANTS]
MOBILENET_BUILDERS = [f"{v}MobileNet" for v in RESNET_VARIANTS]
ALL_BUILDERS = RESNET_BUILDERS + MOBILENET_BUILDERS
# How the paper writes each variant before a network's name (SPEC §4).
PAPER_PREFIX = {"": "", "AW": "AW-", "SE": "SE-", "AWSE": "AW-SE-", "CBAM": "CBAM-",
                "AWCBAM": "AW-CBAM-"}


def trainable_count(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


# --------------------------------------------------------------------------- signatures


@pytest.mark.backend_independent
@pytest.mark.parametrize("builder", ALL_BUILDERS)
def test_signature_matches_keras_applications(builder):
    ours = inspect.signature(getattr(applications, builder))
    depth = re.search(r"\d*$", builder).group()
    reference = inspect.signature(
        getattr(keras.applications, f"ResNet{depth}" if depth else "MobileNet"))
    ours_params = list(ours.parameters.values())
    ref_params = list(reference.parameters.values())
    assert [p.name for p in ours_params[: len(ref_params)]] == [p.name for p in ref_params]
    for mine, theirs in zip(ours_params, ref_params):
        assert mine.kind == theirs.kind, mine.name
        if mine.name == "weights":
            assert mine.default is None  # no ImageNet weights exist
        elif mine.name == "name" and depth:
            assert mine.default.endswith(theirs.default), (mine.default, theirs.default)
        else:
            assert mine.default == theirs.default, mine.name
    extra = ours_params[len(ref_params):]
    if "CBAM" in builder:
        assert [(p.name, p.kind, p.default) for p in extra] == [
            ("cbam", inspect.Parameter.KEYWORD_ONLY, "full")
        ]
    else:
        assert extra == []
    doc = getattr(applications, builder).__doc__
    assert "Args:" in doc and "Returns:" in doc
    # The docstring is the builder's own (written, not patched from a template): it names
    # the network and the paper's rows, or says the paper has none.
    info = registry.model_info(builder)
    prefix, base = re.fullmatch(r"((?:AW)?(?:SE|CBAM)?)(.+)", builder).groups()
    title = PAPER_PREFIX[prefix] + base
    assert doc.lstrip().startswith(title + ":"), (builder, doc[:80])
    text = " ".join(doc.split())
    for row in info.paper:
        assert f'"{row.label}"' in text, (builder, row.label)
    if not info.paper:
        assert "reports no row" in doc, builder
    assert ("cbam:" in doc) == ("CBAM" in builder), builder


@pytest.mark.backend_independent
def test_named_builders_forward_to_the_generic_builders(monkeypatch):
    """Each named builder is one call of `ResNet` / `MobileNetV1` with its variant's settings."""
    calls = []
    monkeypatch.setattr(resnet, "ResNet", lambda *args, **kwargs: calls.append((args, kwargs)))
    monkeypatch.setattr(mobilenet, "MobileNetV1", lambda **kwargs: calls.append(((), kwargs)))
    stacks = {"50": (3, 4, 6, 3), "101": (3, 4, 23, 3), "152": (3, 8, 36, 3)}
    for builder in ALL_BUILDERS:
        variant = builder.split("ResNet")[0] if "ResNet" in builder else builder[:-9]
        extra = {"cbam": "spatial"} if "CBAM" in variant else {}
        calls.clear()
        getattr(applications, builder)(include_top=False, weights="w.h5", pooling="max",
                                       classes=7, classifier_activation=None, name="n",
                                       input_shape=(40, 40, 3), **extra)
        (args, kwargs), = calls
        depth = re.search(r"\d*$", builder).group()
        assert args == ()
        if depth:
            assert kwargs.pop("stack_blocks") == stacks[depth], builder
        assert kwargs.pop("aw", False) is variant.startswith("AW"), builder
        assert kwargs.pop("attention", None) == (
            "se" if "SE" in variant else "cbam" if "CBAM" in variant else None), builder
        assert kwargs.pop("cbam", None) == extra.get("cbam"), builder
        expected = dict(include_top=False, weights="w.h5", pooling="max", classes=7,
                        classifier_activation=None, name="n", input_shape=(40, 40, 3),
                        input_tensor=None)
        if not depth:
            expected.update(alpha=1.0, depth_multiplier=1, dropout=1e-3)
        assert kwargs == expected, builder


@pytest.mark.backend_independent
def test_modules_expose_preprocess_and_decode():
    for module in (resnet, mobilenet):
        assert callable(module.preprocess_input) and callable(module.decode_predictions)
        assert module.decode_predictions.__doc__


# --------------------------------------------------------------------------- Table 1


def aw_extra_params(c1, c2, r=16):
    """SPEC §2: the attention branch of one AWConv2D (r_C1 = C1, r_C2 = 1)."""
    hidden = max(c1 // r, 1)
    return c1 * hidden + hidden * c2 + 2 * (hidden + c2)


def se_params(c, r=16):
    hidden = max(c // r, 1)
    return 2 * c * hidden + hidden + c


def resnet_3x3_widths(blocks):
    return [64 * 2**stage for stage, n in enumerate(blocks) for _ in range(n)]


def resnet_se_widths(blocks):
    return [4 * w for w in resnet_3x3_widths(blocks)]


MOBILENET_DW = [32, 64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024]
MOBILENET_PW = [64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024]


@pytest.mark.backend_independent
def test_formulas_reproduce_spec_numbers():
    """The test's own formulas give the SPEC §4 increments (so they can be trusted below)."""
    r50, r101 = (3, 4, 6, 3), (3, 4, 23, 3)
    assert abs(sum(aw_extra_params(c, c) for c in resnet_3x3_widths(r50)) - 0.165e6) < 1e3
    assert abs(sum(aw_extra_params(c, c) for c in resnet_3x3_widths(r101)) - 0.314e6) < 1e3
    assert abs(sum(se_params(c) for c in resnet_se_widths(r50)) - 2.531e6) < 1e3
    assert abs(sum(se_params(c) for c in resnet_se_widths(r101)) - 4.778e6) < 1e3
    aw_mobilenet = sum(aw_extra_params(a, b) for a, b in zip(MOBILENET_DW, MOBILENET_PW))
    assert abs(aw_mobilenet - 0.38e6) < 0.01e6
    assert abs(sum(se_params(c) for c in MOBILENET_DW + MOBILENET_PW) - 0.84e6) < 0.01e6


def table1_rows(family):
    """The registry's Table 1 rows (spec, PaperResult) of one network family."""
    rows = [(spec, row) for spec, info, row in registry.paper_rows() if info.family == family]
    assert rows, family
    return rows


@pytest.fixture(scope="module")
def table1():
    """{spec: (model, profile)} for the ResNet50 and MobileNet rows of Table 1, at 224x224."""
    built = {}
    for family in ("resnet50", "mobilenet"):
        for spec, _ in table1_rows(family):
            model = keras_aw.create_model(spec)
            built[spec] = (model, profile(model))
    return built


@pytest.mark.backend_independent
def test_table1_resnet50_rows(table1):
    """Trainable parameters within 0.01 M of the paper, GFLOPs near it, increments exact."""
    counts = {spec: p.trainable_params for spec, (_, p) in table1.items()}
    rows = table1_rows("resnet50")
    assert len(rows) == 6
    for spec, row in rows:
        p = table1[spec][1]
        assert abs(p.trainable_params / 1e6 - row.metrics["params_m"]) <= 0.01, (spec, p)
        assert abs(p.gflops - row.metrics["gflops"]) <= 0.03, (spec, p)
    r50 = table1["ResNet50"][1]
    assert r50.trainable_params == 25_557_032  # torchvision resnet50's published count
    assert round(r50.gflops, 2) == 3.86
    aw = sum(aw_extra_params(c, c) for c in resnet_3x3_widths((3, 4, 6, 3)))
    se = sum(se_params(c) for c in resnet_se_widths((3, 4, 6, 3)))
    assert counts["AWResNet50"] == r50.trainable_params + aw
    assert counts["SEResNet50"] == r50.trainable_params + se
    assert counts["AWSEResNet50"] == r50.trainable_params + aw + se
    # CBAM "maxpool" has the SE's parameters; "spatial" adds 7*7*2 weights + BN (2) per module.
    assert counts["AWCBAMResNet50:maxpool"] == r50.trainable_params + aw + se
    assert counts["AWCBAMResNet50:spatial"] == r50.trainable_params + aw + se + 16 * 100
    aw_gflops = table1["AWResNet50"][1].gflops - r50.gflops
    assert 0.005 <= aw_gflops <= 0.02, aw_gflops  # the paper's "3.86 -> 3.87"


@pytest.mark.backend_independent
def test_table1_mobilenet_rows(table1):
    """MobileNet rows equal what the SPEC design gives (the paper's AW rows are inconsistent)."""
    paper = {spec: row.metrics for spec, row in table1_rows("mobilenet")}
    mob = table1["MobileNet"][1]
    assert abs(mob.trainable_params / 1e6 - paper["MobileNet"]["params_m"]) <= 0.005
    assert abs(mob.gflops - paper["MobileNet"]["gflops"]) <= 0.001
    se = sum(se_params(c) for c in MOBILENET_DW + MOBILENET_PW)
    aw = sum(aw_extra_params(a, b) for a, b in zip(MOBILENET_DW, MOBILENET_PW))
    spatial_gates = 26 * (98 + 2)
    expected = {
        "SEMobileNet": se,
        "AWSEMobileNet": se + aw,
        "CBAMMobileNet:full": se + spatial_gates,
        "AWCBAMMobileNet:spatial": se + aw + spatial_gates,
    }
    assert sorted(paper) == sorted([*expected, "MobileNet"])
    for spec, extra in expected.items():
        p = table1[spec][1]
        assert p.trainable_params == mob.trainable_params + extra, spec
        assert mob.gflops < p.gflops < 0.66, spec
    se_paper = paper["SEMobileNet"]["params_m"]
    assert abs(table1["SEMobileNet"][1].trainable_params / 1e6 - se_paper) <= 0.005


@pytest.mark.backend_independent
def test_table1_resnet101_rows():
    """ResNet101: torchvision's 44,549,160 plus exactly the SPEC's SE and AW increments."""
    paper = {spec: row.metrics for spec, row in table1_rows("resnet101")}
    model = keras_aw.create_model("AWSEResNet101")
    p = profile(model)
    blocks = (3, 4, 23, 3)
    aw = sum(aw_extra_params(c, c) for c in resnet_3x3_widths(blocks))
    se = sum(se_params(c) for c in resnet_se_widths(blocks))
    assert p.trainable_params == 44_549_160 + aw + se  # torchvision resnet101's count + SPEC
    assert abs(44_549_160 / 1e6 - paper["ResNet101"]["params_m"]) <= 0.01
    assert abs((44_549_160 + se) / 1e6 - paper["SEResNet101"]["params_m"]) <= 0.01
    # paper: ResNet101 7.57, AW-SE-ResNet101 7.59
    assert paper["ResNet101"]["gflops"] + 0.01 <= p.gflops, p
    assert p.gflops <= paper["AWSEResNet101"]["gflops"] + 0.02, p
    assert sum(isinstance(l, AWConv2D) for l in model.layers) == 33


# --------------------------------------------------------------------------- structure


def non_input_layers(model):
    return [l for l in model.layers if not isinstance(l, keras.layers.InputLayer)]


def layer_names(model):
    """Layer names, an automatic name (the class's in snake case) without the ``_N`` Keras
    appends to keep it unique in the session: N counts what earlier tests built."""
    names = []
    for layer in non_input_layers(model):
        auto = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", type(layer).__name__)
        auto = re.sub(r"([a-z])([A-Z])", r"\1_\2", auto).lower()
        names.append(auto if re.fullmatch(re.escape(auto) + r"(_\d+)?", layer.name) else layer.name)
    return names


@pytest.mark.backend_independent
def test_resnet50_matches_keras_applications_layout(table1):
    """Same layer names, in order, types and output shapes as keras.applications.ResNet50."""
    ours = table1["ResNet50"][0]
    theirs = keras.applications.ResNet50(weights=None)
    ours_layers, theirs_layers = non_input_layers(ours), non_input_layers(theirs)
    assert layer_names(ours) == layer_names(theirs)
    for a, b in zip(ours_layers, theirs_layers):
        assert tuple(a.output.shape) == tuple(b.output.shape), a.name
        assert type(a) is type(b), a.name
        if isinstance(a, keras.layers.Conv2D):
            assert (a.strides, a.kernel_size, a.padding) == (b.strides, b.kernel_size, b.padding)
            assert not a.use_bias  # SPEC §3: convolutions without bias
    # keras.applications' ResNet50 differs only by its convolution biases.
    biases = sum(int(np.prod(l.bias.shape)) for l in theirs_layers
                 if isinstance(l, keras.layers.Conv2D))
    assert trainable_count(ours) == trainable_count(theirs) - biases


@pytest.mark.backend_independent
def test_mobilenet_matches_keras_applications_layout(table1):
    ours = table1["MobileNet"][0]
    theirs = keras.applications.MobileNet(weights=None)
    ours_layers, theirs_layers = non_input_layers(ours), non_input_layers(theirs)
    assert layer_names(ours) == layer_names(theirs)
    for a, b in zip(ours_layers, theirs_layers):
        assert tuple(a.output.shape) == tuple(b.output.shape), a.name
        assert type(a) is type(b), a.name
    assert trainable_count(ours) == trainable_count(theirs)
    assert ours.name == theirs.name == "mobilenet_1.00_224"


@pytest.mark.backend_independent
def test_attention_placement_and_names(table1):
    model = table1["AWSEResNet50"][0]
    assert isinstance(model.get_layer("conv3_block2_2_conv"), AWConv2D)
    assert not isinstance(model.get_layer("conv3_block2_1_conv"), AWConv2D)
    assert not isinstance(model.get_layer("conv3_block2_3_conv"), AWConv2D)
    se = model.get_layer("conv3_block2_se")
    assert isinstance(se, SqueezeExcite)
    # On the residual branch: after the last BN, before the addition.
    assert se.input is model.get_layer("conv3_block2_3_bn").output
    assert any(t is se.output for t in model.get_layer("conv3_block2_add").input)
    assert sum(isinstance(l, AWConv2D) for l in model.layers) == 16
    assert sum(l.name.endswith("_se") for l in model.layers) == 16
    assert [l.name for l in model.layers][-2:] == ["avg_pool", "predictions"]
    # Every AWConv2D of the ResNets runs at stride 1 (SPEC §3).
    assert all(l.strides == (1, 1) for l in model.layers if isinstance(l, AWConv2D))
    assert model.name == "aw_se_resnet50"

    model = table1["AWCBAMResNet50:maxpool"][0]
    cbam = model.get_layer("conv4_block6_cbam")
    assert isinstance(cbam, CBAM) and cbam.mode == "maxpool"
    assert cbam.input is model.get_layer("conv4_block6_3_bn").output

    model = table1["AWCBAMMobileNet:spatial"][0]
    for i in range(1, 14):
        assert isinstance(model.get_layer(f"conv_pw_{i}"), AWConv2D)
        assert not isinstance(model.get_layer(f"conv_dw_{i}"), AWConv2D)
        for kind in ("dw", "pw"):
            layer = model.get_layer(f"conv_{kind}_{i}_cbam")
            assert isinstance(layer, CBAM) and layer.mode == "spatial"
            assert layer.input is model.get_layer(f"conv_{kind}_{i}_relu").output
    assert not isinstance(model.get_layer("conv1"), AWConv2D)
    assert not isinstance(model.get_layer("conv_preds"), AWConv2D)
    assert model.name == "aw_cbam_mobilenet_1.00_224"


@pytest.mark.backend_independent
def test_initialization_follows_the_references(table1):
    """ResNet: torchvision's He-normal fan-out kernels; MobileNet: Keras's Glorot uniform."""
    model = table1["AWSEResNet50"][0]
    for name in ("conv1_conv", "conv3_block2_1_conv", "conv3_block2_2_conv", "conv4_block1_0_conv"):
        kernel = to_numpy(model.get_layer(name).kernel)
        kh, kw, _, c_out = kernel.shape
        expected_std = np.sqrt(2.0 / (kh * kw * c_out))
        assert abs(kernel.mean()) < 0.05 * expected_std, name
        assert abs(kernel.std() / expected_std - 1) < 0.05, name
    bn = model.get_layer("conv3_block2_2_bn")
    assert np.all(to_numpy(bn.gamma) == 1) and np.all(to_numpy(bn.beta) == 0)
    model = table1["MobileNet"][0]
    kernel = to_numpy(model.get_layer("conv_pw_7").kernel)
    limit = np.sqrt(6.0 / (512 + 512))
    assert np.abs(kernel).max() <= limit
    assert abs(kernel.std() / (limit / np.sqrt(3)) - 1) < 0.05


def test_top_pooling_input_tensor_and_channels_first():
    features = resnet.ResNet((1, 1), attention="se", include_top=False, input_shape=(64, 96, 3))
    assert features.output_shape == (None, 8, 12, 512)
    assert resnet.ResNet((1,), include_top=False).input_shape == (None, None, None, 3)
    assert resnet.ResNet((1,), include_top=False, pooling="max",
                         input_shape=(32, 32, 3)).output_shape == (None, 256)
    # AW networks need a static size: without a top they default to 224.
    assert resnet.ResNet((1,), aw=True, include_top=False).input_shape == (None, 224, 224, 3)
    model = applications.CBAMMobileNet((32, 32, 3), include_top=False, pooling="avg")
    assert model.output_shape == (None, 1024)
    assert model.get_layer("conv_dw_1_cbam").mode == "full"
    tensor = keras.Input((48, 48, 3))
    model = applications.AWMobileNet(input_tensor=tensor, classes=3,
                                     classifier_activation=None, name="tiny")
    assert model.inputs[0] is tensor and model.output_shape == (None, 3)
    assert model.get_layer("predictions").activation is keras.activations.linear
    assert model.name == "tiny"

    model = resnet.ResNet((1, 1), attention="cbam", aw=True, cbam="full", include_top=False,
                          input_shape=(3, 32, 32), data_format="channels_first")
    assert model.output_shape == (None, 512, 4, 4)
    assert model.get_layer("conv3_block1_cbam").data_format == "channels_first"


# --------------------------------------------------------------------------- training, saving


def small_data(size, classes, n=8, seed=0):
    rng = np.random.RandomState(seed)
    x = rng.uniform(0, 1, (n, size, size, 3)).astype("float32")
    y = np.arange(n) % classes
    return x, y


def fit_and_check(model, x, y, epochs=6):
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=keras.losses.SparseCategoricalCrossentropy())
    history = model.fit(x, y, batch_size=len(x), epochs=epochs, verbose=0).history["loss"]
    assert np.all(np.isfinite(history)), history
    assert history[-1] < history[0], history
    return history


def assert_keras_round_trip(model, x, tmp_path):
    randomize_batchnorm(model)
    loaded = keras_round_trip(model, tmp_path, x, rtol=1e-5, atol=1e-6)
    assert [type(l) for l in loaded.layers] == [type(l) for l in model.layers]


# Small members of each family; their weight shapes are those of the 224 models above,
# so that JAX, which compiles its initializers per shape, reuses them.
FAMILY = [(None, False), ("se", False), ("cbam", True)]


@pytest.mark.parametrize("attention,aw", FAMILY)
def test_resnet_family_fits(attention, aw, tmp_path):
    """The bottleneck of every ResNet builder trains with model.fit (one stage of ResNet50)."""
    x, y = small_data(32, 4)
    model = resnet.ResNet((1,), attention=attention, aw=aw, cbam="spatial",
                          input_shape=(32, 32, 3), classes=4)
    fit_and_check(model, x, y)
    if aw:
        assert_keras_round_trip(model, x[:2], tmp_path)


@pytest.mark.parametrize("attention,aw", FAMILY)
def test_mobilenet_family_fits(attention, aw, tmp_path):
    """The separable block of every MobileNet builder trains with model.fit (two blocks).

    (The `.keras` round trip of a whole AW network is in `test_resnet_family_fits`.)
    """
    x, y = small_data(32, 4)
    model = mobilenet.MobileNetV1((32, 32, 3), dropout=0.0, classes=4, attention=attention,
                                  aw=aw, cbam="spatial", blocks=((64, 1), (128, 2)))
    attention_layers = [l for l in model.layers
                        if type(l).__name__ in ("AWConv2D", "SqueezeExcite", "CBAM")]
    assert len(attention_layers) == (2 if aw else 0) + (4 if attention else 0)
    before = [to_numpy(w).copy() for l in attention_layers for w in l.trainable_weights]
    fit_and_check(model, x, y)
    after = [to_numpy(w) for l in attention_layers for w in l.trainable_weights]
    changed = [not np.allclose(a, b) for a, b in zip(after, before)]
    assert all(changed), changed  # the attention modules train too, not only the trunk


def test_weights_file_is_loaded(tmp_path):
    x, _ = small_data(32, 3, n=2)
    kwargs = dict(input_shape=(32, 32, 3), classes=3, attention="se", aw=True,
                  blocks=((64, 2),))
    model = mobilenet.MobileNetV1(**kwargs)
    randomize_batchnorm(model, seed=3)
    path = os.path.join(str(tmp_path), "aw.weights.h5")
    model.save_weights(path)
    other = mobilenet.MobileNetV1(weights=path, **kwargs)
    np.testing.assert_allclose(to_numpy(other(x, training=False)),
                               to_numpy(model(x, training=False)), rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- pre/post-processing


@pytest.mark.backend_independent
def test_preprocess_input_modes():
    rng = np.random.RandomState(0)
    images = rng.uniform(0, 255, (2, 4, 4, 3)).astype("float32")
    caffe = images[..., ::-1] - np.array([103.939, 116.779, 123.68], "float32")
    np.testing.assert_allclose(resnet.preprocess_input(images.copy()), caffe, rtol=1e-6)
    np.testing.assert_allclose(mobilenet.preprocess_input(images.copy()),
                               images / 127.5 - 1.0, rtol=1e-6, atol=1e-6)
    first = np.transpose(images, (0, 3, 1, 2)).copy()
    np.testing.assert_allclose(
        resnet.preprocess_input(first, data_format="channels_first"),
        np.transpose(caffe, (0, 3, 1, 2)), rtol=1e-6)


@pytest.mark.backend_independent
def test_class_index_is_keras_file_and_decode_works_offline():
    with open(imagenet_utils.CLASS_INDEX_PATH, "rb") as f:
        # The MD5 that keras.applications.imagenet_utils pins for imagenet_class_index.json.
        assert hashlib.md5(f.read()).hexdigest() == "c2c37ea517e94d9795004a39431a14cb"
    preds = np.zeros((2, 1000), "float32")
    preds[0, [1, 0, 999]] = [0.7, 0.2, 0.1]
    preds[1, 207] = 1.0
    decoded = resnet.decode_predictions(preds, top=3)
    assert [d[:2] for d in decoded[0]] == [
        ("n01443537", "goldfish"), ("n01440764", "tench"), ("n15075141", "toilet_tissue")]
    np.testing.assert_allclose([d[2] for d in decoded[0]], [0.7, 0.2, 0.1])
    assert mobilenet.decode_predictions(preds, top=1)[1][0][:2] == (
        "n02099601", "golden_retriever")
    assert len(mobilenet.decode_predictions(preds)[0]) == 5
    for bad in (np.zeros((2, 10)), np.zeros(1000)):
        with pytest.raises(ValueError, match="1000"):
            resnet.decode_predictions(bad)


# --------------------------------------------------------------------------- bad input


@pytest.mark.backend_independent
@pytest.mark.parametrize("builder", ["AWSEResNet50", "CBAMMobileNet"])
@pytest.mark.parametrize("kwargs,match", [
    ({"input_shape": (64, 64)}, "input_shape"),
    ({"input_shape": (64, 64, 3, 1)}, "input_shape"),
    ({"input_shape": (64, 64, 1)}, "3 channels"),
    ({"input_shape": (64, 64, 4)}, "3 channels"),
    ({"input_shape": (31, 64, 3)}, "at least 32"),
    ({"input_shape": (None, None, 3)}, "static"),
    ({"pooling": "mean", "include_top": False}, "pooling"),
    ({"classes": 0}, "classes"),
    ({"classes": -3}, "classes"),
    ({"weights": "imagenet"}, "convert_to_aw"),
    ({"weights": "/nonexistent/dir/aw.weights.h5"}, "/nonexistent/dir/aw.weights.h5"),
])
def test_bad_arguments_raise_clear_value_errors(builder, kwargs, match):
    if builder.endswith("MobileNet") and "input_shape" not in kwargs:
        kwargs = dict(kwargs, input_shape=(32, 32, 3))
    with pytest.raises(ValueError, match=match) as info:
        getattr(applications, builder)(**kwargs)
    assert next(iter(kwargs)) in str(info.value)  # the message names the argument


@pytest.mark.backend_independent
def test_more_bad_arguments():
    with pytest.raises(ValueError, match="no ImageNet-trained weights") as info:
        applications.ResNet50(weights="imagenet")
    assert 'keras.applications.ResNet50(weights="imagenet")' in str(info.value)
    for builder in ("CBAMResNet101", "AWCBAMResNet152", "CBAMMobileNet", "AWCBAMMobileNet"):
        with pytest.raises(ValueError, match="cbam.*'channel'"):
            getattr(applications, builder)(cbam="channel")
    with pytest.raises(ValueError, match="attention"):
        resnet.ResNet((1, 1), attention="eca")
    with pytest.raises(ValueError, match="stack_blocks"):
        resnet.ResNet(())
    with pytest.raises(ValueError, match="alpha"):
        applications.MobileNet(alpha=0)
    with pytest.raises(ValueError, match="dropout"):
        applications.MobileNet(dropout=1.5)
    with pytest.raises(ValueError, match="data_format"):
        resnet.ResNet((1,), data_format="NHWC")
    # Without a top, any size of at least 32 works for plain networks; AW needs it static.
    resnet.ResNet((1,), include_top=False, input_shape=(None, None, 3))
    with pytest.raises(ValueError, match="static"):
        applications.AWResNet50(include_top=False, input_shape=(None, None, 3))
    with pytest.raises(ValueError, match="at least 32"):
        applications.ResNet50(include_top=False, input_shape=(16, 16, 3))
    with pytest.raises(ValueError, match="blocks"):
        mobilenet.MobileNetV1(blocks=((64, 3),))


@pytest.mark.backend_independent
@pytest.mark.parametrize("aw", [1, "yes", None])
def test_non_bool_aw_is_a_type_error(aw):
    with pytest.raises(TypeError, match=f"aw={aw!r}"):
        resnet.ResNet((1,), aw=aw, input_shape=(32, 32, 3), classes=2)
    with pytest.raises(TypeError, match=f"aw={aw!r}"):
        mobilenet.MobileNetV1((32, 32, 3), alpha=0.25, aw=aw, classes=2)
