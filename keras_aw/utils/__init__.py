"""Utilities: argument validation, profiling."""

from keras_aw.utils.profile import Profile, layer_macs, profile

__all__ = ["Profile", "layer_macs", "profile"]
