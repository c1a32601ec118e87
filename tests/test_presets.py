"""keras-hub presets: every keras-hub-shaped keras_aw model saves and loads by its classes.

Each model is saved with keras-hub's ``save_to_preset`` into a local directory
and loaded back with keras-hub's ``from_preset`` of the generic class
(``keras_hub.models.Backbone``, ``ImageClassifier``, ``ObjectDetector``) and of
the concrete classes; the loaded model's outputs must equal the original's
exactly (same backend, same weights, same graph: bit-for-bit, max difference
0.0). The reference is the in-memory model, which the preset code never touches.
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from helpers import to_numpy

keras_hub = pytest.importorskip("keras_hub")

import keras_aw  # noqa: E402
from keras_aw import deploy  # noqa: E402
from keras_aw.applications import SmallCNN  # noqa: E402
from keras_aw.detection import (  # noqa: E402
    FPNBackbone, FPNRetinaNetObjectDetector, GraphBackbone, GraphImageClassifier,
    MobileNetEncoder, MobileNetEncoderImageClassifier, ResNetEncoder,
    ResNetEncoderImageClassifier, encoder_from_classifier)
from keras_aw.detection import AWFPNResNetSmall  # noqa: E402
from keras_aw_tools import cli  # noqa: E402

SIZE = 32
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def images(n=2, seed=0, high=255.0):
    return np.random.RandomState(seed).uniform(0, high, (n, SIZE, SIZE, 3)).astype("float32")


def outputs(model, x):
    """The model's outputs as a dict of NumPy arrays (one entry for a single tensor)."""
    out = model(x, training=False)
    if not isinstance(out, dict):
        out = {"output": out}
    return {k: to_numpy(v) for k, v in out.items()}


def assert_equal_outputs(loaded, model, x):
    expected, got = outputs(model, x), outputs(loaded, x)
    assert sorted(got) == sorted(expected)
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key], err_msg=key)


def round_trip(model, tmp_path, classes, x, name="preset"):
    """Saves `model` as a preset; loads it with each class; checks class and outputs."""
    path = str(tmp_path / name)
    model.save_to_preset(path)
    for cls in classes:
        loaded = cls.from_preset(path)
        assert type(loaded) is type(model), (cls.__name__, type(loaded).__name__)
        assert_equal_outputs(loaded, model, x)
    return path


def hub_resnet():
    """A small random keras-hub ResNet (basic blocks; keras-hub wants 64 stem filters)."""
    return keras_hub.models.ResNetBackbone(
        input_conv_filters=[64], input_conv_kernel_sizes=[3],
        stackwise_num_filters=[64, 8, 8], stackwise_num_blocks=[1, 1, 1],
        stackwise_num_strides=[1, 2, 2], block_type="basic_block",
        image_shape=(SIZE, SIZE, 3))


@pytest.fixture(scope="module")
def converted():
    """A converted keras-hub backbone (a GraphBackbone with AW convolutions)."""
    backbone = keras_aw.convert_to_aw(hub_resnet())
    assert type(backbone) is GraphBackbone
    return backbone


def tiny_detector(**kwargs):
    """The registered AWFPNResNetSmall on a width-0.25 MobileNet encoder (fast to build)."""
    encoder = MobileNetEncoder(alpha=0.25, image_shape=(SIZE, SIZE, 3), name="image_encoder")
    return AWFPNResNetSmall(3, (SIZE, SIZE, 3), encoder=encoder, max_level=5, filters=8,
                            head_conv_layers=1, **kwargs)


def test_converted_backbone_and_its_classifier(converted, tmp_path):
    x = images()
    round_trip(converted, tmp_path, [keras_hub.models.Backbone, GraphBackbone], x, "backbone")
    classifier = GraphImageClassifier(converted, num_classes=3)
    path = round_trip(classifier, tmp_path,
                      [keras_hub.models.ImageClassifier, GraphImageClassifier], x, "classifier")
    # a task preset holds its backbone too, loadable on its own
    assert_equal_outputs(keras_hub.models.Backbone.from_preset(path), converted, x)
    with open(os.path.join(path, "metadata.json")) as f:  # keras-hub lists the task
        assert "ImageClassifier" in json.load(f)["tasks"]


def test_classifier_trunk_as_graph_backbone(tmp_path):
    trunk = encoder_from_classifier(SmallCNN((SIZE, SIZE, 3), widths=(8, 8, 8, 8)),
                                    input_scale=255.0)
    classifier = GraphImageClassifier(trunk, num_classes=2, activation="softmax")
    round_trip(classifier, tmp_path, [keras_hub.models.ImageClassifier, GraphImageClassifier],
               images(high=1.0))


@pytest.mark.parametrize("kind", ["resnet", "mobilenet"])
def test_keras_aw_encoders_and_their_classifiers(kind, tmp_path):
    if kind == "resnet":
        encoder = ResNetEncoder((1,), aw=True, image_shape=(SIZE, SIZE, 3))
        task_cls = ResNetEncoderImageClassifier
    else:
        encoder = MobileNetEncoder(alpha=0.25, image_shape=(SIZE, SIZE, 3))
        task_cls = MobileNetEncoderImageClassifier
    x = images()
    round_trip(encoder, tmp_path, [keras_hub.models.Backbone, type(encoder)], x, "encoder")
    round_trip(task_cls(encoder, num_classes=4), tmp_path,
               [keras_hub.models.ImageClassifier, task_cls], x, "classifier")


def test_detector_and_its_fpn_backbone(tmp_path):
    det = tiny_detector()
    assert type(det) is FPNRetinaNetObjectDetector
    assert isinstance(det, keras_hub.models.RetinaNetObjectDetector)
    x = images(high=1.0)
    round_trip(det.backbone, tmp_path, [keras_hub.models.Backbone, FPNBackbone], x, "backbone")
    path = round_trip(det, tmp_path, [keras_hub.models.ObjectDetector,
                                      keras_hub.models.RetinaNetObjectDetector,
                                      FPNRetinaNetObjectDetector], x, "detector")
    # predict = these raw outputs + the decoder: keras_aw's NMS comes back, same settings
    loaded = keras_hub.models.ObjectDetector.from_preset(path)
    assert type(loaded.prediction_decoder) is type(det.prediction_decoder)
    assert loaded.prediction_decoder.get_config() == det.prediction_decoder.get_config()
    assert loaded.anchor_generator.get_config() == det.anchor_generator.get_config()


@pytest.mark.slow  # the full small ResNet encoder: 8 M parameters, four builds
def test_registered_detector_with_its_own_encoder(tmp_path):
    det = AWFPNResNetSmall(3, (SIZE, SIZE, 3), max_level=5, filters=8, head_conv_layers=1)
    round_trip(det, tmp_path, [keras_hub.models.ObjectDetector, FPNRetinaNetObjectDetector],
               images(high=1.0))


def test_base_class_task_is_saved_as_its_concrete_class(converted, tmp_path):
    """keras-hub matches a task class by backbone: a base-class task needs export's rewrap."""
    x = images()
    plain = keras_hub.models.ImageClassifier(backbone=converted, num_classes=3)
    path = str(tmp_path / "plain")
    plain.save_to_preset(path)
    with pytest.raises(ValueError, match="GraphImageClassifier needs `num_classes`"):
        keras_hub.models.ImageClassifier.from_preset(path)
    # keras-hub's documented fallback: the backbone's weights and a new head
    fresh = keras_hub.models.ImageClassifier.from_preset(path, num_classes=5)
    assert_equal_outputs(fresh.backbone, converted, x)
    # keras_aw.export saves it as GraphImageClassifier, which loads whole
    result = keras_aw.export(plain, tmp_path / "exported", format="preset")
    assert result.max_rel_diff == 0.0
    loaded = keras_hub.models.ImageClassifier.from_preset(str(tmp_path / "exported"))
    assert type(loaded) is GraphImageClassifier
    assert_equal_outputs(loaded, plain, x)


def test_task_class_errors(converted):
    with pytest.raises(TypeError, match="takes a ResNetEncoder backbone"):
        ResNetEncoderImageClassifier(converted, num_classes=2)
    with pytest.raises(ValueError, match="num_classes=None"):
        GraphImageClassifier(converted)


def test_export_preset_errors(tmp_path):
    plain = SmallCNN((SIZE, SIZE, 3), widths=(8, 8))
    with pytest.raises(ValueError, match="keras-hub Backbone or Task.*Functional"):
        keras_aw.export(plain, tmp_path / "p", format="preset")
    det = tiny_detector()
    with pytest.raises(ValueError, match="batch_size=2"):
        keras_aw.export(det, tmp_path / "p", format="preset", batch_size=2)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a file; a preset is a directory"):
        keras_aw.export(det, tmp_path / "file", format="preset")
    assert "preset" not in deploy.DETECTOR_FORMATS  # export_detector: raw predictions only


def test_cli_export_preset_from_keras_files(converted, tmp_path, capsys):
    """``keras-aw export --format preset`` from saved .keras files, loaded back by keras-hub."""
    models = {"detector": (tiny_detector(), keras_hub.models.ObjectDetector, images(high=1.0)),
              "classifier": (keras_hub.models.ImageClassifier(backbone=converted, num_classes=3),
                             keras_hub.models.ImageClassifier, images())}
    for name, (model, generic, x) in models.items():
        source = str(tmp_path / f"{name}.keras")
        model.save(source)
        target = str(tmp_path / f"{name}_preset")
        code = cli.main(["export", source, "--format", "preset", "--output", target])
        out, err = capsys.readouterr()
        assert code == 0, err[-2000:]
        assert f"exported preset to {target} (keras-hub preset" in out, out
        assert "= 0.0e+00" in out, out
        assert_equal_outputs(generic.from_preset(target), model, x)


@pytest.mark.slow  # a new Python process
def test_a_new_process_loads_after_importing_the_tasks(converted, tmp_path):
    """What docs/deploy.md tells a keras-hub user: import keras_aw.detection.tasks, then load."""
    model = GraphImageClassifier(converted, num_classes=3)
    path = str(tmp_path / "preset")
    model.save_to_preset(path)
    x = images()
    np.save(tmp_path / "x.npy", x)
    script = ("import sys, numpy as np, keras, keras_hub\n"
              "import keras_aw.detection.tasks\n"
              "m = keras_hub.models.ImageClassifier.from_preset(sys.argv[1])\n"
              "np.save(sys.argv[3], keras.ops.convert_to_numpy(m(np.load(sys.argv[2]))))\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-c", script, path, str(tmp_path / "x.npy"),
                           str(tmp_path / "y.npy")], capture_output=True, text=True, env=env,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), outputs(model, x)["output"])
