"""Corrections to keras-hub 0.32's RetinaNet that keras_aw's detectors carry.

1. Head initialisation (`keras_aw.detection.heads`): keras-hub puts the
   focal-loss prior bias on the box head instead of the classification head.
2. `predict` at any batch size on TensorFlow: keras-hub's
   ``non_max_suppression`` sizes its loop state with the *static* batch size
   (``batch_size = boxes.shape[0]``, then ``ops.zeros([batch_size])``). Keras
   traces ``predict`` with ``reduce_retracing=True``: after a second batch size
   (a partial last batch, or a later call with another size) TensorFlow
   retraces with an unknown batch, ``boxes.shape[0]`` is None and the trace
   fails with "Expected int32, but got None". `BatchNonMaxSuppression` is
   keras-hub's `NonMaxSuppression` that, when the static batch size is
   unknown, runs it image by image (``keras.ops.map``, batch 1, a static
   shape); with a known batch (every JAX/PyTorch call, the first TensorFlow
   traces) it is keras-hub's layer unchanged.

3. The training loss, against Detectron2's RetinaNet (``detectron2/modeling/
   meta_arch/retinanet.py``; the ``coco-1x`` recipe), by `detectron2_loss`:

   - classification: keras-hub compiles ``BinaryFocalCrossentropy(from_logits,
     reduction="sum")`` with Keras's default ``apply_class_balancing=False``, so
     focal alpha (0.25) is not applied at all, and the loss *averages* over the
     classes (``axis=-1``), i.e. Detectron2's sum divided by ``num_classes``;
     `SigmoidFocalLoss` is Detectron2's ``sigmoid_focal_loss`` summed over the
     classes.
   - box: keras-hub compiles ``Huber(delta=1.0, reduction="sum")``, i.e.
     smooth-L1 with beta 1 (not 0.1), *averaged* over the 4 deltas (Detectron2
     sums them); `SmoothL1Loss` is Detectron2's ``smooth_l1_loss(beta)`` summed
     over the 4 deltas (beta 0: L1).
   - matching: IoU 0.4 / 0.5 and the ignore band between them are Detectron2's,
     but keras-hub does not allow low-quality matches (Detectron2's
     ``allow_low_quality_matches=True``: for every ground-truth box, the
     anchors of highest IoU with it are foreground even below 0.5);
     `Detectron2LabelEncoder` (`LowQualityBoxMatcher`) adds them.
   - unchanged, the same as Detectron2: the box encoding (``center_xywh``
     deltas, variance (1, 1, 1, 1) = Box2BoxTransform weights (1, 1, 1, 1)),
     ignored anchors out of the classification loss, both losses divided by
     the number of foreground anchors of the batch (at least 1).
   - left as keras-hub has it: Detectron2 divides by an exponential moving
     average (momentum 0.9, from 100) of that number; keras-hub by the
     batch's own count. At COCO's batch 16 (hundreds of foreground anchors a
     batch) the two differ by the count's batch-to-batch fluctuation; the EMA
     is state the loss would carry across steps and processes, which Keras's
     stateless ``compute_loss`` has no place for. keras-hub also gives a batch
     without any foreground anchor zero loss (Detectron2: its background loss
     / 1): with low-quality matches, only a batch of images without any box
     has none, and Detectron2's COCO loader drops such images
     (``DATALOADER.FILTER_EMPTY_ANNOTATIONS``).

`correct_retinanet` applies 1 and 2 to a freshly built
`keras_hub.models.RetinaNetObjectDetector`; keras_aw's builders call it.
`detectron2_loss` applies 3 (the ``coco-1x`` recipe's compile): detectors of
the ``demo`` recipe keep keras-hub's loss, so the published Shapes results
keep their protocol.
A detector that still carries keras-hub's own NMS (saved by keras_aw 0.2.0,
or a keras-hub RetinaNet that never went through `correct_retinanet`) gets
`BatchNonMaxSuppression` in its place once, by `use_batch_nms`, when
`keras_aw.detection.predict_detections` (hence `evaluate_detector` and the
command line) or `keras_aw.detection.hub.retinanet_to_aw` first takes it.
"""

import keras
from keras import ops

from keras_aw.detection._hub import require_keras_hub
from keras_aw.detection.heads import PRIOR_PROBABILITY, initialize_retinanet_heads

keras_hub = require_keras_hub()
# keras-hub 0.32 exports no RetinaNetLabelEncoder (keras_hub.layers has BoxMatcher and
# AnchorGenerator only); `Detectron2LabelEncoder` extends it, so it is imported from its
# module here, the adapter of keras-hub's RetinaNet. keras-hub: no public alias yet
# (keras-team/keras-hub, RetinaNet label encoder not in the public API).
from keras_hub.src.models.retinanet.retinanet_label_encoder import (  # noqa: E402
    RetinaNetLabelEncoder)


@keras.saving.register_keras_serializable(package="keras_aw")
class BatchNonMaxSuppression(keras_hub.layers.NonMaxSuppression):
    """keras-hub's `NonMaxSuppression` that also works when the batch size is unknown.

    Same arguments and outputs as `keras_hub.layers.NonMaxSuppression`. When
    the batch dimension of `box_prediction` is not static (TensorFlow's
    relaxed retrace of ``predict``), each image is suppressed on its own.

    Example:

    >>> import numpy as np
    >>> nms = BatchNonMaxSuppression(bounding_box_format="yxyx", from_logits=True,
    ...                              max_detections=5)
    >>> out = nms(np.random.rand(2, 10, 4).astype("float32"),
    ...           np.random.rand(2, 10, 3).astype("float32"))
    >>> tuple(out["boxes"].shape)
    (2, 5, 4)
    """

    def call(self, box_prediction, class_prediction, images=None):
        if box_prediction.shape[0] is not None:
            return super().call(box_prediction, class_prediction, images=images)

        def one(sample):
            boxes, classes = sample[0][None], sample[1][None]
            image = None if images is None else sample[2]
            out = super(BatchNonMaxSuppression, self).call(boxes, classes, images=image)
            return {key: value[0] for key, value in out.items()}

        elems = (box_prediction, class_prediction)
        if images is not None:
            elems += (images,)
        return keras.ops.map(one, elems)


def batch_agnostic_decoder(decoder):
    """A `BatchNonMaxSuppression` with the configuration of keras-hub NMS `decoder`."""
    if isinstance(decoder, BatchNonMaxSuppression):
        return decoder
    if not isinstance(decoder, keras_hub.layers.NonMaxSuppression):
        raise TypeError("`decoder` must be a keras_hub.layers.NonMaxSuppression; received "
                        f"decoder={decoder!r}")
    return BatchNonMaxSuppression.from_config(decoder.get_config())


def use_batch_nms(detector):
    """Swaps keras-hub's `NonMaxSuppression` decoder of `detector` for `BatchNonMaxSuppression`.

    Same configuration, same outputs; `predict` then works at any sequence of
    batch sizes. A predict function traced with the old decoder is dropped.
    Does nothing to a detector that has a `BatchNonMaxSuppression` (or another
    decoder) already, so calling it again costs nothing.

    Returns:
        True if the decoder was swapped.
    """
    decoder = getattr(detector, "prediction_decoder", None)
    if not isinstance(decoder, keras_hub.layers.NonMaxSuppression) \
            or isinstance(decoder, BatchNonMaxSuppression):
        return False
    detector.prediction_decoder = batch_agnostic_decoder(decoder)
    detector.predict_function = None
    return True


def correct_retinanet(detector, prior_probability=PRIOR_PROBABILITY):
    """Fixes keras-hub 0.32's RetinaNet head biases and NMS; returns `detector`.

    Sets the head biases as the focal-loss paper prescribes
    (`initialize_retinanet_heads`: call it before training) and swaps a
    keras-hub `NonMaxSuppression` decoder for `BatchNonMaxSuppression`, so
    that `predict` works at any sequence of batch sizes on TensorFlow.

    Args:
        detector: a freshly built `keras_hub.models.RetinaNetObjectDetector`.
        prior_probability: the focal-loss prior (0.01).

    Returns:
        `detector`, changed in place.

    Example:

    >>> from keras_aw.detection import MobileNetEncoder, build_retinanet
    >>> det = build_retinanet(MobileNetEncoder(alpha=0.25, image_shape=(64, 64, 3)), 3,
    ...                    (64, 64, 3), max_level=5, filters=16, head_conv_layers=1)
    >>> type(correct_retinanet(det).prediction_decoder).__name__
    'BatchNonMaxSuppression'
    """
    initialize_retinanet_heads(detector, prior_probability)
    use_batch_nms(detector)
    return detector


# --------------------------------------------------------------------------
# 3. Detectron2's RetinaNet loss
# --------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="keras_aw")
class SigmoidFocalLoss(keras.losses.Loss):
    """Detectron2's ``sigmoid_focal_loss`` on logits, summed over the classes (last axis).

    ``p = sigmoid(x)``, ``ce = BCE(x, y)``, ``p_t = p y + (1 - p)(1 - y)``,
    ``loss = (alpha y + (1 - alpha)(1 - y)) * ce * (1 - p_t) ** gamma``
    (no alpha factor when ``alpha < 0``), summed over the last axis; the
    `reduction` then applies over the anchors (keras-hub's weights: 1 / the
    foreground count, 0 for ignored anchors; reduction "sum").
    """

    def __init__(self, alpha=0.25, gamma=2.0, reduction="sum", name="sigmoid_focal_loss",
                 **kwargs):
        super().__init__(reduction=reduction, name=name, **kwargs)
        self.alpha, self.gamma = float(alpha), float(gamma)

    def call(self, y_true, y_pred):
        y_pred = ops.convert_to_tensor(y_pred)
        y_true = ops.cast(y_true, y_pred.dtype)
        p = ops.sigmoid(y_pred)
        ce = ops.binary_crossentropy(y_true, y_pred, from_logits=True)
        p_t = p * y_true + (1.0 - p) * (1.0 - y_true)
        loss = ce * ops.power(1.0 - p_t, self.gamma)
        if self.alpha >= 0:
            loss = loss * (self.alpha * y_true + (1.0 - self.alpha) * (1.0 - y_true))
        return ops.sum(loss, axis=-1)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha, "gamma": self.gamma}


@keras.saving.register_keras_serializable(package="keras_aw")
class SmoothL1Loss(keras.losses.Loss):
    """Detectron2's ``smooth_l1_loss(beta)``, summed over the box deltas (last axis).

    ``|d| < beta``: ``0.5 d ** 2 / beta``; else ``|d| - 0.5 beta``; beta 0 is L1.
    """

    def __init__(self, beta=0.1, reduction="sum", name="smooth_l1_loss", **kwargs):
        super().__init__(reduction=reduction, name=name, **kwargs)
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or beta < 0:
            raise ValueError(f"`beta` must be a number >= 0; received beta={beta!r}")
        self.beta = float(beta)

    def call(self, y_true, y_pred):
        y_pred = ops.convert_to_tensor(y_pred)
        d = ops.abs(y_pred - ops.cast(y_true, y_pred.dtype))
        if self.beta == 0:
            return ops.sum(d, axis=-1)
        loss = ops.where(d < self.beta, 0.5 * d * d / self.beta, d - 0.5 * self.beta)
        return ops.sum(loss, axis=-1)

    def get_config(self):
        return {**super().get_config(), "beta": self.beta}


@keras.saving.register_keras_serializable(package="keras_aw")
class LowQualityBoxMatcher(keras_hub.layers.BoxMatcher):
    """keras-hub's `BoxMatcher` plus Detectron2's ``allow_low_quality_matches``.

    After keras-hub's matching (thresholds and match values as given), every
    row (anchor) whose similarity with some column (ground-truth box) equals
    that column's largest similarity over all rows (ties included), and is
    above 0, gets the last match value (positive); its matched column stays
    the row's own best, as in Detectron2's ``Matcher.set_low_quality_matches_``.
    """

    def call(self, similarity_matrix):
        columns, values = super().call(similarity_matrix)
        sim = ops.convert_to_tensor(similarity_matrix)
        best = ops.max(sim, axis=-2, keepdims=True)  # each column's best row
        low = ops.any(ops.logical_and(ops.equal(sim, best), ops.greater(best, 0.0)), axis=-1)
        low = ops.reshape(low, ops.shape(values))
        values = ops.where(low, ops.cast(self.match_values[-1], values.dtype), values)
        return columns, values


@keras.saving.register_keras_serializable(package="keras_aw")
class Detectron2LabelEncoder(RetinaNetLabelEncoder):
    """keras-hub's RetinaNet label encoder matching anchors as Detectron2 does.

    Same arguments as keras-hub's, plus `allow_low_quality_matches` (True:
    `LowQualityBoxMatcher`), kept in the config so a saved detector keeps it.
    """

    def __init__(self, anchor_generator, bounding_box_format, allow_low_quality_matches=True,
                 **kwargs):
        super().__init__(anchor_generator, bounding_box_format, **kwargs)
        self.allow_low_quality_matches = bool(allow_low_quality_matches)
        if self.allow_low_quality_matches:
            self.box_matcher = LowQualityBoxMatcher(
                thresholds=[self.negative_threshold, self.positive_threshold],
                match_values=[-1, -2, 1])

    def get_config(self):
        return {**super().get_config(),
                "allow_low_quality_matches": self.allow_low_quality_matches}


def detectron2_loss(detector, alpha=0.25, gamma=2.0, beta=0.1):
    """Detectron2's RetinaNet loss for `detector`: its matching, and the losses to compile.

    Replaces the detector's label encoder by a `Detectron2LabelEncoder` of the
    same configuration (low-quality matches allowed) and returns the losses
    of `keras_hub.models.ObjectDetector.compile`: ``detector.compile(optimizer=...,
    **detectron2_loss(detector))``. The total is Detectron2's ``loss_cls +
    loss_box_reg`` with the batch's foreground count as normalizer (see the
    module's docstring for the one difference kept).

    Args:
        detector: a keras-hub `RetinaNetObjectDetector`.
        alpha, gamma: the focal loss's (Detectron2: 0.25, 2.0).
        beta: the smooth-L1 box loss's (Detectron2's default 0.1; 0: L1).

    Returns:
        ``{"box_loss": SmoothL1Loss(beta), "classification_loss":
        SigmoidFocalLoss(alpha, gamma)}``.
    """
    encoder = detector.label_encoder
    if not isinstance(encoder, RetinaNetLabelEncoder):
        raise TypeError("`detector` must be a keras-hub RetinaNetObjectDetector; received "
                        f"detector={type(detector).__name__}")
    if not isinstance(encoder, Detectron2LabelEncoder):
        config = encoder.get_config()
        config["anchor_generator"] = encoder.anchor_generator
        detector.label_encoder = Detectron2LabelEncoder(**config)
    return {"box_loss": SmoothL1Loss(beta),
            "classification_loss": SigmoidFocalLoss(alpha, gamma)}


__all__ = ["BatchNonMaxSuppression", "Detectron2LabelEncoder", "LowQualityBoxMatcher",
           "SigmoidFocalLoss", "SmoothL1Loss", "batch_agnostic_decoder", "correct_retinanet",
           "detectron2_loss", "use_batch_nms"]
