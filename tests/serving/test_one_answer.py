"""One model, one answer: every way a user passes a model classifies a photo alike.

The same model as a weights file, a `.keras` file, a run directory, a SavedModel,
and ONNX and LiteRT exports (through `inception_tf.serving.runtimes`) must give
identical top-5 classes and probabilities within 1e-4 on landscape, portrait and
square photos. The expectations come from outside the package's own image
preparation: onnxruntime on the ONNX model zoo's layout with the paper's single
centre crop (for Caffe's weights), and numpy's slicing of the central square
(for a model trained here).
"""

import os
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("ai_edge_litert.interpreter")

from inception_tf import GoogLeNet, ImagePreprocessing, model_record  # noqa: E402
from inception_tf.imagenet import imagenet_classes  # noqa: E402
from inception_tf.serving import export, formats, predict  # noqa: E402
from tests.geometry_expectations import central_square, centre_crop, without_model_record  # noqa: E402
from tests.models import zoo_onnx  # noqa: E402

PHOTO_SHAPES = {"landscape": (180, 260, 3), "portrait": (300, 230, 3), "square": (240, 240, 3)}
TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """`(paths, pixels)`: a landscape, a portrait and a square PNG photo of smooth random colour fields."""
    rng = np.random.default_rng(21)
    folder = tmp_path_factory.mktemp("photos")
    paths, pixels = [], []
    for name, shape in PHOTO_SHAPES.items():
        coarse = rng.uniform(0, 255, (shape[0] // 20, shape[1] // 20, 3)).astype(np.float32)
        image = tf.cast(tf.round(tf.image.resize(coarse, shape[:2])), tf.uint8).numpy()  # structure at every scale
        path = str(folder / f"{name}.png")
        tf.io.write_file(path, tf.io.encode_png(image))
        paths.append(path)
        pixels.append(image)
    return paths, pixels


def _check_rows(rows, paths, probabilities, names, way):
    """`rows` (from `classify`) hold each photo's top 5 of `probabilities` `(photos, classes)` with `names`."""
    assert [path for path, _ in rows] == paths, way
    for (_, top), expected in zip(rows, probabilities):
        order = np.argsort(-expected, kind="stable")[:5]
        assert [name for name, _ in top] == [names[i] for i in order], way
        np.testing.assert_allclose([score for _, score in top], expected[order], atol=TOLERANCE, err_msg=way)


def _discriminates(expected, other):
    """The other geometry would answer otherwise: the check can fail."""
    assert np.abs(expected - other).max() > 100 * TOLERANCE


def _decisive(probabilities):
    """The expected top 5 are not decided by rounding: neighbouring scores differ by over 1% (in log-probability
    0.01, some thousand times the runtimes' float32 differences)."""
    top = np.log(-np.sort(-probabilities, axis=1)[:, :6])
    assert (-np.diff(top, axis=1)).min() > 0.01


@pytest.fixture(scope="module")
def imagenet_ways(zoo_files, tmp_path_factory):
    """`{way: model string}` for GoogLeNet on zoo-layout ImageNet weights, and the zoo file."""
    # Small biases keep the output sensitive to the image (so the geometry shows), ranks well apart.
    _, zoo_path = zoo_files(seed=5, classifier_std=0.002, bias_std=0.01)
    root = tmp_path_factory.mktemp("imagenet_ways")
    model = GoogLeNet(weights=zoo_path)
    keras_path = str(root / "googlenet.keras")
    model.save(keras_path)
    os.makedirs(root / "run")
    shutil.copy(keras_path, root / "run" / "model.keras")  # a run directory holds the same file
    from inception_tf.models import pretrained

    ways = {
        "weights file (.onnx)": zoo_path,
        "converted weights file (.weights.h5)": pretrained.convert_onnx(zoo_path, str(root / "googlenet.weights.h5")),
        ".keras file": keras_path,
        "run directory": str(root / "run"),
        "SavedModel": os.path.dirname(export.export_saved_model(model, str(root / "saved" / "imagenet"),
                                                                warmup=False)),
        "ONNX export": formats.export_onnx(model, str(root / "googlenet.onnx")),
        "LiteRT export": formats.export_litert(model, str(root / "googlenet.tflite")),
    }
    return ways, zoo_path


@pytest.mark.slow  # GoogLeNet at 224 exported three ways (about 30 s on 2 cores)
def test_imagenet_weights_answer_alike_every_way_in(imagenet_ways, photos):
    ways, zoo_path = imagenet_ways
    paths, pixels = photos
    session = ort.InferenceSession(zoo_path, providers=["CPUExecutionProvider"])

    def zoo_probabilities(prepare):  # the zoo's graph takes one image at a time
        return np.concatenate([session.run(["prob_0"], {"data_0": zoo_onnx.caffe_input(prepare(image, 224)[None])})[0]
                               for image in pixels])

    expected = zoo_probabilities(centre_crop)  # how Caffe's weights were evaluated
    _discriminates(expected, zoo_probabilities(central_square))
    _decisive(expected)
    names = [name for _, name, _ in imagenet_classes()]
    for way, model in ways.items():
        _check_rows(predict.classify(model, paths, top_k=5), paths, expected, names, way)


@pytest.mark.slow  # shares the exports above
def test_the_imagenet_keras_file_records_crop_geometry_and_names(imagenet_ways):
    ways, _ = imagenet_ways
    record = model_record(keras.models.load_model(ways[".keras file"]))
    assert (record.preprocessing, record.geometry) == ("caffe", "crop")
    assert record.class_names[:2] == ["tench", "goldfish"] and len(record.class_names) == 1000


def _small_inception_net(seed):
    """A 32x32, 10-class network of the package's layers, with a `main` and an auxiliary output as
    `GoogLeNet(aux_logits=True)` has: what the exporters trace (preprocessing, LRN in each export's form,
    an Inception module, max pooling) at a small fraction of GoogLeNet's export time."""
    from inception_tf import InceptionModule, LocalResponseNormalization

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((32, 32, 3))
    x = ImagePreprocessing("tf")(inputs)
    x = keras.layers.Conv2D(16, 5, strides=2, padding="same", activation="relu")(x)
    x = LocalResponseNormalization()(x)
    x = InceptionModule(8, 8, 12, 4, 4, 4, name="inception")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, padding="same")(x)
    pooled = keras.layers.Flatten()(x)
    main = keras.layers.Dense(10, activation="softmax", name="main")(pooled)
    aux = keras.layers.Dense(10, activation="softmax", name="aux1")(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, {"main": main, "aux1": aux})
    kernel, bias = model.get_layer("main").get_weights()
    model.get_layer("main").set_weights([kernel * 20, bias])  # peaked probabilities: ranks well apart
    return model


@pytest.fixture(scope="module")
def trained_here(tmp_path_factory):
    """`(model, {way: model string})`: a 32x32 network with auxiliary heads, recorded as training records
    a model (square geometry, class names)."""
    from inception_tf.models.preprocessing import set_model_record

    model = _small_inception_net(seed=24)
    set_model_record(model, geometry="square", class_names=[f"digit {i}" for i in range(10)])
    root = tmp_path_factory.mktemp("trained_ways")
    from inception_tf import inference_model

    inference = inference_model(model)
    os.makedirs(root / "run")
    inference.save(str(root / "digits.keras"))
    shutil.copy(root / "digits.keras", root / "run" / "model.keras")
    ways = {
        ".keras file": str(root / "digits.keras"),
        "run directory": str(root / "run"),
        "SavedModel": os.path.dirname(export.export_saved_model(model, str(root / "saved" / "digits"), warmup=False)),
        "ONNX export": formats.export_onnx(model, str(root / "digits.onnx")),
        "LiteRT export": formats.export_litert(model, str(root / "digits.tflite")),
    }
    return inference, ways


def test_a_model_trained_here_answers_alike_every_way_in(trained_here, photos):
    model, ways = trained_here
    paths, pixels = photos
    def keras_probabilities(prepare):
        return np.asarray(model.predict(np.stack([prepare(image, 32) for image in pixels]), verbose=0))

    expected = keras_probabilities(central_square)  # what the training pipelines do
    _discriminates(expected, keras_probabilities(centre_crop))
    _decisive(expected)
    names = [f"digit {i}" for i in range(10)]
    for way, source in ways.items():
        _check_rows(predict.classify(source, paths, top_k=5), paths, expected, names, way)


def test_a_model_without_preprocessing_is_refused_with_what_to_pass(tmp_path, photos):
    inputs = keras.Input((32, 32, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(pooled))
    for call in (lambda: predict.predict_keras(model, photos[0]),
                 lambda: export.export_saved_model(model, str(tmp_path / "plain")),
                 lambda: formats.export_onnx(model, str(tmp_path / "plain.onnx"))):
        with pytest.raises(ValueError, match=r"no ImagePreprocessing layer.*ImagePreprocessing\(mode, geometry="):
            call()
    assert not os.path.exists(tmp_path / "plain") and not os.path.exists(tmp_path / "plain.onnx")
    wrapped = keras.Sequential([keras.Input((32, 32, 3)), ImagePreprocessing("tf", geometry="crop"), model])
    assert model_record(wrapped).geometry == "crop"  # the way the message names works


def test_exports_state_the_record_they_were_made_with(trained_here):
    import json

    _, ways = trained_here
    version = ways["SavedModel"] + "/1"
    with open(os.path.join(version, "assets", "model_record.json")) as handle:
        assert json.load(handle) == {"preprocessing": "tf", "geometry": "square", "image_size": 32}
    metadata = ort.InferenceSession(ways["ONNX export"]).get_modelmeta().custom_metadata_map
    assert json.loads(metadata["model_record"]) == {"preprocessing": "tf", "geometry": "square", "image_size": 32}
    with open(ways["LiteRT export"].replace(".tflite", ".model_record.json")) as handle:
        assert {key: value for key, value in json.load(handle).items() if key != "lrn"} == {
            "preprocessing": "tf", "geometry": "square", "image_size": 32}


@pytest.mark.slow  # shares the ImageNet exports
def test_an_onnx_export_of_caffes_weights_states_their_preprocessing_and_crop(imagenet_ways):
    import json

    metadata = ort.InferenceSession(imagenet_ways[0]["ONNX export"]).get_modelmeta().custom_metadata_map
    assert json.loads(metadata["model_record"]) == {"preprocessing": "caffe", "geometry": "crop", "image_size": 224}


def test_an_onnx_export_from_before_the_record_is_prepared_as_acentral_square(trained_here, photos, tmp_path):
    model, ways = trained_here
    old = without_model_record(ways["ONNX export"], tmp_path / "old.onnx")
    paths, pixels = photos
    expected = np.asarray(model.predict(np.stack([central_square(image, 32) for image in pixels]), verbose=0))
    _check_rows(predict.classify(old, paths, top_k=5), paths, expected, [f"digit {i}" for i in range(10)], "old ONNX")
