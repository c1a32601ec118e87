"""Adapter: a Keras optimizer's index of a variable, which Keras 3.15 does not make public.

`keras_aw.optimizers.TorchSGD` overrides the public `Optimizer.update_step`,
which receives a variable but not its index, while the momentum buffers are a
list in variable order. Keras's own optimizers find a variable's buffer with the
private ``Optimizer._get_variable_index``; a variable's ``path`` cannot stand in
for it, because under TensorFlow the variable given to `update_step` can be the
underlying ``tf.Variable`` (keras-team/keras#21793, fixed inside Keras's Muon by
the same private lookup in keras-team/keras#21924). This module is the one place
keras_aw calls it; tests/test_recipes.py fails once Keras gains a public
``get_variable_index``, so that this adapter goes.
"""


def variable_index(optimizer, variable):
    """The index of `variable` in `optimizer`'s per-variable slots (momentum buffers)."""
    return optimizer._get_variable_index(variable)
