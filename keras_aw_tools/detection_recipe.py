"""The ``coco-1x`` recipe's values and what they resolve to (used by `keras_aw_tools.recipe`).

``coco-1x`` is RetinaNet's 1x schedule as Detectron2 defines it:
``configs/COCO-Detection/retinanet_R_50_FPN_1x.yaml`` over ``Base-RetinaNet.yaml``
and ``detectron2/config/defaults.py``:

- SGD (PyTorch's rule, `keras_aw.optimizers.TorchSGD`), momentum 0.9, no Nesterov;
  0.01 per 16 images (``SOLVER.BASE_LR``, ``IMS_PER_BATCH``), scaled linearly with
  the global batch; weight decay 1e-4 on every weight and bias
  (``WEIGHT_DECAY_BIAS = WEIGHT_DECAY``), none on normalization layers
  (``WEIGHT_DECAY_NORM = 0.0``); no gradient clipping.
- ``WarmupMultiStepLR``: linear warm-up over 1000 iterations from 0.001x
  (``lr * (f * (1 - a) + a)``, ``a = s / 1000``), then x0.1 at iterations
  60000 and 80000 of 90000, at batch 16. Under another global batch ``B``
  the iterations scale by ``16 / B`` (Detectron2's
  ``DefaultTrainer.auto_scale_workers``: ``MAX_ITER``, ``STEPS`` and
  ``WARMUP_ITERS`` divided by the batch's scale, the rate multiplied).
- Horizontal flip (``INPUT.RANDOM_FLIP``); backbone BatchNorm frozen
  (``RESNETS.NORM = "FrozenBN"``) and the stem and res2 frozen
  (``BACKBONE.FREEZE_AT = 2``: `keras_aw.detection.freeze_encoder`'s ``stages=1``).
- Focal loss alpha 0.25, gamma 2, smooth-L1 box loss beta 0.1, anchors matched
  at IoU 0.4 / 0.5 with low-quality matches
  (`keras_aw.detection.upstream.detectron2_loss`).

**Steps, epochs and ``--epochs``**: the schedule is in optimizer steps (the
boundaries above, scaled for the batch), whatever the epochs. An "epoch" of a
``coco-1x`` run is a stretch of ``steps_per_epoch`` steps between checkpoints
over a repeated training set (Detectron2's sampler is infinite too): by
default ``ceil(total / epochs)`` steps, so that 12 epochs are the 90000
iterations (at batch 16: 7500 steps of 16 images, 1.01 passes over
train2017's 118287 images). A run given other ``epochs`` or
``steps_per_epoch`` trains ``epochs * steps_per_epoch`` steps on the same
boundaries: shorter runs end before the decays, as a Detectron2 run with a
smaller ``MAX_ITER`` does; ``recipe.json`` says whether the run covers the
reference's iterations.

mmdetection's 1x (``configs/_base_/schedules/schedule_1x.py`` with
``retinanet_r50_fpn``) differs: 500 warm-up iterations, x0.1 after epochs 8
and 11 of 12 (by epoch), and an L1 box loss.
"""

#: train2017's images (tfds coco/2017 "train"), the unit of the equivalent epochs.
COCO_TRAIN_IMAGES = 118287

#: The values of the ``coco-1x`` `keras_aw_tools.recipe.Recipe`.
COCO_1X = dict(
    name="coco-1x",
    reference="Detectron2 COCO-Detection/retinanet_R_50_FPN_1x.yaml (Base-RetinaNet.yaml, "
              "config/defaults.py): RetinaNet 1x. mmdetection's 1x differs: 500 warm-up "
              "iterations, x0.1 after epochs 8 and 11 of 12, L1 box loss",
    optimizer="sgd", learning_rate=0.01, reference_batch_size=16, momentum=0.9,
    nesterov=False, weight_decay=1e-4,
    weight_decay_applies_to="every trainable weight (kernels and biases alike: "
                            "WEIGHT_DECAY_BIAS = WEIGHT_DECAY) except normalization layers' "
                            "gamma and beta (WEIGHT_DECAY_NORM = 0.0); PyTorch SGD's L2 term",
    schedule="multistep-iters", decay_factor=0.1, decay_period_epochs=None, warmup_epochs=0,
    epochs=12, label_smoothing=0.0, image_size=1024,
    train_augmentation="coco-resize-pad-flip", eval_preprocessing="coco-resize-pad",
    normalization="encoder", metrics=("coco-ap",), checkpoints=("last",),
    max_iterations=90000, decay_iterations=(60000, 80000), warmup_iterations=1000,
    warmup_factor=0.001, weight_decay_norm=0.0, gradient_clip_norm=None,
    freeze_backbone_batchnorm=True, frozen_stages=1, box_loss="smooth-l1", box_loss_beta=0.1,
    focal_alpha=0.25, focal_gamma=2.0, anchor_matching="detectron2",
    notes="Iterations scale with 16 / global batch (Detectron2's auto_scale_workers); an "
          "epoch is steps_per_epoch steps over the repeated train2017 (default: the "
          "reference's iterations / epochs), the boundaries stay in steps whatever --epochs "
          "says. Detectron2 trains at 640-800 / 1333 (multi-scale); here one square canvas "
          "(aspect kept, padded). The normalizer of the loss is the batch's foreground count, "
          "not Detectron2's moving average (keras_aw.detection.upstream). Later Detectron2 "
          "versions set SMOOTH_L1_LOSS_BETA: 0.0 (L1) in Base-RetinaNet.yaml; the 1x config "
          "at its release and defaults.py give 0.1, used here. Detectron2 drops train images "
          "without boxes (FILTER_EMPTY_ANNOTATIONS); the equivalent epochs count all 118287.")


def resolve_iterations(recipe, global_batch_size, epochs, steps_per_epoch, value):
    """The schedule, warm-up and steps per epoch of a "multistep-iters" recipe for one run.

    Returns:
        ``(schedule, warmup, steps_per_epoch)``: dicts for ``recipe.json``.
    """
    scale = recipe.reference_batch_size / global_batch_size

    def steps(iterations):
        return max(int(round(iterations * scale)), 1)

    total = steps(recipe.max_iterations)
    if steps_per_epoch is None:
        steps_per_epoch = -(-total // epochs)
    bounds = [steps(b) for b in recipe.decay_iterations]
    run_steps = epochs * steps_per_epoch

    def in_epochs(n):
        return round(n * global_batch_size / COCO_TRAIN_IMAGES, 4)

    schedule = {
        "kind": "multistep-iters", "factor": recipe.decay_factor,
        "reference_batch_size": recipe.reference_batch_size,
        "reference_boundaries_iterations": list(recipe.decay_iterations),
        "reference_total_iterations": recipe.max_iterations,
        "iteration_scaling": f"x {recipe.reference_batch_size} / global_batch_size "
                             "(Detectron2's auto_scale_workers), rounded",
        "boundaries_steps": bounds, "reference_total_steps": total,
        "boundaries_epochs": [in_epochs(b) for b in bounds],
        "total_epochs_equivalent": in_epochs(total),
        "epochs_unit": f"passes over train2017's {COCO_TRAIN_IMAGES} images",
        "run_steps": run_steps, "run_covers_reference": run_steps >= total,
        "values": [float(round(value * recipe.decay_factor ** i, 12))
                   for i in range(len(bounds) + 1)],
        "boundary_rule": "lr * factor ** #{b in boundaries_steps: step >= b} "
                         "(Detectron2's bisect_right of the iteration)"}
    warm = steps(recipe.warmup_iterations) if recipe.warmup_iterations else 0
    warmup = {"epochs": round(warm / steps_per_epoch, 6), "steps": warm,
              "reference_iterations": recipe.warmup_iterations,
              "factor": recipe.warmup_factor,
              "formula": "lr * (factor * (1 - step / steps) + step / steps) for step < steps"}
    return schedule, warmup, steps_per_epoch


def detection_values(recipe):
    """The detector-only values of `recipe` for ``recipe.json`` (None for a classifier recipe)."""
    if recipe.box_loss == "keras-hub":
        return None
    return {
        "loss": {"classification": "sigmoid focal loss, summed over anchors and classes",
                 "focal_alpha": recipe.focal_alpha, "focal_gamma": recipe.focal_gamma,
                 "box": recipe.box_loss, "box_loss_beta": recipe.box_loss_beta,
                 "box_encoding": "center_xywh deltas, weights (1, 1, 1, 1)",
                 "normalizer": "foreground anchors of the batch, at least 1",
                 "implementation": "keras_aw.detection.upstream.detectron2_loss"},
        "anchor_matching": {"negative_below": 0.4, "positive_from": 0.5,
                            "between": "ignored",
                            "low_quality_matches": recipe.anchor_matching == "detectron2"},
        "freeze": {"backbone_batchnorm": recipe.freeze_backbone_batchnorm,
                   "frozen_stages": recipe.frozen_stages,
                   "detectron2": "RESNETS.NORM = FrozenBN, BACKBONE.FREEZE_AT = 2 (stem + res2)",
                   "implementation": "keras_aw.detection.freeze_encoder(encoder, batchnorm, "
                                     "stages)"},
        "gradient_clipping": recipe.gradient_clip_norm,
    }


def compile_detector(model, resolved, optimizer):
    """Compiles a keras-hub detector with `optimizer` and the resolved recipe's loss.

    A recipe with Detectron2's loss (``resolved["detection"]``) gets
    `keras_aw.detection.upstream.detectron2_loss` (it also sets the detector's
    anchor matching); the others keras-hub's own.
    """
    values = resolved.get("detection")
    if values is None:
        model.compile(optimizer=optimizer)
        return model
    from keras_aw.detection.upstream import detectron2_loss  # keras-hub: the optional extra

    loss = values["loss"]
    model.compile(optimizer=optimizer, **detectron2_loss(
        model, alpha=loss["focal_alpha"], gamma=loss["focal_gamma"],
        beta=loss["box_loss_beta"]))
    return model


__all__ = ["COCO_1X", "COCO_TRAIN_IMAGES", "compile_detector", "detection_values",
           "resolve_iterations"]
