"""Adaptive average pooling with PyTorch's bins, for any input size.

Output cell ``i`` averages rows ``floor(i*H/oh) .. ceil((i+1)*H/oh) - 1``; bins
may overlap, and when ``H < oh`` cells repeat rows. Written as two products
with static pooling matrices, so it is exact for every size (including
``H < oh``, which `keras.layers.AdaptiveAveragePooling2D` 3.15 rejects along
with ``oh == 1``) and exports with builtin ops only.

The matrices are backend constants made once per (size, dtype, device) and
reused (`pooling_tensor`; `AWConv2D.build` makes its own), so a call does no
host work: no NumPy array is built and copied to the device per call (a
blocking host-to-device copy per layer on a GPU under PyTorch). They are
constants, not variables: nothing is added to a layer's weights or files.
"""

import functools
import math

import keras
import numpy as np
from keras import ops

#: (backend, length, size, dtype, device) -> the pooling matrix as a backend tensor.
_MATRICES = {}


def bins(length, size):
    """[(start, stop)] of the `size` bins of a `length`-long axis (PyTorch's bins)."""
    return [((i * length) // size, math.ceil((i + 1) * length / size)) for i in range(size)]


def pooling_matrix(length, size):
    """(size, length) NumPy matrix whose row i averages bin i of a `length`-long axis."""
    matrix = np.zeros((size, length), "float32")
    for i, (start, stop) in enumerate(bins(length, size)):
        matrix[i, start:stop] = 1.0 / (stop - start)
    return matrix


@functools.lru_cache(maxsize=None)
def _host_matrix(length, size):
    matrix = pooling_matrix(length, size)
    matrix.setflags(write=False)
    return matrix


def _constant(value, dtype, device, backend):
    """`value` as a concrete backend tensor, even while a function is being traced."""
    if backend == "jax":
        import jax

        with jax.ensure_compile_time_eval():  # concrete, not a tracer of the current jit
            return jax.numpy.asarray(value, dtype=dtype)
    if backend == "torch":
        import torch

        return torch.as_tensor(value, dtype=getattr(torch, dtype), device=device)
    return ops.convert_to_tensor(value, dtype=dtype)


def pooling_tensor(length, size, dtype="float32", device=None):
    """`pooling_matrix(length, size)` as a backend constant, made once and then reused.

    Args:
        length, size: the pooled axis's length and the number of cells.
        dtype: the tensor's dtype.
        device: PyTorch only: the device to place it on (None: PyTorch's default).
    """
    backend = keras.backend.backend()
    dtype = keras.backend.standardize_dtype(dtype)
    if backend == "tensorflow":
        import tensorflow as tf

        if not tf.executing_eagerly():
            # A graph being traced gets the matrix as its own constant, made once per
            # trace (exporters such as tf2onnx would turn a captured eager tensor into
            # a graph input).
            return tf.constant(_host_matrix(length, size), dtype=dtype)
    device = str(device) if backend == "torch" and device is not None else None
    key = (backend, length, size, dtype, device)
    if key not in _MATRICES:
        _MATRICES[key] = _constant(_host_matrix(length, size), dtype, device, backend)
    return _MATRICES[key]


def _device(x):
    return x.device if keras.backend.backend() == "torch" else None


def adaptive_average_pool2d(x, output_size):
    """Pools a channels-last (N, H, W, C) tensor with static H, W to (N, oh, ow, C)."""
    (oh, ow), (h, w) = output_size, x.shape[1:3]
    if h is None or w is None:
        raise ValueError(
            "adaptive pooling needs static spatial dimensions; received an input "
            f"of shape {tuple(x.shape)}"
        )
    if (oh, ow) == (1, 1):
        return ops.mean(x, axis=(1, 2), keepdims=True)
    c = x.shape[3]
    rows = pooling_tensor(h, oh, x.dtype, _device(x))
    cols = pooling_tensor(w, ow, x.dtype, _device(x))
    # Broadcast matrix products over a leading -1 dimension (no einsum: its lowering
    # gives TFLite tensors with invalid static shapes when the batch is dynamic).
    x = ops.matmul(rows, ops.reshape(x, (-1, h, w * c)))  # (N, oh, W*C)
    x = ops.matmul(cols, ops.reshape(x, (-1, w, c)))  # (N*oh, ow, C)
    return ops.reshape(x, (-1, oh, ow, c))
