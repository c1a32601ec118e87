"""A tiny imagenet2012-shaped tfds set, prepared on disk from full-size JPEGs (no network).

``keras_aw_tiny_imagenet``: splits "train", "validation" (labelled) and "test"
(every label -1, as imagenet2012's), each example a JPEG of a different size
and aspect ratio stored as it was encoded (tfds's `Image` feature keeps the
bytes), a `ClassLabel` of `CLASSES` classes. ``prepare(data_dir)`` writes it;
``tfds.core.add_data_dir(data_dir)`` lets ``tfds.load`` find it.
"""

import io

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
