"""inception_tf.runs: a run directory's layout, model and class names; what a `--model` string names."""

import json

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
