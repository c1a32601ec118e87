"""The ``demo`` recipe's Keras objects (`keras_aw_tools.recipe` names them too).

Adam (`optimizer`; detectors clip the global gradient norm at
`DETECTOR_CLIPNORM`), the per-epoch cosine decay (`cosine_learning_rate`,
`cosine_schedule`), and the compiles of `keras-aw train`, the examples and the
benchmarks (`compile_classifier`, `compile_detector`). See
`keras_aw_tools.recipe`'s docstring for the recipe itself.
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


__all__ = ["DEFAULT_LEARNING_RATE", "DETECTOR_CLIPNORM", "compile_classifier",
           "compile_detector", "cosine_learning_rate", "cosine_schedule", "optimizer"]
