"""Starting or resuming a run in a run directory, and its epoch history.

The run directory's layout (`FILES`), its model and class names live in
`inception_tf.runs`, below training and serving, and are re-exported here.
Under multi-worker training only the chief writes the run directory; other
workers write under `<run_dir>/workers/<task>/`. Exporting a run is
`inception_tf.serving.runs.export_run`.
"""

import csv
import json
import os
import shutil

from inception_tf import files
from inception_tf.runs import FILES, artifacts, class_names, is_finished, load_model  # noqa: F401  (re-exported)
from inception_tf.training import distribute


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


def __getattr__(name):
    if name == "export_run":  # moved: training and serving are peers, neither imports the other
        raise AttributeError("export_run moved to inception_tf.serving.runs: "
                             "from inception_tf.serving.runs import export_run")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
