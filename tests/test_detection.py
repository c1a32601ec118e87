"""AW-FPN (paper §4.2, Table 2): the pyramid layer, the encoders, the six detector variants.

Numerics against the NumPy reference of tests/detection_helpers.py, layer types and
placement against §4.2, RetinaNet training on every backend, `.keras` round trip.
"""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_aw
from detection_helpers import TINY, fpn_reference, small_detector
from helpers import BACKEND, keras_round_trip, randomize_batchnorm, rel_err, to_numpy

from keras_aw.detection import FeaturePyramid
from keras_aw.layers import CBAM, AWConv2D, SqueezeExcite

CHANNELS = {3: 12, 4: 24, 5: 40}


def features(seed=0, batch=3, size=32, levels=(3, 4, 5)):
    rng = np.random.RandomState(seed)
    return {f"P{i}": rng.randn(batch, size // 2**i, size // 2**i, CHANNELS[i]).astype("float32")
            for i in levels}


def fpn_model(fpn, feats):
    inputs = {k: keras.Input(v.shape[1:], name=k) for k, v in feats.items()}
    return keras.Model(inputs, fpn(inputs))


@pytest.mark.parametrize("kwargs", [{}, {"aw": True, "attention": "se", "use_p5": True}])
def test_fpn_matches_numpy_reference(kwargs):
    fpn = FeaturePyramid(3, 7, filters=8, attention_reduction=4, **kwargs)
    feats = features()
    model = fpn_model(fpn, feats)
    randomize_batchnorm(model)
    got = {k: to_numpy(v) for k, v in model(feats, training=False).items()}
    expected = fpn_reference(fpn, feats)
    assert sorted(got) == ["P3", "P4", "P5", "P6", "P7"]
    for level, value in expected.items():
        assert got[level].shape == value.shape, level
        assert rel_err(got[level], value) < 1e-5, (level, rel_err(got[level], value))
    if kwargs.get("use_p5"):  # P6 comes from C5
        assert tuple(fpn.coarser_convs["P6"].kernel.shape) == (3, 3, CHANNELS[5], 8)
    if kwargs.get("aw"):  # guard: the attention really differs between samples
        a = to_numpy(fpn.lateral_convs["P3"].attention_maps(feats["P3"]))
        assert np.max(np.abs(a - a[:1])) > 1e-3


@pytest.mark.parametrize("attention", [None, "se", "cbam"])
def test_fpn_placement_and_types(attention):
    """§4.2: AW in every lateral and output convolution; attention right before each."""
    fpn = FeaturePyramid(3, 7, filters=8, aw=True, attention=attention, cbam="spatial")
    fpn_model(fpn, features())
    for level in ("P3", "P4", "P5"):
        for conv, size in ((fpn.lateral_convs[level], 1), (fpn.output_convs[level], 3)):
            assert type(conv) is AWConv2D and conv.kernel_size == (size, size)
        for where in ("lateral", "output"):
            module = getattr(fpn, where + "_attention").get(level)
            if attention is None:
                assert module is None
            else:
                assert type(module) is {"se": SqueezeExcite, "cbam": CBAM}[attention]
                assert module.name == f"{where}_{attention}_{level}"
                if attention == "cbam":
                    assert module.mode == "spatial"
        # the output module sees the merged map (filters channels), the lateral one C_i
        if attention:
            assert fpn.lateral_attention[level].input_spec.axes[-1] == CHANNELS[int(level[1])]
            assert fpn.output_attention[level].input_spec.axes[-1] == 8
    for level in ("P6", "P7"):  # extra levels are plain (documented choice)
        assert type(fpn.coarser_convs[level]) is keras.layers.Conv2D
        assert fpn.coarser_convs[level].strides == (2, 2)


def test_fpn_config_and_keras_roundtrip(tmp_path):
    kwargs = dict(min_level=3, max_level=6, filters=8, aw=True, attention="cbam", cbam="maxpool",
                  attention_reduction=4, reduction=2, use_p5=True, kernel_initializer="he_normal",
                  bias_initializer="ones", data_format="channels_last", name="fpn")
    fpn = FeaturePyramid(**kwargs)
    config = fpn.get_config()
    for key in kwargs:
        assert key in config, key
    assert FeaturePyramid.from_config(config).get_config() == config
    feats = features(3)
    model = fpn_model(fpn, feats)
    randomize_batchnorm(model)
    keras_round_trip(model, tmp_path, feats, name="fpn.keras", max_rel_err=1e-6)


@pytest.mark.backend_independent
def test_fpn_reduction_is_the_attention_ratio_and_attention_reduction_the_aw_one():
    fpn = FeaturePyramid(3, 5, filters=32, aw=True, attention="se", attention_reduction=4,
                         reduction=8)
    fpn.build({k: v.shape for k, v in features().items()})
    assert fpn.lateral_convs["P3"].attention_reduction == 4
    assert fpn.lateral_attention["P3"].reduction == 8 == fpn.output_attention["P4"].reduction
    with pytest.raises(ValueError, match="reduction=0"):
        FeaturePyramid(3, 5, attention="cbam", reduction=0)
    # A keras_aw 0.2.0 config has no `reduction`: its attention_reduction set both ratios.
    config = fpn.get_config()
    del config["reduction"]
    old = FeaturePyramid.from_config(config)
    assert (old.attention_reduction, old.reduction) == (4, 4)


@pytest.mark.skipif(keras.backend.backend() == "tensorflow",
                    reason="TensorFlow's CPU Conv2D has no channels_first kernel (plain Conv2D too)")
def test_fpn_channels_first_equals_channels_last():
    feats = features(4)
    last = FeaturePyramid(3, 6, filters=8, aw=True, attention="se")
    first = FeaturePyramid(3, 6, filters=8, aw=True, attention="se", data_format="channels_first")
    model_last = fpn_model(last, feats)
    feats_first = {k: v.transpose(0, 3, 1, 2) for k, v in feats.items()}
    fpn_model(first, feats_first)
    first.set_weights(last.get_weights())
    out_last = model_last(feats)
    out_first = first(feats_first)
    for level in out_last:
        assert rel_err(to_numpy(out_first[level]).transpose(0, 2, 3, 1),
                       to_numpy(out_last[level])) < 1e-5
    assert first.compute_output_shape({k: v.shape for k, v in feats_first.items()})["P6"] == \
        (3, 8, 1, 1)


def test_fpn_dtype_policy():
    fpn = FeaturePyramid(3, 5, filters=8, aw=True, attention="se", dtype="mixed_float16")
    out = fpn(features(5))
    assert all(keras.backend.standardize_dtype(v.dtype) == "float16" for v in out.values())
    assert fpn.lateral_convs["P3"].kernel.dtype == "float32"


@pytest.mark.backend_independent
@pytest.mark.parametrize("kwargs, message", [
    (dict(min_level=5, max_level=3), "min_level=5, max_level=3"),
    (dict(min_level=0, max_level=3), "min_level=0"),
    (dict(min_level=3, max_level=5, attention="eca"), "attention='eca'"),
    (dict(min_level=3, max_level=5, cbam="both"), "cbam='both'"),
    (dict(min_level=3, max_level=5, filters=0), "filters=0"),
])
def test_fpn_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        FeaturePyramid(**kwargs)
    with pytest.raises(TypeError, match="aw=1"):
        FeaturePyramid(3, 5, aw=1)


@pytest.mark.backend_independent
def test_fpn_missing_levels():
    with pytest.raises(ValueError, match=r"missing \['P3'\]"):
        FeaturePyramid(3, 7)({k: v for k, v in features().items() if k != "P3"})
    with pytest.raises(ValueError, match="'C3'"):
        FeaturePyramid(3, 5)({"C3": features()["P3"]})


# --------------------------------------------------------------------------- detectors

VARIANT_ARGS = {"plain": {}, "aw": {"aw": True}, "se": {"attention": "se"},
                "aw-se": {"aw": True, "attention": "se"}, "cbam": {"attention": "cbam"},
                "aw-cbam": {"aw": True, "attention": "cbam"}}


def all_layers(model):
    return list(model._flatten_layers(include_self=False, recursive=True))


@pytest.mark.backend_independent
@pytest.mark.parametrize("variant", list(VARIANT_ARGS))
def test_registered_variants(variant):
    names = keras_aw.list_models(task="detection", variant=variant)
    assert len(names) == 3  # ResNet101, ResNet50, small ResNet
    info = keras_aw.model_info([n for n in names if n.endswith("ResNet101")][0])
    assert info.paper and info.paper[0].table == "Table 2"
    assert set(info.paper[0].metrics) == {"AP", "AP50", "AP75"}


@pytest.mark.backend_independent  # layer types and counts of a built graph
@pytest.mark.parametrize("variant", ["plain", "aw-cbam"])
def test_registered_variant_structure(variant):
    import keras_hub

    small = [n for n in keras_aw.list_models(task="detection", variant=variant)
             if n.endswith("ResNetSmall")][0]
    det = keras_aw.create_model(small, num_classes=3, **TINY)
    assert isinstance(det, keras_hub.models.RetinaNetObjectDetector)
    fpn = det.backbone.feature_pyramid
    want = VARIANT_ARGS[variant]
    assert fpn.aw == want.get("aw", False) and fpn.attention == want.get("attention")
    conv = AWConv2D if fpn.aw else keras.layers.Conv2D
    assert all(type(c) is conv for c in list(fpn.lateral_convs.values())
               + list(fpn.output_convs.values()))
    # the encoder stays plain (the paper changes only the pyramid)
    encoder = det.backbone.image_encoder
    assert not any(isinstance(l, (AWConv2D, SqueezeExcite, CBAM)) for l in all_layers(encoder))
    n_att = sum(isinstance(l, (SqueezeExcite, CBAM)) for l in all_layers(det))
    assert n_att == (6 if "attention" in want else 0)  # 3 levels x (lateral + output)
    n_aw = sum(isinstance(l, AWConv2D) for l in all_layers(det))
    assert n_aw == (6 if fpn.aw else 0)


@pytest.mark.backend_independent  # symbolic shapes and layer identity
def test_encoder_pyramid_outputs_are_resnet_stages():
    from keras_aw.detection import MobileNetEncoder, ResNetEncoder

    enc = ResNetEncoder((1, 2, 1, 1), image_shape=(64, 64, 3))
    shapes = {k: tuple(v.shape) for k, v in enc.pyramid_outputs.items()}
    assert shapes == {"P2": (None, 16, 16, 256), "P3": (None, 8, 8, 512),
                      "P4": (None, 4, 4, 1024), "P5": (None, 2, 2, 2048)}
    assert enc.pyramid_outputs["P3"] is enc.get_layer("conv3_block2_out").output
    mob = MobileNetEncoder(alpha=0.25, image_shape=(64, 64, 3))
    sizes = {k: v.shape[1] for k, v in mob.pyramid_outputs.items()}
    assert sizes == {"P1": 32, "P2": 16, "P3": 8, "P4": 4, "P5": 2}
    assert enc.get_config()["stack_blocks"] == [1, 2, 1, 1]


@pytest.mark.backend_independent
def test_backbone_errors():
    from keras_aw.detection import FPNBackbone, ResNetEncoder

    enc = ResNetEncoder((1, 1), image_shape=(64, 64, 3))  # C2, C3 only
    with pytest.raises(ValueError, match=r"lacks the pyramid levels \['P4', 'P5'\]"):
        FPNBackbone(enc, 3, 5)
    with pytest.raises(TypeError, match="image_encoder"):
        FPNBackbone(keras.Sequential([keras.layers.Dense(2)]), 3, 5)
    enc = ResNetEncoder((1, 1, 1, 1))
    with pytest.raises(ValueError, match=r"static image size.*\(None, None, 3\)"):
        FPNBackbone(enc, 3, 5, aw=True)
    with pytest.raises(ValueError, match="encoder='vgg16'"):
        keras_aw.detection.build_retinanet("vgg16", 3)


def synthetic_batch(n=4, size=64, seed=0):
    rng = np.random.RandomState(seed)
    x = rng.uniform(0, 255, (n, size, size, 3)).astype("float32")
    boxes = np.full((n, 3, 4), -1.0, "float32")
    labels = np.full((n, 3), -1, "int32")
    for i in range(n):
        for j in range(1 + i % 3):
            y0, x0 = rng.uniform(0, size / 2, 2)
            h, w = rng.uniform(12, size / 2, 2)
            boxes[i, j] = [y0, x0, y0 + h, x0 + w]
            labels[i, j] = rng.randint(3)
            x[i, int(y0):int(y0 + h), int(x0):int(x0 + w)] = 60 * labels[i, j] + 40
    return x, {"boxes": boxes, "labels": labels}


@pytest.fixture(scope="module")
def trained():
    """One small AW-SE-FPN detector trained three steps, shared by the tests below.

    On TensorFlow it runs eagerly: tracing keras-hub's RetinaNet train step takes
    minutes on 2 CPU cores, three eager steps seconds.
    """
    keras.utils.set_random_seed(1)
    det = small_detector({"aw": True, "attention": "se"})
    x, y = synthetic_batch()
    det.compile(optimizer=keras.optimizers.Adam(1e-3),
                run_eagerly=keras.backend.backend() == "tensorflow")
    history = det.fit(x, y, epochs=3, batch_size=4, verbose=0)
    return det, x, y, history.history["loss"]


def test_detector_fit_loss_is_finite_and_falls(trained):
    det, _, _, losses = trained
    assert np.all(np.isfinite(losses))
    assert losses[-1] < 0.8 * losses[0], losses
    assert type(det.backbone.feature_pyramid.output_convs["P4"]) is AWConv2D


def test_detector_predict_and_raw_outputs(trained):
    det, x, _, _ = trained
    raw = det(x[:2])
    n_anchors = 9 * sum((64 // 2**i) ** 2 for i in (3, 4, 5))
    assert tuple(raw["bbox_regression"].shape) == (2, n_anchors, 4)
    assert tuple(raw["cls_logits"].shape) == (2, n_anchors, 3)
    assert np.all(np.isfinite(to_numpy(raw["cls_logits"])))
    out = keras_aw.detection.predict_detections(det, x[:2])
    assert out["boxes"].shape == (2, 100, 4) and out["confidence"].shape == (2, 100)
    with pytest.raises(ValueError, match=r"images of shape \(2, 32, 32, 3\)"):
        keras_aw.detection.predict_detections(det, x[:2, :32, :32])
    # Called directly, Keras's input check names both shapes.
    with pytest.raises(ValueError, match=r"expected shape=\(None, 64, 64, 3\), found "
                                         r"shape=\(2, 32, 32, 3\)"):
        det(x[:2, :32, :32])


@pytest.mark.skipif(BACKEND != "tensorflow", reason="the retrace with an unknown batch size "
                    "that breaks keras-hub's NMS happens in TensorFlow's traced predict only")
def test_predict_detections_with_a_partial_last_batch(trained):
    """5 images in batches of 2, traced (not eager): the same detections as one by one."""
    det = small_detector({"aw": True})
    det.compile(optimizer="adam")  # default: a traced predict function
    x = trained[1]
    x5 = np.concatenate([x, x[:1]])
    together = keras_aw.detection.predict_detections(det, x5, batch_size=2)
    assert together["boxes"].shape == (5, 100, 4)
    for i in (0, 4):
        alone = keras_aw.detection.predict_detections(det, x5[i:i + 1], batch_size=2)
        np.testing.assert_allclose(together["boxes"][i], alone["boxes"][0], atol=1e-3)
        np.testing.assert_array_equal(together["labels"][i], alone["labels"][0])


def test_detector_keras_roundtrip(trained, tmp_path):
    det, x, _, _ = trained
    loaded = keras_round_trip(det, tmp_path, x, name="det.keras", max_rel_err=1e-5)
    # The keras-hub task class paired with FPNBackbone (keras_aw.detection.tasks), a
    # RetinaNetObjectDetector.
    assert type(loaded).__name__ == "FPNRetinaNetObjectDetector"
    assert "RetinaNetObjectDetector" in [c.__name__ for c in type(loaded).__mro__]
    assert type(loaded.backbone.feature_pyramid.output_convs["P4"]) is AWConv2D


CHILD = """
import sys
import numpy as np
import keras
import keras_aw.detection  # registers the encoder and backbone classes

data = np.load(sys.argv[1])
model = keras.saving.load_model(sys.argv[3])
out = model(data["x"], training=False)
np.savez(sys.argv[2], backend=np.array(keras.backend.backend()),
         **{k: keras.ops.convert_to_numpy(v) for k, v in out.items()})
"""


def test_detector_keras_file_loads_on_another_backend(trained, tmp_path):
    """Saved here, loaded by a fresh process under the next backend: same raw predictions.

    One direction per backend run, the loader being PyTorch (from TensorFlow and JAX)
    or TensorFlow (from PyTorch): the child calls the model op by op, which takes
    minutes under JAX without jit; loading under JAX is the JAX run's own round trip.
    """
    det, x, _, _ = trained
    other = "tensorflow" if BACKEND == "torch" else "torch"
    path, data, result = (str(tmp_path / n) for n in ("det.keras", "x.npz", "out.npz"))
    det.save(path)
    np.savez(data, x=x)
    env = dict(os.environ, KERAS_BACKEND=other)
    proc = subprocess.run([sys.executable, "-c", CHILD, data, result, path], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = np.load(result)
    assert str(got["backend"]) == other
    for key, value in det(x, training=False).items():
        assert rel_err(got[key], to_numpy(value)) < 1e-4, key


@pytest.mark.skipif(BACKEND != "tensorflow", reason="SavedModel/TFLite export needs TensorFlow")
def test_detector_export_savedmodel_and_tflite(trained, tmp_path):
    from keras_aw.detection import export_detector

    det, x, _, _ = trained
    expected = {k: to_numpy(v) for k, v in det(x, training=False).items()}
    saved = str(tmp_path / "det")
    for fmt in ("savedmodel", "tflite"):
        path = saved if fmt == "savedmodel" else str(tmp_path / "det.tflite")
        # the TFLite model is converted from the SavedModel just written (one export)
        result = export_detector(det, path, format=fmt, check=False,
                                 saved_model=None if fmt == "savedmodel" else saved)
        assert result.path == path and os.path.exists(path)
        for batch in (1, 3):  # a dynamic batch
            got = result.run(x[:batch])
            assert sorted(got) == ["bbox_regression", "cls_logits"]
            for key in expected:
                assert got[key].shape == expected[key][:batch].shape, (fmt, key)
                assert rel_err(got[key], expected[key][:batch]) < 1e-4, (fmt, key, batch)


def test_export_of_a_detector_names_what_it_cannot_do(trained, tmp_path):
    """`keras_aw.export` takes detectors (raw predictions): SavedModel/TFLite, dynamic batch."""
    import keras_aw

    det = trained[0]
    with pytest.raises(ValueError, match="format='onnx'"):
        keras_aw.export(det, str(tmp_path / "det.onnx"))
    with pytest.raises(ValueError, match="batch_size=2"):
        keras_aw.export(det, str(tmp_path / "det.tflite"), batch_size=2)


@pytest.mark.backend_independent
def test_profile_table2_counts_the_pyramid():
    """The plain pyramid's parameters and multiply-accumulates, against closed forms."""
    from keras_aw.detection import profile_table2

    rows = {r["variant"]: r for r in profile_table2(image_size=128, encoder="resnet_small")}
    assert list(rows) == ["FPN", "AW-FPN", "SE-FPN", "AW-SE-FPN", "CBAM-FPN", "AW-CBAM-FPN"]
    f, channels = 256, {3: 512, 4: 1024, 5: 2048}  # ResNet C3-C5, P6/P7 from P5
    params = sum(c * f + f + 9 * f * f + f for c in channels.values()) + 2 * (9 * f * f + f)
    assert rows["FPN"]["fpn_params"] == params
    positions = {i: (128 // 2**i) ** 2 for i in range(3, 8)}
    macs = sum(positions[i] * (c * f + 9 * f * f) for i, c in channels.items()) \
        + sum(positions[i] * 9 * f * f for i in (6, 7))
    assert abs(rows["FPN"]["fpn_gflops"] - macs / 1e9) < 1e-9
    for plain, aw in (("FPN", "AW-FPN"), ("SE-FPN", "AW-SE-FPN"), ("CBAM-FPN", "AW-CBAM-FPN")):
        assert rows[aw]["fpn_params"] > rows[plain]["fpn_params"]
        assert rows[aw]["fpn_gflops"] > rows[plain]["fpn_gflops"]
        assert rows[aw]["params"] - rows[aw]["fpn_params"] == \
            rows[plain]["params"] - rows[plain]["fpn_params"]  # same encoder
