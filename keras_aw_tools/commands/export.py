"""``keras-aw export``: a saved model to .keras, SavedModel, TFLite, ONNX or a keras-hub preset.

Keras and keras_aw are imported when the command runs (the command line's lazy start).
"""


def cmd_export(args):
    import keras

    from keras_aw import deploy
    from keras_aw.utils.files import load_model_file

    model = load_model_file(args.model)
    result = deploy.export(model, args.output, format=args.format, batch_size=args.batch_size)
    batch = "dynamic batch" if result.batch_size is None else f"batch {result.batch_size}"
    if args.format in deploy.HUB_FORMATS:
        batch = "keras-hub preset, loaded back with from_preset"
    elif deploy.is_detector(model):
        batch += ", raw predictions before NMS"
    via = ("" if result.backend == keras.backend.backend()
           else f", by a {result.backend}-backend subprocess")
    check = ("not checked (onnxruntime is not installed)" if result.max_rel_diff is None
             else f"max |exported - Keras| / max |Keras| = {result.max_rel_diff:.1e} on random "
             "images")
    print(f"exported {args.format} to {args.output} ({batch}{via}): {check}")
    return 0
