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

`correct_retinanet` applies both to a freshly built
`keras_hub.models.RetinaNetObjectDetector`; keras_aw's builders call it.
A detector that still carries keras-hub's own NMS (saved by keras_aw 0.2.0,
or a keras-hub RetinaNet that never went through `correct_retinanet`) gets
`BatchNonMaxSuppression` in its place once, by `use_batch_nms`, when
`keras_aw.detection.predict_detections` (hence `evaluate_detector` and the
command line) or `keras_aw.detection.hub.retinanet_to_aw` first takes it.
"""

import keras

from keras_aw.detection._hub import require_keras_hub
from keras_aw.detection.heads import PRIOR_PROBABILITY, initialize_retinanet_heads

keras_hub = require_keras_hub()


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


__all__ = ["BatchNonMaxSuppression", "batch_agnostic_decoder", "correct_retinanet",
           "use_batch_nms"]
