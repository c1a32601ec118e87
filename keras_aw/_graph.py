"""The one place keras_aw reads the inside of a Keras functional graph.

Keras 3.15 has no public way to tell a functional or sequential model from a
subclassed one, nor to walk a functional model's call nodes (every call of a
layer, with the tensors it took and gave). Profiling needs the nodes -- a layer
can be called several times, e.g. a detection head shared by the pyramid
levels -- and `convert_to_aw` needs the model kind. Warm starts from keras-hub
need the tensor of a cloned graph that matches a tensor of the source graph
(a KerasTensor's producing layer call: ``_keras_history``, the layer's
``_inbound_nodes``), and `constant_attention_start` needs every sublayer of a
model, nested ones included (``_flatten_layers``). All read private Keras
attributes here, and only here, so that a change in Keras touches this file
alone.

Upstream: Keras 3 has no public graph walk or tensor history; the maintainers
point to these private attributes and say they may change
(keras-team/keras#19278 "Model graph traversal with Keras 3?",
keras-team/keras#21205 "Missing equivalent of layer.inbound_nodes").
tests/test_graph_adapter.py fails when Keras gains the public names, so that
this module can move to them.
"""

import keras
from keras.src.models.functional import Functional  # no public alias in Keras 3.15


def is_graph_model(model):
    """Whether `model` is a functional or sequential model (its graph can be cloned and walked)."""
    return isinstance(model, (keras.Sequential, Functional))


def as_functional(model):
    """The functional graph of a model (a built Sequential model wraps one)."""
    graph = getattr(model, "_functional", None) or model
    if not isinstance(graph, Functional):
        raise ValueError(
            "a functional or sequential model is needed; subclassed models have no graph "
            f"to walk (received {type(model).__name__} {model.name!r})"
        )
    return graph


def call_nodes(model):
    """Yields (layer, input tensors, output tensors) for every layer call, inputs first.

    Nested models appear as one call; walk them again with their own inputs.
    """
    graph = as_functional(model)
    for depth in sorted(graph._nodes_by_depth, reverse=True):
        for node in graph._nodes_by_depth[depth]:
            if node.is_input or node.operation is None:
                continue
            yield node.operation, list(node.input_tensors), list(node.outputs)


def tensor_in(model, tensor):
    """The tensor of `model` made by the same layer call as `tensor` made in another graph.

    `model` is a functional clone of the graph `tensor` belongs to, with the
    same layer names (what `keras.models.clone_model` returns).
    """
    operation, node_index, tensor_index = tensor._keras_history
    layer = model.get_layer(operation.name)
    return layer._inbound_nodes[node_index].output_tensors[tensor_index]


def flatten_layers(layer, include_self=True, recursive=True):
    """Every layer that `layer` tracks (nested layers and models included, depth first)."""
    return list(layer._flatten_layers(include_self=include_self, recursive=recursive))
