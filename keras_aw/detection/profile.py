"""Parameters and GFLOPs of the paper's Table 2 backbones (ResNet101 + each FPN variant).

`profile_table2` builds each registered ResNet101 detector's backbone (the plain
ResNet101 encoder and the pyramid in one of the six variants) and counts it with
`keras_aw.utils.profile`: trainable parameters and GFLOPs (multiply-accumulates,
batch 1) at a stated square input size. The RetinaNet heads are left out: they
are the same for every variant and are not part of the paper's comparison.
"""

import keras

from keras_aw._validation import check_positive_int
from keras_aw.detection.detectors import build_encoder, build_retinanet
from keras_aw.utils import profile
from keras_aw.vocabulary import VARIANTS, variant_arguments, variant_label


def _pyramid_gflops(fpn, feature_shapes):
    """GFLOPs of a built `FeaturePyramid`, one small functional model per convolution path."""
    total = 0.0

    def count(shape, *layers):
        nonlocal total
        inputs = keras.Input(shape)
        x = inputs
        for layer in layers:
            if layer is not None:
                x = layer(x)
        total += profile(keras.Model(inputs, x)).gflops
        return tuple(x.shape[1:])

    top = max(int(k[1:]) for k in feature_shapes)
    out_shapes = {}
    for level, shape in feature_shapes.items():
        merged = count(shape, fpn.lateral_attention.get(level), fpn.lateral_convs[level])
        out_shapes[level] = count(merged, fpn.output_attention.get(level),
                                  fpn.output_convs[level])
    previous = feature_shapes[f"P{top}"] if fpn.use_p5 else out_shapes[f"P{top}"]
    for i in range(top + 1, fpn.max_level + 1):
        previous = count(previous, fpn.coarser_convs[f"P{i}"])
    return total


def profile_table2(image_size=512, encoder="resnet101", max_level=7):
    """Trainable parameters and GFLOPs of the Table 2 backbones, one row per FPN variant.

    Args:
        image_size: side of the square input image (512 by default, the detectors'
            default input; the paper's COCO images are resized to about 800x1333).
        encoder: "resnet101" (Table 2), "resnet50" or "resnet_small".
        max_level: highest pyramid level (7, RetinaNet's P3-P7).

    Returns:
        A list of dicts ``{"variant", "params", "gflops", "fpn_params", "fpn_gflops"}``
        in Table 2's order: the whole backbone (encoder + pyramid) and the pyramid
        alone, parameters in units, GFLOPs as multiply-accumulates / 1e9 at batch 1.

    Example:

    >>> from keras_aw.detection import profile_table2
    >>> rows = profile_table2(image_size=64, encoder="resnet_small")  # doctest: +SKIP
    >>> [r["variant"] for r in rows][:2]  # doctest: +SKIP
    ['FPN', 'AW-FPN']
    """
    check_positive_int("image_size", image_size)
    if image_size % 2 ** max_level:
        raise ValueError(
            f"`image_size` must be a multiple of 2**max_level={2 ** max_level}; received "
            f"image_size={image_size}"
        )
    shape = (image_size, image_size, 3)
    encoder_model = build_encoder(encoder, shape)
    encoder_profile = profile(encoder_model)
    rows = []
    for variant in VARIANTS:  # Table 2's rows in the paper's order
        det = build_retinanet(encoder, 80, shape, max_level=max_level,
                              **variant_arguments(variant))
        backbone = det.backbone
        fpn = backbone.feature_pyramid
        feats = {k: tuple(v.shape[1:]) for k, v in
                 backbone.image_encoder.pyramid_outputs.items()
                 if fpn.min_level <= int(k[1:]) <= min(5, max_level)}
        fpn_params = sum(int(keras.ops.size(w)) for w in fpn.trainable_weights)
        fpn_gflops = _pyramid_gflops(fpn, feats)
        rows.append({"variant": variant_label(variant, "FPN"),
                     "params": encoder_profile.trainable_params + fpn_params,
                     "gflops": encoder_profile.gflops + fpn_gflops,
                     "fpn_params": fpn_params, "fpn_gflops": fpn_gflops})
    return rows


def format_table2_profile(rows, image_size):
    """The rows of `profile_table2` as a Markdown table."""
    lines = [f"| FPN variant | backbone params (M) | backbone GFLOPs @ {image_size} | "
             "FPN params (M) | FPN GFLOPs |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['variant']} | {r['params'] / 1e6:.2f} | {r['gflops']:.3f} | "
                     f"{r['fpn_params'] / 1e6:.3f} | {r['fpn_gflops']:.3f} |")
    return "\n".join(lines)
