"""`inception-tf convert`: the zoo's ONNX file to a .weights.h5 file, run as a real process."""

import subprocess
import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from inception_tf import GoogLeNet  # noqa: E402
from tests.models import zoo_onnx  # noqa: E402


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "inception_tf.cli", *args],
                          capture_output=True, text=True, timeout=600)


def test_convert_writes_a_loadable_weights_file(tmp_path):
    source = tmp_path / "googlenet-7.onnx"
    onnx.save(zoo_onnx.build(zoo_onnx.random_weights(seed=3)), str(source))
    output = tmp_path / "googlenet_imagenet.weights.h5"
    result = run_cli("convert", str(source), "--output", str(output))
    assert result.returncode == 0, result.stderr
    assert str(output) in result.stdout and "bytes" in result.stdout
    rgb = np.random.default_rng(0).uniform(0, 255, (1, 40, 40, 3)).astype(np.float32)
    converted = GoogLeNet(input_shape=(40, 40, 3), weights=str(output))
    assert converted.get_layer("preprocessing").mode == "caffe"
    np.testing.assert_array_equal(converted(rgb), GoogLeNet(input_shape=(40, 40, 3), weights=str(source))(rgb))
    again = run_cli("convert", str(source), "--output", str(output))
    assert again.returncode == 2 and "already exists" in again.stderr


def test_convert_names_a_bad_file(tmp_path):
    missing = run_cli("convert", str(tmp_path / "nothing.onnx"), "--output", str(tmp_path / "x.weights.h5"))
    assert missing.returncode == 2 and "nothing.onnx" in missing.stderr and "does not exist" in missing.stderr
