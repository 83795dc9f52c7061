"""The command line's failure modes, in process: each ends in one line `inception-tf CMD: error: ...`.

Each row is a command line, a condition the test prepares (a missing or corrupt file, a directory
where a file belongs, a disk that refuses writes, no network) and the exit code and message
expected. Tests run as root, where file modes do not stop reads, so a refused read or write is
an OSError raised where the library opens or renames a file.
"""

import dataclasses
import errno
import json
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from inception_tf import cli, files
from inception_tf.models import published_weights
from inception_tf.serving import image_files, predict
from inception_tf.training import train as training
from tests.models import weights_files


@pytest.fixture(scope="module")
def tiny_keras(tmp_path_factory):
    """A `.keras` file of a 3-class model on 8x8 RGB images in [0, 255] (`ImagePreprocessing("tf")`)."""
    from inception_tf import ImagePreprocessing

    path = str(tmp_path_factory.mktemp("models") / "tiny.keras")
    _plain_model(ImagePreprocessing("tf")).save(path)
    return path


def _plain_model(*front):
    """A 3-class softmax model on 8x8 RGB images, with the `front` layers first."""
    inputs = keras.Input((8, 8, 3))
    x = inputs
    for layer in front:
        x = layer(x)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(keras.layers.GlobalAveragePooling2D()(x)))


def _raise(error):
    def raiser(*args, **kwargs):
        raise error
    return raiser


def _offline(tmp_path, monkeypatch):
    # An empty Keras cache and an origin that cannot be fetched: what a machine without network meets.
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    record = dataclasses.replace(published_weights.IMAGENET, url=(tmp_path / "nowhere" / "googlenet-7.onnx").as_uri())
    monkeypatch.setitem(published_weights.PUBLISHED, "imagenet", record)


def _refuse_reads(monkeypatch):
    monkeypatch.setattr(image_files, "open", _raise(PermissionError(errno.EACCES, "Permission denied", "image.png")),
                        raising=False)


def _full_disk(monkeypatch):
    # keras.export.ExportArchive() makes an archive of its backend's class, whose write_out writes the files.
    archive_class = type(keras.export.ExportArchive())
    monkeypatch.setattr(archive_class, "write_out", _raise(OSError(errno.ENOSPC, "No space left on device")))


def _read_only_disk(monkeypatch):
    # atomic_directory's final rename is where a read-only file system refuses an export.
    monkeypatch.setattr(files.os, "rename", _raise(OSError(errno.EROFS, "Read-only file system")))


def _finished_run(tmp_path):
    run = tmp_path / "runs" / "googlenet_digits"
    run.mkdir(parents=True)
    (run / "metrics.json").write_text(json.dumps({"epochs_run": 1}))


def _corrupt_files(tmp_path):
    (tmp_path / "corrupt.keras").write_bytes(b"PK\x03\x04 not a zip archive")
    (tmp_path / "corrupt.onnx").write_bytes(b"\x08\x07 not a protobuf \xff\xff\xff")
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    (tmp_path / "image.png").write_bytes(_png())
    (tmp_path / "a_directory.png").mkdir()
    (tmp_path / "existing.weights.h5").write_bytes(b"")
    (tmp_path / "saved" / "tiny" / "3").mkdir(parents=True)


def _png():
    return tf.io.encode_png(np.zeros((10, 10, 3), np.uint8)).numpy()


# id, command line ({tmp}: the test's directory, {keras}: the tiny model), condition, exit code, message.
CASES = [
    ("imagenet offline", ["predict", "--model", "imagenet", "{tmp}/image.png"], _offline, 2,
     r"Could not download Caffe's GoogLeNet ImageNet weights from file://.*put it at .*googlenet-7\.onnx"),
    ("previous version's weights file", ["predict", "--model", "{tmp}/old.weights.h5", "{tmp}/image.png"],
     lambda tmp, patch: weights_files.previous_version_file(tmp / "old.weights.h5"), 2,
     r"old\.weights\.h5 was converted by a previous version of inception_tf .* inception-tf convert googlenet-7\.onnx"),
    ("unknown weights record", ["train", "--weights", "imagenet21k", "--data-dir", "{tfds}", "--output-dir", "{tmp}/r"],
     None, 2, r"Unknown published weights 'imagenet21k'; known: 'imagenet'"),
    ("model without preprocessing", ["predict", "--model", "{tmp}/plain.keras", "{tmp}/image.png"],
     lambda tmp, patch: _plain_model().save(str(tmp / "plain.keras")), 2,
     r"Model '.*' has no ImagePreprocessing layer.*Build it with include_preprocessing=True"),
    ("version of a .keras file", ["predict", "--model", "{keras}", "--version", "2", "{tmp}/image.png"], None, 2,
     r"version applies to SavedModels only; '.*tiny\.keras' is not one"),
    ("corrupt .onnx to predict with", ["predict", "--model", "{tmp}/corrupt.onnx", "{tmp}/image.png"], None, 2,
     r"corrupt\.onnx' is not a readable ONNX model"),
    ("missing LiteRT export", ["predict", "--model", "{tmp}/missing.tflite", "{tmp}/image.png"], None, 2,
     r"No export at '.*missing\.tflite'"),
    ("LiteRT export without its record", ["predict", "--model", "{tmp}/alone.tflite", "{tmp}/image.png"],
     lambda tmp, patch: (tmp / "alone.tflite").write_bytes(b"TFL3"), 2,
     r"alone\.model_record\.json' is missing: a LiteRT file keeps its test-time geometry in that sidecar"),
    ("missing image", ["predict", "--model", "{keras}", "--top-k", "3", "{tmp}/missing.png"], None, 2,
     r"Image file '.*missing\.png' does not exist"),
    ("directory for an image", ["predict", "--model", "{keras}", "--top-k", "3", "{tmp}/a_directory.png"], None, 2,
     r"a_directory\.png' is a directory, not an image file"),
    ("corrupt image", ["predict", "--model", "{keras}", "--top-k", "3", "{tmp}/corrupt.png"], None, 2,
     r"corrupt\.png' is not a JPEG, PNG, GIF or BMP image"),
    ("unreadable image", ["predict", "--model", "{keras}", "--top-k", "3", "{tmp}/image.png"],
     lambda tmp, patch: _refuse_reads(patch), 2, r"\[Errno 13\] Permission denied: 'image\.png'"),
    ("top-k above the classes", ["predict", "--model", "{keras}", "{tmp}/image.png"], None, 2,
     r"top_k=5 but the model has 3 classes"),
    ("corrupt .keras", ["predict", "--model", "{tmp}/corrupt.keras", "{tmp}/image.png"], None, 2,
     r"corrupt\.keras' is not a \.keras file \(a zip archive\)"),
    ("no SavedModel", ["predict", "--model", "{tmp}/saved/none", "{tmp}/image.png"], None, 2,
     r"No SavedModel"),
    ("missing model to export", ["export", "{tmp}/missing.keras", "--output-dir", "{tmp}/saved"], None, 2,
     r"No model file at '.*missing\.keras'"),
    ("missing class names", ["export", "{keras}", "--output-dir", "{tmp}/saved", "--class-names", "{tmp}/names.txt"],
     None, 2, r"No such file or directory: '.*names\.txt'"),
    ("existing version", ["export", "{keras}", "--output-dir", "{tmp}/saved", "--version", "3"], None, 2,
     r"saved/tiny/3 already exists; pass overwrite=True \(--overwrite\)"),
    ("export under a file", ["export", "{keras}", "--output-dir", "{tmp}/image.png/saved"], None, 2,
     r"\[Errno 20\] Not a directory: '.*image\.png"),
    ("disk full on export", ["export", "{keras}", "--output-dir", "{tmp}/saved"],
     lambda tmp, patch: _full_disk(patch), 2, r"\[Errno 28\] No space left on device"),
    ("read-only disk on export", ["export", "{keras}", "--output-dir", "{tmp}/saved"],
     lambda tmp, patch: _read_only_disk(patch), 2, r"\[Errno 30\] Read-only file system"),
    ("missing ONNX file", ["convert", "{tmp}/missing.onnx", "--output", "{tmp}/out.weights.h5"], None, 2,
     r"ONNX file '.*missing\.onnx' does not exist"),
    ("corrupt ONNX file", ["convert", "{tmp}/corrupt.onnx", "--output", "{tmp}/out.weights.h5"], None, 2,
     r"corrupt\.onnx' is not a readable ONNX model"),
    ("existing output", ["convert", "{tmp}/corrupt.onnx", "--output", "{tmp}/existing.weights.h5"], None, 2,
     r"existing\.weights\.h5 already exists; pass overwrite=True \(--overwrite\)"),
    ("wrong output suffix", ["convert", "{tmp}/corrupt.onnx", "--output", "{tmp}/out.h5"], None, 2,
     r"output_path must end in '\.weights\.h5'"),
    ("image too small", ["costs", "--model", "googlenet", "--image-size", "8"], None, 2,
     r"input_shape must be at least 32x32"),
    ("finished run", ["train", "--output-dir", "{tmp}/runs", "--data-dir", "{tfds}", "--epochs", "1"],
     lambda tmp, patch: _finished_run(tmp), 2, r"googlenet_digits holds a finished run .*--overwrite"),
    ("missing image folder", ["train", "--dataset", "folder:{tmp}/photos", "--output-dir", "{tmp}/runs"], None, 2,
     r"Image folder '.*photos' does not exist"),
    ("missing weights file", ["train", "--weights", "{tmp}/missing.onnx", "--data-dir", "{tfds}",
                              "--output-dir", "{tmp}/runs"], None, 2, r"missing\.onnx"),
    ("Ctrl-C before an epoch ends", ["train", "--output-dir", "{tmp}/runs", "--epochs", "3"],
     lambda tmp, patch: patch.setattr(training, "train", _raise(KeyboardInterrupt())), 130,
     r"^inception-tf train: interrupted before an epoch of .*/runs/googlenet_digits completed; "
     r"`inception-tf train --output-dir .*/runs --epochs 3` starts it again$"),
    ("Ctrl-C outside training", ["predict", "--model", "{keras}", "{tmp}/image.png"],
     lambda tmp, patch: patch.setattr(predict, "load_keras_source", _raise(KeyboardInterrupt())), 130,
     r"^inception-tf predict: interrupted$"),
    ("a library error of any class", ["predict", "--model", "{keras}", "{tmp}/image.png"],
     lambda tmp, patch: patch.setattr(predict, "load_keras_source", _raise(
         type("ClusterLost", (Exception,), {})("the cluster lost a worker\n  rerun the same command to resume"))),
     2, r"error: the cluster lost a worker rerun the same command to resume$"),
]

# Errors argparse reports itself, before any command runs.
FLAG_CASES = [
    ("dropout of 1", ["train", "--dropout-rate", "1"], r"argument --dropout-rate: expected a number in \[0, 1\)"),
    ("negative dropout", ["train", "--dropout-rate", "-0.1"], r"argument --dropout-rate: expected a number in \[0, 1\)"),
    ("momentum of 1", ["train", "--momentum", "1"], r"argument --momentum: expected a number in \[0, 1\)"),
    ("negative momentum", ["train", "--momentum", "-0.5"], r"argument --momentum: expected a number in \[0, 1\)"),
    ("NaN momentum", ["train", "--momentum", "nan"], r"argument --momentum: expected a number in \[0, 1\)"),
    ("zero epochs", ["train", "--epochs", "0"], r"argument --epochs: expected a positive integer"),
    ("unknown format", ["export", "x.keras", "--format", "caffe"], r"argument --format: invalid choice"),
    ("zero top-k", ["predict", "--model", "imagenet", "--top-k", "0", "x.png"], r"argument --top-k: expected a positive"),
    ("unknown crops", ["evaluate", "--model", "imagenet", "--crops", "5"], r"argument --crops: invalid choice"),
]


def _command_line(template, tmp_path, tiny_keras, tfds_dir):
    return [part.format(tmp=tmp_path, keras=tiny_keras, tfds=tfds_dir) for part in template]


def _error_line(err, alone=True):
    """stderr's last line, after checking it is its only `inception-tf` line and no traceback came.

    `alone`: nothing else on stderr (`train` logs its progress there first, argparse its usage).
    """
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("inception-tf "), err
    assert sum(line.startswith("inception-tf ") for line in lines) == 1, err
    assert not alone or len(lines) == 1, err
    return lines[-1]


@pytest.mark.parametrize("template,condition,code,message", [case[1:] for case in CASES],
                         ids=[case[0] for case in CASES])
def test_every_user_error_ends_in_one_line(template, condition, code, message, tmp_path, tiny_keras, tfds_dir,
                                           monkeypatch, run_cli):
    _corrupt_files(tmp_path)
    if condition is not None:
        condition(tmp_path, monkeypatch)
    argv = _command_line(template, tmp_path, tiny_keras, tfds_dir)
    got, _, err = run_cli(*argv)
    line = _error_line(err, alone=argv[0] != "train")
    assert got == code, err
    prefix = f"inception-tf {argv[0]}: " + ("error: " if code != 130 else "")
    assert line.startswith(prefix), line
    assert re.search(message, line), line


@pytest.mark.parametrize("argv,message", [case[1:] for case in FLAG_CASES], ids=[case[0] for case in FLAG_CASES])
def test_bad_flag_values_end_in_argparses_one_line(argv, message, run_cli):
    got, _, err = run_cli(*argv)
    assert got == 2
    line = _error_line(err, alone=False)
    assert line.startswith(f"inception-tf {argv[0]}: error: ") and re.search(message, line), line


def test_debug_lets_the_traceback_through(tmp_path, capfd):
    missing = str(tmp_path / "missing.keras")
    with pytest.raises(FileNotFoundError, match="No model file at"):
        cli.main(["--debug", "export", missing])
    assert "inception-tf export: error" not in capfd.readouterr().err
    with pytest.raises(KeyboardInterrupt):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(predict, "load_keras_source", _raise(KeyboardInterrupt()))
            cli.main(["--debug", "predict", "--model", missing, "image.png"])


@pytest.mark.slow
def test_ctrl_c_in_training_says_how_to_resume_and_the_same_command_does(tmp_path, tfds_dir, monkeypatch, run_cli):
    class CtrlCAfterFirstEpoch(keras.callbacks.TensorBoard):  # the run's last own callback: every file is written
        def on_epoch_end(self, epoch, logs=None):
            super().on_epoch_end(epoch, logs)
            raise KeyboardInterrupt()

    argv = ["train", "--epochs", "2", "--steps-per-epoch", "1", "--batch-size", "4", "--no-aux", "--verbose", "0",
            "--output-dir", str(tmp_path / "my runs"), "--data-dir", tfds_dir, "--export-dir", ""]
    with monkeypatch.context() as patch:
        patch.setattr(keras.callbacks, "TensorBoard", CtrlCAfterFirstEpoch)
        code, _, err = run_cli(*argv)
    run_dir = tmp_path / "my runs" / "googlenet_digits"
    command = "inception-tf train " + " ".join(f"'{part}'" if " " in part or not part else part for part in argv[1:])
    assert code == 130, err
    assert _error_line(err, alone=False) == (
        f"inception-tf train: interrupted; {run_dir} keeps 1 of 2 epochs: `{command}` resumes from epoch 2")

    code, _, err = run_cli(*argv)
    assert code == 0, err
    assert "Resuming from epoch 2 of 2 (1 completed" in err
    assert json.loads((run_dir / "metrics.json").read_text())["resumed_from_epoch"] == 1
