"""The package root: each public name is the object its module defines, loaded on first use."""

import ast
import importlib
import pathlib

import pytest

import inception_tf
import inception_tf.evaluation
import inception_tf.models

PACKAGE = pathlib.Path(inception_tf.__file__).parent

# The public API as the README documents it: name -> the module that defines it.
API = {
    "GoogLeNet": "inception_tf.models.googlenet", "SlideNet": "inception_tf.models.googlenet",
    "INCEPTION_SPEC": "inception_tf.models.architecture", "LOSS_WEIGHTS": "inception_tf.models.googlenet",
    "inference_model": "inception_tf.models.googlenet",
    "InceptionModule": "inception_tf.models.inception_module",
    "LocalResponseNormalization": "inception_tf.models.lrn", "MaxPooling2D": "inception_tf.models.pooling",
    "ImagePreprocessing": "inception_tf.models.preprocessing", "model_record": "inception_tf.models.preprocessing",
    "set_model_record": "inception_tf.models.preprocessing", "prepare_images": "inception_tf.images",
    "TrainConfig": "inception_tf.training.config", "TrainingDiverged": "inception_tf.training.train",
    "train": "inception_tf.training.train", "get_strategy": "inception_tf.training.distribute",
    "export_saved_model": "inception_tf.serving.export", "decode_predictions": "inception_tf.imagenet",
}
MODULES = {"costs": "inception_tf.models.costs", "slide": "inception_tf.models.slide"}


@pytest.mark.parametrize("name", sorted(API))
def test_each_public_name_is_the_object_its_module_defines(name):
    module = importlib.import_module(API[name])
    value = getattr(inception_tf, name)
    assert value is getattr(module, name)
    assert vars(inception_tf)[name] is value  # kept: the next use costs no lookup
    if hasattr(value, "__module__") and not isinstance(value, (dict, tuple)):
        assert value.__module__ == API[name]


@pytest.mark.parametrize("name", sorted(MODULES))
def test_public_module_names_are_the_modules(name):
    assert getattr(inception_tf, name) is importlib.import_module(MODULES[name])


def test_all_lists_every_public_name_and_the_version():
    assert sorted(inception_tf.__all__) == sorted(["__version__", "register_layers", *API, *MODULES])
    assert inception_tf.__version__ == "0.2.0"  # setup.cfg reads it from here
    assert inception_tf.register_layers is inception_tf.models.register_layers


def test_an_unknown_name_is_an_attribute_error_naming_it():
    with pytest.raises(AttributeError, match=r"^module 'inception_tf' has no attribute 'AlexNet'$"):
        inception_tf.AlexNet  # noqa: B018
    assert not hasattr(inception_tf, "googlenet")  # a module of the package is not a public name


def test_a_layer_name_registers_every_layer_first(monkeypatch):
    registered = []
    monkeypatch.setattr(inception_tf, "register_layers", lambda: registered.append(True))
    monkeypatch.delitem(vars(inception_tf), "MaxPooling2D", raising=False)
    monkeypatch.delitem(vars(inception_tf), "decode_predictions", raising=False)
    inception_tf.decode_predictions  # noqa: B018  (numpy only: no layer to register)
    assert registered == []
    inception_tf.MaxPooling2D  # noqa: B018
    assert registered == [True]


def _modules_registering_layers():
    """Modules of the package whose source registers a Keras object, read from the files."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text())
        if any(isinstance(node, ast.Attribute) and node.attr == "register_keras_serializable"
               for node in ast.walk(tree)):
            found.append(".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts))
    return found


def test_register_layers_imports_every_module_that_registers_a_layer(monkeypatch):
    imported = []
    monkeypatch.setattr(importlib, "import_module", imported.append)
    inception_tf.models.register_layers()
    assert sorted(imported) == _modules_registering_layers()
    assert len(imported) == 7


def test_evaluation_names_the_crops_of_the_paper():
    from inception_tf import crops

    for name in ("BOX_FIELDS", "CROP_COUNTS", "crop_boxes", "crop_scales", "make_crops"):
        assert getattr(inception_tf.evaluation, name) is getattr(crops, name)
    assert sorted(inception_tf.evaluation.__all__) == ["BOX_FIELDS", "CROP_COUNTS", "crop_boxes", "crop_scales",
                                                       "make_crops"]
