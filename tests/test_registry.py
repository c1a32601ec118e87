"""keras_aw.registry: every builder registered once, names, specs, the paper's Table 1 rows.

Expected values come from outside the registry: the builders' names (the SPEC §5 naming
scheme) and Table 1 as SPEC §4 prints it. Nothing here depends on the Keras backend.
"""

import inspect
import re

import pytest

import keras_aw
from keras_aw import applications, registry
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
    assert registry.parse_spec(spelling) == ("AWSEResNet50", {})


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
    assert registry.parse_spec("AWCBAMResNet50:spatial") == ("AWCBAMResNet50", {"cbam": "spatial"})
    assert registry.parse_spec("aw-cbam-mobilenet:maxpool") == (
        "AWCBAMMobileNet", {"cbam": "maxpool"})
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
        name, kwargs = registry.parse_spec(spec)
        assert name == info.name and kwargs == row.kwargs
    assert registry.paper_rows("Table 9") == []
