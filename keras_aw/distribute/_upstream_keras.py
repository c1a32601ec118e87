"""Adapter: what keras_aw needs from Keras that Keras 3.15 does not offer publicly.

Every use of a private Keras API (``keras.src``, underscored attributes) by
`keras_aw.distribute` is here, each with the reason and the upstream issue;
tests/test_distribute.py has a test per item that fails once the public API
exists, so that the item can be removed.

- `initialize_rng`: `keras.distribution.initialize` calls
  `jax.distributed.initialize` without its timeouts (300 s to join and at the
  shutdown barrier; its signature has no timeout), so `jax_engine` calls JAX
  itself and then has to do the rest of what `initialize` does: one random seed
  on every process (keras-team/keras#21261 added it, inside `keras.src` only).
- `flatten_layers`: Keras has no public recursive walk over a model's layers
  (`Model.layers` is one level; the BatchNormalization layers inside
  `AWConv2D`'s attention are attributes of a layer); `Layer._flatten_layers`
  is the walk Keras itself uses (a public flattening was asked for in
  keras-team/keras#4398, closed without one).
- `install_reduce_shim`: under `MultiWorkerMirroredStrategy`, Keras's
  TensorFlow trainer reduces every logged value with
  ``strategy.reduce("MEAN", v, axis=0)`` (keras/src/backend/tensorflow/trainer.py,
  ``reduce_per_replica``), which fails on the scalar loss and metrics that
  `fit` logs (keras-team/keras#20585). The shim passes ``axis=None`` for
  scalars, on the Keras versions in `REDUCE_SHIM_KERAS_VERSIONS`
  (tests/test_multiprocess.py fails once the installed Keras no longer needs
  it or the range is stale).
- `replace_moments`: Keras's `BatchNormalization` refuses
  ``synchronized=True`` on PyTorch (``ops.moments(..., synchronized=True)``
  raises there), and `torch.nn.SyncBatchNorm.convert_sync_batchnorm` converts
  `torch.nn.BatchNorm*d` modules only, never a Keras layer (a Keras layer is a
  `torch.nn.Module` but not a ``torch.nn.modules.batchnorm._BatchNorm``;
  tests/test_multiprocess_detection.py checks that it leaves a model
  untouched). The layer's statistics come from its private
  ``BatchNormalization._moments(inputs, mask)``; `replace_moments` makes it
  return the moments of the global batch (`torch_engine.global_moments`).
  Upstream: keras-team/keras#23316 (data parallelism for the torch backend)
  does not cover it; tests/test_multiprocess_detection.py fails once Keras
  accepts ``synchronized=True`` on PyTorch, so that this item goes.
"""

import keras

#: Keras versions (major, minor), both ends included, that need the reduce shim.
REDUCE_SHIM_KERAS_VERSIONS = ((3, 0), (3, 15))


def initialize_rng():
    """JAX: the one random seed of every process, as `keras.distribution.initialize` sets it."""
    from keras.src.backend.jax import distribution_lib

    distribution_lib.initialize_rng()


def flatten_layers(model):
    """Every layer inside `model`, at any depth (the model itself excluded)."""
    return list(model._flatten_layers(include_self=False, recursive=True))


def reduce_shim_needed(version=None):
    """Whether this Keras version needs the MultiWorkerMirroredStrategy reduce shim."""
    major, minor = (int(p) for p in (version or keras.version()).split(".")[:2])
    low, high = REDUCE_SHIM_KERAS_VERSIONS
    return low <= (major, minor) <= high


def install_reduce_shim(strategy):
    """Makes `strategy.reduce` reduce scalars without an axis; returns `strategy`."""
    import tensorflow as tf

    reduce = strategy.reduce

    def rank(value):
        value = value.values[0] if hasattr(value, "values") else value
        return len(value.shape)

    def reduce_scalars_without_axis(reduce_op, value, axis=None):
        return tf.nest.map_structure(
            lambda v: reduce(reduce_op, v, axis=None if rank(v) == 0 else axis), value)

    strategy.reduce = reduce_scalars_without_axis
    return strategy


def replace_moments(layer, moments):
    """Makes BatchNormalization `layer` take its training statistics from `moments`.

    ``moments(inputs, axes) -> (mean, variance)`` replaces the layer's own
    (``ops.moments`` over ``layer._reduction_axes``) when no mask is given;
    masked inputs keep Keras's computation. Idempotent; returns `layer`.
    """
    own = getattr(layer, "_keras_aw_own_moments", None) or layer._moments

    def global_moments(inputs, mask):
        if mask is not None:
            return own(inputs, mask)
        return moments(inputs, layer._reduction_axes)

    layer._keras_aw_own_moments = own
    layer._moments = global_moments
    return layer
