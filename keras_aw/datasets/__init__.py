"""Data sets: the embedded ones (no download) and the pipelines that feed them to `fit`.

- `shapes`: ten classes of procedurally drawn shapes on cluttered, noisy
  backgrounds; ``shapes.load_data()`` returns ``(x_train, y_train), (x_test, y_test)``
  like `keras.datasets`.
- `load_data(spec, ...)`: ``"shapes"`` or ``"tfds:NAME[:SPLIT]"`` as training and
  evaluation inputs (see `keras_aw.datasets.pipelines`).
"""

from keras_aw.datasets import pipelines, shapes
from keras_aw.datasets.pipelines import load_data, parse_dataset

__all__ = ["load_data", "parse_dataset", "pipelines", "shapes"]


def __dir__():
    return sorted(__all__)
