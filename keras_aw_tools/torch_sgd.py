"""`TorchSGD`: SGD with PyTorch's `torch.optim.SGD` update rule (L2 weight decay, momentum).

The `imagenet` recipe (`keras_aw_tools.recipe`) reproduces a PyTorch recipe,
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

Adapter note (private Keras API): `update_step` is the public hook, but it
receives a variable without its index; the momentum buffer of a variable is
found with ``Optimizer._get_variable_index``, as Keras's own optimizers do. A
variable's ``path`` cannot be used instead: under TensorFlow the variable given
to `update_step` can be the underlying ``tf.Variable`` (keras-team/keras issue
21793, fixed in Keras's Muon by the same index lookup, pull request 21924).
This module is the only place that uses it.

Example:

>>> import numpy as np, keras
>>> from keras_aw_tools.torch_sgd import TorchSGD
>>> w = keras.Variable(np.array([1.0], "float32"))
>>> opt = TorchSGD(learning_rate=0.1, momentum=0.9, l2=0.5)
>>> opt.apply([np.array([1.0], "float32")], [w])  # g = 1 + 0.5 * 1; w = 1 - 0.1 * 1.5
>>> round(float(w.numpy()[0]), 6)
0.85
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_aw_tools")
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
            buffer = self.momentums[self._get_variable_index(variable)]
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
