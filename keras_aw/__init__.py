"""keras_aw: AW-convolution attention (Zhu et al., ICANN 2021) for Keras 3."""

from keras_aw import layers, ops, utils
from keras_aw.layers import CBAM, AWConv2D, SqueezeExcite

from keras_aw import applications  # noqa: E402  (needs keras_aw.layers first)
from keras_aw.convert import convert_to_aw

__version__ = "0.1.0"

__all__ = ["AWConv2D", "CBAM", "SqueezeExcite", "applications", "convert_to_aw", "layers", "ops",
           "utils"]
