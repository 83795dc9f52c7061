"""Starting, resuming and overwriting a run directory, and its epoch history (in process, no training)."""

import csv
import json
import os

import keras
import numpy as np
import pytest

from inception_tf.training import runs

HEADER = ["epoch", "loss", "val_accuracy"]


def write_history(path, rows, header=HEADER):
    with open(path, "w", newline="") as handle:
        csv.writer(handle).writerows([header, *rows])


def read_rows(path):
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


def finished_run(run_dir):
    """A finished run's files (every role in the documented layout), each holding the old run's bytes."""
    (run_dir / "logs").mkdir(parents=True)
    (run_dir / "backup").mkdir()
    (run_dir / "logs" / "events.out.tfevents").write_bytes(b"old")
    (run_dir / "backup" / "training_metadata.json").write_text('{"epoch": 5}')
    for name in ("model.keras", "best.keras", "history.csv"):
        (run_dir / name).write_bytes(b"old")
    (run_dir / "metrics.json").write_text(json.dumps({"test": {"accuracy": 0.9}}))


def test_a_new_run_directory_is_created_under_the_output_directory(tmp_path):
    run_dir = runs.prepare(str(tmp_path / "out"), "googlenet_digits")
    assert run_dir == os.path.join(str(tmp_path / "out"), "googlenet_digits")
    assert os.path.isdir(run_dir) and os.listdir(run_dir) == []


def test_an_interrupted_run_is_prepared_again_with_its_state_kept(tmp_path):
    run_dir = tmp_path / "googlenet_digits"
    (run_dir / "backup").mkdir(parents=True)
    (run_dir / "backup" / "training_metadata.json").write_text('{"epoch": 1, "batch": 0}')
    write_history(run_dir / "history.csv", [["0", "2.3", "0.25"]])
    for overwrite in (False, True):  # nothing is finished: --overwrite or not, the run resumes
        assert runs.prepare(str(tmp_path), "googlenet_digits", overwrite=overwrite) == str(run_dir)
        assert runs.is_interrupted(str(run_dir))
        assert (run_dir / "backup" / "training_metadata.json").read_text() == '{"epoch": 1, "batch": 0}'
        assert read_rows(run_dir / "history.csv") == [HEADER, ["0", "2.3", "0.25"]]


def test_a_finished_run_is_refused_without_overwrite_and_left_as_it_was(tmp_path):
    run_dir = tmp_path / "googlenet_digits"
    finished_run(run_dir)
    before = sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob("*"))
    with pytest.raises(FileExistsError, match=r"googlenet_digits holds a finished run.*--overwrite.*--run-name"):
        runs.prepare(str(tmp_path), "googlenet_digits")
    assert sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob("*")) == before
    assert runs.is_finished(str(run_dir))


def test_overwrite_removes_every_file_and_folder_of_the_finished_run(tmp_path):
    run_dir = tmp_path / "googlenet_digits"
    finished_run(run_dir)
    (run_dir / "notes.txt").write_text("the user's own file")
    assert runs.prepare(str(tmp_path), "googlenet_digits", overwrite=True) == str(run_dir)
    assert sorted(os.listdir(run_dir)) == ["notes.txt"]  # metrics, models, history, logs/ and backup/ are gone
    assert not runs.is_finished(str(run_dir)) and not runs.is_interrupted(str(run_dir))


def test_only_an_unfinished_run_with_backup_state_is_interrupted(tmp_path):
    assert not runs.is_interrupted(str(tmp_path))  # empty
    (tmp_path / "history.csv").write_text("epoch\n0\n")
    assert not runs.is_interrupted(str(tmp_path))  # a history but no backup state
    (tmp_path / "backup").mkdir()
    assert runs.is_interrupted(str(tmp_path))
    (tmp_path / "metrics.json").write_text("{}")
    assert not runs.is_interrupted(str(tmp_path))  # finished, even with its backup state left behind


def test_a_worker_that_is_not_the_chief_writes_under_workers(tmp_path, monkeypatch):
    cluster = {"worker": ["localhost:1", "localhost:2"]}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 1}}))
    expected = os.path.join(str(tmp_path), "googlenet_digits", "workers", "worker_1")
    assert runs.run_directory(str(tmp_path), "googlenet_digits") == expected
    assert runs.prepare(str(tmp_path), "googlenet_digits") == expected and os.path.isdir(expected)
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 0}}))
    assert runs.run_directory(str(tmp_path), "googlenet_digits") == os.path.join(str(tmp_path), "googlenet_digits")


def _fit_tiny(backup_dir, epochs, callbacks=()):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.ones((4, 2)), np.ones((4, 1)), epochs=epochs, batch_size=4, verbose=0,
              callbacks=[keras.callbacks.BackupAndRestore(str(backup_dir), double_checkpoint=True), *callbacks])


class _Interrupt(Exception):
    pass


class _StopAtEpoch(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch, self.started = epoch, []

    def on_epoch_begin(self, epoch, logs=None):
        self.started.append(epoch)
        if epoch == self.epoch:
            raise _Interrupt()


def test_completed_epochs_are_those_keras_backup_and_restore_resumes_after(tmp_path):
    backup = tmp_path / "backup"
    assert runs.completed_epochs(str(backup)) == 0  # no state yet
    with pytest.raises(_Interrupt):
        _fit_tiny(backup, epochs=5, callbacks=[_StopAtEpoch(3)])  # epochs 0, 1, 2 completed
    assert runs.completed_epochs(str(backup)) == 3
    resumed = _StopAtEpoch(None)
    _fit_tiny(backup, epochs=5, callbacks=[resumed])
    assert resumed.started == [3, 4]  # Keras resumes after the epochs counted


def test_completed_epochs_falls_back_to_the_previous_metadata_and_else_to_zero(tmp_path):
    (tmp_path / "training_metadata.json.bkp").write_text('{"epoch": 2, "batch": 0}')
    assert runs.completed_epochs(str(tmp_path)) == 2  # the current file lost: the previous checkpoint's
    (tmp_path / "training_metadata.json").write_text('{"epoch": 3, "batch": 0}')
    assert runs.completed_epochs(str(tmp_path)) == 3  # the current file wins
    (tmp_path / "training_metadata.json").write_text('{"batch": 0}')
    assert runs.completed_epochs(str(tmp_path)) == 0  # no epoch recorded: none completed


def test_history_values_are_the_epochs_and_values_of_one_column(tmp_path):
    path = tmp_path / "history.csv"
    assert runs.history_values(str(path), "val_accuracy") == []  # no history yet
    write_history(path, [["0", "2.3", "0.25"], ["1.0", "1.9", ""], ["2", "1.5", "0.75"]])
    assert runs.history_values(str(path), "val_accuracy") == [(0, 0.25), (2, 0.75)]  # an empty value is left out
    assert runs.history_values(str(path), "loss") == [(0, 2.3), (1, 1.9), (2, 1.5)]
    assert runs.history_values(str(path), "val_main_accuracy") == []  # no such column


def test_truncating_the_history_keeps_the_header_and_the_epochs_before_the_resumed_one(tmp_path):
    path = tmp_path / "history.csv"
    rows = [["0", "2.3", "0.25"], ["1", "1.9", "0.5"], ["2.0", "1.5", "0.75"], ["3", "1.2", "0.5"]]
    write_history(path, rows)
    runs.truncate_history(str(path), 2)  # resumed at epoch 2: rows 2 and 3 are run again
    assert read_rows(path) == [HEADER, rows[0], rows[1]]
    runs.truncate_history(str(path), 2)
    assert read_rows(path) == [HEADER, rows[0], rows[1]]
    runs.truncate_history(str(path), 0)  # resumed from the start
    assert read_rows(path) == [HEADER]


def test_truncating_a_missing_or_empty_history_leaves_it_so(tmp_path):
    path = tmp_path / "history.csv"
    runs.truncate_history(str(path), 1)
    assert not path.exists()
    path.write_text("")
    runs.truncate_history(str(path), 1)
    assert path.read_text() == ""
    write_history(path, [["0", "2.3", "0.25"], [], ["1", "1.9", "0.5"]])  # a blank line is dropped, not parsed
    runs.truncate_history(str(path), 1)
    assert read_rows(path) == [HEADER, ["0", "2.3", "0.25"]]
