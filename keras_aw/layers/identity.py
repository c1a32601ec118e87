"""The identity start of an AW attention branch, shared by conversion and the detectors.

`keras_aw.convert_to_aw`, `keras_aw.convert.constant_attention_start` and
`keras_aw.detection.hub.retinanet_to_aw` start new `AWConv2D` attention
branches at a constant attention; the value check and the BatchNorm settings
that make it live here, beside the layer they set, so that neither module has
to import the other.
"""

import math
import numbers

import numpy as np

#: Initial attention value used by ``identity_start=True``: A = DEFAULT_IDENTITY_ATTENTION
#: everywhere, so each converted layer's output is scaled by (1 + 1e-6) at start. Through a
#: ResNet50 with realistic BatchNorm statistics that becomes up to ~2e-4 relative at the
#: logits (measured amplification up to ~180x); 1e-5 reached 1.8e-3.
DEFAULT_IDENTITY_ATTENTION = 1e-6


def identity_value(identity_start):
    """The starting attention ``a0`` that `identity_start` asks for (None: no identity start).

    Args:
        identity_start: True (`DEFAULT_IDENTITY_ATTENTION`), False (None), or a
            float in (0, 0.5).

    Raises:
        ValueError: any other value.

    Example:

    >>> identity_value(True), identity_value(False), identity_value(0.01)
    (1e-06, None, 0.01)
    """
    if isinstance(identity_start, bool):
        return DEFAULT_IDENTITY_ATTENTION if identity_start else None
    if isinstance(identity_start, numbers.Real) and 0.0 < identity_start < 0.5:
        return float(identity_start)
    raise ValueError(
        "`identity_start` must be True, False or a float in (0, 0.5) (the initial "
        f"attention value); received identity_start={identity_start!r}"
    )


def identity_init(layer, a0, residual):
    """Makes the attention of `AWConv2D` `layer` the constant a0 (1 - a0 without residual).

    The last attention BatchNorm gets ``gamma = 0`` and ``beta = logit(target)``.
    """
    target = a0 if residual else 1.0 - a0
    bn = layer.attention_bn2
    bn.gamma.assign(np.zeros(bn.gamma.shape, bn.gamma.dtype))
    bn.beta.assign(np.full(bn.beta.shape, math.log(target / (1.0 - target)), bn.beta.dtype))


__all__ = ["DEFAULT_IDENTITY_ATTENTION", "identity_init", "identity_value"]
