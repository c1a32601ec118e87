"""Data sets that ship with keras_aw (no download).

- `shapes`: ten classes of procedurally drawn shapes on cluttered, noisy
  backgrounds; ``shapes.load_data()`` returns ``(x_train, y_train), (x_test, y_test)``
  like `keras.datasets`.
"""

from keras_aw.datasets import shapes

__all__ = ["shapes"]
