"""Utilities: profiling (`profile`) and the bounding-box converter (`boxes.convert_boxes`)."""

from keras_aw.utils import boxes
from keras_aw.utils.profile import Profile, layer_macs, profile

__all__ = ["Profile", "boxes", "layer_macs", "profile"]


def __dir__():
    return sorted(__all__)
