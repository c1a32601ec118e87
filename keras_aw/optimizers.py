"""Optimizers for reproducing PyTorch recipes: `TorchSGD` (PyTorch's SGD rule) and `StepDecay`.

They are in the library, not in the training tooling (`keras_aw_tools.recipe`,
whose `imagenet` recipe uses them), so that ``import keras_aw`` registers them
and a `.keras` file saved compiled with them loads wherever keras_aw does
(`keras.saving.load_model`, `keras_aw.export`).

`StepDecay`: the classic ImageNet recipe's ``lr * factor ** (epoch // period)``
as a per-step schedule with its boundaries in steps, optionally after a linear
warm-up. (Keras's `PiecewiseConstantDecay` switches one step late for these
boundaries, ``step > boundary``, and has no warm-up.)

`TorchSGD`: SGD with PyTorch's `torch.optim.SGD` update rule (L2 weight decay, momentum).

The `imagenet` recipe reproduces a PyTorch recipe,
so its optimizer must make PyTorch's updates. For every variable ``w`` with
gradient ``g``, learning rate ``lr``, momentum ``mu`` and weight decay ``wd``,
PyTorch's SGD (dampening 0) does::

    g = g + wd * w            # L2 term, added to the gradient: it goes through momentum
    b = mu * b + g            # b starts at 0, so the first step has b = g
    w = w - lr * b            # Nesterov: w = w - lr * (g + mu * b)

Keras's `keras.optimizers.SGD` differs in two ways, which is why this class exists:

- Its ``weight_decay`` is *decoupled* (``w -= lr * wd * w`` applied outside the
  gradient and the momentum, as in SGDW/AdamW), not PyTorch's L2 term; with
  momentum 0.9 the coupled term is, at steady state, about ten times larger.
- Its momentum is kept in units of a step (``m = mu * m - lr * g; w += m``).
  With a constant learning rate that is PyTorch's rule exactly (``m = -lr * b``);
  when the learning rate changes (the recipe's x0.1 drops) Keras's ``m`` still
  carries the old rate, so for the next few dozen steps its updates are up to
  ten times PyTorch's. Here the buffer is PyTorch's ``b`` and the current rate
  multiplies it, so the updates equal PyTorch's at every step.

The momentum buffer of a variable is found through `keras_aw._upstream_optimizer`
(Keras's private variable index; the adapter says why).

Example:

>>> import numpy as np, keras
>>> from keras_aw.optimizers import StepDecay, TorchSGD
>>> w = keras.Variable(np.array([1.0], "float32"))
>>> opt = TorchSGD(learning_rate=0.1, momentum=0.9, l2=0.5)
>>> opt.apply([np.array([1.0], "float32")], [w])  # g = 1 + 0.5 * 1; w = 1 - 0.1 * 1.5
>>> round(float(w.numpy()[0]), 6)
0.85
>>> schedule = StepDecay(0.1, boundaries=[300, 600], factor=0.1)
>>> [round(float(schedule(s)), 6) for s in (0, 299, 300, 600)]
[0.1, 0.1, 0.01, 0.001]
"""

import keras
from keras import ops

from keras_aw._upstream_optimizer import variable_index

__all__ = ["StepDecay", "TorchSGD"]


@keras.saving.register_keras_serializable(package="keras_aw")
class TorchSGD(keras.optimizers.SGD):
    """SGD with PyTorch's update rule: L2 weight decay through momentum, PyTorch's buffer.

    Args:
        learning_rate: a float or a `keras.optimizers.schedules.LearningRateSchedule`.
        momentum: PyTorch's ``momentum`` (0: plain SGD).
        nesterov: PyTorch's ``nesterov``.
        l2: PyTorch's ``weight_decay``: ``l2 * w`` is added to every gradient
            (every trainable variable: kernels, biases, BatchNorm's gamma and
            beta), before the momentum.
        **kwargs: passed to `keras.optimizers.SGD` (not ``weight_decay``: Keras's
            decoupled decay is a different rule; use `l2`).
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, l2=0.0,
                 name="torch_sgd", **kwargs):
        if kwargs.get("weight_decay"):
            raise ValueError("TorchSGD takes PyTorch's weight decay as `l2` (an L2 gradient "
                             "term); Keras's decoupled `weight_decay` is a different rule; "
                             f"received weight_decay={kwargs['weight_decay']!r}")
        kwargs.pop("weight_decay", None)
        if isinstance(l2, bool) or not isinstance(l2, (int, float)) or l2 < 0:
            raise ValueError(f"`l2` must be a number >= 0; received l2={l2!r}")
        super().__init__(learning_rate=learning_rate, momentum=momentum, nesterov=nesterov,
                         name=name, **kwargs)
        self.l2 = float(l2)

    def update_step(self, gradient, variable, learning_rate):
        learning_rate = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        if self.l2:
            gradient = ops.add(gradient, ops.multiply(ops.cast(self.l2, variable.dtype),
                                                      variable))
        if self.momentum != 0:
            momentum = ops.cast(self.momentum, variable.dtype)
            buffer = self.momentums[variable_index(self, variable)]
            new_buffer = ops.add(ops.multiply(buffer, momentum), gradient)
            self.assign(buffer, new_buffer)
            if self.nesterov:
                gradient = ops.add(gradient, ops.multiply(new_buffer, momentum))
            else:
                gradient = new_buffer
        self.assign_sub(variable, ops.multiply(gradient, learning_rate))

    def get_config(self):
        config = super().get_config()
        config["l2"] = self.l2
        return config


@keras.saving.register_keras_serializable(package="keras_aw")
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
