"""keras_aw: AW-convolution attention (Zhu et al., ICANN 2021) for Keras 3.

The library: layers (`AWConv2D`, `SqueezeExcite`, `CBAM`), ops, the ResNet /
MobileNet builders (`applications`), the detectors (`detection`), data sets,
the model registry (`list_models`, `model_info`, `create_model`), the shared
vocabulary, conversion (`convert_to_aw`), export (`export`), attention arrays
(`attention`), devices, precision and clusters (`distribute`; `devices` is its
former name), PyTorch-rule SGD and a step schedule for reproducing PyTorch
recipes (`optimizers`) and utilities (`utils`).
Importing it registers every layer and every model (the detectors included)
and imports neither keras-hub nor the command-line tooling (`keras_aw_tools`).
`dir(keras_aw)` is `keras_aw.__all__`.
"""

from keras_aw import layers, ops, registry, vocabulary
from keras_aw.layers import CBAM, AWConv2D, SqueezeExcite
from keras_aw import applications  # registers the classification families  # noqa: I001
from keras_aw import detection  # registers the detectors (keras-hub is imported on use)
from keras_aw.registry import create_model, list_models, model_info
from keras_aw.convert import convert_to_aw
from keras_aw.deploy import export
from keras_aw import attention, datasets, devices, distribute, optimizers, utils

from keras_aw.version import __version__  # noqa: E402

__all__ = ["AWConv2D", "CBAM", "SqueezeExcite", "__version__", "applications", "attention",
           "convert_to_aw", "create_model", "datasets", "detection", "devices", "distribute",
           "export", "layers", "list_models", "model_info", "ops", "optimizers", "registry",
           "utils", "vocabulary"]


def __dir__():
    return sorted(__all__)
