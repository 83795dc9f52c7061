"""recipes: each model's builder, input and training recipe (the paper's for GoogLeNet, the slide code's for
SlideNet), and what a recipe refuses."""

import dataclasses

import keras
import pytest

from inception_tf.models import googlenet, recipes
from inception_tf.models.recipes import RECIPES, Recipe, get_recipe


def recording_recipe(**fields):
    """(a Recipe whose builder records its keyword arguments, the list of calls)."""
    calls = []
    defaults = {"name": "net", "builder": lambda **kwargs: calls.append(kwargs) or "model", "image_size": 64,
                "fixed_image_size": False, "channels": 3, "optimizer": "sgd", "learning_rate": 0.1}
    return Recipe(**{**defaults, **fields}), calls


def test_googlenet_trains_with_the_papers_recipe():
    # Szegedy et al. 2014, Section 6: "asynchronous stochastic gradient descent with 0.9 momentum [...]
    # decreasing the learning rate by 4% every 8 epochs"; RGB images of any size from 224x224 down.
    recipe = get_recipe("googlenet")
    assert (recipe.name, recipe.optimizer, recipe.momentum, recipe.lr_decay_rate, recipe.lr_decay_epochs) == (
        "googlenet", "sgd", 0.9, 0.96, 8.0)
    assert (recipe.learning_rate, recipe.image_size, recipe.channels) == (0.01, 224, 3)
    assert recipe.has_aux_heads and not recipe.fixed_image_size
    assert recipe.source.startswith("Szegedy et al. 2014, Section 6") and "momentum 0.9" in recipe.source


def test_slidenet_trains_with_the_slide_codes_recipe():
    # The slide's code: AdamOptimizer(1e-4) at a constant rate on 28x28 grey MNIST digits.
    recipe = get_recipe("slidenet")
    assert (recipe.name, recipe.optimizer, recipe.learning_rate, recipe.lr_decay_rate) == (
        "slidenet", "adam", 1e-4, None)
    assert (recipe.image_size, recipe.fixed_image_size, recipe.channels) == (28, True, 1)
    assert recipe.momentum == 0.0 and not recipe.has_aux_heads
    assert recipe.source.startswith("T. Mulc 2016")


def test_a_recipe_names_no_momentum_schedule_aux_heads_or_source_unless_given():
    recipe, _ = recording_recipe()
    assert (recipe.momentum, recipe.lr_decay_rate, recipe.lr_decay_epochs) == (0.0, None, 8.0)
    assert (recipe.has_aux_heads, recipe.source) == (False, "")


def test_recipes_cannot_be_changed_in_place():
    with pytest.raises(dataclasses.FrozenInstanceError):
        RECIPES["googlenet"].learning_rate = 0.1


def test_the_commands_choices_are_the_models_reports_and_diagrams():
    assert recipes.MODELS == ("googlenet", "slidenet")
    assert recipes.COST_REPORTS == ("slide11", "googlenet", "slidenet")
    assert recipes.DIAGRAMS == ("module", "googlenet")


def test_unknown_models_are_refused_with_the_choices():
    with pytest.raises(ValueError, match=r"model must be one of \('googlenet', 'slidenet'\)\. Received: model='vgg'"):
        get_recipe("vgg")


def test_build_passes_the_recipes_input_imagenets_classes_and_no_aux_heads_by_default():
    recipe, calls = recording_recipe(image_size=64, channels=1, has_aux_heads=True)
    assert recipe.build() == "model"
    assert recipe.build(image_size=32, classes=10, dropout_rate=0.5, weights="w") == "model"
    assert calls == [
        {"input_shape": (64, 64, 1), "classes": 1000, "aux_logits": False, "dropout_rate": None, "weights": None},
        {"input_shape": (32, 32, 1), "classes": 10, "aux_logits": False, "dropout_rate": 0.5, "weights": "w"},
    ]


def test_aux_heads_are_built_only_where_asked_for_and_the_model_has_them():
    with_heads, calls = recording_recipe(has_aux_heads=True)
    without_heads, calls_without = recording_recipe(has_aux_heads=False)
    for aux_logits in (False, True):
        with_heads.build(aux_logits=aux_logits)
        without_heads.build(aux_logits=aux_logits)
    assert [call["aux_logits"] for call in calls] == [False, True]
    assert [call["aux_logits"] for call in calls_without] == [False, False]


def test_a_fixed_size_recipe_refuses_other_sizes_and_takes_its_own():
    fixed, calls = recording_recipe(name="grid", image_size=28, fixed_image_size=True)
    with pytest.raises(ValueError, match=r"grid takes 28x28 images\. Received: image_size=32"):
        fixed.build(image_size=32)
    fixed.build(image_size=28)
    assert [call["input_shape"] for call in calls] == [(28, 28, 3)]


def test_googlenet_recipe_builds_the_dropout_classes_and_heads_asked_for():
    model = get_recipe("googlenet").build(image_size=32, classes=5, aux_logits=True, dropout_rate=0.25)
    rates = {layer.name: layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)}
    assert rates["dropout"] == 0.25 and model.input_shape == (None, 32, 32, 3)
    assert {name: tuple(output.shape) for name, output in zip(model.output_names, model.outputs)} == {
        "predictions": (None, 5), "aux1": (None, 5), "aux2": (None, 5)}


def test_slidenet_recipe_has_no_pretrained_weights(monkeypatch):
    with pytest.raises(ValueError, match=r"slidenet has no pretrained weights\. Received: weights='imagenet'"):
        get_recipe("slidenet").build(weights="imagenet")
    monkeypatch.setattr(googlenet, "SlideNet", lambda **kwargs: kwargs)  # what the recipe asks the builder for
    assert get_recipe("slidenet").build(classes=10) == {"input_shape": (28, 28, 1), "classes": 10}
