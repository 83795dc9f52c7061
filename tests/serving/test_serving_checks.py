"""Bad input to an export and to `predict` fails with errors naming the input, expected and received."""

import numpy as np
import pytest
import tensorflow as tf

import keras

from inception_tf import cli
from inception_tf.models.preprocessing import ImagePreprocessing
from inception_tf.serving import export, predict


def tiny_model(classes):
    """(B, 16, 16, 3) pixels -> (B, classes) probabilities; a few hundred weights."""
    keras.utils.set_random_seed(3)
    inputs = keras.Input((16, 16, 3))
    x = ImagePreprocessing("tf")(inputs)
    x = keras.layers.Conv2D(4, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(classes, activation="softmax")(x))


@pytest.fixture(scope="module")
def model():
    return tiny_model(10)


@pytest.fixture(scope="module")
def base(model, tmp_path_factory):
    """A base path holding version 1 of `model`, exported with top_k=3 and no class names."""
    base = tmp_path_factory.mktemp("exports") / "tiny"
    export.export_saved_model(model, str(base), top_k=3, warmup=False)
    return str(base)


@pytest.fixture(scope="module")
def loaded(base):
    return tf.saved_model.load(f"{base}/1")


@pytest.mark.parametrize("shape", [(1, 16, 16, 1), (2, 16, 16, 4), (16, 16, 3), (1, 16, 16, 3, 1)])
def test_serving_default_names_the_wrong_channels(loaded, shape):
    # The signature object passes the tensor to the graph as is: the check has to be in the graph.
    received = " ".join(str(d) for d in shape)
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=rf"images: expected shape \(batch, height, width, 3\), received shape\] \[{received}\]"):
        loaded.signatures["serving_default"](images=tf.zeros(shape))


def test_predict_images_names_a_2d_string_tensor(loaded):
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"image_bytes: expected shape \(batch,\), received shape\] \[1 1\]"):
        loaded.signatures["predict_images"](image_bytes=tf.constant([[b"x"]]))


def test_valid_input_still_passes_the_checks(loaded, model):
    images = np.random.default_rng(0).integers(0, 256, (2, 16, 16, 3)).astype(np.float32)
    outputs = loaded.signatures["serving_default"](images=tf.constant(images))
    np.testing.assert_allclose(outputs["probabilities"].numpy(), np.asarray(model(images)), atol=1e-5)


def test_googlenet_rejects_one_softmax_class():
    from inception_tf import GoogLeNet

    with pytest.raises(ValueError, match=r"classes must be >= 2 with classifier_activation='softmax'.*"
                                         r"Received: classes=1, classifier_activation='softmax'"):
        GoogLeNet(input_shape=(32, 32, 3), classes=1)


@pytest.mark.parametrize("activation", ["sigmoid", None])
def test_googlenet_allows_one_class_without_softmax(activation):
    from inception_tf import GoogLeNet

    model = GoogLeNet(input_shape=(32, 32, 3), classes=1, classifier_activation=activation)
    assert model.output_shape == (None, 1)


# --- predict ------------------------------------------------------------------------


@pytest.fixture
def image_files(tmp_path):
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (2, 16, 16, 3)).astype(np.uint8)
    paths = []
    for index, image in enumerate(pixels):
        path = tmp_path / f"image{index}.png"
        path.write_bytes(tf.io.encode_png(image).numpy())
        paths.append(str(path))
    return paths, pixels.astype(np.float32)


@pytest.mark.parametrize("top_k", [1, 2, 3])
def test_predict_honours_top_k_and_falls_back_to_class_indices(base, model, image_files, top_k):
    paths, pixels = image_files
    rows = predict.predict_files(base, paths, top_k=top_k)
    expected = np.asarray(model(pixels))  # the Keras model's own probabilities
    for (path, top), probabilities in zip(rows, expected):
        order = np.argsort(-probabilities)[:top_k]
        assert [name for name, _ in top] == [str(i) for i in order]  # no names exported: the index as text
        np.testing.assert_allclose([score for _, score in top], probabilities[order], atol=1e-5)


def test_predict_top_k_above_the_exported_k_is_an_error(base, image_files, capsys):
    code = cli.main(["predict", "--model", base, "--top-k", "20", image_files[0][0]])
    assert code == 2
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert "top_k=20" in message
    assert "lists at most 3 classes" in message
    assert "scores output has shape (batch, 3)" in message


def test_predict_says_a_directory_is_a_directory(base, tmp_path, capsys):
    code = cli.main(["predict", "--model", base, str(tmp_path)])
    assert code == 2
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert message.endswith(f"'{tmp_path}' is a directory, not an image file; pass the image files themselves.")


DIGIT_NAMES = [f"digit {i}" for i in range(10)]


@pytest.fixture(scope="module")
def named_base(model, tmp_path_factory):
    """A base path holding version 1 of `model`, exported with top_k=3 and class names."""
    base = tmp_path_factory.mktemp("exports") / "named"
    export.export_saved_model(model, str(base), class_names=DIGIT_NAMES, top_k=3, warmup=False)
    return str(base)


def expected_rows(model, image_files, top_k, names):
    paths, pixels = image_files
    probabilities = np.asarray(model(pixels))  # the Keras model's own probabilities (16x16 images: no resizing)
    orders = [np.argsort(-row, kind="stable")[:top_k] for row in probabilities]
    return [(path, [names[i] for i in order], row[order]) for path, order, row in zip(paths, orders, probabilities)]


def assert_rows(rows, expected):
    assert [path for path, _ in rows] == [path for path, _, _ in expected]
    for (_, top), (_, names, scores) in zip(rows, expected):
        assert [name for name, _ in top] == names
        np.testing.assert_allclose([score for _, score in top], scores, atol=1e-5)


def test_predict_names_classes_with_the_exported_class_names(named_base, model, image_files):
    rows = predict.predict_files(named_base, image_files[0], top_k=2)
    assert_rows(rows, expected_rows(model, image_files, 2, DIGIT_NAMES))


def test_predict_refuses_an_empty_list_of_images(base):
    with pytest.raises(ValueError, match="No image files given"):
        predict.predict_files(base, [])


def test_predict_keras_refuses_top_k_above_the_classes_before_reading_any_image(tmp_path):
    with pytest.raises(ValueError, match="top_k=5 but the model has 3 classes"):
        predict.predict_keras(tiny_model(3), [str(tmp_path / "missing.png")], top_k=5)


def test_classify_answers_for_a_keras_file_as_for_its_savedmodel(base, model, image_files, tmp_path):
    model.save(tmp_path / "tiny.keras")
    expected = expected_rows(model, image_files, 3, [str(i) for i in range(10)])  # no names: the index as text
    assert_rows(predict.classify(str(tmp_path / "tiny.keras"), image_files[0], top_k=3), expected)
    assert_rows(predict.classify(base, image_files[0], top_k=3, version=1), expected)
    with pytest.raises(ValueError, match=r"version applies to SavedModels only; '.*tiny\.keras' is not one"):
        predict.classify(str(tmp_path / "tiny.keras"), image_files[0], version=1)
