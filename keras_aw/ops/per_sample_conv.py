"""The per-sample convolution: the one place where AW-convolution's math lives.

Every sample ``n`` of a batch is convolved with its own kernel

    AK[n] = K * M[n]          with  M[n] = 1 + A[n]  (residual form)  or  A[n]

where ``K`` has shape ``(kh, kw, C1, C2)`` and the modulation ``M`` has shape
``(N, kh, kw, G1, G2)`` with ``G1`` dividing ``C1`` and ``G2`` dividing ``C2``:
``M[n, j, k, g1, g2]`` applies to the input channels ``g1 * C1 // G1 ...`` and
output channels ``g2 * C2 // G2 ...`` (the SPEC's "repeat r_C1 / r_C2 times").

No formulation loops over the batch in Python and none uses the batch-as-groups
convolution (which falls into TensorFlow's very slow XLA fallback on CPU).
The input is unfolded once into taps (im2col by slicing, which every backend and
every export format runs with builtin ops), then one of two exact contractions
is used, chosen by the size of the intermediate it materializes (a static
batch of one simply uses the backend's convolution):

- ``"kernel"``: build the per-sample kernels ``AK`` (N·kh·kw·C1·C2 values) and
  do one batched matrix product (N, P, kh·kw·C1) @ (N, kh·kw·C1, C2);
- ``"conv"``: a batch of one (static shape, e.g. batch-1 inference): the
  backend's own convolution with the one modulated kernel;
- ``"taps"``: only when the modulation is shared along input channels
  (``G1 == 1``, the paper's default): one matrix product per kernel tap with
  the static kernel, giving per-tap partial outputs (N·P·kh·kw·C2 values), then
  a modulated sum over taps.
"""

import keras
from keras import ops

PATHS = ("auto", "kernel", "taps", "conv")


def conv_output_length(length, kernel, stride, dilation, padding):
    """Output length of a convolution along one axis (Keras/TF semantics)."""
    if length is None:
        return None
    effective = (kernel - 1) * dilation + 1
    if padding == "same":
        return (length + stride - 1) // stride
    return max((length - effective) // stride + 1, 0)


def _same_padding(length, kernel, stride, dilation):
    effective = (kernel - 1) * dilation + 1
    out = (length + stride - 1) // stride
    total = max((out - 1) * stride + effective - length, 0)
    return total // 2, total - total // 2


def output_size(x, kernel_size, strides, padding, dilation_rate):
    """(Ho, Wo) of a convolution of the channels-last `x` (static H and W needed)."""
    h, w = x.shape[1], x.shape[2]
    if h is None or w is None:
        raise ValueError(
            "AW-convolution needs static spatial dimensions; received an input "
            f"of shape {tuple(x.shape)}. Give the model a fixed `input_shape`."
        )
    return tuple(conv_output_length(n, k, s, d, padding)
                 for n, k, s, d in zip((h, w), kernel_size, strides, dilation_rate))


def _pad_same(x, kernel_size, strides, padding, dilation_rate):
    if padding != "same":
        return x
    pads = [_same_padding(n, k, s, d) for n, k, s, d in
            zip(x.shape[1:3], kernel_size, strides, dilation_rate)]
    if not any(pads[0] + pads[1]):
        return x
    return ops.pad(x, [(0, 0), pads[0], pads[1], (0, 0)])


def extract_taps(x, kernel_size, strides, padding, dilation_rate):
    """Unfolds a channels-last batch into its kernel taps.

    Args:
        x: tensor of shape (N, H, W, C) with static H and W.
        kernel_size, strides, dilation_rate: pairs of ints.
        padding: "valid" or "same".

    Returns:
        (taps, (Ho, Wo)) where ``taps`` is a list of kh·kw tensors of shape
        (N, Ho, Wo, C), in kernel order (row-major over (j, k)).
    """
    (kh, kw), (sh, sw), (dh, dw) = kernel_size, strides, dilation_rate
    ho, wo = output_size(x, kernel_size, strides, padding, dilation_rate)
    x = _pad_same(x, kernel_size, strides, padding, dilation_rate)
    taps = []
    for j in range(kh):
        for k in range(kw):
            r0, c0 = j * dh, k * dw
            taps.append(
                x[:, r0 : r0 + (ho - 1) * sh + 1 : sh, c0 : c0 + (wo - 1) * sw + 1 : sw, :]
            )
    return taps, (ho, wo)


def choose_path(positions, kernel_shape, groups_in):
    """Picks the contraction with the smaller intermediate (see module doc)."""
    kh, kw, c1, c2 = kernel_shape
    if groups_in != 1:
        return "kernel"
    if kh * kw == 1:
        # A 1x1 kernel: one matrix product with the static kernel, then a scale.
        return "taps"
    # per-sample kernels: N·T·C1·C2 values; per-tap partial outputs: N·P·T·C2.
    return "taps" if positions < c1 else "kernel"


def expand_modulation(modulation, kernel_shape):
    """(N, kh, kw, G1, G2) -> (N, kh, kw, C1, C2) by repeating each group."""
    kh, kw, c1, c2 = kernel_shape
    g1, g2 = modulation.shape[-2], modulation.shape[-1]
    if g1 != c1:
        modulation = ops.repeat(modulation, c1 // g1, axis=3)
    if g2 != c2:
        modulation = ops.repeat(modulation, c2 // g2, axis=4)
    return modulation


def per_sample_conv2d(
    x,
    kernel,
    modulation,
    strides=(1, 1),
    padding="valid",
    dilation_rate=(1, 1),
    path="auto",
):
    """Convolves each sample with its own modulated kernel ``kernel * modulation[n]``.

    Args:
        x: channels-last input, shape (N, H, W, C1), static H and W.
        kernel: static kernel, shape (kh, kw, C1, C2).
        modulation: shape (N, kh, kw, G1, G2); G1 | C1 and G2 | C2.
        strides, dilation_rate: pairs of positive ints.
        padding: "valid" or "same".
        path: "auto", "kernel", "taps" or "conv" (module doc). "taps" needs
            G1 == 1, "conv" a static batch of one.

    Returns:
        Tensor of shape (N, Ho, Wo, C2), no bias, no activation.

    Example:

    >>> import numpy as np
    >>> x = np.ones((2, 5, 5, 3), "float32")
    >>> k = np.ones((3, 3, 3, 4), "float32")
    >>> m = np.ones((2, 3, 3, 1, 4), "float32")
    >>> tuple(per_sample_conv2d(x, k, m, padding="same").shape)
    (2, 5, 5, 4)
    """
    if path not in PATHS:
        raise ValueError(f"`path` must be one of {PATHS}; received path={path!r}")
    x, kernel, modulation = (ops.convert_to_tensor(v) for v in (x, kernel, modulation))
    kh, kw, c1, c2 = kernel.shape
    g1, g2 = modulation.shape[-2], modulation.shape[-1]
    ho, wo = output_size(x, (kh, kw), strides, padding, dilation_rate)
    t, p = kh * kw, ho * wo
    if path == "auto":
        # Not on torch: its ONNX exporter traces a batch of one and cannot export a
        # convolution whose kernel is computed (nor would the batch stay dynamic).
        batch_of_one = x.shape[0] == 1 and keras.backend.backend() != "torch"
        path = "conv" if batch_of_one else choose_path(p, kernel.shape, g1)
    if path == "conv":
        if x.shape[0] != 1:
            raise ValueError(
                f"path='conv' needs a static batch of one; received x.shape={tuple(x.shape)}"
            )
        per_sample = kernel * expand_modulation(modulation, kernel.shape)[0]
        return ops.conv(x, per_sample, strides=strides, padding=padding,
                        dilation_rate=dilation_rate, data_format="channels_last")
    if path == "taps" and g1 != 1:
        raise ValueError(
            f"path={path!r} needs a modulation shared along input channels (G1=1); "
            f"received G1={g1}"
        )
    taps, _ = extract_taps(x, (kh, kw), strides, padding, dilation_rate)
    if path == "taps":
        # (T, N·P, C1) @ (T, C1, C2) -> (T, N·P, C2), then a modulated sum over taps.
        stacked = ops.reshape(ops.stack(taps, axis=0), (t, -1, c1))
        partial = ops.matmul(stacked, ops.reshape(kernel, (t, c1, c2)))
        partial = ops.reshape(partial, (t, -1, p, c2))
        scale = ops.transpose(ops.reshape(modulation, (-1, t, g2)), (1, 0, 2))
        if g2 != c2:
            scale = ops.repeat(scale, c2 // g2, axis=-1)
        out = ops.sum(partial * ops.expand_dims(scale, 2), axis=0)
    else:
        patches = ops.reshape(ops.concatenate(taps, axis=-1), (-1, p, t * c1))
        per_sample = kernel * expand_modulation(modulation, kernel.shape)
        out = ops.matmul(patches, ops.reshape(per_sample, (-1, t * c1, c2)))
    return ops.reshape(out, (-1, ho, wo, c2))
