"""Deprecated module: attention maps moved to `keras_aw.attention`, pictures to `keras_aw.plots`."""

from keras_aw.attention import aw_layer_inputs, attention_maps, attention_summary  # noqa: F401
from keras_aw.plots import plot_attention  # noqa: F401
