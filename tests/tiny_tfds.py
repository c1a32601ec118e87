"""A tiny tfds data set prepared on disk, for the per-process reading tests.

`tfds.testing.mock_data` ignores split slicing (every part of a split gets the
same mock examples), so the per-process parts of `keras_aw.datasets` are tested
on a real, prepared tfds set instead: ``keras_aw_tiny``, whose example ``i`` is
an 8x8 RGB image filled with the value ``i`` (train: 0..TRAIN-1; test: 200..),
so that any resized, cropped or flipped batch still says which examples it holds.

``prepare(data_dir)`` writes it (no network); then ``tfds.load("keras_aw_tiny")``
finds it through ``TFDS_DATA_DIR=data_dir`` (set before tfds is imported) or
``tfds.core.add_data_dir(data_dir)``.
"""

import numpy as np
import tensorflow_datasets as tfds

NAME = "keras_aw_tiny"
TRAIN, TEST, CLASSES = 50, 21, 3
TEST_OFFSET = 200


class KerasAwTiny(tfds.core.GeneratorBasedBuilder):
    """Example ``i``: an 8x8x3 image filled with ``i``, label ``i % 3``."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self, features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(8, 8, 3)),
                "label": tfds.features.ClassLabel(num_classes=CLASSES)}),
            supervised_keys=("image", "label"))

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(0, TRAIN),
                "test": self._generate_examples(TEST_OFFSET, TEST)}

    def _generate_examples(self, first, count):
        for i in range(first, first + count):
            yield i, {"image": np.full((8, 8, 3), i, np.uint8), "label": i % CLASSES}


def prepare(data_dir):
    """Writes keras_aw_tiny into `data_dir` (3 shards of train, so that parts cross files)."""
    builder = KerasAwTiny(data_dir=str(data_dir))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        num_shards=3))
    return builder


def example_ids(images):
    """The example ids a batch of (resized, cropped, flipped) constant images holds."""
    images = np.asarray(images)
    return np.rint(images.reshape(len(images), -1).mean(axis=1)).astype(int).tolist()
