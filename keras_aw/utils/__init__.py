"""Utilities: profiling (`profile`), the bounding-box converter (`boxes.convert_boxes`) and
file helpers (`files`: writable paths, `.keras` loading, atomic saving)."""

from keras_aw.utils import boxes, files
from keras_aw.utils.profile import Profile, layer_macs, profile

__all__ = ["Profile", "boxes", "files", "layer_macs", "profile"]


def __dir__():
    return sorted(__all__)
