"""keras_aw.registry: every builder registered once, names, specs, the paper's Table 1 rows.

Expected values come from outside the registry: the builders' names (the SPEC §5 naming
scheme) and Table 1 as SPEC §4 prints it. Nothing here depends on the Keras backend.
"""

import importlib
import inspect
import os
import re
import subprocess
import sys

import pytest

import keras_aw
from keras_aw import applications, registry, vocabulary
from keras_aw.applications import resnet

pytestmark = pytest.mark.backend_independent

# SPEC §4, in the paper's order: (label, spec, top-1 err, top-5 err, GFLOPs, params M).
SPEC_TABLE1 = [
    ("ResNet50", "ResNet50", 24.56, 7.50, 3.86, 25.56),
    ("AW-ResNet50", "AWResNet50", 23.38, 6.79, 3.87, 25.72),
    ("SE-ResNet50", "SEResNet50", 23.14, 6.70, 3.87, 28.09),
    ("AW-SE-ResNet50", "AWSEResNet50", 22.72, 6.47, 3.88, 28.25),
    ("AW-CBAM-ResNet50 (MaxPool)", "AWCBAMResNet50:maxpool", 22.82, 6.41, 3.89, 28.25),
    ("AW-CBAM-ResNet50 (Spatial)", "AWCBAMResNet50:spatial", 23.20, 6.58, 3.90, 28.25),
    ("ResNet101", "ResNet101", 23.38, None, 7.57, 44.55),
    ("AW-ResNet101", "AWResNet101", 22.38, 6.21, 7.58, 44.95),
    ("SE-ResNet101", "SEResNet101", 22.35, 6.19, 7.58, 49.33),
    ("AW-SE-ResNet101", "AWSEResNet101", 21.78, 5.74, 7.59, 49.73),
    ("AW-CBAM-ResNet101 (MaxPool)", "AWCBAMResNet101:maxpool", 21.64, 5.76, 7.60, 49.73),
    ("AW-CBAM-ResNet101 (Spatial)", "AWCBAMResNet101:spatial", 22.32, 6.18, 7.61, 49.73),
    ("MobileNet", "MobileNet", 31.39, 11.51, 0.569, 4.23),
    ("SE-MobileNet", "SEMobileNet", 29.97, 10.63, 0.581, 5.07),
    ("AW-SE-MobileNet", "AWSEMobileNet", 29.41, 10.59, 0.623, 5.52),
    ("CBAM-MobileNet", "CBAMMobileNet:full", 29.01, 9.99, 0.611, 5.07),
    ("AW-CBAM-MobileNet (Spatial)", "AWCBAMMobileNet:spatial", 28.82, 9.98, 0.652, 5.52),
]

PREFIX_VARIANT = {"": "plain", "AW": "aw", "SE": "se", "AWSE": "aw-se", "CBAM": "cbam",
                  "AWCBAM": "aw-cbam"}
FAMILY_NAMES = {"ResNet50": "resnet50", "ResNet101": "resnet101", "ResNet152": "resnet152",
                "MobileNet": "mobilenet", "SmallCNN": "small_cnn"}
GENERIC_BUILDERS = ("ResNet", "MobileNetV1")  # take the variant as arguments: not models


def application_builders():
    """{name: function} of the named builders `keras_aw.applications` exports."""
    found = {}
    for name in applications.__all__:
        value = getattr(applications, name)
        if inspect.isfunction(value) and name not in GENERIC_BUILDERS:
            found[name] = value
    return found


def expected_family_variant(name):
    prefix, base = re.fullmatch(r"((?:AW)?(?:SE|CBAM)?)(.+)", name).groups()
    return FAMILY_NAMES[base], PREFIX_VARIANT[prefix]


def test_every_application_builder_is_registered_once():
    builders = application_builders()
    assert len(builders) == 3 * 6 + 6 + 2  # ResNet50/101/152 and MobileNet variants, small CNNs
    names = keras_aw.list_models(task="classification")
    assert sorted(names) == sorted(builders)
    assert len(set(names)) == len(names)
    for name, builder in builders.items():
        info = keras_aw.model_info(name)
        assert info.name == name and info.builder is builder, name
        assert (info.family, info.variant) == expected_family_variant(name), name
        assert info.task == "classification"
        assert info.takes_cbam == ("CBAM" in name), name
        # Exactly the CBAM builders take a `cbam=` form.
        assert ("cbam" in inspect.signature(builder).parameters) == ("CBAM" in name), name


def test_listing_by_family_and_variant():
    assert keras_aw.list_models(family="mobilenet") == [
        "MobileNet", "AWMobileNet", "SEMobileNet", "AWSEMobileNet", "CBAMMobileNet",
        "AWCBAMMobileNet"]
    assert keras_aw.list_models(variant="aw-se", task="classification") == [
        "AWSEResNet50", "AWSEResNet101", "AWSEResNet152", "AWSEMobileNet"]
    assert keras_aw.list_models(family="resnet101", variant="cbam") == ["CBAMResNet101"]
    assert keras_aw.list_models(family="no_such_family") == []


@pytest.mark.parametrize("spelling", [
    "AWSEResNet50", "awseresnet50", "AWSERESNET50", "aw-se-resnet50", "aw_se_resnet50",
    "AW-SE_ResNet-50",
])
def test_names_match_ignoring_case_dash_underscore(spelling):
    assert keras_aw.model_info(spelling).name == "AWSEResNet50"
    spec = registry.parse_spec(spelling)
    assert (spec.name, spec.kwargs, str(spec)) == ("AWSEResNet50", {}, "AWSEResNet50")
    assert spec.info is keras_aw.model_info("AWSEResNet50") and spec.task == "classification"


@pytest.mark.parametrize("name", ["NoSuchNet", "AWSEResNet5", "AWSEResNet500", "", "se resnet50"])
def test_unknown_name_lists_the_choices(name):
    with pytest.raises(ValueError, match=f"unknown model {re.escape(repr(name))}") as info:
        keras_aw.model_info(name)
    message = str(info.value)
    for choice in keras_aw.list_models():
        assert choice in message
    with pytest.raises(ValueError, match="unknown model"):
        keras_aw.create_model(name)


def test_spec_selects_the_cbam_form(monkeypatch):
    spec = registry.parse_spec("AWCBAMResNet50:spatial")
    assert (spec.name, spec.kwargs) == ("AWCBAMResNet50", {"cbam": "spatial"})
    spec = registry.parse_spec("aw-cbam-mobilenet:maxpool")
    assert (spec.name, spec.kwargs, str(spec)) == (
        "AWCBAMMobileNet", {"cbam": "maxpool"}, "AWCBAMMobileNet:maxpool")
    assert registry.parse_spec(spec) is spec
    assert registry.canonical_spec("aw_cbam_mobilenet:maxpool") == "AWCBAMMobileNet:maxpool"
    # create_model passes the form on as the builder's `cbam` argument.
    calls = []
    monkeypatch.setattr(resnet, "ResNet", lambda *args, **kwargs: calls.append(kwargs) or "model")
    assert keras_aw.create_model("AWCBAMResNet50:spatial", classes=7) == "model"
    (kwargs,) = calls
    assert (kwargs["cbam"], kwargs["aw"], kwargs["attention"], kwargs["classes"]) == (
        "spatial", True, "cbam", 7)
    calls.clear()
    keras_aw.create_model("CBAMResNet101", include_top=False)
    assert calls[0]["cbam"] == "full" and not calls[0].get("aw", False)  # builder defaults
    # A ModelSpec builds too, and refuses a second, different form.
    calls.clear()
    spec = registry.parse_spec("AWCBAMResNet101:maxpool")
    assert keras_aw.create_model(spec, classes=3) == "model" == spec.build(cbam="maxpool")
    assert [(c["cbam"], c["stack_blocks"]) for c in calls] == [("maxpool", (3, 4, 23, 3))] * 2
    with pytest.raises(ValueError, match="cbam='spatial'"):
        spec.build(cbam="spatial")


@pytest.mark.parametrize("spec", [None, 50, ("AWSEResNet50", {})])
def test_a_spec_that_is_not_a_string_is_a_type_error(spec):
    with pytest.raises(TypeError, match="spec="):
        registry.parse_spec(spec)


@pytest.mark.parametrize("spec,match", [
    ("AWCBAMResNet50:channel", "unknown CBAM form 'channel'"),
    ("AWCBAMResNet50:Spatial", "unknown CBAM form 'Spatial'"),
    ("AWSEResNet50:spatial", "AWSEResNet50 takes no CBAM form"),
    ("ResNet50:full", "ResNet50 takes no CBAM form"),
])
def test_bad_mode_is_a_value_error(spec, match):
    with pytest.raises(ValueError, match=match):
        registry.parse_spec(spec)
    with pytest.raises(ValueError, match=match):
        keras_aw.create_model(spec)


def test_paper_rows_are_table1_in_order():
    rows = registry.paper_rows()
    got = [(row.label, spec, row.metrics["top1_err"], row.metrics["top5_err"],
            row.metrics["gflops"], row.metrics["params_m"]) for spec, _, row in rows]
    assert got == SPEC_TABLE1
    for spec, info, row in rows:
        assert set(row.metrics) == {"top1_err", "top5_err", "gflops", "params_m"}
        assert row.table == "Table 1" and row in info.paper
        # The spec builds the row's network: its name and form are the row's.
        parsed = registry.parse_spec(spec)
        assert parsed.name == info.name and parsed.kwargs == row.kwargs and parsed.info is info
    assert registry.paper_rows("Table 9") == []


# SPEC §5 / the paper's Table 2: the detectors, by name, with their rows.
SPEC_TABLE2 = [("FPN", 37.13, 58.28, 40.29), ("AW-FPN", 37.76, 59.17, 40.91),
               ("SE-FPN", 38.11, 59.41, 41.33), ("AW-SE-FPN", 38.45, 59.70, 41.86),
               ("CBAM-FPN", 37.74, 58.84, 40.77), ("AW-CBAM-FPN", 38.19, 59.52, 41.43)]
DETECTOR_ENCODERS = {"ResNet101": "resnet101_fpn", "ResNet50": "resnet50_fpn",
                     "ResNetSmall": "resnet_small_fpn"}


def test_detectors_are_registered_with_their_metadata():
    names = keras_aw.list_models(task="detection")
    expected = [f"{prefix}FPN{encoder}" for encoder in DETECTOR_ENCODERS
                for prefix in PREFIX_VARIANT]
    assert names == expected
    for name in names:
        prefix, encoder = re.fullmatch(r"((?:AW)?(?:SE|CBAM)?)FPN(.+)", name).groups()
        info = keras_aw.model_info(name)
        assert (info.family, info.variant, info.task) == (
            DETECTOR_ENCODERS[encoder], PREFIX_VARIANT[prefix], "detection"), name
        assert info.builder is getattr(keras_aw.detection, name)
        assert len(info.paper) == (encoder == "ResNet101"), name
    rows = registry.paper_rows("Table 2")
    assert [(row.label, *row.metrics.values()) for _, _, row in rows] == SPEC_TABLE2
    assert [spec for spec, _, _ in rows] == expected[:6]


def run_python(code):
    """Runs `code` in a fresh interpreter (the registry must not depend on earlier imports)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path), TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


def test_registry_is_complete_after_import_keras_aw_without_keras_hub():
    out = run_python(
        "import sys, keras_aw\n"
        "names = keras_aw.list_models()\n"
        "hub = 'keras_hub' in sys.modules\n"
        "import keras_aw.detection, keras_aw.detection.profile, keras_aw.datasets\n"
        "print(len(names), hub, keras_aw.list_models() == names,"
        " [m for m in ('keras_aw.cli', 'keras_aw.training', 'keras_aw_tools') if m in sys.modules])"
    )
    assert out == "44 False True []"


def test_building_a_detector_without_keras_hub_names_the_extra():
    out = run_python(
        "import sys\n"
        "sys.modules['keras_hub'] = None  # as if keras-hub were not installed\n"
        "import keras_aw\n"
        "try:\n"
        "    keras_aw.create_model('AWFPNResNetSmall', num_classes=3)\n"
        "except ImportError as e:\n"
        "    print(repr(str(e)))\n"
    )
    message = eval(out)  # noqa: S307  (our own repr)
    assert "\n" not in message and 'pip install "keras-aw[detection]"' in message


@pytest.mark.parametrize("module", ["keras_aw", "keras_aw.applications", "keras_aw.detection",
                                    "keras_aw.layers", "keras_aw.datasets", "keras_aw.utils",
                                    "keras_aw.distribute", "keras_aw.ops"])
def test_dir_is_the_public_api(module):
    mod = importlib.import_module(module)
    assert sorted(dir(mod)) == sorted(mod.__all__)
    for name in mod.__all__:  # every public name resolves
        assert getattr(mod, name) is not None, name
    assert not [n for n in mod.__all__ if n.startswith("_") and n != "__version__"]


def test_top_level_api_hides_the_tooling_and_private_modules():
    public = set(keras_aw.__all__)
    assert {"registry", "vocabulary", "create_model", "list_models", "model_info",
            "detection", "applications", "layers"} <= public
    assert not public & {"graph", "validation", "_graph", "_validation", "cli", "training",
                         "runs", "plots", "visualize"}


def test_variants_of_the_vocabulary_are_the_registered_ones():
    assert tuple(vocabulary.VARIANT_ARGUMENTS) == vocabulary.VARIANTS
    for variant in vocabulary.VARIANTS:
        args = vocabulary.variant_arguments(variant)
        assert vocabulary.variant_of(args["aw"], args["attention"]) == variant
        # Every family of six has exactly one builder per variant, named with its prefix.
        names = keras_aw.list_models(variant=variant)
        prefix = vocabulary.variant_prefix(variant)
        assert all(re.match(prefix + r"(FPN|ResNet|MobileNet|SmallCNN)", n) for n in names), names
    with pytest.raises(ValueError, match="variant='se-aw'"):
        vocabulary.variant_arguments("se-aw")
    with pytest.raises(ValueError, match="attention='eca'"):
        vocabulary.variant_of(True, "eca")


def test_register_models_checks_its_table():
    def Tiny():
        return "tiny"

    with pytest.raises(ValueError, match=r"names without one: \['Other'\]"):
        registry.register_models({"Other": ("tiny", "plain", {}, [])}, Tiny, [Tiny])
    with pytest.raises(ValueError, match="variant='xx'"):
        registry.register_models({"Tiny": ("tiny", "xx", {}, [])}, Tiny, [Tiny])
    with pytest.raises(ValueError, match="task='segmentation'"):
        registry.register_models({"Tiny": ("tiny", "plain", {}, [])}, Tiny, [Tiny],
                                 task="segmentation")

    def AWSEResNet50():
        return "impostor"

    with pytest.raises(ValueError, match="already registered"):
        registry.register_models({"AWSEResNet50": ("x", "aw-se", {}, [])}, AWSEResNet50,
                                 [AWSEResNet50])
    assert "Tiny" not in keras_aw.list_models()
