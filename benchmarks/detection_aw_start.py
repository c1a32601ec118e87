"""Why AW-FPN trails FPN in examples/detection.py: AW-FPN trained with other starts.

Builds the example's AW-FPN detector (same seed, data, pretrained encoder and recipe),
changes one thing before `compile`, trains it and prints COCO AP / AP50 / AP75 on a
validation split (300 images of data seed 7, not the example's test split) and on the
example's test split. The measured table is in docs/table2.md.

    KERAS_BACKEND=tensorflow python benchmarks/detection_aw_start.py paper
    KERAS_BACKEND=tensorflow python benchmarks/detection_aw_start.py frozen-bn
    KERAS_BACKEND=tensorflow python benchmarks/detection_aw_start.py constant
    KERAS_BACKEND=tensorflow python benchmarks/detection_aw_start.py plain
    KERAS_BACKEND=tensorflow python benchmarks/detection_aw_start.py fpn   # the reference

Options: "paper" (AWConv2D's own initialisation), "frozen-bn" (the attention BatchNorms
run on their inference statistics), "constant" (attention 0.5 for every sample), "plain"
(that, and each kernel divided by 1.5: every AW convolution starts as its plain one).
"""

import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "examples"))

STARTS = ("paper", "frozen-bn", "constant", "plain", "fpn")
VALIDATION = dict(seed=7, num_test=300)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0] not in STARTS:
        raise SystemExit(f"usage: detection_aw_start.py {{{','.join(STARTS)}}}")
    start_name = argv[0]
    import keras
    import numpy as np

    import detection as ex
    from keras_aw.convert import constant_attention_start
    from keras_aw.datasets import shapes
    from keras_aw.detection import build_retinanet, encoder_from_classifier, evaluate_detector
    from keras_aw.layers import AWConv2D

    recipe, seed, size = ex.RECIPE, 0, ex.RECIPE["image_size"]
    classifier, _ = ex.pretrain_classifier(dict(ex.PRETRAIN), seed)
    (x, y), (xt, yt) = shapes.load_detection_data(recipe["num_train"], recipe["num_test"],
                                                  image_size=size, seed=seed, **ex.DATA)
    _, (xv, yv) = shapes.load_detection_data(1, VALIDATION["num_test"], image_size=size,
                                             seed=VALIDATION["seed"], **ex.DATA)
    x, xt, xv = (a.astype("float32") * ex.DETECTOR_INPUT_SCALE for a in (x, xt, xv))
    keras.utils.set_random_seed(seed)
    encoder = encoder_from_classifier(classifier, image_shape=(size, size, 3),
                                      input_scale=1.0 / ex.DETECTOR_INPUT_SCALE)
    model = build_retinanet(encoder, shapes.NUM_CLASSES, (size, size, 3),
                         aw=start_name != "fpn", **ex.DETECTOR)
    if start_name in ("constant", "plain"):
        constant_attention_start(model, 0.5, rescale_kernel=start_name == "plain")
    if start_name == "frozen-bn":
        for layer in model._flatten_layers():
            if isinstance(layer, AWConv2D):
                layer.attention_bn1.trainable = False
                layer.attention_bn2.trainable = False
    steps = recipe["epochs"] * int(np.ceil(len(x) / recipe["batch_size"]))
    ex.training_recipe.compile_detector(model, recipe["learning_rate"], decay_steps=steps,
                                        warmup_steps=max(steps // 20, 1))
    t = time.time()
    history = model.fit(ex.training_batches(x, y, recipe["batch_size"], seed),
                        epochs=recipe["epochs"], verbose=2)
    result = dict(start=start_name, train_seconds=time.time() - t,
                  loss=[float(v) for v in history.history["loss"]])
    for split, (images, targets) in (("validation", (xv, yv)), ("test", (xt, yt))):
        metrics = evaluate_detector(model, images, targets["boxes"], targets["labels"],
                                    batch_size=32)
        result[split] = {k: float(metrics[k]) for k in ("AP", "AP50", "AP75")}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
