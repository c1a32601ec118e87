"""Adapter: the Keras `Model` internals a DDP train step needs, which Keras 3.15 keeps private.

Keras's torch backend does not train under `torch.distributed`: its
`train_step` calls the model directly, never through
`DistributedDataParallel`, so gradients are not all-reduced
(keras-team/keras#23316, "Add Data Parallel support for Torch backend", adds
it to Keras after 3.15; keras-team/keras-io#1838 asks for the guide).
`keras_aw_tools.distributed_fit.install_ddp_train_step` therefore writes the
step out, and needs what Keras's own step uses: ``Model._compute_loss`` (the
compiled loss with the model's added losses and their scaling) and
``Model._loss_tracker`` (the "loss" metric). They are read here only.
tests/test_distribute.py fails once Keras's torch backend brings its own
data-parallel support, so that the written step and this module go.

Keras's torch layers register their variables as torch parameters when built
(``TorchLayer._track_variables``); a model whose layers create variables
after that (measured: keras_aw's AWFPNResNetSmall RetinaNet, 72 of its 123
trainable weights among ``model.parameters()``) hides the others from
`DistributedDataParallel`, which then leaves their gradients per process
without an error. `track_variables` registers them all again before DDP
wraps the model (same upstream issue).
"""

import keras

#: The Model internals the DDP step uses (``_track_variables``: torch's layers only).
STEP_INTERNALS = ("_compute_loss", "_loss_tracker", "_track_variables")


def check_step_internals(model):
    """Raises `RuntimeError` when `model` lacks the internals the DDP step uses."""
    needed = [n for n in STEP_INTERNALS
              if n != "_track_variables" or keras.backend.backend() == "torch"]
    missing = [n for n in needed if not hasattr(model, n)]
    if missing:
        raise RuntimeError(f"Keras {keras.version()} lacks the Model internals {missing} "
                           "that PyTorch multi-process training uses (verified with 3.13-3.15)")


def compute_loss(model, x, y, y_pred, sample_weight):
    """The training loss of a batch, as `Model.train_step` computes it."""
    return model._compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                               training=True)


def track_loss(model, loss, batch_size):
    """Updates the model's "loss" metric with a batch's loss, as `Model.train_step` does."""
    model._loss_tracker.update_state(loss, sample_weight=batch_size)


def track_variables(model):
    """Registers every variable of `model` (torch) as a parameter that torch sees."""
    model._track_variables()
