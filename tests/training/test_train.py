"""Training: run directories, resumption after SIGKILL, divergence, the default CLI run."""

import csv
import json
import math
import os
import re
import signal
import subprocess
import sys
import time

import keras
import pytest

from inception_tf.models.preprocessing import model_record
from inception_tf.training import train
from inception_tf.training.train import TrainConfig


def quick(tmp_path, tfds_dir, **overrides):
    settings = dict(epochs=2, steps_per_epoch=2, batch_size=8, output_dir=str(tmp_path), data_dir=tfds_dir,
                    verbose=0)
    settings.update(overrides)
    return TrainConfig(**settings)


def read_history(path):
    with open(path) as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
def test_run_directory_holds_every_artifact(tmp_path, tfds_dir):
    history = train.train(quick(tmp_path, tfds_dir))
    artifacts = history.artifacts
    assert artifacts["run_dir"] == str(tmp_path / "googlenet_digits")
    metrics = json.loads(open(artifacts["metrics"]).read())
    assert metrics == history.metrics
    assert metrics["epochs_run"] == 2 and metrics["resumed_from_epoch"] == 0
    assert metrics["strategy"] == "_DefaultDistributionStrategy" and metrics["replicas"] == 1
    assert metrics["precision"] == "float32" and metrics["image_size"] == 32
    assert set(metrics["test"]) == {"accuracy", "loss"} and set(metrics["validation"]) >= {"main_accuracy"}
    assert metrics["class_names"] == list("0123456789")
    assert [row["epoch"] for row in read_history(artifacts["history_csv"])] == ["0", "1"]
    assert os.listdir(artifacts["tensorboard"])
    assert not os.path.exists(os.path.join(artifacts["run_dir"], "backup"))  # removed when training ends
    assert not [name for name in os.listdir(artifacts["run_dir"]) if name.startswith(".tmp-")]
    model = keras.models.load_model(artifacts["model"])
    assert model.output_shape == (None, 10)  # the inference model: main output only
    # What training records for the model's users: its pipeline's test geometry and the dataset's names.
    assert model_record(model) == ("tf", "square", list("0123456789"))
    best = keras.models.load_model(artifacts["best_model"])
    assert best.output_shape == (None, 10)


@pytest.mark.slow
def test_mixed_bfloat16_and_ema(tmp_path, tfds_dir):
    history = train.train(quick(tmp_path, tfds_dir, precision="mixed_bfloat16", ema=True, epochs=1,
                                aux_logits=False))
    assert history.metrics["precision"] == "mixed_bfloat16"
    assert math.isfinite(history.metrics["test"]["loss"])
    assert keras.config.dtype_policy().name == "float32"  # restored afterwards


@pytest.mark.slow
def test_slidenet_trains_with_its_source_recipe(tmp_path, tfds_dir):
    # 140 million weights: a few examples per split keep the run short.
    history = train.train(quick(tmp_path, tfds_dir, model="slidenet", epochs=1, train_split="train[:16]",
                                validation_split="train[16:24]", test_split="test[:8]"))
    model = keras.models.load_model(history.artifacts["model"])
    assert model.input_shape == (None, 28, 28, 1)
    assert history.metrics["config"]["model"] == "slidenet"


@pytest.mark.slow
def test_sigkill_mid_training_resumes_from_the_last_backup(tmp_path, tfds_dir, run_cli):
    args = ["train", "--epochs", "5", "--steps-per-epoch", "6", "--batch-size", "8", "--output-dir", str(tmp_path),
            "--data-dir", tfds_dir, "--verbose", "2", "--export-dir", ""]
    history_csv = tmp_path / "googlenet_digits" / "history.csv"
    # SIGKILL ends a process: the run it kills is one of its own; the same command resumes here.
    process = subprocess.Popen([sys.executable, "-m", "inception_tf.cli", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    while time.time() < deadline and process.poll() is None:
        if history_csv.exists() and len(read_history(history_csv)) >= 2:
            break
        time.sleep(0.2)
    assert process.poll() is None, "training ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_after = len(read_history(history_csv))
    assert killed_after >= 2 and not (tmp_path / "googlenet_digits" / "metrics.json").exists()

    resumed = run_cli(*args)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert re.search(r"^Resuming from epoch (\d+) of 5 \((\d+) completed", resumed.stderr, re.M), resumed.stderr[-2000:]
    metrics = json.loads((tmp_path / "googlenet_digits" / "metrics.json").read_text())
    assert metrics["resumed_from_epoch"] >= 2  # not from epoch 0
    assert metrics["epochs_run"] == 5
    assert metrics["epochs_run_by_this_process"] == 5 - metrics["resumed_from_epoch"]
    epochs = [int(row["epoch"]) for row in read_history(history_csv)]
    # The epochs before the kill, then the rest; an interrupted epoch is redone from its first batch.
    assert epochs[-1] == 4 and epochs[epochs.index(metrics["resumed_from_epoch"]) - 1] == metrics["resumed_from_epoch"] - 1
    assert epochs.count(0) == 1


@pytest.mark.slow
def test_default_cli_run_reaches_95_percent_on_digits(tmp_path, run_cli):
    start = time.perf_counter()
    result = run_cli("train", "--output-dir", tmp_path / "runs", "--export-dir", tmp_path / "saved", "--verbose", "2")
    elapsed = time.perf_counter() - start
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((tmp_path / "runs" / "googlenet_digits" / "metrics.json").read_text())
    assert metrics["model"] == "googlenet" and metrics["dataset"] == "digits"
    assert metrics["config"]["aux_logits"] and metrics["image_size"] == 32
    assert metrics["test"]["accuracy"] >= 0.95, metrics["test"]
    assert "test accuracy" in result.stdout
    assert str(tmp_path / "runs" / "googlenet_digits" / "model.keras") in result.stdout
    exported = tmp_path / "saved" / "googlenet_digits" / "1"
    assert f"SavedModel:       {exported}" in result.stdout
    assert (exported / "saved_model.pb").exists() and (exported / "assets" / "class_names.txt").exists()
    assert "Strategy:" in result.stderr
    print(f"\n  default run: test accuracy {metrics['test']['accuracy']:.4f} in {elapsed:.0f} s")
    # The model's own protocol (evaluate without --crops) is the run's test accuracy.
    evaluated = run_cli("evaluate", "--model", tmp_path / "runs" / "googlenet_digits", "--dataset", "digits")
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    lines = evaluated.stdout.splitlines()
    report = json.loads("\n".join(lines[lines.index("{"):]))["model"]
    assert report["geometry"] == "square"
    assert abs(report["top1_accuracy"] - metrics["test"]["accuracy"]) <= 0.003, (report, metrics["test"])


@pytest.mark.parametrize(
    "args,message",
    [(["--epochs", "0"], "expected a positive integer"), (["--learning-rate", "abc"], "expected a positive number"),
     (["--strategy", "gpu"], "invalid choice"), (["--precision", "fp8"], "invalid choice")],
)
def test_bad_flags_exit_nonzero_with_one_line(args, message, run_cli):
    result = run_cli("train", *args)
    assert result.returncode == 2
    assert message in result.stderr.strip().splitlines()[-1]


@pytest.mark.slow
def test_diverging_run_stops_with_one_line_and_keeps_no_model(tmp_path, tfds_dir, run_cli):
    result = run_cli("train", "--learning-rate", "1e12", "--epochs", "3", "--steps-per-epoch", "4", "--batch-size", "8",
                     "--no-aux", "--output-dir", tmp_path, "--data-dir", tfds_dir, "--verbose", "0")
    assert result.returncode == 3
    assert re.fullmatch(r"inception-tf train: error: Training diverged: the loss became .* at epoch 1, batch \d.*",
                        result.stderr.strip().splitlines()[-1]), result.stderr[-2000:]
    assert not os.path.exists(tmp_path / "googlenet_digits" / "model.keras")
