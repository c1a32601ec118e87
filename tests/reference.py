"""An independent NumPy reference of AW-convolution, written from SPEC §1-§2.

Plain loops over samples and output positions; no code shared with keras_aw.
"""

import math

import numpy as np


def adaptive_avg_pool(x, out_h, out_w):
    """PyTorch semantics: cell i averages rows floor(i*H/oh) .. ceil((i+1)*H/oh)-1."""
    n, h, w, c = x.shape
    out = np.zeros((n, out_h, out_w, c), np.float64)
    for i in range(out_h):
        r0, r1 = (i * h) // out_h, math.ceil((i + 1) * h / out_h)
        for j in range(out_w):
            c0, c1 = (j * w) // out_w, math.ceil((j + 1) * w / out_w)
            out[:, i, j, :] = x[:, r0:r1, c0:c1, :].mean(axis=(1, 2))
    return out


def batch_norm_inference(x, gamma, beta, mean, var, eps):
    return gamma * (x - mean) / np.sqrt(var + eps) + beta


def batch_statistics(x):
    """Mean and biased variance over every axis but the last (channels-last BatchNorm)."""
    axes = tuple(range(x.ndim - 1))
    return x.mean(axis=axes), x.var(axis=axes)


def attention(x, kernel_shape, conv1, bn1, conv2, bn2, rc1, rc2, batch_stats=None):
    """A with shape (N, kh, kw, C1, C2). bn* = (gamma, beta, mean, var, eps).

    With `batch_stats` a list, the BatchNorms run in training mode: they normalize with
    the statistics of their own input over the batch and the kh x kw pooled cells (the
    mean/var of bn* are ignored), and each one's (mean, biased variance) is appended.
    """
    kh, kw, c1, c2 = kernel_shape

    def batch_norm(z, gamma, beta, mean, var, eps):
        if batch_stats is not None:
            mean, var = batch_statistics(z)
            batch_stats.append((mean, var))
        return batch_norm_inference(z, gamma, beta, mean, var, eps)

    a = adaptive_avg_pool(x, kh, kw)
    a = np.maximum(batch_norm(a @ conv1, *bn1), 0.0)
    a = batch_norm(a @ conv2, *bn2)
    a = 1.0 / (1.0 + np.exp(-a))
    g1, g2 = c1 // rc1, c2 // rc2
    full = np.zeros((x.shape[0], kh, kw, c1, c2))
    for i1 in range(c1):
        for i2 in range(c2):
            full[..., i1, i2] = a[..., (i1 // rc1) * g2 + i2 // rc2]
    return full


def conv_single(x, k, strides, padding, dilation):
    """One sample, x (H, W, C1), k (kh, kw, C1, C2), Keras/TF padding rules."""
    h, w, _ = x.shape
    kh, kw, _, c2 = k.shape
    (sh, sw), (dh, dw) = strides, dilation
    eh, ew = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    if padding == "same":
        oh, ow = math.ceil(h / sh), math.ceil(w / sw)
        ph = max((oh - 1) * sh + eh - h, 0)
        pw = max((ow - 1) * sw + ew - w, 0)
        x = np.pad(x, ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    else:
        oh, ow = (h - eh) // sh + 1, (w - ew) // sw + 1
    out = np.zeros((oh, ow, c2))
    for i in range(oh):
        for j in range(ow):
            for a in range(kh):
                for b in range(kw):
                    out[i, j] += x[i * sh + a * dh, j * sw + b * dw] @ k[a, b]
    return out


def conv_single_backward(x, k, g, strides, padding, dilation):
    """Gradients of sum(conv_single(x, k) * g) w.r.t. x and k, by the same loops."""
    h, w, _ = x.shape
    kh, kw, _, _ = k.shape
    (sh, sw), (dh, dw) = strides, dilation
    eh, ew = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    top = left = 0
    if padding == "same":
        ph = max((g.shape[0] - 1) * sh + eh - h, 0)
        pw = max((g.shape[1] - 1) * sw + ew - w, 0)
        top, left = ph // 2, pw // 2
        x = np.pad(x, ((top, ph - top), (left, pw - left), (0, 0)))
    dx, dk = np.zeros(x.shape), np.zeros(k.shape)
    for i in range(g.shape[0]):
        for j in range(g.shape[1]):
            for a in range(kh):
                for b in range(kw):
                    r, c = i * sh + a * dh, j * sw + b * dw
                    dk[a, b] += np.outer(x[r, c], g[i, j])
                    dx[r, c] += k[a, b] @ g[i, j]
    return dx[top : top + h, left : left + w], dk


def aw_conv2d(x, kernel, bias, attention_maps, strides, padding, dilation, residual):
    """x (N, H, W, C1) channels-last; attention_maps (N,) + kernel.shape."""
    outs = []
    for n in range(x.shape[0]):
        ak = kernel + attention_maps[n] * kernel if residual else attention_maps[n] * kernel
        o = conv_single(x[n].astype(np.float64), ak, strides, padding, dilation)
        outs.append(o + (0 if bias is None else bias))
    return np.stack(outs)
