"""The attention factory: one block definition for the plain, SE and CBAM variants.

Blocks take a factory instead of being subclassed per attention type (the timm
pattern). The ResNet / MobileNet builders (`keras_aw.applications`) and the
detectors' pyramid (`keras_aw.detection.FeaturePyramid`) both use it, so it
lives here, beside the layers it makes.
"""

from keras_aw._validation import check_choice
from keras_aw.layers.cbam import CBAM
from keras_aw.layers.squeeze_excite import SqueezeExcite
from keras_aw.vocabulary import ATTENTIONS


def attention_factory(attention, cbam, data_format, dtype, reduction=16):
    """Returns None, or a function ``name -> layer`` building the chosen attention module.

    Args:
        attention: None, "se" or "cbam" (`keras_aw.vocabulary.ATTENTIONS`).
        cbam: the CBAM form (`keras_aw.vocabulary.CBAM_MODES`), used with "cbam".
        data_format, dtype: passed to the layer.
        reduction: the SE / CBAM reduction ratio.

    Returns:
        None without attention; else a function of a layer name: a name with
        ``{}`` gets "se" / "cbam" in its place (``"lateral_{}_P3"`` ->
        ``"lateral_se_P3"``), any other name gets ``"_se"`` / ``"_cbam"`` appended.

    Example:

    >>> make = attention_factory("cbam", "spatial", "channels_last", None)
    >>> make("conv2_block1").name, make("output_{}_P3").mode
    ('conv2_block1_cbam', 'spatial')
    """
    check_choice("attention", attention, ATTENTIONS)
    if attention is None:
        return None

    def layer_name(name):
        return name.replace("{}", attention) if "{}" in name else f"{name}_{attention}"

    if attention == "se":
        return lambda name: SqueezeExcite(reduction=reduction, data_format=data_format,
                                          dtype=dtype, name=layer_name(name))
    return lambda name: CBAM(mode=cbam, reduction=reduction, data_format=data_format,
                             dtype=dtype, name=layer_name(name))


__all__ = ["attention_factory"]
