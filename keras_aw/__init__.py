"""keras_aw: AW-convolution attention (Zhu et al., ICANN 2021) for Keras 3."""

from keras_aw import layers, ops, registry
from keras_aw.layers import CBAM, AWConv2D, SqueezeExcite
from keras_aw import applications  # registers every builder
from keras_aw.registry import create_model, list_models, model_info
from keras_aw.convert import convert_to_aw
from keras_aw.deploy import export
from keras_aw import datasets, utils

from keras_aw.version import __version__  # noqa: E402

__all__ = ["AWConv2D", "CBAM", "SqueezeExcite", "applications", "convert_to_aw", "create_model",
           "datasets", "export",
           "layers", "list_models", "model_info", "ops", "registry", "utils"]
