"""The training recipe: one optimizer, one learning-rate schedule, one compile per task.

`keras-aw train`, the examples and the benchmarks train with this recipe:

- **Optimizer**: Adam (`optimizer`); detectors clip the global gradient norm at
  `DETECTOR_CLIPNORM`, as keras-hub's RetinaNet examples do.
- **Schedule**: a per-epoch cosine decay, ``lr(e) = base * (1 + cos(pi * e / E)) / 2``
  for epochs ``e = 0 .. E - 1`` (`cosine_learning_rate`), set at the start of
  every epoch by the `cosine_schedule` callback. The learning rate depends only
  on the epoch index and the total, so a run resumed from a checkpoint (or
  extended to more epochs) continues on the schedule without any saved state,
  and it needs no step count (unknown for a `tf.data` set of unknown length).
- **Compile**: `compile_classifier` (sparse categorical cross-entropy and
  accuracy) and `compile_detector` (the keras-hub detector's own losses).

A cosine decay inside the optimizer, per step, is available through
``decay_steps`` (and ``warmup_steps``): `benchmarks/accuracy.py`'s
pre-registered protocol (ACCURACY.md: "cosine decay to 0 over the run") and
`examples/detection.py`'s measured recipe (docs/table2.md) use it, so their
published results keep their protocol. With ``decay_steps`` the
`cosine_schedule` callback is not used.

Example:

>>> import numpy as np
>>> import keras_aw
>>> from keras_aw_tools import recipe
>>> model = recipe.compile_classifier(
...     keras_aw.create_model("SmallCNN", input_shape=(16, 16, 3)), learning_rate=1e-3)
>>> x, y = np.zeros((8, 16, 16, 3), "float32"), np.zeros(8, "int32")
>>> history = model.fit(x, y, epochs=2, verbose=0,
...                     callbacks=[recipe.cosine_schedule(1e-3, epochs=2)])
>>> [round(float(lr), 6) for lr in history.history["learning_rate"]]
[0.001, 0.0005]
"""

import math

import keras

#: Adam's learning rate at the start of the decay unless a caller says otherwise.
DEFAULT_LEARNING_RATE = 2e-3
#: Detectors: the bound of the global gradient norm.
DETECTOR_CLIPNORM = 10.0


def _check_positive(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"`{name}` must be a positive number; received {name}={value!r}")


def cosine_learning_rate(base, epochs):
    """The per-epoch cosine decay from `base` over `epochs` epochs, as a function of the epoch.

    Args:
        base: the learning rate of the first epoch (epoch 0).
        epochs: the run's total number of epochs.

    Returns:
        ``schedule(epoch, lr=None) -> float``, the signature of
        `keras.callbacks.LearningRateScheduler`.

    Example:

    >>> from keras_aw_tools.recipe import cosine_learning_rate
    >>> [round(cosine_learning_rate(1.0, 4)(e), 4) for e in range(4)]
    [1.0, 0.8536, 0.5, 0.1464]
    """
    _check_positive("base", base)
    _check_positive("epochs", epochs)

    def schedule(epoch, lr=None):
        return float(base * 0.5 * (1.0 + math.cos(math.pi * epoch / epochs)))

    return schedule


def cosine_schedule(learning_rate, epochs):
    """The callback that sets the recipe's learning rate at the start of every epoch.

    Args:
        learning_rate: the learning rate of the first epoch.
        epochs: the run's total number of epochs.

    Returns:
        A `keras.callbacks.LearningRateScheduler`.
    """
    return keras.callbacks.LearningRateScheduler(cosine_learning_rate(learning_rate, epochs))


def optimizer(learning_rate=DEFAULT_LEARNING_RATE, decay_steps=None, warmup_steps=0,
              epsilon=1e-7, global_clipnorm=None):
    """Adam, with a constant learning rate (for `cosine_schedule`) or a per-step cosine decay.

    Args:
        learning_rate: the (peak) learning rate.
        decay_steps: None for a plain learning rate that `cosine_schedule` sets
            each epoch; or the number of steps of a cosine decay to 0 inside the
            optimizer (`keras.optimizers.schedules.CosineDecay`).
        warmup_steps: with `decay_steps`: steps of a linear warm-up from
            ``learning_rate / 10`` to `learning_rate` before the decay.
        epsilon: Adam's epsilon.
        global_clipnorm: clip the global gradient norm (None: no clipping).

    Returns:
        A `keras.optimizers.Adam`.
    """
    _check_positive("learning_rate", learning_rate)
    rate = learning_rate
    if decay_steps is not None:
        decay_steps = max(int(decay_steps), 1)
        if warmup_steps:
            rate = keras.optimizers.schedules.CosineDecay(
                0.1 * learning_rate, decay_steps, warmup_target=learning_rate,
                warmup_steps=int(warmup_steps))
        else:
            rate = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps)
    elif warmup_steps:
        raise ValueError("`warmup_steps` needs `decay_steps`; received "
                         f"warmup_steps={warmup_steps!r}, decay_steps=None")
    return keras.optimizers.Adam(rate, epsilon=epsilon, global_clipnorm=global_clipnorm)


def compile_classifier(model, learning_rate=DEFAULT_LEARNING_RATE, decay_steps=None,
                       epsilon=1e-7, run_eagerly=False):
    """Compiles a classifier: Adam, sparse categorical cross-entropy, accuracy.

    Args:
        model: a `keras.Model` ending in softmax probabilities.
        learning_rate, decay_steps, epsilon: see `optimizer`.
        run_eagerly: passed to `Model.compile`.

    Returns:
        `model`, compiled.
    """
    model.compile(
        optimizer=optimizer(learning_rate, decay_steps=decay_steps, epsilon=epsilon),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        run_eagerly=run_eagerly,
    )
    return model


def compile_detector(model, learning_rate=DEFAULT_LEARNING_RATE, decay_steps=None,
                     warmup_steps=0):
    """Compiles a keras-hub detector: Adam with global-norm clipping, its own losses.

    Args:
        model: a keras-hub `ObjectDetector` (e.g. `keras_aw.create_model("AWFPNResNet101")`).
        learning_rate, decay_steps, warmup_steps: see `optimizer`.

    Returns:
        `model`, compiled.
    """
    model.compile(optimizer=optimizer(learning_rate, decay_steps=decay_steps,
                                      warmup_steps=warmup_steps,
                                      global_clipnorm=DETECTOR_CLIPNORM))
    return model
