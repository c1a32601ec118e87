"""A tiny imagenet2012-shaped tfds set, prepared on disk from full-size JPEGs (no network).

``keras_aw_tiny_imagenet``: splits "train", "validation" (labelled) and "test"
(every label -1, as imagenet2012's), each example a JPEG of a different size
and aspect ratio stored as it was encoded (tfds's `Image` feature keeps the
bytes), a `ClassLabel` of `CLASSES` classes. ``prepare(data_dir)`` writes it;
``tfds.core.add_data_dir(data_dir)`` lets ``tfds.load`` find it.

``prepare_imagenet2012(data_dir)``: ``imagenet2012`` itself, prepared by tfds's
own builder from ImageNet-shaped tars (train: one tar per synset; val; test)
that it writes into the builder's manual directory: a few full-size JPEGs.
"""

import importlib.resources
import io
import os
import tarfile

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image

NAME = "keras_aw_tiny_imagenet"
TRAIN, VALIDATION, TEST, CLASSES = 12, 5, 4, 3
SIZES = ((375, 500), (500, 375), (333, 500), (256, 256), (180, 240), (600, 200))


def jpeg(height, width, seed, quality=90):
    """A smooth random RGB image (upsampled noise) encoded as JPEG bytes."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (height // 16 + 1, width // 16 + 1, 3)).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(small).resize((width, height), Image.BICUBIC).save(buffer, "JPEG",
                                                                        quality=quality)
    return buffer.getvalue()


class KerasAwTinyImagenet(tfds.core.GeneratorBasedBuilder):
    """imagenet2012's features and splits, a handful of JPEGs each."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self, features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(encoding_format="jpeg"),
                "label": tfds.features.ClassLabel(num_classes=CLASSES),
                "file_name": tfds.features.Text()}),
            supervised_keys=("image", "label"))

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(0, TRAIN, True),
                "validation": self._generate_examples(100, VALIDATION, True),
                "test": self._generate_examples(200, TEST, False)}

    def _generate_examples(self, first, count, labelled):
        for i in range(first, first + count):
            height, width = SIZES[i % len(SIZES)]
            yield i, {"image": io.BytesIO(jpeg(height, width, i)),
                      "label": i % CLASSES if labelled else -1, "file_name": f"{i}.JPEG"}


def prepare(data_dir):
    """Writes keras_aw_tiny_imagenet into `data_dir` (train in 3 files, to interleave)."""
    builder = KerasAwTinyImagenet(data_dir=str(data_dir))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(num_shards=3))
    return builder


#: The tiny imagenet2012's training images per class, classes (the first synsets of
#: tfds's label list), validation and test images.
IMAGENET_PER_CLASS, IMAGENET_CLASSES, IMAGENET_VALIDATION, IMAGENET_TEST = 2, 3, 4, 2


def _tar(path, members):
    """Writes a tar file of ``{name: bytes}`` at `path`."""
    with open(path, "wb") as f:
        _tar_into(f, members)


def write_imagenet2012_manual_dir(manual_dir):
    """Writes ILSVRC2012_img_{train,val,test}.tar as ImageNet ships them, tiny.

    Train: one inner tar per synset (``n01440764.tar`` of ``n01440764_N.JPEG``);
    val and test: flat ``ILSVRC2012_val_0000000N.JPEG`` (tfds labels them from its
    own validation_labels.txt) and ``ILSVRC2012_test_0000000N.JPEG``. Every image
    is a full-size JPEG of its own size and aspect ratio.
    """
    os.makedirs(manual_dir, exist_ok=True)
    with open(tfds.core.tfds_path("datasets/imagenet2012/labels.txt")) as f:
        synsets = f.read().split()[:IMAGENET_CLASSES]
    inner, seed = {}, 1000
    for synset in synsets:
        members = {}
        for i in range(IMAGENET_PER_CLASS):
            seed += 1
            members[f"{synset}_{seed}.JPEG"] = jpeg(*SIZES[seed % len(SIZES)], seed)
        buffer = io.BytesIO()
        _tar_into(buffer, members)
        inner[f"{synset}.tar"] = buffer.getvalue()
    _tar(os.path.join(manual_dir, "ILSVRC2012_img_train.tar"), inner)
    _tar(os.path.join(manual_dir, "ILSVRC2012_img_val.tar"),
         {f"ILSVRC2012_val_{i:08d}.JPEG": jpeg(*SIZES[i % len(SIZES)], 2000 + i)
          for i in range(1, IMAGENET_VALIDATION + 1)})
    _tar(os.path.join(manual_dir, "ILSVRC2012_img_test.tar"),
         {f"ILSVRC2012_test_{i:08d}.JPEG": jpeg(*SIZES[i % len(SIZES)], 3000 + i)
          for i in range(1, IMAGENET_TEST + 1)})


def _tar_into(fileobj, members):
    with tarfile.open(fileobj=fileobj, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def prepare_imagenet2012(data_dir):
    """Prepares ``imagenet2012`` in `data_dir` with tfds's own builder from a tiny manual dir.

    tfds's `Imagenet2012` builder reads the tars `write_imagenet2012_manual_dir`
    writes (as it reads ImageNet's) and writes the train, validation and test
    (labels -1) splits; ``tfds.load("imagenet2012", data_dir=data_dir)`` (or
    ``TFDS_DATA_DIR``) then reads them. 1000 classes, as the real set.
    """
    manual_dir = os.path.join(str(data_dir), "manual")
    write_imagenet2012_manual_dir(manual_dir)
    builder = tfds.builder("imagenet2012", data_dir=str(data_dir))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=manual_dir))
    return builder
