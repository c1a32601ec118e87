"""Regenerates `applications/imagenet_class_index.json` offline.

The file is byte-identical to the `imagenet_class_index.json` that
`keras.applications.imagenet_utils.decode_predictions` downloads (same MD5,
``c2c37ea517e94d9795004a39431a14cb``, the hash Keras pins), but it is rebuilt
here from data that ships with `tensorflow-datasets` (Apache-2.0):

- the 1000 WordNet ids in ImageNet-1k class order:
  ``tensorflow_datasets/datasets/imagenet2012/labels.txt``;
- the 1000 class descriptions in the same order:
  ``IMAGENET_LABELS_LIST`` in ``tensorflow_datasets/datasets/siscore/labels.py``.

Keras's short name of a class is the first synonym of its description, with
TFDS's disambiguation suffixes (``"crane (bird)"``) dropped and spaces
replaced by underscores.

Usage: ``python docs/make_imagenet_class_index.py`` (needs tensorflow-datasets).
"""

import hashlib
import importlib.util
import json
import os
import re

KERAS_MD5 = "c2c37ea517e94d9795004a39431a14cb"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.path.join(ROOT, "applications", "imagenet_class_index.json")


def class_index():
    spec = importlib.util.find_spec("tensorflow_datasets")
    if spec is None:
        raise SystemExit("tensorflow-datasets is needed to regenerate the class index")
    tfds_root = os.path.dirname(spec.origin)
    with open(os.path.join(tfds_root, "datasets", "imagenet2012", "labels.txt")) as f:
        wnids = f.read().split()
    labels_py = os.path.join(tfds_root, "datasets", "siscore", "labels.py")
    module_spec = importlib.util.spec_from_file_location("_siscore_labels", labels_py)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    descriptions = module.IMAGENET_LABELS_LIST
    if len(wnids) != 1000 or len(descriptions) != 1000:
        raise SystemExit(f"expected 1000 classes, found {len(wnids)} / {len(descriptions)}")
    names = [
        re.sub(r"\s*\(.*\)$", "", d.split(",")[0].strip()).replace(" ", "_")
        for d in descriptions
    ]
    return {str(i): [wnid, name] for i, (wnid, name) in enumerate(zip(wnids, names))}


def main():
    text = json.dumps(class_index())
    digest = hashlib.md5(text.encode("utf-8")).hexdigest()
    if digest != KERAS_MD5:
        raise SystemExit(f"MD5 {digest} differs from Keras's {KERAS_MD5}; not written")
    with open(TARGET, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote {TARGET} (md5 {digest}, identical to Keras's file)")


if __name__ == "__main__":
    main()
