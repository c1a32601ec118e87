"""Adaptive average pooling with PyTorch's bins, for any input size.

Output cell ``i`` averages rows ``floor(i*H/oh) .. ceil((i+1)*H/oh) - 1``; bins
may overlap, and when ``H < oh`` cells repeat rows. Written as the mean of
static slices, first along rows, then along columns (what PyTorch's kernel
computes), so it is exact for every size (including ``H < oh``, which
`keras.layers.AdaptiveAveragePooling2D` 3.15 rejects along with ``oh == 1``),
exports with builtin ops only, and does no host work when called: the bins are
Python slice bounds, not NumPy pooling matrices copied to the device on every
call (a blocking host-to-device copy per layer on a GPU under PyTorch).
"""

import math

import numpy as np
from keras import ops


def bins(length, size):
    """[(start, stop)] of the `size` bins of a `length`-long axis (PyTorch's bins)."""
    return [((i * length) // size, math.ceil((i + 1) * length / size)) for i in range(size)]


def pooling_matrix(length, size):
    """(size, length) NumPy matrix whose row i averages bin i of a `length`-long axis.

    A host-side description of the bins (for analysis and tests);
    `adaptive_average_pool2d` does not use it.
    """
    matrix = np.zeros((size, length), "float32")
    for i, (start, stop) in enumerate(bins(length, size)):
        matrix[i, start:stop] = 1.0 / (stop - start)
    return matrix


def _pool_axis(x, axis, size):
    """Averages the bins of `axis` (1 or 2) of a 4-D tensor to `size` cells."""
    length = x.shape[axis]
    if size == length:
        return x
    if size == 1:
        return ops.mean(x, axis=axis, keepdims=True)
    cells = []
    for start, stop in bins(length, size):
        cell = x[:, start:stop] if axis == 1 else x[:, :, start:stop]
        cells.append(ops.mean(cell, axis=axis, keepdims=True) if stop - start > 1 else cell)
    return ops.concatenate(cells, axis=axis)


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
    return _pool_axis(_pool_axis(x, 1, oh), 2, ow)
