"""Each command's handler: the flags reach the one library function it calls, and what it prints.

The library functions are replaced by recorders, so these tests run in milliseconds and show the
command line's own part: which arguments go where, the defaults it passes, the lines it prints and
its exit codes. What the library functions do is tested with them (tests/training, tests/serving, ...).
"""

import json
import logging
import re
import types

import pytest

from inception_tf import runtime
from inception_tf.geometry import EVALUATION_BATCH_SIZE
from inception_tf.evaluation import evaluate
from inception_tf.models import plot, pretrained
from inception_tf.serving import export, predict
from inception_tf.serving import runs as serving_runs
from inception_tf.training import train as training
from inception_tf.training.config import TrainConfig


class Recorder:
    """Stands in for a library function: records each call's arguments, returns `result` (or raises it)."""

    def __init__(self, result=None):
        self.result, self.calls = result, []

    def __call__(self, *args, **kwargs):
        self.calls.append((args, kwargs))
        if isinstance(self.result, BaseException):
            raise self.result
        return self.result(*args, **kwargs) if callable(self.result) else self.result


@pytest.fixture
def quiet_runtime(monkeypatch):
    """`runtime.configure` recorded, not run: the process's TensorFlow settings stay as the session set them."""
    recorder = Recorder()
    monkeypatch.setattr(runtime, "configure", recorder)
    return recorder


# ---- train ------------------------------------------------------------------------------------

def _finished_run(tmp_path):
    run_dir = str(tmp_path / "googlenet_digits")
    metrics = {"test": {"accuracy": 0.96667, "loss": 0.12345}, "epochs_run": 12, "wall_time_s": 141.6,
               "strategy": "_DefaultDistributionStrategy", "replicas": 1}
    artifacts = {"run_dir": run_dir, "model": run_dir + "/model.keras", "best_model": run_dir + "/best.keras",
                 "metrics": run_dir + "/metrics.json", "history_csv": run_dir + "/history.csv",
                 "tensorboard": run_dir + "/logs"}
    return types.SimpleNamespace(metrics=metrics, artifacts=artifacts)


def test_train_passes_its_config_prints_the_result_and_exports_the_run(run_cli, quiet_runtime, monkeypatch, tmp_path):
    history = _finished_run(tmp_path)
    fit, export_run = Recorder(history), Recorder(str(tmp_path / "saved" / "googlenet_digits" / "1"))
    monkeypatch.setattr(training, "train", fit)
    monkeypatch.setattr(serving_runs, "export_run", export_run)
    result = run_cli("train", "--epochs", "3", "--momentum", "0", "--export-dir", tmp_path / "saved")
    assert result.returncode == 0, result.stderr
    assert fit.calls == [((TrainConfig(epochs=3, momentum=0.0),), {})]
    assert export_run.calls == [((history.artifacts["run_dir"], str(tmp_path / "saved")), {})]
    run_dir = history.artifacts["run_dir"]
    assert result.stdout.splitlines() == [
        "test accuracy 0.9667 (loss 0.1235) after 12 epochs in 142 s on _DefaultDistributionStrategy x1",
        f"model:            {run_dir}/model.keras",
        f"best model:       {run_dir}/best.keras",
        f"metrics:          {run_dir}/metrics.json",
        f"history:          {run_dir}/history.csv",
        f"TensorBoard logs: {run_dir}/logs",
        f"SavedModel:       {tmp_path}/saved/googlenet_digits/1",
    ]
    assert quiet_runtime.calls == [((), {"tensorflow_logs": False})]


def test_train_exports_nothing_with_an_empty_export_dir_or_on_a_worker(run_cli, quiet_runtime, monkeypatch, tmp_path):
    export_run = Recorder("never")
    monkeypatch.setattr(training, "train", Recorder(_finished_run(tmp_path)))
    monkeypatch.setattr(serving_runs, "export_run", export_run)
    assert run_cli("train", "--export-dir", "").returncode == 0
    monkeypatch.setattr(training.distribute, "is_chief", lambda: False)
    result = run_cli("train")
    assert result.returncode == 0 and "SavedModel:" not in result.stdout
    assert export_run.calls == []


def test_train_logs_the_packages_messages_as_bare_lines_once(run_cli, quiet_runtime, monkeypatch, tmp_path):
    def fit(config):
        logging.getLogger("inception_tf.training.train").info("Resuming from epoch 3")
        return _finished_run(tmp_path)

    monkeypatch.setattr(training, "train", fit)
    result = run_cli("train", "--export-dir", "")
    assert result.stderr.splitlines() == ["Resuming from epoch 3"]  # the message alone: no level, no logger name
    logger = logging.getLogger("inception_tf")
    handler = logging.StreamHandler()
    monkeypatch.setattr(logger, "handlers", [handler])  # a handler the application set up is kept, none added
    from inception_tf import cli

    cli.main(["train", "--export-dir", ""])
    assert logger.handlers == [handler]


def test_a_diverged_run_ends_in_one_line_and_exit_code_3(run_cli, quiet_runtime, monkeypatch):
    monkeypatch.setattr(training, "train", Recorder(training.TrainingDiverged("loss became NaN at epoch 2")))
    result = run_cli("train")
    assert (result.returncode, result.stdout) == (3, "")
    assert result.stderr.splitlines() == ["inception-tf train: error: loss became NaN at epoch 2"]


def _backup_with(run_dir, epochs):
    backup = run_dir / "backup"
    backup.mkdir(parents=True)
    (backup / "training_metadata.json").write_text(json.dumps({"epoch": epochs, "batch": -1}))


def test_ctrl_c_in_training_names_the_epoch_and_the_command_that_resumes(run_cli, quiet_runtime, monkeypatch,
                                                                          tmp_path):
    monkeypatch.setattr(training, "train", Recorder(KeyboardInterrupt()))
    argv = ("train", "--output-dir", str(tmp_path), "--epochs", "5")
    result = run_cli(*argv)
    assert result.returncode == 130
    assert result.stderr.splitlines() == [
        f"inception-tf train: interrupted before an epoch of {tmp_path}/googlenet_digits completed; "
        f"`inception-tf train --output-dir {tmp_path} --epochs 5` starts it again"]
    _backup_with(tmp_path / "googlenet_digits", 2)
    result = run_cli(*argv)
    assert result.returncode == 130
    assert result.stderr.splitlines() == [
        f"inception-tf train: interrupted; {tmp_path}/googlenet_digits keeps 2 of 5 epochs: "
        f"`inception-tf train --output-dir {tmp_path} --epochs 5` resumes from epoch 3"]


def test_ctrl_c_elsewhere_says_interrupted_and_debug_lets_it_through(run_cli, quiet_runtime, monkeypatch):
    monkeypatch.setattr(predict, "classify", Recorder(KeyboardInterrupt()))
    result = run_cli("predict", "--model", "imagenet", "photo.jpg")
    assert (result.returncode, result.stderr.splitlines()) == (130, ["inception-tf predict: interrupted"])
    with pytest.raises(KeyboardInterrupt):
        run_cli("--debug", "predict", "--model", "imagenet", "photo.jpg")
    monkeypatch.setattr(predict, "classify", Recorder(OSError("disk on fire")))
    with pytest.raises(OSError, match="disk on fire"):
        run_cli("--debug", "predict", "--model", "imagenet", "photo.jpg")
    assert run_cli("predict", "--model", "imagenet", "photo.jpg").returncode == 2


def test_tf_logs_reaches_the_runtime_settings(run_cli, quiet_runtime, monkeypatch):
    monkeypatch.setattr(plot, "plot", Recorder("diagram.png"))
    assert run_cli("--tf-logs", "plot", "--output", "diagram.png").returncode == 0
    assert quiet_runtime.calls == [((), {"tensorflow_logs": True})]


# ---- export, predict, plot, convert, evaluate ------------------------------------------------------

def test_export_passes_every_flag_to_export_run_and_prints_the_path(run_cli, quiet_runtime, monkeypatch, tmp_path):
    names = tmp_path / "names.txt"
    names.write_text("cat\n\ndog \nox\nX\n")  # blank lines skipped, other spaces and letters kept
    export_run = Recorder(str(tmp_path / "out" / "digits.onnx"))
    monkeypatch.setattr(serving_runs, "export_run", export_run)
    result = run_cli("export", "runs/googlenet_digits", "--format", "onnx", "--name", "digits", "--output-dir",
                     tmp_path / "out", "--version", "4", "--class-names", names, "--top-k", "2", "--overwrite",
                     "--quantize", "int8", "--calibration", "digits", "--calibration-images", "16",
                     "--calibration-split", "train[:50%]", "--data-dir", tmp_path / "tfds")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{tmp_path}/out/digits.onnx\n"
    assert export_run.calls == [(("runs/googlenet_digits", str(tmp_path / "out")), dict(
        name="digits", format="onnx", version=4, precision="float32", quantize="int8", calibration="digits",
        calibration_images=16, calibration_split="train[:50%]", calibration_data_dir=str(tmp_path / "tfds"),
        class_names=["cat", "dog ", "ox", "X"], top_k=2, overwrite=True))]


def test_export_defaults_are_a_savedmodel_in_saved_models_with_top_5(run_cli, quiet_runtime, monkeypatch):
    export_run = Recorder("saved_models/googlenet_digits/1")
    monkeypatch.setattr(serving_runs, "export_run", export_run)
    assert run_cli("export", "runs/googlenet_digits").returncode == 0
    (args, kwargs), = export_run.calls
    assert args == ("runs/googlenet_digits", "saved_models")
    assert kwargs == dict(name=None, format="savedmodel", version=None, precision="float32", quantize=None,
                          calibration=None, calibration_images=128, calibration_split="train",
                          calibration_data_dir=None, class_names=None, top_k=5, overwrite=False)


@pytest.mark.parametrize("has_bfloat16,precision,noted", [
    (False, "bfloat16", True), (True, "bfloat16", False), (False, "float32", False)])
def test_export_notes_a_bfloat16_savedmodel_on_a_cpu_without_bfloat16(run_cli, quiet_runtime, monkeypatch,
                                                                      has_bfloat16, precision, noted):
    monkeypatch.setattr(serving_runs, "export_run", Recorder("saved_models/m/1"))
    monkeypatch.setattr(export, "cpu_has_bfloat16", lambda: has_bfloat16)
    result = run_cli("export", "m.keras", "--precision", precision)
    assert (result.returncode, result.stdout) == (0, "saved_models/m/1\n")
    note = "inception-tf export: note: this CPU has no AVX-512 BF16 or AMX, so the bfloat16 SavedModel runs slower"
    assert result.stderr.startswith(note) if noted else result.stderr == ""


def test_predict_passes_its_flags_and_prints_ranked_rows(run_cli, quiet_runtime, monkeypatch):
    classify = Recorder([("a.png", [("tabby", 0.71234), ("tiger cat", 0.2)]), ("b.jpg", [("7", 1.0)])])
    monkeypatch.setattr(predict, "classify", classify)
    result = run_cli("predict", "--model", "saved_models/digits", "--version", "2", "--top-k", "2", "a.png", "b.jpg")
    assert result.returncode == 0, result.stderr
    assert classify.calls == [(("saved_models/digits", ["a.png", "b.jpg"]), {"top_k": 2, "version": 2})]
    assert result.stdout.splitlines() == [
        "a.png",
        "  1. tabby                    0.7123",
        "  2. tiger cat                0.2000",
        "b.jpg",
        "  1. 7                        1.0000",
    ]
    run_cli("predict", "--model", "imagenet", "c.png")
    assert classify.calls[1] == (("imagenet", ["c.png"]), {"top_k": 5, "version": None})


def test_predict_needs_a_model_and_an_image(run_cli):
    assert "the following arguments are required: --model" in run_cli("predict", "a.png").stderr
    assert "the following arguments are required: images" in run_cli("predict", "--model", "imagenet").stderr


def test_plot_draws_the_module_by_default_and_needs_an_output(run_cli, quiet_runtime, monkeypatch):
    draw = Recorder("module.svg")
    monkeypatch.setattr(plot, "plot", draw)
    result = run_cli("plot", "--output", "module.svg")
    assert (result.returncode, result.stdout) == (0, "module.svg\n")
    run_cli("plot", "--model", "googlenet", "--output", "g.png")
    assert draw.calls == [(("module", "module.svg"), {}), (("googlenet", "g.png"), {})]
    result = run_cli("plot")
    assert result.returncode == 2 and "the following arguments are required: --output" in result.stderr


def test_convert_prints_the_file_its_size_and_how_to_load_it(run_cli, quiet_runtime, monkeypatch, tmp_path):
    def write(source, output, overwrite):
        with open(output, "wb") as handle:
            handle.write(b"\0" * 12345)
        return output

    convert = Recorder(write)
    monkeypatch.setattr(pretrained, "convert_onnx", convert)
    output = str(tmp_path / "w.weights.h5")
    result = run_cli("convert", "googlenet-7.onnx", "--output", output, "--overwrite")
    assert result.returncode == 0, result.stderr
    assert convert.calls == [(("googlenet-7.onnx", output), {"overwrite": True})]
    line, = result.stdout.splitlines()
    printed = re.fullmatch(r"(.*) \(12,345 bytes, ([0-9.]+) s\); load it with GoogLeNet\(weights=(.*)\)", line)
    assert printed and printed[1] == output and printed[3] == repr(output), line
    assert float(printed[2]) < 60  # the seconds the conversion took, not a clock reading
    monkeypatch.chdir(tmp_path)
    run_cli("convert", "googlenet-7.onnx")
    assert convert.calls[1] == (("googlenet-7.onnx", "googlenet_imagenet.weights.h5"), {"overwrite": False})


def test_evaluate_passes_its_flags_and_defaults_to_the_models_protocol(run_cli, quiet_runtime, monkeypatch):
    run = Recorder()
    monkeypatch.setattr(evaluate, "run_cli", run)
    assert run_cli("evaluate", "--model", "runs/googlenet_digits").returncode == 0
    assert run.calls[0] == (("runs/googlenet_digits", "digits", "test", [None]), dict(
        batch_size=EVALUATION_BATCH_SIZE, data_dir=None, limit=None, report_path=None, report="json",
        from_logits=False))
    result = run_cli("evaluate", "--model", "imagenet", "--dataset", "imagenet2012", "--split", "validation",
                     "--crops", "model", "10", "144", "--batch-size", "20", "--data-dir", "/data", "--limit", "50",
                     "--output", "report.json", "--report", "table3", "--from-logits")
    assert result.returncode == 0, result.stderr
    assert run.calls[1] == (("imagenet", "imagenet2012", "validation", [None, 10, 144]), dict(
        batch_size=20, data_dir="/data", limit=50, report_path="report.json", report="table3", from_logits=True))


def test_evaluate_refuses_other_crop_counts_and_names_the_choices(run_cli):
    result = run_cli("evaluate", "--model", "imagenet", "--crops", "5")
    assert result.returncode == 2
    assert "argument --crops: invalid choice: '5' (choose from model, 1, 10, 144)" in result.stderr
    assert "--crops {model,1,10,144}" in run_cli("evaluate", "--help").stdout
    assert "the following arguments are required: --model" in run_cli("evaluate").stderr


@pytest.mark.parametrize("argv,message", [
    (["train", "--epochs", "0"], "argument --epochs: expected a positive integer, got '0'"),
    (["train", "--freeze-epochs", "-1"], "argument --freeze-epochs: expected a non-negative integer, got '-1'"),
    (["train", "--learning-rate", "0"], "argument --learning-rate: expected a positive number, got '0'"),
    (["train", "--learning-rate", "inf"], "argument --learning-rate: expected a positive number, got 'inf'"),
    (["train", "--momentum", "1"], "argument --momentum: expected a number in [0, 1), got '1'"),
    (["train", "--dropout-rate", "-0.5"], "argument --dropout-rate: expected a number in [0, 1), got '-0.5'"),
    (["train", "--seed", "x"], "argument --seed: invalid int value: 'x'"),
])
def test_flag_values_outside_their_range_are_refused_by_name(run_cli, argv, message):
    result = run_cli(*argv)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == f"inception-tf train: error: {message}"


@pytest.mark.parametrize("argv,field,value", [
    (["--epochs", "1"], "epochs", 1), (["--freeze-epochs", "0"], "freeze_epochs", 0),
    (["--learning-rate", "1e-9"], "learning_rate", 1e-9), (["--momentum", "0"], "momentum", 0.0),
    (["--dropout-rate", "0.999"], "dropout_rate", 0.999), (["--seed", "-3"], "seed", -3),
    (["--verbose", "0"], "verbose", 0),
])
def test_flag_values_at_the_edges_of_their_range_are_kept(argv, field, value):
    from inception_tf import cli

    assert getattr(cli._train_config(cli.build_parser().parse_args(["train", *argv])), field) == value


def test_the_command_is_required_and_named_in_the_usage(run_cli):
    result = run_cli()
    assert result.returncode == 2
    assert result.stderr.splitlines()[0].startswith("usage: inception-tf [-h]")
    assert result.stderr.splitlines()[-1] == "inception-tf: error: the following arguments are required: COMMAND"


def test_ctrl_c_while_the_runs_files_are_half_written_still_ends_in_one_line(run_cli, quiet_runtime, monkeypatch,
                                                                              tmp_path):
    monkeypatch.setattr(training, "train", Recorder(KeyboardInterrupt()))
    backup = tmp_path / "googlenet_digits" / "backup"
    backup.mkdir(parents=True)
    (backup / "training_metadata.json").write_text('{"epoch": ')  # cut off mid-write
    result = run_cli("train", "--output-dir", str(tmp_path))
    assert (result.returncode, result.stderr.splitlines()) == (130, ["inception-tf train: interrupted"])


def test_main_reads_the_process_arguments_when_given_none(monkeypatch, capsys):
    from inception_tf import cli

    monkeypatch.setattr("sys.argv", ["inception-tf", "costs", "--model", "slidenet", "--image-size", "64"])
    assert cli.main() == 2
    assert capsys.readouterr().err.splitlines() == [
        "inception-tf costs: error: SlideNet takes 28x28 inputs. Received: --image-size=64"]


def test_python_dash_m_runs_the_command_and_exits_with_its_code(monkeypatch, capsys):
    import runpy
    import warnings

    monkeypatch.setattr("sys.argv", ["inception-tf", "costs", "--model", "slidenet", "--image-size", "64"])
    with warnings.catch_warnings(), pytest.raises(SystemExit) as exit_:
        warnings.simplefilter("ignore", RuntimeWarning)  # the module is imported already, as in any test
        runpy.run_module("inception_tf.cli", run_name="__main__")
    assert exit_.value.code == 2
    assert capsys.readouterr().err.startswith("inception-tf costs: error: SlideNet takes 28x28 inputs.")


def test_costs_prints_slide_11_line_by_line(run_cli):
    assert run_cli("costs").stdout.splitlines() == [
        "Slide 11: a 28x28x192 input through 32 5x5 filters",
        "  directly:                   120,422,400 multiply-adds",  # 28*28*192*5*5*32
        "  1x1 reduction to 16 first: 2,408,448 + 10,035,200 = 12,443,648 multiply-adds",  # 28*28*192*16, 28*28*16*25*32
        "  9.7x fewer",
    ]


def test_export_help_names_the_values_of_its_calibration_flags(run_cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")
    text = run_cli("export", "--help").stdout
    assert "--calibration DATASET" in text and "--calibration-images N" in text


def test_config_flags_take_postponed_annotations():
    """A config class whose annotations are strings (`from __future__ import annotations`) gets the same flags."""
    import argparse
    import dataclasses

    from inception_tf import cli

    @dataclasses.dataclass
    class Config:
        shuffle: "bool" = dataclasses.field(default=True, metadata={"help": "shuffle"})
        epochs: "int" = dataclasses.field(default=2, metadata={"help": "epochs"})

    parser = argparse.ArgumentParser()
    cli._add_config_flags(parser, Config)
    assert vars(parser.parse_args(["--no-shuffle", "--epochs", "3"])) == {"shuffle": False, "epochs": 3}
    with pytest.raises(SystemExit):
        parser.parse_args(["--epochs", "0"])
