"""The run directory: its layout, starting or resuming a run, and exporting after training.

    <output_dir>/<run_name>/
      backup/          BackupAndRestore state while a run is unfinished
      best.keras       the best inference model so far (by validation accuracy)
      model.keras      the final inference model (main output only)
      history.csv      one row per epoch
      logs/            TensorBoard logs
      metrics.json     final metrics; its presence marks a finished run

Under multi-worker training only the chief writes there; other workers write
under `<run_dir>/workers/<task>/`.
"""

import csv
import json
import logging
import os
import shutil
import zipfile

from inception_tf import files
from inception_tf.training import distribute

logger = logging.getLogger("inception_tf")

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


def is_interrupted(run_dir):
    """Whether `run_dir` holds an unfinished run that `train` resumes (its backup state)."""
    return os.path.isdir(os.path.join(run_dir, FILES["backup"])) and not is_finished(run_dir)


def run_directory(output_dir, run_name):
    """The directory this process writes a run to: `output_dir/run_name`, or its worker's under it."""
    path = os.path.join(output_dir, run_name)
    if not distribute.is_chief():
        path = os.path.join(path, "workers", distribute.task_id())
    return path


def prepare(output_dir, run_name, overwrite=False):
    """The run directory for a new or resumed run, created if needed.

    A finished run is never trained over or appended to: without `overwrite`
    it is an error; with it, the old run's files are removed first.

    Raises:
        FileExistsError: `run_dir` holds a finished run and `overwrite` is False.
    """
    run_dir = run_directory(output_dir, run_name)
    if is_finished(run_dir):
        if not overwrite:
            raise FileExistsError(
                f"{run_dir} holds a finished run (metrics.json). Pass overwrite=True (--overwrite) "
                f"to train it again from scratch, or another run_name (--run-name NAME)."
            )
        for role, name in FILES.items():
            path = os.path.join(run_dir, name)
            if os.path.isdir(path):
                shutil.rmtree(path)
            elif os.path.exists(path):
                os.remove(path)
    os.makedirs(run_dir, exist_ok=True)
    return run_dir


def completed_epochs(backup_dir):
    """Epochs an interrupted run completed, from Keras' BackupAndRestore state (0 when none)."""
    for name in ("training_metadata.json", "training_metadata.json.bkp"):
        path = os.path.join(backup_dir, name)
        if os.path.exists(path):
            with open(path) as handle:
                return int(json.load(handle).get("epoch", 0))
    return 0


def history_values(path, column):
    """`(epoch, value)` pairs of `column` in `history.csv` (none when the file or column is missing)."""
    if not os.path.exists(path):
        return []
    with open(path, newline="") as handle:
        return [(int(float(row["epoch"])), float(row[column])) for row in csv.DictReader(handle)
                if row.get(column) not in (None, "")]


def truncate_history(path, first_epoch):
    """Keeps only `history.csv` rows of epochs before `first_epoch` (a resumed run rewrites the rest)."""
    if not os.path.exists(path):
        return
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        return
    header, body = rows[0], rows[1:]
    kept = [row for row in body if row and int(float(row[0])) < first_epoch]
    if len(kept) == len(body):
        return
    with files.atomic_file(path) as temporary:
        with open(temporary, "w", newline="") as handle:
            csv.writer(handle).writerows([header, *kept])


def class_names(run_dir):
    """The class names recorded in a finished run's `metrics.json`, or None."""
    path = os.path.join(run_dir, FILES["metrics"])
    if not os.path.exists(path):
        return None
    with open(path) as handle:
        return json.load(handle).get("class_names")


def load_model(path):
    """A Keras model from a `.keras` file, or from a run directory's `model.keras`.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not a Keras model (not even a zip archive).
    """
    import keras

    import inception_tf

    inception_tf.register_layers()
    if os.path.isdir(path):
        path = os.path.join(path, FILES["model"])
    if not os.path.exists(path):
        raise FileNotFoundError(f"No model file at {path!r}.")
    if os.path.isdir(path) or not zipfile.is_zipfile(path):
        raise ValueError(f"{path!r} is not a .keras file (a zip archive): it is corrupt, truncated, or another "
                         f"format.")
    try:
        return keras.models.load_model(path)
    except (ValueError, OSError) as error:
        raise ValueError(f"Cannot load a Keras model from {path!r}: {error}") from None


def export_run(run_dir, export_dir, name=None, format="savedmodel", **options):
    """Exports a finished run's (or a `.keras` file's) model as a SavedModel, ONNX or LiteRT.

    Args:
        run_dir: str. The run directory, or a `.keras` file.
        export_dir: str. Where exports go (e.g. `saved_models`): a SavedModel
            to `export_dir/NAME/VERSION/`, ONNX to `export_dir/NAME.onnx`,
            LiteRT to `export_dir/NAME.tflite`.
        name: str or None. The model name; defaults to the run directory's (or file's) name.
        format: str. "savedmodel" (default) or a key of `inception_tf.serving.formats.FORMATS`.
        **options: passed to `export_saved_model` (e.g. `precision`) or to
            `export_onnx`/`export_litert` (e.g. `quantize`, `calibration`; a
            `calibration` given as a dataset name is read with
            `data.calibration_set` at the model's geometry, taking
            `calibration_images` images (default 128) of `calibration_split`
            (default "train")).

    Returns:
        str. The version directory or file written.

    Raises:
        ValueError: an unknown format, or options that format does not take.
    """
    from inception_tf.serving import formats
    from inception_tf.serving.export import export_saved_model

    base = os.path.basename(os.path.normpath(run_dir))
    name = name or (os.path.splitext(base)[0] if os.path.isfile(run_dir) else base)  # runs/lr0.01 keeps its dot
    options.setdefault("class_names", class_names(run_dir) if os.path.isdir(run_dir) else None)
    model = load_model(run_dir)
    if format == "savedmodel":
        return export_saved_model(model, os.path.join(export_dir, name), **options)
    if format not in formats.FORMATS:
        raise ValueError(f"format must be 'savedmodel' or one of {tuple(formats.FORMATS)}. Received: format={format!r}")
    count = options.pop("calibration_images", formats.DEFAULT_CALIBRATION_IMAGES)
    split = options.pop("calibration_split", "train")
    if isinstance(options.get("calibration"), str):
        from inception_tf.training import data

        options["calibration"] = data.calibration_set(options["calibration"], model.input_shape, count, split)
    return formats.export_model(model, os.path.join(export_dir, name + formats.FORMATS[format]), format, **options)
