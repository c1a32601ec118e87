"""Keras layers of keras_aw: AW-convolution and the activation attentions it is compared with."""

from keras_aw.layers.aw_conv2d import AWConv2D
from keras_aw.layers.cbam import CBAM
from keras_aw.layers.squeeze_excite import SqueezeExcite

__all__ = ["AWConv2D", "CBAM", "SqueezeExcite"]


def __dir__():
    return sorted(__all__)
