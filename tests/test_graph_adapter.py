"""keras_aw._graph: the one adapter over Keras's private graph attributes.

The first test fails when Keras 3 gains a public way to do what the adapter
does with private attributes (keras-team/keras#19278, #21205): then move
keras_aw/_graph.py to the public API and update this test.
"""

import keras
import pytest

from keras_aw import _graph


@pytest.mark.backend_independent  # Keras's Python API
def test_keras_still_lacks_the_public_graph_api():
    tensor = keras.layers.Dense(2)(keras.Input((3,)))
    public = {
        "keras.Functional": hasattr(keras, "Functional"),
        "keras.models.Functional": hasattr(keras.models, "Functional"),
        "KerasTensor.keras_history": any(hasattr(tensor, n) for n in ("keras_history", "history")),
        "Layer.inbound_nodes": hasattr(keras.layers.Layer, "inbound_nodes"),
        "Layer.flatten_layers": hasattr(keras.layers.Layer, "flatten_layers"),
    }
    assert not any(public.values()), (
        f"Keras now has a public {[k for k, v in public.items() if v]}: move "
        "keras_aw/_graph.py to it")


@pytest.mark.backend_independent  # graph structure only
def test_tensor_in_finds_the_matching_tensor_of_a_clone():
    inputs = keras.Input((4,), name="x")
    hidden = keras.layers.Dense(3, name="hidden")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2, name="out")(hidden))
    clone = keras.models.clone_model(model)
    found = _graph.tensor_in(clone, hidden)
    assert found is clone.get_layer("hidden").output
    assert found is not hidden


@pytest.mark.backend_independent  # graph structure only
def test_graph_model_kind_and_flatten_layers():
    inner = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="inner_dense")],
                             name="inner")
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2, name="top")(inner(inputs)))
    assert _graph.is_graph_model(model) and _graph.is_graph_model(inner)
    names = [layer.name for layer in _graph.flatten_layers(model, include_self=False)]
    assert "inner_dense" in names and "top" in names and model.name not in names
    assert [layer.name for layer in _graph.flatten_layers(model, recursive=False,
                                                          include_self=False)
            ].count("inner_dense") == 0
    calls = [layer.name for layer, _, _ in _graph.call_nodes(model)]
    assert calls == ["inner", "top"]
