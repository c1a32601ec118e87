"""keras_aw's detectors against keras-hub's: head biases, encoders from classifiers, tf.data
training, `predict` at any batch size, warm starts from keras-hub models.

Every expected value is computed here independently (the focal-loss prior with NumPy,
feature maps with a plain Keras sub-model of the classifier, per-image predictions).
"""

import keras
import numpy as np
import pytest

from detection_helpers import small_detector
from helpers import BACKEND, keras_round_trip, to_numpy

keras_hub = pytest.importorskip("keras_hub")

from keras_aw.applications import SmallCNN  # noqa: E402
from keras_aw.applications.resnet import ResNet  # noqa: E402
from keras_aw.detection import (  # noqa: E402
    GraphBackbone, build_retinanet, encoder_from_classifier, initialize_retinanet_heads,
    stride_levels,
)
from keras_aw.detection.upstream import BatchNonMaxSuppression  # noqa: E402

FOCAL_PRIOR_BIAS = -np.log((1 - 0.01) / 0.01)  # Lin et al. 2017 §4.1, pi = 0.01


def head_biases(detector):
    return (to_numpy(detector.classification_head.prediction_layer.bias),
            to_numpy(detector.box_head.prediction_layer.bias))


def follows_focal_loss_paper(detector):
    cls_bias, box_bias = head_biases(detector)
    return bool(np.allclose(cls_bias, FOCAL_PRIOR_BIAS, atol=1e-6)
                and np.allclose(box_bias, 0.0, atol=1e-7))


def test_head_biases_follow_the_focal_loss_paper():
    assert abs(FOCAL_PRIOR_BIAS - (-4.59511985)) < 1e-7
    det = small_detector()
    cls_bias, box_bias = head_biases(det)
    assert cls_bias.shape == (9 * 3,) and box_bias.shape == (9 * 4,)
    assert follows_focal_loss_paper(det), (cls_bias[:3], box_bias[:3])
    # Guard: keras-hub's own initialisation (prior on the box head) fails the check.
    hub = keras_hub.models.RetinaNetObjectDetector(
        backbone=det.backbone, num_classes=3, anchor_generator=det.anchor_generator,
        pre_logits_num_conv_layers=1)
    assert not follows_focal_loss_paper(hub)
    assert np.allclose(head_biases(initialize_retinanet_heads(hub))[0], FOCAL_PRIOR_BIAS)
    # At start every class of every anchor is at the prior (the head's kernels are small).
    x = np.random.RandomState(0).rand(2, 64, 64, 3).astype("float32")
    probs = 1 / (1 + np.exp(-to_numpy(det(x)["cls_logits"])))
    assert abs(np.median(probs) - 0.01) < 0.005


def test_head_initialisation_errors():
    with pytest.raises(TypeError, match="detector"):
        initialize_retinanet_heads(keras.Sequential([keras.layers.Dense(2)]))
    with pytest.raises(ValueError, match="prior_probability"):
        initialize_retinanet_heads(small_detector(), prior_probability=1.5)


def small_cnn_classifier(size=32, widths=(8, 16, 16, 16, 16)):
    """A `keras-aw train`-style classifier: 0-255 pixels, a Rescaling layer, SmallCNN."""
    inputs = keras.Input((size, size, 3), name="image")
    x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescale")(inputs)
    net = SmallCNN(input_tensor=x, classes=10, widths=widths)
    model = keras.Model(inputs, net.outputs[0])
    for layer in model.layers:  # non-trivial BatchNorm statistics
        if isinstance(layer, keras.layers.BatchNormalization):
            rng = np.random.RandomState(len(layer.name))
            layer.moving_mean.assign(rng.randn(*layer.moving_mean.shape) * 0.1)
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, layer.moving_variance.shape))
    return model


def test_stride_levels_small_cnn_and_resnet():
    # SmallCNN: conv -> BN -> ReLU -> 2x2 max pool per block; the last layer at a
    # stride is the ReLU before a pool, and the deepest pool for the last stride.
    assert stride_levels(small_cnn_classifier(32, (8, 8, 8))) == {
        "P1": "block2_relu", "P2": "block3_relu", "P3": "block3_pool"}
    # A ResNet: the stage outputs, as keras-hub's ResNet pyramid (C2..C5).
    resnet = ResNet((1, 1, 1, 1), input_shape=(64, 64, 3), classes=10)
    assert stride_levels(resnet) == {"P1": "conv1_relu", "P2": "conv2_block1_out",
                                     "P3": "conv3_block1_out", "P4": "conv4_block1_out",
                                     "P5": "conv5_block1_out"}


def test_encoder_from_classifier_keeps_trained_weights(tmp_path):
    classifier = small_cnn_classifier()
    path = str(tmp_path / "classifier.keras")
    classifier.save(path)
    images = np.random.RandomState(1).uniform(0, 1, (2, 64, 64, 3)).astype("float32")
    # The reference: the classifier rebuilt at 64x64 by hand, cut at the stride layers.
    big = small_cnn_classifier(64)
    big.set_weights(classifier.get_weights())
    names = {"P3": "block4_relu", "P4": "block5_relu", "P5": "block5_pool"}
    reference = keras.Model(big.inputs, {k: big.get_layer(v).output for k, v in names.items()})
    expected = {k: to_numpy(v) for k, v in reference(images * 255.0).items()}
    for source in (classifier, path):
        enc = encoder_from_classifier(source, image_shape=(64, 64, 3), min_level=3,
                                      input_scale=255.0)
        assert isinstance(enc, GraphBackbone)
        assert sorted(enc.pyramid_outputs) == ["P3", "P4", "P5"]
        got = to_numpy(keras.Model(enc.inputs, enc.pyramid_outputs)(images)["P4"])
        assert np.max(np.abs(got - expected["P4"])) < 1e-4 * np.max(np.abs(expected["P4"]))
    # A detector on it saves and loads with the same outputs.
    det = build_retinanet(enc, 3, (64, 64, 3), max_level=5, filters=8, head_conv_layers=1,
                       anchor_size=2.0)
    keras_round_trip(det, tmp_path, images, name="det.keras", keys=["cls_logits"],
                     max_abs_err=1e-5)
    fpn_inputs = keras.Model(det.backbone.image_encoder.inputs,
                             det.backbone.image_encoder.pyramid_outputs)(images)
    for level in ("P3", "P5"):
        assert np.max(np.abs(to_numpy(fpn_inputs[level]) - expected[level])) \
            < 1e-4 * np.max(np.abs(expected[level]))


def test_encoder_from_classifier_errors(tmp_path):
    with pytest.raises(TypeError, match="model"):
        encoder_from_classifier(3)
    with pytest.raises(ValueError, match="no .keras file"):
        encoder_from_classifier(str(tmp_path / "missing.keras"))
    with pytest.raises(ValueError, match="levels"):
        encoder_from_classifier(small_cnn_classifier(), levels={"P3": "nope"})
    with pytest.raises(ValueError, match="no pyramid level"):
        encoder_from_classifier(small_cnn_classifier(), min_level=7, max_level=8)


def tiny_targets(n, seed=0):
    from keras_aw.datasets import shapes

    (x, y), _ = shapes.load_detection_data(n, 1, image_size=64, max_objects=2, min_size=12,
                                           max_size=32, seed=seed)
    return x.astype("float32") / 255.0, y


def test_retinanet_fits_from_a_reshuffled_tf_data_pipeline():
    import tensorflow as tf

    x, y = tiny_targets(8)
    data = (tf.data.Dataset.from_tensor_slices((x, y))
            .shuffle(8, seed=0, reshuffle_each_iteration=True).batch(4))
    # reshuffled: two passes give two orders (same seed, fixed for the test)
    orders = [np.concatenate([b[1]["labels"].numpy()[:, 0] for b in data]) for _ in range(3)]
    assert any(not np.array_equal(orders[0], o) for o in orders[1:])
    det = small_detector(num_classes=10)
    det.compile(optimizer=keras.optimizers.Adam(1e-3))
    before = to_numpy(det.classification_head.prediction_layer.kernel).copy()
    history = det.fit(data, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    assert np.all(np.isfinite(history.history["loss"]))
    assert np.max(np.abs(to_numpy(det.classification_head.prediction_layer.kernel) - before)) > 0


def test_predict_at_any_batch_size():
    det = small_detector()
    assert isinstance(det.prediction_decoder, BatchNonMaxSuppression)
    x = np.random.RandomState(2).rand(5, 64, 64, 3).astype("float32")
    first = det.predict(x, batch_size=2, verbose=0)  # batches of 2, 2, 1
    for size in (3, 1):
        again = det.predict(x, batch_size=size, verbose=0)
        for key in ("boxes", "confidence", "num_detections"):
            np.testing.assert_allclose(to_numpy(again[key]), to_numpy(first[key]),
                                       atol=1e-4, err_msg=f"{key}, batch {size}")
    assert to_numpy(first["boxes"]).shape == (5, 100, 4)
    if BACKEND == "tensorflow":  # guard: keras-hub's decoder fails the same calls
        hub = small_detector()
        hub.prediction_decoder = keras_hub.layers.NonMaxSuppression.from_config(
            det.prediction_decoder.get_config())
        with pytest.raises(Exception, match="None"):
            for size in (2, 3, 1):
                hub.predict(x, batch_size=size, verbose=0)


def test_batch_nms_round_trip(tmp_path):
    det = small_detector()
    loaded = keras_round_trip(det, tmp_path, name="det.keras")
    assert type(loaded.prediction_decoder) is BatchNonMaxSuppression
    assert loaded.prediction_decoder.get_config()["confidence_threshold"] == 0.05



# --- warm starts from keras-hub models ------------------------------------------------------


def hub_resnet(image_size=32):
    """A small random keras-hub ResNet (basic blocks; keras-hub wants 64 stem filters)."""
    return keras_hub.models.ResNetBackbone(
        input_conv_filters=[64], input_conv_kernel_sizes=[3],
        stackwise_num_filters=[64, 8, 8, 8], stackwise_num_blocks=[1, 1, 1, 1],
        stackwise_num_strides=[1, 2, 2, 2], block_type="basic_block",
        image_shape=(image_size, image_size, 3))


def test_convert_to_aw_keeps_a_keras_hub_backbone(tmp_path):
    import keras_aw
    from keras_aw.layers import AWConv2D

    source = hub_resnet(64)
    aw = keras_aw.convert_to_aw(source)
    assert isinstance(aw, keras_hub.models.FeaturePyramidBackbone)
    assert sorted(aw.pyramid_outputs) == sorted(source.pyramid_outputs) == ["P2", "P3", "P4", "P5"]
    for level, tensor in source.pyramid_outputs.items():
        assert tuple(aw.pyramid_outputs[level].shape) == tuple(tensor.shape)
    convs = [layer for layer in aw.network.layers if isinstance(layer, AWConv2D)]
    assert len(convs) == 9  # every 3x3 convolution: the stem and two per basic block
    x = np.random.RandomState(3).rand(2, 64, 64, 3).astype("float32")
    ref = keras.Model(source.inputs, source.pyramid_outputs)(x)
    got = keras.Model(aw.inputs, aw.pyramid_outputs)(x)
    for level in ref:  # identity start: the same features up to (1 + 1e-6) per AW layer
        r, g = to_numpy(ref[level]), to_numpy(got[level])
        assert np.max(np.abs(g - r)) <= 1e-4 * np.max(np.abs(r)), level
    # usable where the source was: an ImageClassifier and a RetinaNet encoder
    classifier = keras_hub.models.ImageClassifier(backbone=aw, num_classes=4)
    assert to_numpy(classifier(x)).shape == (2, 4)
    retina_bb = keras_hub.models.RetinaNetBackbone(aw, 3, 5, use_p5=False,
                                                   image_shape=(64, 64, 3))
    det = keras_hub.models.RetinaNetObjectDetector(retina_bb, num_classes=3,
                                                   pre_logits_num_conv_layers=1)
    assert to_numpy(det(x)["cls_logits"]).shape[-1] == 3
    det2 = build_retinanet(aw, 3, (64, 64, 3), max_level=5, filters=8, head_conv_layers=1)
    assert to_numpy(det2(x)["bbox_regression"]).shape[-1] == 4
    # saves and loads
    loaded = keras_round_trip(aw, tmp_path, x, name="aw_backbone.keras", rtol=1e-7, atol=1e-6)
    assert sorted(loaded.pyramid_outputs) == ["P2", "P3", "P4", "P5"]


def hub_retinanet():
    """A random keras-hub RetinaNet with keras-hub's own FPN (P3-P5), heads with random biases."""
    backbone = keras_hub.models.RetinaNetBackbone(hub_resnet(64), 3, 5, use_p5=False,
                                                  image_shape=(64, 64, 3))
    det = keras_hub.models.RetinaNetObjectDetector(backbone, num_classes=3,
                                                   pre_logits_num_conv_layers=1)
    rng = np.random.RandomState(4)
    for head in (det.box_head, det.classification_head):  # a "trained" look
        for w in head.weights:
            w.assign(rng.randn(*w.shape).astype("float32") * 0.05)
    for w in backbone.feature_pyramid.weights:
        w.assign(rng.randn(*w.shape).astype("float32") * 0.1)
    return det


def test_retinanet_to_aw_keeps_outputs_then_fine_tunes():
    from keras_aw.detection.hub import retinanet_to_aw
    from keras_aw.layers import AWConv2D

    source = hub_retinanet()
    x = np.random.RandomState(5).rand(2, 64, 64, 3).astype("float32")
    before = {k: to_numpy(v) for k, v in source(x).items()}
    aw = retinanet_to_aw(source)
    assert isinstance(aw, keras_hub.models.RetinaNetObjectDetector)
    fpn = aw.backbone.feature_pyramid
    assert all(type(c) is AWConv2D for c in (*fpn.lateral_convs.values(),
                                             *fpn.output_convs.values()))
    assert sorted(fpn.lateral_convs) == ["P3", "P4", "P5"]
    after = {k: to_numpy(v) for k, v in aw(x).items()}
    for key in before:
        scale = np.max(np.abs(before[key]))
        assert np.max(np.abs(after[key] - before[key])) <= 1e-5 * scale, key
    # guard: without the identity start the outputs differ
    changed = to_numpy(retinanet_to_aw(source, identity_start=False)(x)["cls_logits"])
    assert np.max(np.abs(changed - before["cls_logits"])) > 1e-3
    # the source is untouched and the copy does not share its weights
    np.testing.assert_allclose(to_numpy(source(x)["cls_logits"]), before["cls_logits"])
    assert isinstance(aw.prediction_decoder, BatchNonMaxSuppression)
    # fine-tunes: one fit step moves the AW attention and the heads
    xs, ys = tiny_targets(4)
    ys["labels"] = np.where(ys["labels"] >= 0, ys["labels"] % 3, ys["labels"])  # 3 classes
    # TensorFlow: eager, as in test_detection.py's shared detector (tracing keras-hub's
    # RetinaNet train step takes minutes on 2 CPU cores; the traced one is tested above
    # in test_retinanet_fits_from_a_reshuffled_tf_data_pipeline).
    aw.compile(optimizer=keras.optimizers.Adam(1e-3, epsilon=1e-10),
               run_eagerly=BACKEND == "tensorflow")
    gamma = to_numpy(fpn.output_convs["P3"].attention_bn2.gamma).copy()
    history = aw.fit(xs, ys, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert np.max(np.abs(to_numpy(fpn.output_convs["P3"].attention_bn2.gamma) - gamma)) > 0
    assert to_numpy(source(x)["cls_logits"]).shape == before["cls_logits"].shape


def test_retinanet_to_aw_errors():
    from keras_aw.detection.hub import retinanet_to_aw

    with pytest.raises(TypeError, match="detector"):
        retinanet_to_aw(small_detector())  # a keras_aw FPN, not keras-hub's
    with pytest.raises(ValueError, match="identity_start"):
        retinanet_to_aw(hub_retinanet(), identity_start=0.9)


def test_constant_attention_start():
    from keras_aw.convert import constant_attention_start

    det = small_detector({"aw": True})
    fpn = det.backbone.feature_pyramid
    convs = (*fpn.lateral_convs.values(), *fpn.output_convs.values())
    rng = np.random.RandomState(6)
    inputs = [rng.rand(3, 8, 8, conv.kernel.shape[2]).astype("float32") for conv in convs]
    # the paper's start varies per sample (batch statistics, as in training)
    before = to_numpy(convs[0].attention_maps(inputs[0], training=True))
    assert np.max(np.abs(before - 0.5)) > 1e-2
    assert constant_attention_start(det, 0.5) is det
    for conv, source in zip(convs, inputs):
        for training in (True, False):
            a = to_numpy(conv.attention_maps(source, training=training))
            np.testing.assert_allclose(a, 0.5, atol=1e-6, err_msg=conv.name)
    # rescale_kernel: each AW convolution then computes its plain convolution
    conv = convs[1]
    kernel = to_numpy(conv.kernel).copy()
    constant_attention_start(det, 0.5, rescale_kernel=True)
    np.testing.assert_allclose(to_numpy(conv.kernel), kernel / 1.5, rtol=1e-6)
    plain = keras.layers.Conv2D(conv.filters, conv.kernel_size, padding="same")
    plain.build(inputs[1].shape)
    plain.set_weights([kernel, to_numpy(conv.bias)])
    np.testing.assert_allclose(to_numpy(conv(inputs[1], training=True)),
                               to_numpy(plain(inputs[1])), atol=1e-5)
    with pytest.raises(ValueError, match="value"):
        constant_attention_start(det, 1.0)
    with pytest.raises(ValueError, match="AWConv2D"):
        constant_attention_start(small_detector(), 0.5)
