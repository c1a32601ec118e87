"""The per-sample convolution: the one place where AW-convolution's math lives.

Every sample ``n`` of a batch is convolved with its own kernel

    AK[n] = K * M[n]          with  M[n] = 1 + A[n]  (residual form)  or  A[n]

where ``K`` has shape ``(kh, kw, C1, C2)`` and the modulation ``M`` has shape
``(N, kh, kw, G1, G2)`` with ``G1`` dividing ``C1`` and ``G2`` dividing ``C2``:
``M[n, j, k, g1, g2]`` applies to the input channels ``g1 * C1 // G1 ...`` and
output channels ``g2 * C2 // G2 ...`` (docs/design.md: "repeat r_C1 / r_C2 times").

No formulation loops over the batch in Python. One of these exact formulations
is used, chosen per backend and shape by `choose_path` (measured, see
benchmarks/NOTES.md); all but "groups" read the input through its kernel taps
(strided slices: builtin ops on every backend and in every export format):

- ``"kernel"``: build the per-sample kernels ``AK`` (N·kh·kw·C1·C2 values),
  concatenate the taps (im2col, kh·kw times the input) and do one batched
  matrix product (N, P, kh·kw·C1) @ (N, kh·kw·C1, C2);
- ``"groups"``: the batch laid along the channels and convolved with the N
  per-sample kernels as one grouped convolution (groups = N). Fast on large maps
  with PyTorch's (oneDNN's) grouped convolution; very slow on TensorFlow, whose
  CPU grouped convolution goes through XLA, and on JAX (XLA:CPU), so chosen on
  PyTorch only, and never while tracing for export (the batch would be frozen
  into the graph as the number of groups);
- ``"conv"``: a batch of one (static shape, e.g. batch-1 inference): the
  backend's own convolution with the one modulated kernel;
- ``"taps"``: only when the modulation is shared along input channels
  (``G1 == 1``, the paper's default, and what every network here uses): the
  modulation is then a scale per (sample, tap, output channel), so
  ``y = sum_t M[:, t] * (x_t @ K_t)``: one matrix product per kernel tap with
  the static kernel, accumulated tap by tap (nothing larger than the output
  is materialized). Its gradient is autodiff's (which keeps every per-tap
  partial output, kh·kw times the output) or written by hand
  (``_taps_backward``), keeping only the inputs: per tap, the input gradient
  ``(g * M_t) @ K_t^T`` and the per-sample correlations ``x_t[n]^T g[n]``
  ("correlate": they give both the kernel's and the modulation's gradients);
  on small maps, where those N·C1·C2 correlations outgrow the map, it keeps
  the partial outputs like autodiff but folds the input gradient back faster
  ("keep").
"""

import keras
from keras import ops

PATHS = ("auto", "kernel", "taps", "groups", "conv")
GRADIENTS = ("auto", "autodiff", "correlate", "keep")


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


def _paddings(x, kernel_size, strides, padding, dilation_rate):
    """[(top, bottom), (left, right)] that `padding` adds around the channels-last `x`."""
    if padding != "same":
        return [(0, 0), (0, 0)]
    return [_same_padding(n, k, s, d) for n, k, s, d in
            zip(x.shape[1:3], kernel_size, strides, dilation_rate)]


def _pad_same(x, kernel_size, strides, padding, dilation_rate):
    pads = _paddings(x, kernel_size, strides, padding, dilation_rate)
    if not any(pads[0] + pads[1]):
        return x
    return ops.pad(x, [(0, 0), pads[0], pads[1], (0, 0)])


def _tap_starts(kernel_size, dilation_rate):
    """(row, column) of each kernel tap's first read in the padded input, kernel order."""
    (kh, kw), (dh, dw) = kernel_size, dilation_rate
    return [(j * dh, k * dw) for j in range(kh) for k in range(kw)]


def tap_slices(x, starts, strides, out_size):
    """The kernel taps of an already padded channels-last `x`: one (N, Ho, Wo, C) slice per
    start (r0, c0), rows r0, r0 + sh, ... and columns c0, c0 + sw, ...

    Strided taps are read as unit-stride slices of `x` reshaped into stride phases
    (TensorFlow's strided slices with steps are an order of magnitude slower).
    """
    (sh, sw), (ho, wo) = strides, out_size
    if sh == 1 and sw == 1:
        return [x[:, r0 : r0 + ho, c0 : c0 + wo] for r0, c0 in starts]
    # Rows r0 + i*sh = (r0 // sh + i) * sh + r0 % sh: phase r0 % sh, row r0 // sh + i.
    hp = sh * max(r0 // sh + ho for r0, _ in starts)
    wp = sw * max(c0 // sw + wo for _, c0 in starts)
    h, w, c = x.shape[1], x.shape[2], x.shape[3]
    x = x[:, : min(h, hp), : min(w, wp)]
    if hp > h or wp > w:  # filler rows/columns, never read
        x = ops.pad(x, [(0, 0), (0, max(hp - h, 0)), (0, max(wp - w, 0)), (0, 0)])
    # 5-D at most (TFLite's strided slice takes no more): column phases share the last axis.
    x = ops.reshape(x, (-1, hp // sh, sh, wp // sw, sw * c))
    return [x[:, r0 // sh : r0 // sh + ho, r0 % sh, c0 // sw : c0 // sw + wo,
              (c0 % sw) * c : (c0 % sw + 1) * c]
            for r0, c0 in starts]


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
    out_size = output_size(x, kernel_size, strides, padding, dilation_rate)
    x = _pad_same(x, kernel_size, strides, padding, dilation_rate)
    return tap_slices(x, _tap_starts(kernel_size, dilation_rate), strides, out_size), out_size


#: Maps with fewer output positions than this count as small in `choose_path`.
SMALL_MAP = 64
#: PyTorch takes the "groups" path from this many output positions per input channel.
GROUPS_MIN_POSITIONS_PER_CHANNEL = 4


def choose_path(backend, positions, kernel_shape, groups_in, tracing=False):
    """The fastest exact (path, gradient) for a shape on a backend.

    Measured on 2 CPU cores at the ResNet50/MobileNet shapes (benchmarks/formulations.py,
    benchmarks/NOTES.md): on TensorFlow and JAX the taps with a hand-written gradient
    win (TensorFlow's strided-slice gradients are slow; autodiff keeps every partial
    output), correlating on large maps and keeping the partial outputs on small ones,
    where the per-sample correlations (N·C1·C2 per tap) outgrow the map and the partial
    outputs are small; PyTorch runs its grouped convolution fastest on maps with many
    positions per input channel (``GROUPS_MIN_POSITIONS_PER_CHANNEL``), then the
    per-sample kernels, and the taps with autodiff on small maps.

    Args:
        backend: Keras backend name.
        positions: output positions Ho·Wo.
        kernel_shape: (kh, kw, C1, C2).
        groups_in: G1, the modulation's groups along input channels.
        tracing: whether the graph is traced for export (then never "groups").

    Returns:
        (path, gradient), values of `per_sample_conv2d`'s arguments.
    """
    kh, kw, c1, c2 = kernel_shape
    if (backend == "torch" and not tracing and kh * kw > 1
            and positions >= GROUPS_MIN_POSITIONS_PER_CHANNEL * c1):
        return "groups", "autodiff"
    if groups_in != 1:
        return "kernel", "autodiff"
    if kh * kw == 1:  # one tap: one product with the static kernel, then a scale
        return "taps", "autodiff"
    if backend == "torch":
        return ("kernel", "autodiff") if positions >= c1 else ("taps", "autodiff")
    return "taps", "correlate" if positions >= SMALL_MAP else "keep"


def expand_modulation(modulation, kernel_shape):
    """(N, kh, kw, G1, G2) -> (N, kh, kw, C1, C2) by repeating each group, to multiply a
    kernel of `kernel_shape` with; G1 = 1 stays (N, kh, kw, 1, C2): it broadcasts as it is."""
    kh, kw, c1, c2 = kernel_shape
    g1, g2 = modulation.shape[-2], modulation.shape[-1]
    if g1 not in (1, c1):
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
    gradient="auto",
):
    """Convolves each sample with its own modulated kernel ``kernel * modulation[n]``.

    Args:
        x: channels-last input, shape (N, H, W, C1), static H and W.
        kernel: static kernel, shape (kh, kw, C1, C2).
        modulation: shape (N, kh, kw, G1, G2); G1 | C1 and G2 | C2.
        strides, dilation_rate: pairs of positive ints.
        padding: "valid" or "same".
        path: "auto", "kernel", "taps", "groups" or "conv" (module doc). "taps" needs
            G1 == 1, "conv" a static batch of one.
        gradient: how the "taps" path is differentiated: "autodiff" (keeps the
            per-tap partial outputs), "correlate" (hand-written: per-sample
            correlations give the kernel's and modulation's gradients) or
            "keep" (hand-written: keeps the per-tap partial outputs, like autodiff);
            "auto" picks by backend and shape (`choose_path`). All are exact.

    Returns:
        Tensor of shape (N, Ho, Wo, C2), no bias, no activation.

    Example:

    >>> import numpy as np
    >>> x = np.ones((2, 5, 5, 3), "float32")
    >>> k = np.ones((3, 3, 3, 4), "float32")
    >>> m = np.ones((2, 3, 3, 1, 4), "float32")
    >>> m[1] = 2.0  # sample 1 is convolved with 2 * k
    >>> y = np.asarray(per_sample_conv2d(x, k, m, padding="same"))
    >>> y.shape
    (2, 5, 5, 4)
    >>> y[:, 2, 2, 0].tolist(), y[:, 0, 0, 0].tolist()  # centre: 3*3*3 ones; corner: 2*2*3
    ([27.0, 54.0], [12.0, 24.0])
    """
    if path not in PATHS:
        raise ValueError(f"`path` must be one of {PATHS}; received path={path!r}")
    if gradient not in GRADIENTS:
        raise ValueError(f"`gradient` must be one of {GRADIENTS}; received gradient={gradient!r}")
    if path in ("kernel", "groups", "conv") and gradient not in ("auto", "autodiff"):
        raise ValueError(f"gradient={gradient!r} applies to path='taps' only; received "
                         f"path={path!r}")
    x, kernel, modulation = (ops.convert_to_tensor(v) for v in (x, kernel, modulation))
    kh, kw, c1, c2 = kernel.shape
    g1, g2 = modulation.shape[-2], modulation.shape[-1]
    ho, wo = output_size(x, (kh, kw), strides, padding, dilation_rate)
    t, p = kh * kw, ho * wo
    backend = keras.backend.backend()
    chosen_path, chosen_gradient = choose_path(backend, p, kernel.shape, g1,
                                               tracing=_torch_tracing(backend))
    if path == "auto":
        # Not on torch: its ONNX exporter traces a batch of one and cannot export a
        # convolution whose kernel is computed (nor would the batch stay dynamic).
        batch_of_one = x.shape[0] == 1 and backend != "torch"
        path = "conv" if batch_of_one else chosen_path
    if gradient == "auto":
        gradient = chosen_gradient if path == chosen_path else "autodiff"
    if path == "conv":
        if x.shape[0] != 1:
            raise ValueError(
                f"path='conv' needs a static batch of one; received x.shape={tuple(x.shape)}"
            )
        per_sample = kernel * expand_modulation(modulation, kernel.shape)[0]
        return ops.conv(x, per_sample, strides=strides, padding=padding,
                        dilation_rate=dilation_rate, data_format="channels_last")
    if path == "groups":
        return _groups_conv(x, kernel, modulation, strides, padding, dilation_rate, backend)
    if path == "taps" and g1 != 1:
        raise ValueError(
            f"path={path!r} needs a modulation shared along input channels (G1=1); "
            f"received G1={g1}"
        )
    if path == "taps":
        return _taps_conv(x, kernel, modulation, strides, padding, dilation_rate, gradient)
    taps, _ = extract_taps(x, (kh, kw), strides, padding, dilation_rate)
    patches = ops.reshape(ops.concatenate(taps, axis=-1), (-1, p, t * c1))
    per_sample = kernel * expand_modulation(modulation, kernel.shape)
    out = ops.matmul(patches, ops.reshape(per_sample, (-1, t * c1, c2)))
    return ops.reshape(out, (-1, ho, wo, c2))


def _groups_conv(x, kernel, modulation, strides, padding, dilation_rate, backend):
    """The batch as groups: (1, N·C1) channels convolved with the N per-sample kernels."""
    kh, kw, c1, c2 = kernel.shape
    h, w = x.shape[1], x.shape[2]
    modulation = expand_modulation(modulation, kernel.shape)
    # The per-sample kernels laid out (N·C2, C1, kh, kw), as PyTorch's convolution reads
    # them (Keras's kernel layout below is a view of it there; a copy would cost more).
    per_sample = (ops.transpose(kernel, (3, 2, 0, 1))[None]
                  * ops.transpose(modulation, (0, 4, 3, 1, 2)))
    grouped = ops.transpose(ops.reshape(per_sample, (-1, c1, kh, kw)), (2, 3, 1, 0))
    geometry = dict(strides=strides, padding=padding, dilation_rate=dilation_rate)
    if backend == "torch":  # channels-first: Keras would transpose channels-last input twice
        x = ops.reshape(ops.transpose(x, (0, 3, 1, 2)), (1, -1, h, w))
        y = ops.conv(x, grouped, data_format="channels_first", **geometry)
        y = ops.reshape(y, (-1, c2, y.shape[2], y.shape[3]))
        return ops.transpose(y, (0, 2, 3, 1))
    # TensorFlow's CPU convolution takes channels-last only.
    x = ops.reshape(ops.transpose(x, (1, 2, 0, 3)), (1, h, w, -1))
    y = ops.conv(x, grouped, data_format="channels_last", **geometry)
    y = ops.reshape(y, (y.shape[1], y.shape[2], -1, c2))
    return ops.transpose(y, (2, 0, 1, 3))


def _torch_tracing(backend):
    """Whether PyTorch is tracing a graph (TorchScript, as its ONNX export with a dynamic batch)."""
    if backend != "torch":
        return False
    import torch

    return torch.jit.is_tracing()


def _tap_scales(modulation, c2):
    """(N, kh, kw, 1, G2) -> list of kh·kw scales of shape (N, 1, 1, C2)."""
    kh, kw, g2 = modulation.shape[1], modulation.shape[2], modulation.shape[-1]
    scale = ops.reshape(modulation, (-1, kh * kw, 1, 1, g2))
    if g2 != c2:
        scale = ops.repeat(scale, c2 // g2, axis=-1)
    return [scale[:, t] for t in range(kh * kw)]


def _taps_forward(taps, kernel, scales):
    """(output, per-tap partial outputs x_t @ K_t)."""
    kw = kernel.shape[1]
    out, partials = None, []
    for t, tap in enumerate(taps):
        partials.append(ops.matmul(tap, kernel[t // kw, t % kw]))
        y = partials[-1] * scales[t]
        out = y if out is None else out + y
    return out, partials


def _unslice(d, start, strides, size):
    """Transpose of ``x[:, r0::sh, c0::sw]`` (cut to d's size) for x of spatial `size`."""
    (r0, c0), (sh, sw), (hp, wp) = start, strides, size
    ho, wo, c = d.shape[1], d.shape[2], d.shape[3]
    if sh > 1 or sw > 1:  # put the strided rows and columns back, zeros in between
        d = ops.reshape(d, (-1, ho, 1, wo, 1, c))
        d = ops.pad(d, [(0, 0), (0, 0), (0, sh - 1), (0, 0), (0, sw - 1), (0, 0)])
        ho, wo = min(ho * sh, hp - r0), min(wo * sw, wp - c0)
        d = ops.reshape(d, (-1, d.shape[1] * sh, d.shape[3] * sw, c))[:, :ho, :wo]
    return ops.pad(d, [(0, 0), (r0, hp - r0 - ho), (c0, wp - c0 - wo), (0, 0)])


def _taps_backward(g, taps, partials, kernel, scales, modulation, strides, dilation_rate,
                   pads, padded_size, mode, input_gradient=True):
    """Gradients of ``_taps_forward`` w.r.t. the (unpadded) input, kernel and modulation.

    With ``input_gradient=False`` (PyTorch, input not requiring a gradient: eager mode
    would not prune it) the input's gradient is None.
    """
    kh, kw, c1, c2 = kernel.shape
    g2 = modulation.shape[-1]
    p = g.shape[1] * g.shape[2]
    g_rows = ops.reshape(g, (-1, p, c2))
    starts = _tap_starts((kh, kw), dilation_rate)
    dx, dkernel, dmod = None, [], []
    for t, tap in enumerate(taps):
        k_t, g_t = kernel[t // kw, t % kw], g * scales[t]
        if input_gradient:
            d = _unslice(ops.matmul(g_t, ops.transpose(k_t)), starts[t], strides, padded_size)
            dx = d if dx is None else dx + d
        if mode == "correlate":
            # Per-sample correlations W[n] = x_t[n]^T g[n], shape (N, C1, C2), give both.
            w = ops.matmul(ops.transpose(ops.reshape(tap, (-1, p, c1)), (0, 2, 1)), g_rows)
            dkernel.append(ops.sum(w * ops.reshape(scales[t], (-1, 1, c2)), axis=0))
            dmod.append(ops.sum(w * k_t, axis=1))
        else:  # "keep": one product over the batch, and the kept partial output
            flat = ops.reshape(tap, (-1, c1))
            dkernel.append(ops.matmul(ops.transpose(flat), ops.reshape(g_t, (-1, c2))))
            dmod.append(ops.sum(ops.reshape(partials[t], (-1, p, c2)) * g_rows, axis=1))
    if input_gradient:
        (top, bottom), (left, right) = pads
        dx = dx[:, top : dx.shape[1] - bottom, left : dx.shape[2] - right]
    dkernel = ops.reshape(ops.stack(dkernel, axis=0), kernel.shape)
    dmod = ops.stack(dmod, axis=1)  # (N, T, C2)
    if g2 != c2:  # each modulation group scaled C2 / G2 output channels
        dmod = ops.sum(ops.reshape(dmod, (-1, kh * kw, g2, c2 // g2)), axis=-1)
    return dx, dkernel, ops.reshape(dmod, (-1,) + tuple(modulation.shape[1:]))


def _needs_custom_gradient(backend, *tensors):
    if backend != "torch":
        return True
    import torch

    # Inference and tracing (ONNX export) see the plain forward.
    return (torch.is_grad_enabled() and not _torch_tracing(backend)
            and any(t.requires_grad for t in tensors))


def _taps_conv(x, kernel, modulation, strides, padding, dilation_rate, gradient):
    kh, kw, c1, c2 = kernel.shape
    backend = keras.backend.backend()

    def forward(x, kernel, modulation):
        taps, _ = extract_taps(x, (kh, kw), strides, padding, dilation_rate)
        return _taps_forward(taps, kernel, _tap_scales(modulation, c2))

    if gradient == "autodiff" or not _needs_custom_gradient(backend, x, kernel, modulation):
        return forward(x, kernel, modulation)[0]
    # Graph backends prune an unused input gradient; eager PyTorch must be told.
    input_gradient = backend != "torch" or x.requires_grad
    pads = _paddings(x, (kh, kw), strides, padding, dilation_rate)
    padded_size = tuple(n + sum(pad) for n, pad in zip(x.shape[1:3], pads))

    if backend == "tensorflow":
        import tensorflow as tf

        # Variables must arrive as tensors (tf.custom_gradient wants no variable reads inside).
        x, kernel, modulation = (tf.convert_to_tensor(v) for v in (x, kernel, modulation))

    @ops.custom_gradient
    def conv(x, kernel, modulation):
        out, partials = forward(x, kernel, modulation)
        if gradient != "keep":
            partials = None  # the inputs are all the backward pass keeps

        def grad(*args, upstream=None):
            g = args[0] if upstream is None else upstream
            taps, _ = extract_taps(x, (kh, kw), strides, padding, dilation_rate)  # cheap to redo
            return _taps_backward(g, taps, partials, kernel, _tap_scales(modulation, c2),
                                  modulation, strides, dilation_rate, pads, padded_size,
                                  gradient, input_gradient)

        return out, grad

    return conv(x, kernel, modulation)
