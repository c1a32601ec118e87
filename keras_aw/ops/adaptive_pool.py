"""Adaptive average pooling with PyTorch's bins, for any input size.

Output cell ``i`` averages rows ``floor(i*H/oh) .. ceil((i+1)*H/oh) - 1``; bins
may overlap, and when ``H < oh`` cells repeat rows. Written as two products
with static pooling matrices, so it is exact for every size (including
``H < oh``, which `keras.layers.AdaptiveAveragePooling2D` 3.15 rejects along
with ``oh == 1``) and exports with builtin ops only.
"""

import math

import numpy as np
from keras import ops


def pooling_matrix(length, size):
    """(size, length) matrix whose row i averages bin i of a `length`-long axis."""
    matrix = np.zeros((size, length), "float32")
    for i in range(size):
        start, stop = (i * length) // size, math.ceil((i + 1) * length / size)
        matrix[i, start:stop] = 1.0 / (stop - start)
    return matrix


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
    rows = ops.convert_to_tensor(pooling_matrix(h, oh), dtype=x.dtype)
    cols = ops.convert_to_tensor(pooling_matrix(w, ow), dtype=x.dtype)
    # Broadcast matrix products over a leading -1 dimension (no einsum: its lowering
    # gives TFLite tensors with invalid static shapes when the batch is dynamic).
    x = ops.matmul(rows, ops.reshape(x, (-1, h, w * c)))  # (N, oh, W*C)
    x = ops.matmul(cols, ops.reshape(x, (-1, w, c)))  # (N*oh, ow, C)
    return ops.reshape(x, (-1, oh, ow, c))
