"""``keras-aw visualize``: a model's AW attention maps, or a detector's boxes, for one image.

Keras and keras_aw are imported when the command runs (the command line's lazy start).
"""

import os


def _shapes_sample(model, index, seed, class_names):
    """(image, label, class names, description) of a Shapes test image at the model's size."""
    from keras_aw.datasets import shapes

    _, height, width, _ = model.inputs[0].shape
    if height is None or width is None or height != width:
        raise ValueError("the model has no fixed square input size; give an image file")
    if not 0 <= index < 100000:
        raise ValueError(f"`index` must be in [0, 100000); received index={index}")
    x, y = shapes.generate(index + 1, height, seed=[seed, 1])
    if class_names is None and model.outputs[0].shape[-1] == shapes.NUM_CLASSES:
        class_names = list(shapes.CLASS_NAMES)
    return x[index].astype("float32"), int(y[index]), class_names, f"Shapes test image {index}"


def _image_file(model, path, resize):
    """An image file as a float32 array at the model's input size."""
    import keras
    import numpy as np

    _, height, width, _ = model.inputs[0].shape
    try:
        img = keras.utils.load_img(path, color_mode="rgb")
    except Exception as e:  # noqa: BLE001 - PIL raises several types
        raise ValueError(f"cannot read image {path!r}: "
                         f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from e
    if (height, width) != (img.height, img.width):
        if not resize or height is None:
            raise ValueError(f"image {path!r} is {img.width}x{img.height} but the model takes "
                             f"{width}x{height}; pass --resize to resize it")
        img = img.resize((width, height))
    return np.asarray(img, dtype="float32"), os.path.basename(path)


def cmd_visualize(args):
    from keras_aw.utils.files import ensure_writable_file

    ensure_writable_file(args.output)
    if not args.output.lower().endswith(".png"):
        raise ValueError(f"--output must be a .png file, got {args.output!r}")
    if args.image is not None and not os.path.isfile(args.image):
        raise ValueError(f"no such image file: {args.image!r}")
    try:
        import matplotlib  # noqa: F401 - an optional dependency: say so before any work
    except ImportError as e:
        raise ValueError("visualize needs matplotlib: pip install matplotlib") from e
    from keras_aw.deploy import is_detector
    from keras_aw.utils.files import load_model_file
    from keras_aw_tools import plots
    from keras_aw_tools.runs import read_state_near

    model = load_model_file(args.model)
    class_names = read_state_near(args.model).get("class_names") or None
    if is_detector(model):
        return _visualize_detections(model, args, class_names)
    label = None
    if args.image is None:
        image, label, class_names, source = _shapes_sample(model, args.index, args.seed,
                                                           class_names)
    else:
        image, source = _image_file(model, args.image, args.resize)
    channels = model.inputs[0].shape[-1]
    if channels is not None and channels != image.shape[-1]:
        raise ValueError(f"the model takes {channels}-channel images, not {image.shape[-1]}")
    plots.plot_attention(model, image, args.output,
                         title=f"AW attention of {model.name} for {source}",
                         max_channels=args.channels, class_names=class_names, label=label)
    print(f"wrote {args.output}")
    return 0


def _visualize_detections(model, args, class_names):
    """Draws a detector's boxes, class names and scores on one image."""
    from keras_aw import detection
    from keras_aw.datasets import load_detection_data, shapes
    from keras_aw.vocabulary import DETECTOR_INPUT_SCALE
    from keras_aw_tools import plots

    size = model.inputs[0].shape[1]
    if args.image is None:
        xt, _ = load_detection_data("shapes", size, num_test=args.index + 1, seed=args.seed,
                                    training=False)["test"]
        image = xt[args.index]
    else:
        image, _ = _image_file(model, args.image, args.resize)
        image = image * DETECTOR_INPUT_SCALE
    found = detection.predict_detections(model, image[None])
    count = int(found["num_detections"][0])
    plots.plot_detections(image, found["boxes"][0][:count], found["labels"][0][:count],
                          found["confidence"][0][:count],
                          class_names or list(shapes.CLASS_NAMES), model.bounding_box_format,
                          output=args.output, score_threshold=args.score_threshold)
    print(f"wrote {args.output}")
    return 0
