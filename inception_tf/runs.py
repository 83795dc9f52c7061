"""A run directory: its layout, its model and class names, and what a `--model` string names.

    <output_dir>/<run_name>/
      backup/          BackupAndRestore state while a run is unfinished
      best.keras       the best inference model so far (by validation accuracy)
      model.keras      the final inference model (main output only)
      history.csv      one row per epoch
      logs/            TensorBoard logs
      metrics.json     final metrics (and the class names); its presence marks a finished run

Training writes run directories (`inception_tf.training.runs`: starting,
resuming, the history); serving, evaluation and the command line read them.
This module sits below all of them and needs no TensorFlow to import.
"""

import json
import os
import zipfile

from inception_tf.models import register_layers

FILES = {
    "model": "model.keras",
    "best_model": "best.keras",
    "metrics": "metrics.json",
    "history_csv": "history.csv",
    "tensorboard": "logs",
    "backup": "backup",
}


def artifacts(run_dir):
    """The paths of a run directory's files, by role (see `FILES`), plus `run_dir`."""
    return {"run_dir": run_dir, **{role: os.path.join(run_dir, name) for role, name in FILES.items()}}


def is_finished(run_dir):
    """Whether `run_dir` holds a finished run (its `metrics.json` was written)."""
    return os.path.exists(os.path.join(run_dir, FILES["metrics"]))


def class_names(run_dir):
    """The class names recorded in a finished run's `metrics.json`, or None."""
    path = os.path.join(run_dir, FILES["metrics"])
    if not os.path.exists(path):
        return None
    with open(path) as handle:
        return json.load(handle).get("class_names")


def _names_weights(source):
    """Whether `source` names published weights (`imagenet`) or a weights file (`.onnx`, `.weights.h5`)."""
    from inception_tf.models.published_weights import PUBLISHED

    return source in PUBLISHED or str(source).endswith((".onnx", ".weights.h5"))


def is_keras_source(model):
    """Whether `model` names a Keras model (`imagenet`, a pretrained-weights file, a `.keras` file or a run
    directory) rather than a SavedModel."""
    if _names_weights(model) or str(model).endswith(".keras"):
        return True
    return os.path.isdir(model) and os.path.exists(os.path.join(model, FILES["model"]))


def load_keras_source(source):
    """The `keras.Model` that `is_keras_source(source)` names, its record complete (geometry, class names).

    `imagenet` (or another published name) and weights files (`.onnx` of the
    zoo's layout, `.weights.h5`) build GoogLeNet on those weights; a `.keras`
    file or a run directory loads its model (`load_model`).
    """
    if _names_weights(source):
        from inception_tf.models.googlenet import GoogLeNet

        return GoogLeNet(weights=source)
    return load_model(source)


def load_model(path):
    """A Keras model from a `.keras` file, or from a run directory's `model.keras`.

    A run directory's class names (`metrics.json`) complete the model's record
    (`inception_tf.models.preprocessing.model_record`) where its file, from an
    earlier version, lacks them.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not a Keras model (not even a zip archive).
    """
    import keras

    register_layers()
    run_dir = path if os.path.isdir(path) else None
    if run_dir:
        path = os.path.join(path, FILES["model"])
    if not os.path.exists(path):
        raise FileNotFoundError(f"No model file at {path!r}.")
    if os.path.isdir(path) or not zipfile.is_zipfile(path):
        raise ValueError(f"{path!r} is not a .keras file (a zip archive): it is corrupt, truncated, or another "
                         f"format.")
    try:
        model = keras.models.load_model(path)
    except (ValueError, OSError) as error:
        raise ValueError(f"Cannot load a Keras model from {path!r}: {error}") from None
    if run_dir:
        _complete_class_names(model, class_names(run_dir))
    return model


def _complete_class_names(model, names):
    """Records `names` in `model` where it carries preprocessing without class names."""
    from inception_tf.models.preprocessing import has_preprocessing, model_record, set_model_record

    if names and has_preprocessing(model) and model_record(model).class_names is None:
        set_model_record(model, class_names=names)
