"""Data sets: the embedded ones (no download) and the pipelines that feed them to `fit`.

- `shapes`: ten classes of procedurally drawn shapes on cluttered, noisy
  backgrounds; ``shapes.load_data()`` returns ``(x_train, y_train), (x_test, y_test)``
  like `keras.datasets`.
- `load_data(spec, ...)`: ``"shapes"`` or ``"tfds:NAME[:SPLIT]"`` as training and
  evaluation inputs; `parse_dataset(spec)` parses a spec into a `DatasetSpec`;
  `load_detection_data(...)`: Shapes-Detect for the detectors (see
  `keras_aw.datasets.pipelines`).
- `imagenet`: the `imagenet` training recipe's input for tfds sets of encoded
  images (RandomResizedCrop decoded once from the JPEG, flip; resize 256 +
  center crop 224; unlabeled splits refused): ``imagenet.load_imagenet(...)``,
  or ``load_data(spec, ..., preprocessing="imagenet")``.
"""

from keras_aw.datasets import imagenet, pipelines, shapes
from keras_aw.datasets.pipelines import (DatasetSpec, load_data, load_detection_data,
                                         parse_dataset)

__all__ = ["DatasetSpec", "imagenet", "load_data", "load_detection_data", "parse_dataset",
           "pipelines", "shapes"]


def __dir__():
    return sorted(__all__)
