"""Backend-agnostic math of keras_aw (keras.ops only)."""

from keras_aw.ops.per_sample_conv import per_sample_conv2d

__all__ = ["per_sample_conv2d"]


def __dir__():
    return sorted(__all__)
