"""The ONNX/LiteRT client (`serving.runtimes`): what it reads from an export, what it refuses, against onnxruntime."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("ai_edge_litert.interpreter")

from inception_tf import ImagePreprocessing  # noqa: E402
from inception_tf.serving import formats, runtimes  # noqa: E402
from tests.geometry_expectations import central_square, centre_crop, without_model_record  # noqa: E402

SIZE = 16
NAMES = ["cat", "dog", "fish", "bird"]


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """`(model, {format: path})`: a small 4-class model recording the centre crop, exported to ONNX and LiteRT."""
    keras.utils.set_random_seed(2)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = ImagePreprocessing("tf", geometry="crop", class_names=NAMES)(inputs)
    x = keras.layers.Conv2D(6, 3, strides=2, activation="relu")(x)
    model = keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(keras.layers.Flatten()(x)))
    root = tmp_path_factory.mktemp("exports")
    return model, {format: formats.export_model(model, str(root / f"small{suffix}"), format)
                   for format, suffix in formats.FORMATS.items()}


@pytest.fixture(scope="module")
def image_files(tmp_path_factory):
    """`(paths, pixels)`: a landscape and a portrait PNG."""
    rng = np.random.default_rng(6)
    root = tmp_path_factory.mktemp("images")
    paths, pixels = [], []
    for i, shape in enumerate([(30, 45, 3), (41, 23, 3)]):
        image = rng.integers(0, 256, shape, dtype=np.uint8)
        paths.append(str(root / f"{i}.png"))
        tf.io.write_file(paths[-1], tf.io.encode_png(image))
        pixels.append(image)
    return paths, pixels


def _expected(path, pixels):
    """onnxruntime on the paper's centre crops, prepared here with `make_crops`."""
    crops = np.stack([centre_crop(image, SIZE) for image in pixels])
    return ort.InferenceSession(path).run(["probabilities"], {"images": crops})[0]


@pytest.mark.parametrize("format", list(formats.FORMATS))
def test_classify_files_prepares_by_the_record_and_names_by_the_metadata(exports, image_files, format):
    _, paths = exports
    files, pixels = image_files
    expected = _expected(paths["onnx"], pixels)
    rows = runtimes.classify_files(paths[format], files, top_k=3)
    assert len(rows) == len(files)
    for (path, top), probabilities, own in zip(rows, expected, files):
        order = np.argsort(-probabilities, kind="stable")[:3]
        assert path == own and [name for name, _ in top] == [NAMES[i] for i in order]
        np.testing.assert_allclose([score for _, score in top], probabilities[order], atol=1e-5)
    probabilities, names = runtimes.classify_images(paths[format], pixels)
    assert probabilities.shape == (2, 4) and probabilities.dtype == np.float32 and names == NAMES


def test_what_is_an_export(exports, zoo_file, tmp_path):
    _, paths = exports
    assert runtimes.is_export(paths["onnx"]) and runtimes.is_export(paths["litert"])
    assert not runtimes.is_export(zoo_file)  # the zoo's weights file takes data_0, not images
    (tmp_path / "broken.onnx").write_bytes(b"\x08\x07 not a protobuf")
    assert not runtimes.is_export(str(tmp_path / "broken.onnx"))
    assert not runtimes.is_export(str(tmp_path / "missing.onnx"))
    assert not runtimes.is_export(str(tmp_path / "model.keras"))


def test_an_export_is_refused_without_what_it_needs(exports, image_files, tmp_path):
    _, paths = exports
    files, pixels = image_files
    with pytest.raises(ValueError, match=r"'.*model\.keras' is not an ONNX \(\.onnx\) or LiteRT \(\.tflite\) export"):
        runtimes.classify_images(str(tmp_path / "model.keras"), pixels)
    with pytest.raises(FileNotFoundError, match="No export at"):
        runtimes.classify_images(str(tmp_path / "none.onnx"), pixels)
    with pytest.raises(ValueError, match="No image files given"):
        runtimes.classify_files(paths["onnx"], [])
    with pytest.raises(ValueError, match="top_k=5 but the model has 4 classes"):
        runtimes.classify_files(paths["onnx"], files)  # the default: five classes
    lonely = tmp_path / "lonely.tflite"
    lonely.write_bytes(open(paths["litert"], "rb").read())
    with pytest.raises(FileNotFoundError, match=r"lonely\.model_record\.json' is missing"):
        runtimes.classify_images(str(lonely), pixels)
    (tmp_path / "lonely.model_record.json").write_text(json.dumps({"geometry": "crop"}))
    with pytest.raises(ValueError, match=r"holds no model record \(geometry, image_size\)\. Export the model again"):
        runtimes.classify_images(str(lonely), pixels)
    (tmp_path / "lonely.model_record.json").write_text(json.dumps({"geometry": "zoom", "image_size": SIZE}))
    with pytest.raises(ValueError, match="geometry must be one of"):
        runtimes.classify_images(str(lonely), pixels)
    (tmp_path / "lonely.model_record.json").write_text(json.dumps({"geometry": "crop", "image_size": SIZE}))
    probabilities, names = runtimes.classify_images(str(lonely), pixels)  # no names sidecar: indices
    assert names is None
    rows = runtimes.classify_files(str(lonely), files, top_k=2)
    assert all(name.isdigit() for _, top in rows for name, _ in top)


def test_the_recorded_geometry_and_size_are_what_the_client_applies(exports, image_files, tmp_path):
    # The same graph, its record rewritten to the central square: the client must follow the record.
    _, paths = exports
    files, pixels = image_files
    graph = onnx.load(paths["onnx"])
    for prop in graph.metadata_props:
        if prop.key == "model_record":
            prop.value = json.dumps({"preprocessing": "tf", "geometry": "square", "image_size": SIZE})
    square = str(tmp_path / "square.onnx")
    onnx.save(graph, square)
    squares = [central_square(image, SIZE) for image in pixels]
    expected = ort.InferenceSession(square).run(["probabilities"], {"images": np.stack(squares)})[0]
    np.testing.assert_allclose(runtimes.classify_images(square, pixels)[0], expected, atol=1e-5)
    assert np.abs(expected - _expected(paths["onnx"], pixels)).max() > 1e-3  # the geometries answer otherwise
    assert os.path.exists(formats.model_record_path(paths["litert"]))


def test_an_onnx_export_without_a_record_is_prepared_as_a_central_square_at_its_input_size(exports, image_files,
                                                                                            tmp_path):
    _, paths = exports
    _, pixels = image_files
    old = without_model_record(paths["onnx"], tmp_path / "old.onnx")
    squares = [central_square(image, SIZE) for image in pixels]
    expected = ort.InferenceSession(old).run(["probabilities"], {"images": np.stack(squares)})[0]
    probabilities, names = runtimes.classify_images(old, pixels)
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    assert names == NAMES


def test_a_gif_is_one_image_not_a_batch_of_frames(exports, tmp_path):
    import base64

    _, paths = exports
    gif = tmp_path / "dot.gif"  # a 1x1 GIF89a: one frame
    gif.write_bytes(base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"))
    (path, top), = runtimes.classify_files(paths["onnx"], [str(gif)], top_k=2)
    assert path == str(gif) and len(top) == 2
