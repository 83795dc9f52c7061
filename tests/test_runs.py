"""inception_tf.runs: a run directory's layout, model and class names; what a `--model` string names."""

import json
import os
import sys

import keras
import numpy as np
import pytest

from inception_tf import runs
from inception_tf.serving import predict
from inception_tf.training import runs as training_runs


def test_the_old_import_paths_name_the_same_objects():
    for name in ("FILES", "artifacts", "class_names", "is_finished", "load_model"):
        assert getattr(training_runs, name) is getattr(runs, name)
    assert predict.is_keras_source is runs.is_keras_source


def test_export_run_under_training_says_where_it_moved():
    with pytest.raises(AttributeError, match=r"inception_tf\.serving\.runs"):
        training_runs.export_run
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        training_runs.missing


def test_a_run_directory_has_the_documented_layout(tmp_path):
    run_dir = str(tmp_path / "googlenet_digits")
    assert runs.artifacts(run_dir) == {  # the layout the module's docstring and the README give
        "run_dir": run_dir,
        "model": os.path.join(run_dir, "model.keras"),
        "best_model": os.path.join(run_dir, "best.keras"),
        "metrics": os.path.join(run_dir, "metrics.json"),
        "history_csv": os.path.join(run_dir, "history.csv"),
        "tensorboard": os.path.join(run_dir, "logs"),
        "backup": os.path.join(run_dir, "backup"),
    }


def test_what_a_model_string_names(tmp_path):
    run_dir, saved_model, empty = tmp_path / "run", tmp_path / "saved_models" / "digits" / "1", tmp_path / "empty"
    for directory in (run_dir, saved_model, empty):
        directory.mkdir(parents=True)
    (run_dir / "model.keras").write_bytes(b"")
    (saved_model / "saved_model.pb").write_bytes(b"")
    for keras_source in ("imagenet", "model.keras", "googlenet-7.onnx", "converted.weights.h5", str(run_dir)):
        assert runs.is_keras_source(keras_source), keras_source
    for other in (str(saved_model.parent), str(saved_model), str(empty), str(tmp_path / "missing"), "imagenet2012"):
        assert not runs.is_keras_source(other), other


def test_class_names_come_from_a_finished_runs_metrics(tmp_path):
    assert runs.class_names(str(tmp_path)) is None
    assert not runs.is_finished(str(tmp_path))
    with open(tmp_path / "metrics.json", "w") as handle:
        json.dump({"class_names": ["zero", "one"], "test": {"accuracy": 0.5}}, handle)
    assert runs.class_names(str(tmp_path)) == ["zero", "one"]
    assert runs.is_finished(str(tmp_path))
    assert runs.artifacts(str(tmp_path))["metrics"] == str(tmp_path / "metrics.json")


def test_load_model_reads_a_run_directory_and_refuses_what_is_no_keras_file(tmp_path):
    import inception_tf

    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, inception_tf.LocalResponseNormalization(implementation="standard")(inputs))
    model.save(tmp_path / "model.keras")
    x = np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 3)).astype(np.float32)
    np.testing.assert_allclose(runs.load_model(str(tmp_path))(x), model(x), rtol=1e-6)
    with pytest.raises(FileNotFoundError, match="No model file"):
        runs.load_model(str(tmp_path / "missing.keras"))
    (tmp_path / "broken.keras").write_text("not a zip archive")
    with pytest.raises(ValueError, match="broken.keras.* is not a .keras file"):
        runs.load_model(str(tmp_path / "broken.keras"))


def test_load_model_registers_the_package_layers_itself(tmp_path, monkeypatch):
    # A script that only loads a .keras file has imported none of the layers' modules: as if lrn.py never ran.
    import inception_tf.models
    from inception_tf.models import lrn

    inputs = keras.Input((8, 8, 3))
    keras.Model(inputs, lrn.LocalResponseNormalization(implementation="standard")(inputs)).save(tmp_path / "m.keras")
    monkeypatch.delitem(keras.saving.get_custom_objects(), "inception_tf>LocalResponseNormalization")
    monkeypatch.delitem(sys.modules, "inception_tf.models.lrn")
    monkeypatch.setattr(inception_tf.models, "lrn", lrn)  # put back after the test, as sys.modules is
    with pytest.raises(TypeError, match="LocalResponseNormalization"):  # Keras alone does not find the layer
        keras.models.load_model(tmp_path / "m.keras")
    loaded = runs.load_model(str(tmp_path / "m.keras"))
    assert type(loaded.layers[1]).__module__ == "inception_tf.models.lrn"
    assert type(loaded.layers[1]).__name__ == "LocalResponseNormalization"


def test_a_run_directory_from_an_earlier_version_gets_its_class_names_from_its_metrics(tmp_path):
    """A model file without class names (as written before they were recorded) takes the names of its
    run's metrics.json; a model that records its own keeps them; a model without preprocessing is left."""
    from inception_tf import ImagePreprocessing, model_record, set_model_record

    inputs = keras.Input((8, 8, 3))
    x = ImagePreprocessing("tf")(inputs)
    outputs = keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(x))
    old, named, plain = (tmp_path / name for name in ("old", "named", "plain"))
    for run_dir in (old, named, plain):
        run_dir.mkdir()
        with open(run_dir / "metrics.json", "w") as handle:
            json.dump({"class_names": ["cat", "dog"], "test": {"accuracy": 0.5}}, handle)
    keras.Model(inputs, outputs).save(old / "model.keras")
    set_model_record(keras.Model(inputs, outputs), class_names=["left", "right"]).save(named / "model.keras")
    plain_inputs = keras.Input((8, 8, 3))
    keras.Model(plain_inputs, keras.layers.Dense(2)(keras.layers.Flatten()(plain_inputs))).save(plain / "model.keras")

    assert model_record(keras.models.load_model(old / "model.keras")).class_names is None  # what the file holds
    assert model_record(runs.load_model(str(old))).class_names == ["cat", "dog"]
    assert model_record(runs.load_model(str(old / "model.keras"))).class_names is None  # a file alone: no run
    assert model_record(runs.load_model(str(named))).class_names == ["left", "right"]
    assert runs.load_model(str(plain)).output_shape == (None, 2)
