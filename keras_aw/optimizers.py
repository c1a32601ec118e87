"""Optimizers for reproducing PyTorch recipes: `TorchSGD` (PyTorch's SGD rule) and `StepDecay`.

They are in the library, not in the training tooling (`keras_aw_tools.recipe`,
whose `imagenet` recipe uses them), so that ``import keras_aw`` registers them
and a `.keras` file saved compiled with them loads wherever keras_aw does
(`keras.saving.load_model`, `keras_aw.export`).

`StepDecay`: the classic ImageNet recipe's ``lr * factor ** (epoch // period)``
as a per-step schedule with its boundaries in steps, optionally after a linear
warm-up. (Keras's `PiecewiseConstantDecay` switches one step late for these
boundaries, ``step > boundary``, and has no warm-up.)

`StepDecay`'s warm-up is the classic recipe's ramp from 0 (``(s + 1) / W``), or,
with ``warmup_factor=f``, Detectron2's linear warm-up ``f * (1 - s / W) + s / W``
(its ``WarmupMultiStepLR``: the ``coco-1x`` recipe).

`TorchSGD`: SGD with PyTorch's `torch.optim.SGD` update rule (L2 weight decay, momentum).
``l2_exclude`` names variables (by path) that get no weight decay:
`norm_variable_paths(model)` gives those of the normalization layers, which
Detectron2 exempts (``SOLVER.WEIGHT_DECAY_NORM = 0.0``; the ``coco-1x`` recipe).

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

from keras_aw._graph import flatten_layers
from keras_aw._upstream_optimizer import variable_index

__all__ = ["NORM_LAYERS", "StepDecay", "TorchSGD", "norm_variable_paths"]

#: The normalization layers whose weights Detectron2's WEIGHT_DECAY_NORM applies to.
NORM_LAYERS = (keras.layers.BatchNormalization, keras.layers.LayerNormalization,
               keras.layers.GroupNormalization)


def norm_variable_paths(model):
    """The paths of the trainable variables of every normalization layer in `model`.

    The layers of `NORM_LAYERS` at any depth (AWConv2D's attention BatchNorms
    included): their gamma and beta, what Detectron2 calls the norm parameters.
    Pass them as `TorchSGD`'s ``l2_exclude`` for ``WEIGHT_DECAY_NORM = 0``.
    """
    paths = []
    for layer in flatten_layers(model):
        if isinstance(layer, NORM_LAYERS):
            paths += [v.path for v in layer.trainable_variables if v.path not in paths]
    return tuple(paths)


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
        l2_exclude: paths (``variable.path``) of variables that get no L2 term
            (e.g. `norm_variable_paths(model)`); their update is plain SGD with
            momentum. Kept in the optimizer's config, so a saved model keeps it.
        **kwargs: passed to `keras.optimizers.SGD` (not ``weight_decay``: Keras's
            decoupled decay is a different rule; use `l2`).
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, l2=0.0,
                 l2_exclude=(), name="torch_sgd", **kwargs):
        if kwargs.get("weight_decay"):
            raise ValueError("TorchSGD takes PyTorch's weight decay as `l2` (an L2 gradient "
                             "term); Keras's decoupled `weight_decay` is a different rule; "
                             f"received weight_decay={kwargs['weight_decay']!r}")
        kwargs.pop("weight_decay", None)
        if isinstance(l2, bool) or not isinstance(l2, (int, float)) or l2 < 0:
            raise ValueError(f"`l2` must be a number >= 0; received l2={l2!r}")
        super().__init__(learning_rate=learning_rate, momentum=momentum, nesterov=nesterov,
                         name=name, **kwargs)
        if isinstance(l2_exclude, str) or not all(isinstance(p, str) for p in l2_exclude):
            raise TypeError("`l2_exclude` must be a sequence of variable paths (str); "
                            f"received l2_exclude={l2_exclude!r}")
        self.l2 = float(l2)
        self.l2_exclude = tuple(l2_exclude)
        self._l2_skip = frozenset()

    def build(self, variables):
        super().build(variables)
        # By index, found from the Keras variables here: under TensorFlow `update_step`
        # may receive the underlying tf.Variable, which has no `path`.
        excluded = frozenset(self.l2_exclude)
        self._l2_skip = frozenset(variable_index(self, v) for v in variables
                                  if v.path in excluded)

    def update_step(self, gradient, variable, learning_rate):
        learning_rate = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        if self.l2 and (not self._l2_skip
                        or variable_index(self, variable) not in self._l2_skip):
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
        if self.l2_exclude:  # absent: configs saved before `l2_exclude`, unchanged
            config["l2_exclude"] = list(self.l2_exclude)
        return config


@keras.saving.register_keras_serializable(package="keras_aw")
class StepDecay(keras.optimizers.schedules.LearningRateSchedule):
    """``lr(step) = value * factor ** #{b in boundaries: step >= b}``, after a linear warm-up.

    Step ``s`` is the optimizer's iteration count before the update (0 for
    the first); with boundaries at ``epoch * steps_per_epoch`` every step of
    epoch ``e`` gets ``value * factor ** (e // period)``, the reference's
    per-epoch rule. During the warm-up (``s < warmup_steps``) the rate is
    ``lr(s) * (s + 1) / warmup_steps``; with `warmup_factor` ``f`` (not None)
    it is Detectron2's linear warm-up ``lr(s) * (f * (1 - a) + a)``,
    ``a = s / warmup_steps`` (``f`` at step 0, reaching 1 at ``warmup_steps``).
    """

    def __init__(self, value, boundaries, factor, warmup_steps=0, warmup_factor=None):
        self.value, self.factor = float(value), float(factor)
        self.boundaries, self.warmup_steps = [int(b) for b in boundaries], int(warmup_steps)
        if warmup_factor is not None and (isinstance(warmup_factor, bool) or not isinstance(
                warmup_factor, (int, float)) or not 0 <= warmup_factor <= 1):
            raise ValueError("`warmup_factor` must be None or a number in [0, 1]; received "
                             f"warmup_factor={warmup_factor!r}")
        self.warmup_factor = None if warmup_factor is None else float(warmup_factor)

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        rate = keras.ops.convert_to_tensor(self.value, "float32")
        for boundary in self.boundaries:
            rate = keras.ops.where(step >= boundary, rate * self.factor, rate)
        if self.warmup_steps and self.warmup_factor is None:
            ramp = keras.ops.minimum((step + 1.0) / self.warmup_steps, 1.0)
            rate = rate * ramp
        elif self.warmup_steps:
            alpha = keras.ops.minimum(step / self.warmup_steps, 1.0)
            rate = rate * (self.warmup_factor * (1.0 - alpha) + alpha)
        return rate

    def get_config(self):
        config = {"value": self.value, "boundaries": self.boundaries, "factor": self.factor,
                  "warmup_steps": self.warmup_steps}
        if self.warmup_factor is not None:  # absent: the classic ramp (older configs)
            config["warmup_factor"] = self.warmup_factor
        return config
