"""Shared helpers of the detection tests: a NumPy reference of the FPN and a tiny detector.

The reference is written from the paper's §4.2 and SPEC §1-§2 with the loops of
tests/reference.py; it reads the layer's weights but none of its code.
"""

import keras
import numpy as np

import reference

TINY = dict(image_shape=(64, 64, 3), max_level=5, filters=16, head_conv_layers=1,
            anchor_size=2.0)


def small_detector(variant_kwargs=None, num_classes=3, **kwargs):
    """A RetinaNet on a width-0.25 MobileNet (0.47 M parameters), 64x64 images, P3-P5.

    Small enough that the shared trained-detector tests fit CI's time budget; the
    registered ResNet builders are checked structurally in test_detection.py.
    """
    from keras_aw.detection import build_retinanet, MobileNetEncoder

    options = dict(TINY, **kwargs)
    encoder = MobileNetEncoder(alpha=0.25, image_shape=options["image_shape"])
    return build_retinanet(encoder, num_classes, **options, **(variant_kwargs or {}))


def np_weights(layer):
    """The layer's own variables by name (not those of its sublayers)."""
    names = ("kernel", "bias", "gamma", "beta", "moving_mean", "moving_variance")
    return {n: keras.ops.convert_to_numpy(getattr(layer, n)).astype(np.float64)
            for n in names if getattr(layer, n, None) is not None}


def _bn(layer):
    w = np_weights(layer)
    return (w["gamma"], w["beta"], w["moving_mean"], w["moving_variance"], layer.epsilon)


def conv_reference(layer, x, stride=1):
    """Conv2D or AWConv2D (inference) of a channels-last batch, by per-sample loops."""
    w = np_weights(layer)
    kernel = w["kernel"]
    if type(layer).__name__ == "AWConv2D":
        a = _aw_attention(layer, x, kernel.shape)
        kernels = kernel[None] * (1.0 + a)
    else:
        kernels = np.broadcast_to(kernel, (x.shape[0],) + kernel.shape)
    out = np.stack([reference.conv_single(x[n], kernels[n], (stride, stride), "same", (1, 1))
                    for n in range(x.shape[0])])
    return out + w["bias"]


def _aw_attention(layer, x, kernel_shape):
    return reference.attention(
        x, kernel_shape,
        np_weights(layer.attention_conv1)["kernel"][0, 0], _bn(layer.attention_bn1),
        np_weights(layer.attention_conv2)["kernel"][0, 0], _bn(layer.attention_bn2),
        kernel_shape[2], 1,
    )


def se_reference(layer, x):
    sq, ex = np_weights(layer.squeeze), np_weights(layer.excite)
    h = np.maximum(x.mean(axis=(1, 2)) @ sq["kernel"] + sq["bias"], 0.0)
    g = 1.0 / (1.0 + np.exp(-(h @ ex["kernel"] + ex["bias"])))
    return x * g[:, None, None, :]


def fpn_reference(fpn, feats):
    """P_min .. P_max of a channels-last `FeaturePyramid` (plain/AW, None/SE), in NumPy.

    Lateral: L_i = conv1x1(att(C_i)) + up2(L_{i+1}); output: P_i = conv3x3(att(L_i));
    extra levels: plain stride-2 3x3 convolutions, from P_top then relu(P_{j-1}).
    """
    feats = {k: np.asarray(v, np.float64) for k, v in feats.items()}
    levels = sorted(int(k[1:]) for k in feats)
    top = min(max(levels), fpn.max_level)

    def att(where, level, x):
        if fpn.attention is None:
            return x
        assert fpn.attention == "se"
        return se_reference(getattr(fpn, where + "_attention")[level], x)

    merged, out = {}, {}
    for i in range(top, fpn.min_level - 1, -1):
        level = f"P{i}"
        x = conv_reference(fpn.lateral_convs[level], att("lateral", level, feats[level]))
        if i < top:
            x = x + merged[f"P{i + 1}"].repeat(2, axis=1).repeat(2, axis=2)
        merged[level] = x
    for i in range(top, fpn.min_level - 1, -1):
        level = f"P{i}"
        out[level] = conv_reference(fpn.output_convs[level], att("output", level, merged[level]))
    for i in range(top + 1, fpn.max_level + 1):
        if i == top + 1:
            x = feats[f"P{top}"] if fpn.use_p5 else out[f"P{top}"]
        else:
            x = np.maximum(out[f"P{i - 1}"], 0.0)
        out[f"P{i}"] = conv_reference(fpn.coarser_convs[f"P{i}"], x, stride=2)
    return out
