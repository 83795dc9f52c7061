"""`inception-tf convert`: the zoo's ONNX file to a .weights.h5 file; then `predict` and `evaluate` with the
converted file, checked against onnxruntime on the ONNX file (the command line run in process)."""

import json
import os

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from inception_tf import GoogLeNet  # noqa: E402
from tests.models import zoo_onnx  # noqa: E402


def test_convert_writes_a_loadable_weights_file(zoo_file, tmp_path, run_cli):
    output = tmp_path / "googlenet_imagenet.weights.h5"
    result = run_cli("convert", zoo_file, "--output", str(output))
    assert result.returncode == 0, result.stderr
    assert str(output) in result.stdout and "bytes" in result.stdout
    rgb = np.random.default_rng(0).uniform(0, 255, (1, 40, 40, 3)).astype(np.float32)
    converted = GoogLeNet(input_shape=(40, 40, 3), weights=str(output))
    assert converted.get_layer("preprocessing").mode == "caffe"
    np.testing.assert_array_equal(converted(rgb), GoogLeNet(input_shape=(40, 40, 3), weights=zoo_file)(rgb))
    again = run_cli("convert", zoo_file, "--output", str(output))
    assert again.returncode == 2 and "already exists" in again.stderr


def test_convert_names_a_bad_file(tmp_path, run_cli):
    missing = run_cli("convert", str(tmp_path / "nothing.onnx"), "--output", str(tmp_path / "x.weights.h5"))
    assert missing.returncode == 2 and "nothing.onnx" in missing.stderr and "does not exist" in missing.stderr


ort = pytest.importorskip("onnxruntime")
SIDE, CROP = 256, 224  # square images: the centre crop is [16:240, 16:240], no resizing


@pytest.fixture(scope="module")
def converted(zoo_files, tmp_path_factory):
    """(zoo-layout .onnx path, the .weights.h5 `inception-tf convert` wrote from it)."""
    from inception_tf.cli import main

    # A wider classifier than the zoo's spreads the scores, so ranks do not hang on rounding.
    _, source = zoo_files(seed=8, classifier_std=0.05)
    output = str(tmp_path_factory.mktemp("converted") / "googlenet_imagenet.weights.h5")
    assert main(["convert", source, "--output", output]) == 0
    return source, output


@pytest.fixture(scope="module")
def square_images():
    """uint8 (4, 256, 256, 3): smooth colour patterns that differ per image."""
    rows, cols = np.meshgrid(np.linspace(0, 1, SIDE), np.linspace(0, 1, SIDE), indexing="ij")
    images = [np.stack([255 * rows ** (i + 1), 255 * (1 - cols) ** (i + 1), 127.5 * (1 + np.sin((6 + 4 * i) * rows * cols))],
                       axis=-1) for i in range(4)]
    return np.stack(images).round().astype(np.uint8)


def _onnxruntime_centre_crop_probabilities(path, images):
    """(images, 1000) probabilities from onnxruntime on each image's hand-cut central 224 square."""
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    start = (SIDE - CROP) // 2
    crops = images[:, start:start + CROP, start:start + CROP].astype(np.float32)
    return np.concatenate([session.run(["prob_0"], {"data_0": zoo_onnx.caffe_input(crops[i:i + 1])})[0]
                           for i in range(len(crops))])


def _write_pngs(folder, images):
    import tensorflow as tf

    paths = []
    for i, image in enumerate(images):
        paths.append(str(folder / f"{i}.png"))
        tf.io.write_file(paths[-1], tf.io.encode_png(image))
    return paths


def test_predict_with_a_converted_weights_file_matches_onnxruntime(converted, square_images, tmp_path, capsys):
    from inception_tf.cli import main
    from inception_tf.imagenet import imagenet_classes

    source, weights_file = converted
    expected = _onnxruntime_centre_crop_probabilities(source, square_images)
    top = np.argsort(-expected, axis=1)[:, :3]
    assert len({tuple(row) for row in top}) > 1  # the images are told apart
    paths = _write_pngs(tmp_path, square_images)
    assert main(["predict", "--model", weights_file, *paths, "--top-k", "3"]) == 0
    printed = capsys.readouterr().out.splitlines()
    names = [name for _, name, _ in imagenet_classes()]
    for i, path in enumerate(paths):
        rows = printed[printed.index(path) + 1:printed.index(path) + 4]
        for rank, (row, index) in enumerate(zip(rows, top[i]), 1):
            number, *name, score = row.split()
            assert number == f"{rank}." and " ".join(name) == names[index]
            assert abs(float(score) - expected[i, index]) <= 6e-5


def test_evaluate_with_a_converted_weights_file_matches_onnxruntime(converted, square_images, tmp_path, capsys):
    import tensorflow as tf

    from inception_tf.cli import main

    source, weights_file = converted
    expected = _onnxruntime_centre_crop_probabilities(source, square_images)
    order = np.argsort(-expected, axis=1)
    assert (np.take_along_axis(expected, order[:, :1], 1) - np.take_along_axis(expected, order[:, 1:2], 1)).min() > 1e-4
    labels = [order[i, i % 2] for i in range(len(square_images))]  # top class, second class, ...
    # One folder per ImageNet class, empty ones too, sorted as the class indices: folder labels are indices.
    for index in range(1000):
        os.makedirs(tmp_path / "data" / "test" / f"n{index:04d}")
    for i, (image, label) in enumerate(zip(square_images, labels)):
        tf.io.write_file(str(tmp_path / "data" / "test" / f"n{label:04d}" / f"{i}.png"), tf.io.encode_png(image))
    assert main(["evaluate", "--model", weights_file, "--dataset", f"folder:{tmp_path / 'data'}"]) == 0
    out = capsys.readouterr().out.splitlines()
    result = json.loads("\n".join(out[out.index("{"):]))["model"]  # the weights' own protocol: their centre crop
    assert result["geometry"] == "crop" and result["images"] == 4 and result["k"] == 5
    assert result["top1_accuracy"] == 0.5 and result["top5_accuracy"] == 1.0
