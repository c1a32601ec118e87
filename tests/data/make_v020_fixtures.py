"""Writes the keras_aw 0.2.0 compatibility fixtures of tests/test_compat.py.

Run with keras_aw 0.2.0 (the commit before the 0.3.0 restructuring), from the
repository root:

    KERAS_BACKEND=torch PYTHONPATH=. python tests/data/make_v020_fixtures.py

It saves into tests/data/v0.2.0/, for each model, ``NAME.keras`` and ``NAME.npz``
(``x``: an input batch, and the 0.2.0 outputs of ``model(x)``: ``y`` for a
classifier, ``bbox_regression`` / ``cls_logits`` for the detector):

- ``aw_small_cnn``: ``training.build_model("AWSmallCNN", ...)`` (the 0.2.0
  training entry point: Rescaling + AWSmallCNN), 4 classes, narrow widths.
- ``aw_se_resnet``: ``applications.resnet.ResNet((1, 1), attention="se",
  aw=True)``: two stages (the second block has a stride-2 AW convolution); four
  stages would be 35 MB.
- ``aw_cbam_mobilenet``: ``AWCBAMMobileNet(alpha=0.25, cbam="spatial")``, 32x32.
- ``aw_se_fpn_detector``: the test suite's small detector
  (tests/detection_helpers.py, width-0.25 MobileNet encoder, 64x64) with an AW-SE
  FPN (needs keras-hub).

Every weight is perturbed from its initial value (batch-normalization moving
statistics included) so that a weight loaded into the wrong place, or left at
its initial value, changes the outputs; the values are rounded to bfloat16
precision (still float32 weights) and the `.keras` zip container is recompressed
with deflate (its members byte-identical), which keeps the files small. These are the OLD version's outputs:
the reference a newer keras_aw must reproduce after loading the files.
"""

import os
import sys
import zipfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "v0.2.0")
sys.path.insert(0, os.path.dirname(HERE))  # tests/, for detection_helpers

import keras  # noqa: E402

import keras_aw  # noqa: E402

assert keras_aw.__version__ == "0.2.0", f"run with keras_aw 0.2.0, not {keras_aw.__version__}"


def perturb(model, rng):
    """Moves every variable away from its initializer, keeping the network stable."""
    for v in model.weights:
        value = keras.ops.convert_to_numpy(v).astype(np.float64)
        name = v.path
        if name.endswith("moving_variance"):
            new = rng.uniform(0.5, 2.0, value.shape)
        elif name.endswith("moving_mean"):
            new = rng.normal(0.0, 0.2, value.shape)
        elif name.endswith("gamma"):
            new = rng.uniform(0.7, 1.3, value.shape)
        elif np.all(value == 0):  # biases, beta
            new = rng.normal(0.0, 0.1, value.shape)
        else:  # kernels: same scale, new values
            new = value * rng.uniform(0.5, 1.5, value.shape) + rng.normal(
                0.0, 0.1 * value.std(), value.shape)
        # bfloat16-representable float32 values (low 16 bits zero): the files deflate
        # to about half their size. The network stays a float32 network.
        new = (new.astype(np.float32).view(np.uint32) & np.uint32(0xFFFF0000)).view(np.float32)
        v.assign(new.astype(v.dtype))


def deflate(path):
    """Recompresses the `.keras` zip container (Keras writes it uncompressed).

    The members (config.json, metadata.json, model.weights.h5) stay byte-identical.
    """
    with zipfile.ZipFile(path) as z:
        members = [(info.filename, z.read(info)) for info in z.infolist()]
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name, data in members:
            z.writestr(name, data)


def save(name, model, x):
    path = os.path.join(OUT, name + ".keras")
    model.save(path)
    deflate(path)
    y = model(x, training=False)
    if isinstance(y, dict):
        outputs = {k: keras.ops.convert_to_numpy(v) for k, v in y.items()}
    else:
        outputs = {"y": keras.ops.convert_to_numpy(y)}
    np.savez_compressed(os.path.join(OUT, name + ".npz"), x=x, **outputs)
    sizes = os.path.getsize(path) + os.path.getsize(os.path.join(OUT, name + ".npz"))
    print(f"{name}: {model.count_params()} parameters, {sizes / 1e6:.2f} MB, outputs "
          + ", ".join(f"{k} {v.shape} [{v.min():.3g}, {v.max():.3g}]"
                      for k, v in outputs.items()))


def main():
    from keras_aw import training
    from keras_aw.applications import mobilenet, resnet

    os.makedirs(OUT, exist_ok=True)
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    # Inputs on coarse grids (whole pixel values, multiples of 1/32) compress well.
    images = rng.integers(0, 256, (3, 32, 32, 3)).astype("float32")
    normal = np.round(rng.normal(0, 1, (3, 32, 32, 3)) * 32).astype("float32") / 32

    model = training.build_model("AWSmallCNN", input_shape=(32, 32, 3), classes=4,
                                 widths=(8, 16, 16, 16))
    perturb(model, rng)
    save("aw_small_cnn", model, images)

    model = resnet.ResNet((1, 1), attention="se", aw=True, input_shape=(32, 32, 3), classes=4)
    perturb(model, rng)
    save("aw_se_resnet", model, normal)

    model = mobilenet.AWCBAMMobileNet(input_shape=(32, 32, 3), alpha=0.25, classes=4,
                                      cbam="spatial")
    perturb(model, rng)
    save("aw_cbam_mobilenet", model, normal)

    from detection_helpers import small_detector

    detector = small_detector({"aw": True, "attention": "se"})
    perturb(detector, rng)
    save("aw_se_fpn_detector", detector,
         rng.integers(0, 256, (2, 64, 64, 3)).astype("float32") / 256)


if __name__ == "__main__":
    main()
