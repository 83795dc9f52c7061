"""GoogLeNet's wiring against the paper: where the auxiliary heads hang, the dropout rates."""

import keras
import pytest

from inception_tf import GoogLeNet


@pytest.fixture(scope="module")
def model():
    return GoogLeNet(input_shape=(64, 64, 3), classes=10, aux_logits=True)


def inbound_layer(model, name):
    (node,) = model.get_layer(name)._inbound_nodes
    (tensor,) = node.input_tensors
    return tensor._keras_history.operation.name


@pytest.mark.parametrize("head, module", [("aux1", "inception_4a"), ("aux2", "inception_4d")])
def test_auxiliary_heads_hang_from_the_papers_modules(model, head, module):
    # Szegedy et al. 2014, Fig. 3: the auxiliary classifiers sit on the outputs of 4a and 4d.
    assert inbound_layer(model, f"{head}_avg_pool") == module


def test_dropout_rates_are_the_papers(model):
    # "a dropout layer with 70% ratio of dropped outputs" (aux), 40% before the main classifier.
    rates = {layer.name: layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)}
    assert rates == {"dropout": 0.4, "aux1_dropout": 0.7, "aux2_dropout": 0.7}
