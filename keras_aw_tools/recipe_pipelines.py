"""What ``recipe.json`` says about a recipe's pipelines and input normalization.

`augmentation`, `eval_preprocessing` and `normalization` turn a recipe's kinds
(`keras_aw_tools.recipe.Recipe`'s ``train_augmentation``, ``eval_preprocessing``,
``normalization``) into the resolved values `keras_aw_tools.recipe.resolve` writes.
"""

from keras_aw.datasets import imagenet as imagenet_data


def augmentation(kind, size):
    if kind.startswith("coco-"):
        return coco_augmentation(kind, size)
    if kind == "random-resized-crop-flip":
        return {"kind": kind, "crop": "torchvision RandomResizedCrop (10 attempts, then a "
                "center crop with the ratio clamped), decoded and cropped once, then resized",
                "area": list(imagenet_data.CROP_AREA), "aspect_ratio":
                [round(r, 6) for r in imagenet_data.CROP_ASPECT_RATIO],
                "aspect_ratio_sampling": "log-uniform", "output": [size, size],
                "interpolation": "bilinear, antialiased (PIL's)", "horizontal_flip": 0.5}
    return {"kind": kind, "resize": [size + max(size // 8, 1)] * 2, "random_crop": [size, size],
            "horizontal_flip": 0.5, "shapes": "none (NumPy arrays as generated)"}


def eval_preprocessing(kind, size):
    if kind.startswith("coco-"):
        return coco_eval_preprocessing(kind, size)
    if kind == "resize-center-crop":
        return {"kind": kind, "resize_shorter_side": imagenet_data.eval_resize_size(size),
                "keep_aspect_ratio": True, "center_crop": [size, size],
                "crop_fraction": imagenet_data.EVAL_CROP_FRACTION,
                "interpolation": "bilinear, antialiased (PIL's)"}
    return {"kind": kind, "resize": [size, size]}


def normalization(kind):
    if kind == "encoder":
        return {"kind": kind, "where": "the detector's encoder (its own input convention)"}
    if kind == "imagenet-mean-std":
        return {"kind": kind, "where": "the model's first layer (keras.layers.Normalization)",
                "mean_rgb_0_1": list(imagenet_data.MEAN_RGB),
                "std_rgb_0_1": list(imagenet_data.STD_RGB), "input": "RGB pixels 0-255"}
    return {"kind": kind, "where": "the model's first layer (keras.layers.Rescaling)",
            "formula": "x / 127.5 - 1", "input": "RGB pixels 0-255"}




def coco_augmentation(kind, size):
    """``recipe.json``'s training augmentation of the COCO kinds."""
    return {"kind": kind, "resize": f"longer side to {size}, aspect kept",
            "pad": [size, size], "pad_where": "bottom and right", "horizontal_flip": 0.5,
            "boxes": "moved with the flip; crowd boxes dropped",
            "pipeline": "keras_aw.datasets.coco.load_coco(training=True)"}


def coco_eval_preprocessing(kind, size):
    """``recipe.json``'s evaluation preprocessing of the COCO kinds."""
    return {"kind": kind, "resize": f"longer side to {size}, aspect kept",
            "pad": [size, size], "pipeline": "keras_aw.datasets.coco.load_coco_evaluation",
            "metrics": "pycocotools COCOeval (keras_aw.detection.evaluation.CocoEvaluator)"}


__all__ = ["augmentation", "coco_augmentation", "coco_eval_preprocessing", "eval_preprocessing",
           "normalization"]
