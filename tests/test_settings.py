"""A training run's settings (`keras_aw_tools.settings.RunSettings`) and how `train` takes them.

Bad values are refused when the settings are made, naming the field and the
value; `train` takes a `RunSettings` or its fields as arguments (positional in
the order of today's `train`, or by name) and the two runs are the same run;
``keras-aw train``'s options map onto the fields with the same defaults.
"""

import doctest
import json
import os

import numpy as np
import pytest

from keras_aw_tools import cli, settings, training
from keras_aw_tools.commands.train import settings_from_args
from keras_aw_tools.settings import RunSettings

#: The arguments of `train` before the run settings object, in their order.
TRAIN_ARGUMENTS = ("model", "dataset", "epochs", "batch_size", "image_size", "output",
                   "steps_per_epoch", "resume", "mixed_precision", "distribute",
                   "learning_rate", "num_train", "num_test", "seed", "verbose", "log",
                   "job_addresses", "num_processes", "process_id", "sync_batchnorm",
                   "callbacks", "encoder_weights", "recipe", "aw_start")


@pytest.mark.backend_independent
def test_fields_are_trains_arguments_in_order():
    assert RunSettings.field_names() == TRAIN_ARGUMENTS
    s = RunSettings()
    assert (s.model, s.dataset, s.epochs, s.batch_size, s.image_size, s.output,
            s.steps_per_epoch, s.learning_rate, s.num_train, s.num_test, s.seed,
            s.verbose, s.log, s.callbacks) == (
        "AWSmallCNN", "shapes", 5, 64, 32, "runs/train", None, 2e-3, 10000, 2000, 0, 1,
        print, ())


@pytest.mark.backend_independent
@pytest.mark.parametrize("field, value, error", [
    ("epochs", 0, ValueError),
    ("epochs", 2.0, TypeError),
    ("batch_size", -1, ValueError),
    ("batch_size", True, TypeError),
    ("image_size", 4, ValueError),
    ("image_size", "32", TypeError),
    ("steps_per_epoch", 0, ValueError),
    ("learning_rate", 0.0, ValueError),
    ("learning_rate", "1e-3", ValueError),
    ("seed", 1.5, TypeError),
    ("log", "print", TypeError),
    ("output", 3, TypeError),
    ("callbacks", 3, TypeError),
    ("encoder_weights", 1, TypeError),
])
def test_bad_values_are_refused_naming_field_and_value(field, value, error):
    with pytest.raises(error) as info:
        RunSettings(**{field: value})
    message = str(info.value)
    assert f"`{field}`" in message and f"{field}={value!r}" in message, message


@pytest.mark.backend_independent
def test_settings_are_frozen_and_replaced_with_checks():
    s = RunSettings(epochs=3, callbacks=[None])
    assert s.callbacks == (None,)
    with pytest.raises(AttributeError):
        s.epochs = 4
    assert s.replace(epochs=4).epochs == 4 and s.epochs == 3
    with pytest.raises(ValueError, match="epochs=0"):
        s.replace(epochs=0)


@pytest.mark.backend_independent
def test_of_takes_settings_or_fields():
    s = RunSettings("SmallCNN", epochs=2)
    assert RunSettings.of(s) is s
    assert RunSettings.of(s, epochs=3) == RunSettings("SmallCNN", epochs=3)
    assert RunSettings.of("SmallCNN", "shapes", 2) == s
    assert RunSettings.of(None, model="SmallCNN", epochs=2) == s
    with pytest.raises(TypeError, match="positional"):
        RunSettings.of(s, "shapes")
    with pytest.raises(TypeError, match="model"):
        RunSettings.of("SmallCNN", model="AWSmallCNN")
    with pytest.raises(TypeError, match="no_such_field"):
        RunSettings.of(None, no_such_field=1)


@pytest.mark.backend_independent
def test_module_examples():
    assert doctest.testmod(settings, optionflags=doctest.ELLIPSIS).failed == 0


@pytest.mark.backend_independent
def test_cli_train_options_are_the_fields_with_their_defaults(tmp_path):
    """Every option of ``keras-aw train`` but --cpu-devices is a field, with the same default."""
    parser = cli.build_parser()
    args = parser.parse_args(["train", "--model", "AWSmallCNN", "--output", str(tmp_path)])
    options = set(vars(args)) - {"command", "func", "version", "cpu_devices"}
    assert options <= set(RunSettings.field_names()), options - set(RunSettings.field_names())
    s = settings_from_args(args)
    defaults = RunSettings(model="AWSmallCNN", output=str(tmp_path))
    assert s == defaults
    args = parser.parse_args(["train", "--model", "SmallCNN", "--output", str(tmp_path),
                              "--epochs", "3", "--batch-size", "8", "--learning-rate", "0.01",
                              "--resume", "--num-processes", "2", "--process-id", "1"])
    s = settings_from_args(args)
    assert (s.model, s.epochs, s.batch_size, s.learning_rate, s.resume, s.num_processes,
            s.process_id) == ("SmallCNN", 3, 8, 0.01, True, 2, 1)


def test_train_with_settings_is_train_with_keywords(tmp_path):
    """The same run through `train(RunSettings(...))` and `train(**fields)`, on its own data."""
    fields = dict(epochs=1, batch_size=16, image_size=16, num_train=32, num_test=16, seed=3,
                  verbose=0, log=lambda *a: None)
    by_keywords = training.train("SmallCNN", output=str(tmp_path / "a"), **fields)
    by_settings = training.train(RunSettings("SmallCNN", output=str(tmp_path / "b"), **fields))
    for result in (by_keywords, by_settings):
        assert result["epochs_done"] == 1 and os.path.isfile(result["model"])
        with open(os.path.join(os.path.dirname(result["model"]), "state.json")) as f:
            state = json.load(f)
        assert (state["model"], state["image_size"], state["batch_size"]) == ("SmallCNN", 16, 16)
    np.testing.assert_allclose(by_keywords["loss"], by_settings["loss"], rtol=1e-4)
    np.testing.assert_allclose(by_keywords["val_loss"], by_settings["val_loss"], rtol=1e-4)
    # Keywords after a RunSettings replace its values: here, a resume to 2 epochs.
    again = training.train(RunSettings("SmallCNN", output=str(tmp_path / "a"), **fields),
                           epochs=2, resume=True)
    assert again["epochs_done"] == 2


@pytest.mark.backend_independent
def test_the_recipe_supplies_defaults_and_given_values_override_it():
    demo = RunSettings()
    assert (demo.recipe, demo.given) == ("demo", ())
    imagenet = RunSettings(dataset="tfds:imagenet2012")  # its default recipe
    assert (imagenet.recipe, imagenet.epochs, imagenet.batch_size, imagenet.image_size) == (
        "imagenet", 100, 256, 224)
    assert imagenet.learning_rate == pytest.approx(0.1)
    # The learning rate follows the global batch (0.1 per 256) unless it is given.
    assert imagenet.replace(batch_size=64).learning_rate == pytest.approx(0.025)
    given = RunSettings(dataset="tfds:imagenet2012", batch_size=64, learning_rate=0.5)
    assert given.learning_rate == 0.5 and set(given.given) == {"batch_size", "learning_rate"}
    assert given.resolve_recipe(steps_per_epoch=10)["overrides"] == {
        "batch_size": 64, "learning_rate": 0.5}
    # Values not given follow a replaced recipe; given ones stay.
    back = given.replace(recipe="demo")
    assert (back.recipe, back.epochs, back.image_size, back.batch_size, back.learning_rate) == (
        "demo", 5, 32, 64, 0.5)
    assert RunSettings(recipe="imagenet").resolve_recipe(5)["schedule"]["boundaries_steps"] == [
        150, 300, 450]


@pytest.mark.backend_independent
def test_an_unknown_recipe_is_refused_naming_it():
    with pytest.raises(ValueError, match="recipe='adamw'"):
        RunSettings(recipe="adamw")
