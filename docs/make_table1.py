"""Generates docs/table1.md: the paper's Table 1 next to what keras_aw builds.

Every row is built with the public builder at 224x224 and measured with
`keras_aw.utils.profile` (trainable parameters; multiply-accumulates of
convolutions and dense layers, AW attention branch and kernel modulation
included, batch 1). Nothing in the keras_aw columns is typed in by hand.

Usage: ``KERAS_BACKEND=jax python docs/make_table1.py`` (any backend; about
two minutes on two CPU cores).
"""

import os
import time

import keras
import numpy as np

from keras_aw import registry, vocabulary
from keras_aw.layers import CBAM, AWConv2D, SqueezeExcite
from keras_aw.utils import profile

HERE = os.path.dirname(os.path.abspath(__file__))
TARGET = os.path.join(HERE, "table1.md")


#: The "Reproducing Table 1" section (the recipe and the commands; not measured).
REPRODUCING = r"""## Reproducing Table 1

The error columns above come from ImageNet training with the code of the paper's reference [29]
(the CBAM authors'), whose recipe `keras-aw train` names `imagenet` (`keras-aw recipes` lists its
values; docs/recipes.md says where each comes from): SGD with PyTorch's rule, momentum 0.9, 0.1
per 256 images scaled linearly with the global batch, L2 weight decay 1e-4 on every weight, ×0.1
every 30 epochs, 100 epochs; RandomResizedCrop 224 + flip; resize 256, center crop 224; ImageNet
mean/std in the model's first layer; top-1 and top-5; the last and the best-validation-top-1
checkpoints. A tfds `imagenet2012*` set gets this recipe by default, any other data set the
`demo` recipe (Adam 2e-3, per-epoch cosine, 5 epochs); `--recipe NAME` chooses, and
`--epochs`, `--batch-size`, `--learning-rate`, `--image-size` override the recipe's values (a
given learning rate is used as it is, not scaled). Every run prints its recipe and writes it,
resolved for its batch and steps, with the values the user overrode, to `recipe.json`.

ImageNet comes through TensorFlow Datasets: put `ILSVRC2012_img_train.tar` and
`ILSVRC2012_img_val.tar` into the tfds manual directory, run `tfds build imagenet2012` once, and
give every process the data directory (`TFDS_DATA_DIR`, on a filesystem all hosts share, like
`--output`). Training reads `train`, validation and `keras-aw evaluate` read `validation`;
`test` (labels −1) is refused.

One GPU (any backend; the global batch 256 of the reference, or a smaller one, whose learning
rate the recipe scales: `--batch-size 64` trains at 0.025):

```bash
keras-aw train --recipe imagenet --model AWResNet50 --dataset tfds:imagenet2012 \
    --image-size 224 --output runs/awresnet50
keras-aw evaluate runs/awresnet50/best.keras --dataset tfds:imagenet2012   # top-1/top-5 errors
```

One host with 8 GPUs (the reference's setting: batch 256, 32 per GPU):

```bash
# JAX: keras.distribution.DataParallel over the host's GPUs
KERAS_BACKEND=jax keras-aw train --recipe imagenet --model AWResNet50 \
    --dataset tfds:imagenet2012 --image-size 224 --distribute --output runs/awresnet50
# TensorFlow: MirroredStrategy over the host's GPUs
KERAS_BACKEND=tensorflow keras-aw train --recipe imagenet --model AWResNet50 \
    --dataset tfds:imagenet2012 --image-size 224 --distribute --output runs/awresnet50
# PyTorch: one process per GPU (DistributedDataParallel)
KERAS_BACKEND=torch torchrun --nnodes 1 --nproc-per-node 8 --no-python keras-aw train \
    --recipe imagenet --model AWResNet50 --dataset tfds:imagenet2012 --image-size 224 \
    --output runs/awresnet50
```

N hosts (here 8 GPUs each; `--batch-size` stays the global batch, so keep 256 for the
reference's learning rate or give a larger one, scaled linearly; I = 0 .. N−1; `--output` on the
shared filesystem, written by process 0 only):

```bash
# JAX: one process per host; or KERAS_DISTRIBUTION_JOB_ADDRESSES / _NUM_PROCESSES / _PROCESS_ID
KERAS_BACKEND=jax keras-aw train --recipe imagenet --model AWResNet50 \
    --dataset tfds:imagenet2012 --image-size 224 --batch-size 256 \
    --job-addresses host0:12355 --num-processes N --process-id $I --output /shared/runs/aw50
# TensorFlow: one process per host, MultiWorkerMirroredStrategy from TF_CONFIG
export TF_CONFIG='{"cluster": {"worker": ["host0:2222", "host1:2222"]},
                  "task": {"type": "worker", "index": 0}}'       # index: I
KERAS_BACKEND=tensorflow keras-aw train --recipe imagenet --model AWResNet50 \
    --dataset tfds:imagenet2012 --image-size 224 --batch-size 256 --output /shared/runs/aw50
# PyTorch: torchrun on every host, one process per GPU
KERAS_BACKEND=torch torchrun --nnodes N --nproc-per-node 8 --rdzv-backend c10d --rdzv-id aw50 \
    --rdzv-endpoint host0:29500 --no-python keras-aw train --recipe imagenet \
    --model AWResNet50 --dataset tfds:imagenet2012 --image-size 224 --batch-size 256 \
    --output /shared/runs/aw50
```

An interrupted run continues with the same command and `--resume` (the epoch count, the step
schedule and the best validation top-1 so far carry over: `best.keras` is replaced only by a
better epoch). The run prints and `history.csv` holds top-1 and top-5 accuracy per epoch; the
end of a run prints the last and the best epoch with the paper's top-1/top-5 errors.

What was verified here, on CPU (`tests/test_table1_e2e.py`, each backend): tfds's own
`imagenet2012` builder prepared from ImageNet-shaped tars of full-size JPEGs written into its
manual directory (1000 classes, 6 training, 4 validation, 2 test images); the command above with
AWResNet50 at 224 for two steps (batch 2): `recipe.json` value by value, top-1/top-5 in the
history, `checkpoint.keras`, `model.keras` and `best.keras`; with AWSmallCNN at 32 on the same
recipe and pipeline: `--resume` keeping the best checkpoint, `keras-aw evaluate` with the run's
recipe, the `test` split refused by `train` and `evaluate`, and two processes on loopback,
a run and its resume (`multiprocess` marker: JAX with flags, TensorFlow with TF_CONFIG,
PyTorch with torchrun, all three passing). What was not: no ImageNet training (no ImageNet and no GPU here), so no
error of this table was re-measured, no run of the 8-GPU or multi-host commands on GPUs, and no
timing of a full epoch.
"""


def paper_rows():
    """Table 1 as (paper label, builder, kwargs, top-1, top-5, GFLOPs, params) from the registry."""
    def percent(value):
        return "–" if value is None else f"{value:.2f}%"

    return [(row.label, info.name, dict(row.kwargs), percent(row.metrics["top1_err"]),
             percent(row.metrics["top5_err"]), row.metrics["gflops"], row.metrics["params_m"])
            for _, info, row in registry.paper_rows()]


def spec_of(builder, kwargs):
    """The registry spec of a builder and its CBAM form ("AWCBAMResNet50:spatial")."""
    return builder + (f":{kwargs['cbam']}" if kwargs.get("cbam") else "")


def extra_rows():
    """Every other registered ImageNet builder and CBAM form: (spec, builder, kwargs)."""
    covered = {(info.name, tuple(sorted(row.kwargs.items())))
               for _, info, row in registry.paper_rows()}
    rows = []
    for name in registry.list_models(task="classification"):
        info = registry.model_info(name)
        if info.family == "small_cnn":
            continue
        for kwargs in ([{"cbam": m} for m in vocabulary.CBAM_MODES] if info.takes_cbam else [{}]):
            if (name, tuple(sorted(kwargs.items()))) not in covered:
                rows.append((spec_of(name, kwargs), name, kwargs))
    return rows


def rescale_multiplies(model):
    """Element-wise multiplies of the attention gates (not in the MAC count), in G."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, SqueezeExcite):
            total += int(np.prod(layer.output.shape[1:]))
        elif isinstance(layer, CBAM):
            per_gate = int(np.prod(layer.output.shape[1:]))
            total += per_gate * (1 if layer.mode == "maxpool" else 2)
    return total / 1e9


def measure(builder, kwargs):
    keras.utils.clear_session()
    model = registry.create_model(builder, **kwargs)
    result = profile(model)
    aw_params = sum(
        int(np.prod(w.shape))
        for layer in model.layers if isinstance(layer, AWConv2D)
        for w in layer.trainable_weights
    ) - sum(int(np.prod(layer.kernel.shape))
            for layer in model.layers if isinstance(layer, AWConv2D))
    modulation = sum(int(np.prod(layer.kernel.shape))
                     for layer in model.layers if isinstance(layer, AWConv2D))
    return dict(params=result.trainable_params, gflops=result.gflops,
                rescale=rescale_multiplies(model), aw_params=aw_params,
                modulation=modulation / 1e9)


def call(builder, kwargs):
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    return f"`{builder}({args})`"


def note(name, paper_gflops, paper_params, m, base):
    """The reason for each difference, from the measured numbers (footnotes in the text)."""
    digits = 2 if paper_gflops > 1 else 3
    parts = []
    if round(m["params"] / 1e6, 2) == paper_params:
        parts.append("params match")
    elif "AW" in name:
        parts.append(
            f"params {m['params'] / 1e6 - paper_params:+.3f} M: AW adds "
            f"{m['aw_params'] / 1e6:.3f} M by the design that reproduces the paper's "
            "ResNet50 row; this row of the paper is inconsistent with it (a)"
        )
    else:
        parts.append(f"params {m['params'] / 1e6 - paper_params:+.3f} M")
    if round(m["gflops"], digits) == paper_gflops:
        parts.append("GFLOPs match")
    else:
        reason = f"GFLOPs {m['gflops'] - paper_gflops:+.{digits + 1}f} (b)"
        if m["rescale"]:
            reason += f"; uncounted gate rescaling: {m['rescale']:.4f} G"
        parts.append(reason)
    if base is not None:
        parts.append(
            f"AW's own cost: {m['params'] - base['params']:+,d} params, "
            f"{m['gflops'] - base['gflops']:+.4f} G"
        )
    return "; ".join(parts)


def main():
    start = time.time()
    rows, measured = [], {}
    print(f"backend {keras.backend.backend()}", flush=True)
    for name, builder, kwargs, top1, top5, gflops, params in paper_rows():
        m = measure(builder, kwargs)
        measured[name] = measured[spec_of(builder, kwargs)] = m
        print(f"{name:32s} {m['params']:>10,d} {m['gflops']:.4f}", flush=True)
        rows.append((name, builder, kwargs, top1, top5, gflops, params, m))
    extra = []
    for name, builder, kwargs in extra_rows():
        m = measure(builder, kwargs)
        measured[spec_of(builder, kwargs)] = m
        print(f"{name:32s} {m['params']:>10,d} {m['gflops']:.4f}", flush=True)
        extra.append((name, builder, kwargs, m))

    def base_of(builder, kwargs):
        """The measurements of the same network without AW."""
        return measured.get(spec_of(builder[2:], kwargs)) if builder.startswith("AW") else None

    lines = [
        "# Table 1 of the paper, reproduced by keras_aw",
        "",
        "<!-- Generated by docs/make_table1.py; do not edit by hand. -->",
        "",
        "Zhu et al., *An Attention Module for Convolutional Neural Networks*, ICANN 2021, "
        "Table 1 (ImageNet, 224x224), next to the networks `keras_aw.applications` builds. "
        "The keras_aw columns are measured by `keras_aw.utils.profile` on the built models "
        "(224x224, batch 1): **trainable** parameters (BatchNorm moving statistics excluded) "
        "and GFLOPs = multiply-accumulates of convolutions (depthwise included) and dense "
        "layers, plus, for AW-convolution, its attention branch and the per-sample kernel "
        "modulation (kh·kw·C1·C2 multiplies per sample). Pooling, BatchNorm, activations, "
        "additions and the attention gates' element-wise rescaling are not counted.",
        "",
        "**The error columns are the paper's claims**, quoted, not re-measured: no ImageNet "
        "training was run for this project.",
        "",
        "| Model | keras_aw builder | Top-1 err (paper) | Top-5 err (paper) "
        "| GFLOPs paper | GFLOPs keras_aw | Params paper (M) | Params keras_aw (M) "
        "| Params keras_aw (exact) | Difference and reason |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, builder, kwargs, top1, top5, gflops, params, m in rows:
        digits = 2 if gflops > 1 else 3
        base = base_of(builder, kwargs)
        lines.append(
            f"| {name} | {call(builder, kwargs)} | {top1} | {top5} | {gflops:.{digits}f} "
            f"| {m['gflops']:.{digits + 1}f} | {params:.2f} | {m['params'] / 1e6:.3f} "
            f"| {m['params']:,d} | {note(name, gflops, params, m, base)} |"
        )
    r50, r101 = measured["ResNet50"], measured["ResNet101"]
    keras.utils.clear_session()
    keras_r50 = profile(keras.applications.ResNet50(weights=None)).trainable_params
    keras_mobilenet = profile(keras.applications.MobileNet(weights=None)).trainable_params
    mob, se_mob = measured["MobileNet"], measured["SE-MobileNet"]
    aw50 = measured["AW-ResNet50"]
    lines += [
        "",
        "## Where the numbers come from",
        "",
        f"- **ResNet50 / ResNet101**: {r50['params']:,d} / {r101['params']:,d} trainable "
        "parameters, the counts of torchvision's resnet50 / resnet101 (bias-free "
        "convolutions, BatchNorm, Dense classifier with bias). keras.applications' ResNet50 "
        f"has {keras_r50 - r50['params']:,d} more ({keras_r50:,d}: its convolutions have "
        "biases), which the paper's 25.56 M excludes. The stride sits on the first 1x1 "
        f"convolution of a downsampling block, which gives {r50['gflops']:.3f} GFLOPs (the "
        "paper's 3.86); torchvision documents 4.09 for its stride-on-3x3 layout.",
        f"- **MobileNet**: {mob['params']:,d} trainable parameters; keras.applications' "
        f"MobileNet(weights=None) has {keras_mobilenet:,d}"
        f"{' (identical)' if keras_mobilenet == mob['params'] else ''}.",
        f"- **(a) AW parameters**: each AWConv2D adds C1²/16 + (C1/16)·C2 weights and "
        "2·(C1/16 + C2) BatchNorm parameters (docs/design.md; r_C1 = C1, r_C2 = 1). Over ResNet50 "
        f"that is +{aw50['aw_params'] / 1e6:.3f} M (paper +0.16), over ResNet101 "
        f"+{measured['AW-ResNet101']['aw_params'] / 1e6:.3f} M (paper +0.40) and over "
        "MobileNet's pointwise convolutions "
        f"+{measured['AW-SE-MobileNet']['aw_params'] / 1e6:.3f} M (paper +0.45). The paper's "
        "ResNet50 figure agrees with the design; its ResNet101 and MobileNet figures do not "
        "agree with its own ResNet50 figure, and the builders keep the one design "
        "(both figures are reported; the design is not distorted to hit either).",
        "- **(b) GFLOPs**: the paper does not say how it counts. This table counts "
        "multiply-accumulates of convolutions and dense layers plus AW's branch and kernel "
        "modulation. The per-sample kernel modulation costs kh·kw·C1·C2 multiplies "
        f"per sample ({aw50['modulation']:.4f} G over the 3x3 kernels of ResNet50) and the "
        f"attention branch {aw50['gflops'] - r50['gflops'] - aw50['modulation']:.4f} G, so "
        f"AW-ResNet50 is {aw50['gflops'] - r50['gflops']:+.4f} G over ResNet50 (paper +0.01) "
        f"and AW-ResNet101 {measured['AW-ResNet101']['gflops'] - r101['gflops']:+.4f} G over "
        "ResNet101 (paper +0.01, which is inconsistent with its ResNet50 increment, ResNet101 "
        "having about twice as many 3x3 weights). On MobileNet the same count gives "
        f"{measured['AW-SE-MobileNet']['gflops'] - se_mob['gflops']:+.4f} G for AW where the "
        "paper prints +0.042, and SE/CBAM's dense layers cost little (SE-MobileNet "
        f"{se_mob['gflops'] - mob['gflops']:+.4f} G, paper +0.012). The paper's larger "
        "increments for SE and CBAM (e.g. SE-ResNet50 3.87, AW-CBAM-ResNet50 (Spatial) 3.90) "
        "suggest a counter that also counts element-wise work (gate rescaling, descriptor "
        "pooling); the rescaling alone is given in the notes where it applies. It does not "
        "account for all of the MobileNet differences either.",
        "- **CBAM forms**: \"MaxPool\" is the channel gate fed by average- and max-pooled "
        "descriptors without spatial gate; \"Spatial\" is the average-pooled channel gate "
        "plus the 7x7 spatial gate (98 weights + 2 BatchNorm parameters per module); "
        "CBAM-MobileNet is taken as the original, full CBAM (`cbam=\"full\"`).",
        "",
        "## Builders not in the paper's table",
        "",
        "| Model | keras_aw builder | GFLOPs keras_aw | Params keras_aw (M) "
        "| Params keras_aw (exact) |",
        "|---|---|---|---|---|",
    ]
    for name, builder, kwargs, m in extra:
        lines.append(
            f"| {name} | {call(builder, kwargs)} | {m['gflops']:.4f} "
            f"| {m['params'] / 1e6:.3f} | {m['params']:,d} |"
        )
    lines += ["", REPRODUCING.rstrip("\n")]
    lines += [
        "",
        f"Generated with Keras {keras.__version__} on the {keras.backend.backend()} backend "
        f"in {time.time() - start:.0f} s.",
        "",
    ]
    with open(TARGET, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    print(f"wrote {TARGET}")


if __name__ == "__main__":
    main()
