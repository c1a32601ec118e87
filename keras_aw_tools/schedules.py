"""Learning-rate schedules of the named recipes (`keras_aw_tools.recipe`) that Keras lacks.

`StepDecay`: the classic ImageNet recipe's ``lr * factor ** (epoch // period)``
as a per-step schedule with its boundaries in steps, optionally after a linear
warm-up. (Keras's `PiecewiseConstantDecay` switches one step late for these
boundaries, ``step > boundary``, and has no warm-up.)

Example:

>>> from keras_aw_tools.schedules import StepDecay
>>> schedule = StepDecay(0.1, boundaries=[300, 600], factor=0.1)
>>> [round(float(schedule(s)), 6) for s in (0, 299, 300, 600)]
[0.1, 0.1, 0.01, 0.001]
"""

import keras


@keras.saving.register_keras_serializable(package="keras_aw_tools")
class StepDecay(keras.optimizers.schedules.LearningRateSchedule):
    """``lr(step) = value * factor ** #{b in boundaries: step >= b}``, after a linear warm-up.

    Step ``s`` is the optimizer's iteration count before the update (0 for
    the first); with boundaries at ``epoch * steps_per_epoch`` every step of
    epoch ``e`` gets ``value * factor ** (e // period)``, the reference's
    per-epoch rule. During the warm-up (``s < warmup_steps``) the rate is
    ``lr(s) * (s + 1) / warmup_steps``.
    """

    def __init__(self, value, boundaries, factor, warmup_steps=0):
        self.value, self.factor = float(value), float(factor)
        self.boundaries, self.warmup_steps = [int(b) for b in boundaries], int(warmup_steps)

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        rate = keras.ops.convert_to_tensor(self.value, "float32")
        for boundary in self.boundaries:
            rate = keras.ops.where(step >= boundary, rate * self.factor, rate)
        if self.warmup_steps:
            ramp = keras.ops.minimum((step + 1.0) / self.warmup_steps, 1.0)
            rate = rate * ramp
        return rate

    def get_config(self):
        return {"value": self.value, "boundaries": self.boundaries, "factor": self.factor,
                "warmup_steps": self.warmup_steps}
