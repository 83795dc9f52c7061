"""The `inception-tf` command: what it prints, and its one-line refusals (run in process)."""

import dataclasses
import inspect
import sys

import pytest

from inception_tf import cli
from inception_tf.training.config import TrainConfig


def test_costs_prints_slide_11(run_cli):
    result = run_cli("costs")
    assert result.returncode == 0, result.stderr
    assert "120,422,400" in result.stdout
    assert "2,408,448 + 10,035,200 = 12,443,648" in result.stdout
    assert "9.7x fewer" in result.stdout


@pytest.mark.slow
def test_costs_googlenet_table(run_cli):
    result = run_cli("costs", "--model", "googlenet")
    assert result.returncode == 0, result.stderr
    assert "inception (4e)" in result.stdout and "169,996,288" in result.stdout
    assert "1.583 G multiply-adds" in result.stdout


def test_bad_flag_value_is_one_line_and_nonzero(run_cli):
    result = run_cli("costs", "--model", "alexnet")
    assert result.returncode == 2
    assert "invalid choice: 'alexnet'" in result.stderr


def test_bad_image_size_for_slidenet(run_cli):
    result = run_cli("costs", "--model", "slidenet", "--image-size", "64")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "inception-tf costs: error: SlideNet takes 28x28 inputs. Received: --image-size=64"
    )


def test_train_flags_are_the_config_fields_with_their_short_spellings():
    parser = cli.build_parser()
    config = cli._train_config(parser.parse_args(["train"]))
    assert config == TrainConfig()
    spelled = cli._train_config(parser.parse_args(["train", "--no-aux", "--jit", "--no-shuffle", "--ema",
                                                   "--freeze-epochs", "1", "--weights", "w.onnx"]))
    assert (spelled.aux_logits, spelled.jit_compile, spelled.shuffle, spelled.ema, spelled.freeze_epochs) == (
        False, True, False, True, 1)
    assert cli._train_config(parser.parse_args(["train", "--aux-logits", "--no-jit-compile"])) == TrainConfig()


def test_train_help_lists_every_field_with_its_help(run_cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")  # one line per flag: argparse wraps to the terminal's width
    result = run_cli("train", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())  # argparse wraps the help lines
    for field in dataclasses.fields(TrainConfig):
        assert "--" + field.name.replace("_", "-") in text, field.name
        assert " ".join(field.metadata["help"].split()) in text, field.name


def test_train_verbose_takes_keras_three_levels():
    parser = cli.build_parser()
    for level in (0, 1, 2):  # model.fit's verbose: silent, progress bar, one line per epoch
        assert cli._train_config(parser.parse_args(["train", "--verbose", str(level)])).verbose == level


@pytest.mark.parametrize("level", ["3", "-1"])
def test_train_verbose_refuses_other_levels(run_cli, level):
    result = run_cli("train", "--verbose", level)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith(
        f"inception-tf train: error: argument --verbose: invalid choice: {level} (choose from 0, 1, 2)")


def test_image_size_for_slide_11_is_refused(run_cli):
    result = run_cli("costs", "--image-size", "64")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "inception-tf costs: error: slide11 counts slide 11's fixed 28x28x192 example; image_size (--image-size) "
        "applies to a model. Received: image_size=64"
    )


def _defaults(function):
    return {name: parameter.default for name, parameter in inspect.signature(function).parameters.items()
            if parameter.default is not inspect.Parameter.empty}


def test_the_commands_defaults_are_the_librarys():
    from inception_tf.evaluation import evaluate
    from inception_tf.serving import predict, runs

    def parsed(*argv):
        return vars(cli.build_parser().parse_args(list(argv)))

    export = parsed("export", "runs/x")
    library = _defaults(runs.export_run)
    assert {flag: export[flag] for flag in ("format", "version", "precision", "calibration", "quantize",
                                            "calibration_images", "calibration_split")} == {
        flag: library[flag] for flag in ("format", "version", "precision", "calibration", "quantize",
                                         "calibration_images", "calibration_split")}
    assert export["output_dir"] == library["export_dir"] == parsed("train")["export_dir"]
    assert export["top_k"] == parsed("predict", "--model", "m", "x.png")["top_k"] == _defaults(predict.classify)["top_k"]
    assert parsed("evaluate", "--model", "m")["batch_size"] == _defaults(evaluate.evaluate)["batch_size"]


def test_the_train_logger_writes_to_whatever_stderr_is_at_the_time(monkeypatch):
    import io
    import logging

    handler = logging.StreamHandler(cli._StderrNow())  # as `_train` makes it, before `main` swaps sys.stderr
    later = io.StringIO()
    monkeypatch.setattr(sys, "stderr", later)
    flushed = []
    monkeypatch.setattr(later, "flush", lambda: flushed.append(True))
    handler.emit(logging.LogRecord("inception_tf", logging.INFO, __file__, 1, "Strategy: x", None, None))
    assert later.getvalue() == "Strategy: x\n" and flushed  # each line goes out as it is logged
