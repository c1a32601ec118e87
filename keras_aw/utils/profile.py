"""Trainable parameters and GFLOPs of a Keras model, counted the way the AW paper counts.

The paper's Table 1 reports "GFLOPs" that are multiply-accumulates (MACs) of
convolutions and dense layers for one 224x224 image (ResNet-50: 3.86). This
module counts the same quantity by walking the model's graph and the shape of
every layer's input and output; nothing is tabulated per architecture:

- ``Conv1D/2D/3D`` (and `AWConv2D`'s static convolution):
  ``prod(output spatial) * filters * prod(kernel) * in_channels / groups``;
- ``DepthwiseConv1D/2D``: ``prod(output spatial) * out_channels * prod(kernel)``;
- ``SeparableConv1D/2D``: its depthwise plus its pointwise part;
- ``Conv1D/2D/3DTranspose``:
  ``prod(input spatial) * in_channels * prod(kernel) * filters / groups``;
- ``Dense``: ``prod(leading dims) * in_features * units``;
- `AWConv2D`, in addition to its convolution: the attention branch (two 1x1
  convolutions applied on the ``kh x kw`` pooled grid) and the kernel
  modulation, ``kh * kw * C1 * C2`` multiplies per sample;
- `SqueezeExcite`: its two dense layers; `CBAM`: its shared MLP once per
  pooled descriptor (two in "full" and "maxpool" modes, one in "spatial") and
  its spatial-gate convolution on the ``H x W x 2`` map.

Pooling, BatchNorm, activations, additions and the attention rescaling are
not counted (the paper's convention). Nested functional/sequential models are
walked recursively.
"""

from typing import NamedTuple

import keras
import numpy as np
from keras import layers

from keras_aw._graph import as_functional, call_nodes
from keras_aw.layers import CBAM, AWConv2D, SqueezeExcite


class Profile(NamedTuple):
    """Result of `profile`.

    Attributes:
        trainable_params: number of trainable scalars (BatchNorm moving
            statistics are not trainable, so not counted).
        gflops: multiply-accumulates for one sample, in units of 1e9.
    """

    trainable_params: int
    gflops: float


def profile(model, input_size=224):
    """Trainable parameters and GFLOPs (multiply-accumulates, batch 1) of a model.

    Args:
        model: a built functional or sequential `keras.Model`.
        input_size: int or (height, width): the spatial size used where the
            model's 4-D input leaves it undefined (e.g. ``include_top=False``
            models built with ``input_shape=(None, None, 3)``). A model with a
            fixed input size is profiled at that size; other undefined
            dimensions (e.g. a sequence length) count as 1.

    Returns:
        A `Profile` ``(trainable_params, gflops)``.

    Example:

    >>> from keras_aw import applications
    >>> from keras_aw.utils import profile
    >>> p = profile(applications.ResNet50())
    >>> p.trainable_params, round(p.gflops, 2)
    (25557032, 3.86)
    """
    macs = layer_macs(model, input_size)
    params = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    return Profile(params, sum(macs.values()) / 1e9)


def layer_macs(model, input_size=224):
    """Multiply-accumulates per layer for one sample.

    Args:
        model: a built functional or sequential `keras.Model`.
        input_size: as in `profile`.

    Returns:
        A dict ``{layer path: MACs}`` over the layers that compute any (nested
        models' layers as ``"inner_model/layer"``); a layer called several
        times is summed.
    """
    if isinstance(input_size, int):
        input_size = (input_size, input_size)
    shapes = [_fill_spatial(tuple(x.shape), input_size) for x in _inputs(model)]
    result = {}
    _walk(model, shapes, "", result)
    return result


def _inputs(model):
    inputs = getattr(model, "inputs", None)
    if not inputs:
        raise ValueError(
            "profile() needs a built functional or sequential model with known "
            f"inputs; received {type(model).__name__} {model.name!r}"
        )
    return inputs


def _fill_spatial(shape, input_size):
    """Batch 1 and None spatial dimensions replaced by `input_size`."""
    if len(shape) != 4:
        return (1,) + tuple(d if d is not None else 1 for d in shape[1:])
    channels_first = shape[1] is not None and shape[3] is None
    if channels_first:
        return (1, shape[1]) + tuple(s if d is None else d for d, s in zip(shape[2:], input_size))
    return (1,) + tuple(s if d is None else d for d, s in zip(shape[1:3], input_size)) + (shape[3],)


def _graph(model, input_shapes):
    """A functional graph of `model` whose tensors have `input_shapes` (batch excluded)."""
    model = as_functional(model)
    own = [tuple(x.shape)[1:] for x in model.inputs]
    wanted = [tuple(s)[1:] for s in input_shapes]
    if own != wanted:
        # The graph was traced with undefined (or other) sizes: trace a copy.
        new_inputs = [keras.Input(shape, dtype=x.dtype) for shape, x in zip(wanted, model.inputs)]
        model = as_functional(keras.models.clone_model(
            model, input_tensors=new_inputs if len(new_inputs) > 1 else new_inputs[0]
        ))
    return model


def _walk(model, input_shapes, prefix, result):
    for layer, inputs, outputs in call_nodes(_graph(model, input_shapes)):
        in_shapes = [(1,) + tuple(t.shape)[1:] for t in inputs]
        out_shapes = [(1,) + tuple(t.shape)[1:] for t in outputs]
        if isinstance(layer, keras.Model):
            _walk(layer, in_shapes, prefix + layer.name + "/", result)
            continue
        macs = _macs(layer, in_shapes[0], out_shapes[0]) if in_shapes else 0
        if macs:
            key = prefix + layer.name
            result[key] = result.get(key, 0) + int(macs)


def _channel_axis(layer, rank):
    return 1 if getattr(layer, "data_format", "channels_last") == "channels_first" else rank - 1


def _split(layer, shape):
    """(spatial dims, channels) of a shape, per the layer's data format."""
    axis = _channel_axis(layer, len(shape))
    spatial = [d for i, d in enumerate(shape) if i not in (0, axis)]
    return spatial, shape[axis]


def _conv_macs(layer, in_shape, out_shape):
    _, c_in = _split(layer, in_shape)
    out_spatial, c_out = _split(layer, out_shape)
    return (int(np.prod(out_spatial)) * c_out * int(np.prod(layer.kernel_size))
            * c_in // layer.groups)


def _depthwise_macs(layer, out_shape):
    out_spatial, c_out = _split(layer, out_shape)
    return int(np.prod(out_spatial)) * c_out * int(np.prod(layer.kernel_size))


def _separable_macs(layer, in_shape, out_shape):
    _, c_in = _split(layer, in_shape)
    out_spatial, c_out = _split(layer, out_shape)
    positions = int(np.prod(out_spatial))
    mid = c_in * layer.depth_multiplier
    return positions * mid * int(np.prod(layer.kernel_size)) + positions * mid * c_out


def _transpose_macs(layer, in_shape):
    in_spatial, c_in = _split(layer, in_shape)
    groups = getattr(layer, "groups", 1) or 1
    return (int(np.prod(in_spatial)) * c_in * int(np.prod(layer.kernel_size))
            * layer.filters // groups)


def _dense_macs(layer, in_shape):
    return int(np.prod(in_shape[1:-1])) * in_shape[-1] * layer.units


def _aw_conv_macs(layer, in_shape, out_shape):
    grid = int(np.prod(layer.kernel_size))  # the branch runs on the pooled kh x kw grid
    branch = grid * (int(np.prod(layer.attention_conv1.kernel.shape))
                     + int(np.prod(layer.attention_conv2.kernel.shape)))
    modulation = int(np.prod(layer.kernel.shape))  # K * (1 + A): kh*kw*C1*C2 per sample
    return _conv_macs(layer, in_shape, out_shape) + branch + modulation


def _squeeze_excite_macs(layer, in_shape):
    _, channels = _split(layer, in_shape)
    return (_dense_macs(layer.squeeze, (1, channels))
            + _dense_macs(layer.excite, (1, layer.squeeze.units)))


def _cbam_macs(layer, in_shape):
    spatial, channels = _split(layer, in_shape)
    mlp = (_dense_macs(layer.mlp_hidden, (1, channels))
           + _dense_macs(layer.mlp_out, (1, layer.mlp_hidden.units)))
    descriptors = 1 if layer.mode == "spatial" else 2
    macs = descriptors * mlp
    if layer.mode != "maxpool":  # the gate's convolution runs channels-last: H x W x 2 -> 1
        pooled = (1,) + tuple(spatial) + (2,)
        macs += _conv_macs(layer.spatial_conv, pooled,
                           layer.spatial_conv.compute_output_shape(pooled))
    return macs


def _macs(layer, in_shape, out_shape):
    if isinstance(layer, AWConv2D):
        return _aw_conv_macs(layer, in_shape, out_shape)
    if isinstance(layer, SqueezeExcite):
        return _squeeze_excite_macs(layer, in_shape)
    if isinstance(layer, CBAM):
        return _cbam_macs(layer, in_shape)
    if isinstance(layer, (layers.DepthwiseConv1D, layers.DepthwiseConv2D)):
        return _depthwise_macs(layer, out_shape)
    if isinstance(layer, (layers.SeparableConv1D, layers.SeparableConv2D)):
        return _separable_macs(layer, in_shape, out_shape)
    if isinstance(layer, (layers.Conv1DTranspose, layers.Conv2DTranspose,
                          layers.Conv3DTranspose)):
        return _transpose_macs(layer, in_shape)
    if isinstance(layer, (layers.Conv1D, layers.Conv2D, layers.Conv3D)):
        return _conv_macs(layer, in_shape, out_shape)
    if isinstance(layer, layers.Dense):
        return _dense_macs(layer, in_shape)
    return 0
