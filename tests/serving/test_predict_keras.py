"""`predict` with a Keras model: the pretrained GoogLeNet (weights file) on any photo, against onnxruntime."""

import numpy as np
import pytest
import tensorflow as tf

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from inception_tf import GoogLeNet  # noqa: E402
from inception_tf.crops import make_crops  # noqa: E402
from inception_tf.imagenet import imagenet_classes  # noqa: E402
from inception_tf.serving import predict  # noqa: E402
from tests.models import zoo_onnx  # noqa: E402


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Two PNG photos of different shapes (landscape, portrait) and their pixels."""
    rng = np.random.default_rng(7)
    folder = tmp_path_factory.mktemp("photos")
    paths, pixels = [], []
    for i, shape in enumerate([(180, 260, 3), (300, 230, 3)]):
        image = rng.integers(0, 256, shape).astype(np.uint8)
        path = str(folder / f"photo_{i}.png")
        tf.io.write_file(path, tf.io.encode_png(image))
        paths.append(path)
        pixels.append(image)
    return paths, pixels


def onnxruntime_top(zoo_file, pixels, k):
    session = ort.InferenceSession(zoo_file, providers=["CPUExecutionProvider"])
    rows = []
    for image in pixels:
        crop = make_crops(image, 224, 1).numpy()  # the single centre crop, tested in tests/evaluation
        probs = session.run(["prob_0"], {"data_0": zoo_onnx.caffe_input(crop)})[0][0]
        rows.append((np.argsort(probs)[::-1][:k], probs))
    return rows


def test_top_classes_of_any_photo_match_onnxruntime(zoo_file, photos):
    paths, pixels = photos
    names = [name for _, name, _ in imagenet_classes()]
    rows = predict.predict_keras(GoogLeNet(weights=zoo_file), paths, top_k=5)  # the names the weights record
    for (path, top), (expected, probs), own in zip(rows, onnxruntime_top(zoo_file, pixels, 5), paths):
        assert path == own
        assert [name for name, _ in top] == [names[i] for i in expected]
        np.testing.assert_allclose([score for _, score in top], probs[expected], atol=1e-5)


def test_top_k_above_the_classes_is_refused(photos):
    model = GoogLeNet(input_shape=(32, 32, 3), classes=3)
    with pytest.raises(ValueError, match="top_k=5 but the model has 3 classes"):
        predict.predict_keras(model, photos[0], top_k=5)


def test_cli_predicts_with_the_pretrained_weights_file(zoo_file, photos, run_cli):
    paths, pixels = photos
    result = run_cli("predict", "--model", zoo_file, "--top-k", "3", paths[0])
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    (expected, probs), = onnxruntime_top(zoo_file, pixels[:1], 3)
    names = [name for _, name, _ in imagenet_classes()]
    assert lines[0] == paths[0]
    for rank, (line, index) in enumerate(zip(lines[1:], expected), 1):
        assert line.split()[:2] == [f"{rank}.", names[index]]
        assert float(line.split()[-1]) == pytest.approx(float(probs[index]), abs=1e-4)
