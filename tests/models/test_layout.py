"""layout: data formats, their axes and compute layout, the size check, square inputs; a GoogLeNet of unknown
input size refuses images below its minimum at call time."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from inception_tf import GoogLeNet
from inception_tf.models import layout
from inception_tf.models.layout import MinimumSizeCheck
from tests.layer_harness import run_layer_test


@pytest.fixture(scope="module")
def any_size_model():
    return GoogLeNet(input_shape=(None, None, 3), classes=4)


def test_images_below_32x32_are_refused_when_called(any_size_model):
    small = np.zeros((1, 17, 17, 3), np.float32)
    with pytest.raises(ValueError, match=r"at least 32x32 .* shape \(1, 17, 17, 3\)"):
        any_size_model(small)  # eager
    with pytest.raises(ValueError, match="at least 32x32"):
        any_size_model.predict(small, verbose=0)  # traced with the batch's sizes
    # Traced for any size (as an export's signature is): a TensorFlow assertion at run time.
    traced = tf.function(any_size_model, input_signature=[tf.TensorSpec((None, None, None, 3), tf.float32)])
    with pytest.raises(tf.errors.InvalidArgumentError, match="at least 32x32"):
        traced(np.zeros((1, 40, 31, 3), np.float32))
    assert traced(np.zeros((1, 40, 32, 3), np.float32)).shape == (1, 4)


def test_images_of_32x32_and_more_run_and_the_check_saves(any_size_model, tmp_path):
    images = np.random.default_rng(0).uniform(0, 255, (2, 45, 32, 3)).astype(np.float32)
    out = any_size_model.predict(images, verbose=0)
    assert out.shape == (2, 4) and np.allclose(out.sum(axis=1), 1, atol=1e-5)
    any_size_model.save(tmp_path / "any.keras")
    np.testing.assert_allclose(keras.models.load_model(tmp_path / "any.keras").predict(images, verbose=0), out,
                               atol=1e-6)
    assert "size_check" not in [layer.name for layer in GoogLeNet(input_shape=(64, 64, 3)).layers]


def test_size_check_layer_contract(tmp_path):
    run_layer_test(MinimumSizeCheck, {"min_size": 4}, (2, 4, 6, 3), tmp_path, expected_output_shape=(2, 4, 6, 3))


@pytest.fixture
def image_data_format():
    """Sets Keras' global image data format for one test; restores the one before."""
    before = keras.config.image_data_format()
    yield keras.config.set_image_data_format
    keras.config.set_image_data_format(before)


def test_data_format_defaults_to_keras_global_one_and_refuses_others(image_data_format):
    for data_format in ("channels_last", "channels_first"):
        assert layout.standardize_data_format(data_format) == data_format
        image_data_format(data_format)
        assert layout.standardize_data_format(None) == data_format
    for bad in ("NHWC", "channels-last", ""):
        with pytest.raises(ValueError, match=f"data_format must be 'channels_last', 'channels_first' or None. "
                                             f"Received: data_format='{bad}'"):
            layout.standardize_data_format(bad)


@pytest.mark.parametrize("data_format, shape", [("channels_last", (2, 5, 7, 3)), ("channels_first", (2, 3, 5, 7))])
def test_channel_axis_and_spatial_dims_find_the_layouts_axes(data_format, shape):
    # (batch, height 5, width 7, channels 3) in either layout.
    x = np.zeros(shape, np.float32)
    assert np.concatenate([x, x], axis=layout.channel_axis(data_format)).shape == (
        (2, 5, 7, 6) if data_format == "channels_last" else (2, 6, 5, 7))
    assert layout.spatial_dims(shape, data_format) == (5, 7)


def test_tensorflow_computes_channels_first_layers_in_channels_last(rng):
    assert keras.backend.backend() == "tensorflow"
    assert layout.compute_data_format("channels_first") == "channels_last"
    assert layout.compute_data_format("channels_last") == "channels_last"
    nchw = rng.normal(0, 1, (2, 3, 5, 7)).astype(np.float32)
    moved = layout.to_compute_layout(nchw, "channels_first")
    np.testing.assert_array_equal(np.asarray(moved), np.transpose(nchw, (0, 2, 3, 1)))
    assert layout.to_compute_layout((None, 3, 5, 7), "channels_first", is_shape=True) == (None, 5, 7, 3)
    np.testing.assert_array_equal(np.asarray(layout.from_compute_layout(moved, "channels_first")), nchw)
    nhwc = rng.normal(0, 1, (2, 5, 7, 3)).astype(np.float32)
    assert layout.to_compute_layout(nhwc, "channels_last") is nhwc
    assert layout.to_compute_layout((None, 5, 7, 3), "channels_last", is_shape=True) == (None, 5, 7, 3)
    assert layout.from_compute_layout(nhwc, "channels_last") is nhwc


def test_other_backends_compute_channels_first_natively(monkeypatch, rng):
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    nchw = rng.normal(0, 1, (2, 3, 5, 7)).astype(np.float32)
    for data_format in ("channels_first", "channels_last"):
        assert layout.compute_data_format(data_format) == data_format
        assert layout.to_compute_layout(nchw, data_format) is nchw
        assert layout.from_compute_layout(nchw, data_format) is nchw


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_size_check_refuses_either_side_below_the_minimum_and_passes_the_minimum(data_format):
    check = MinimumSizeCheck(8, data_format=data_format, name="size_check")

    def images(height, width):
        shape = (1, height, width, 2) if data_format == "channels_last" else (1, 2, height, width)
        return np.zeros(shape, np.float32)

    assert check(images(8, 8)).shape == images(8, 8).shape
    for height, width in [(7, 8), (8, 7), (3, 30)]:
        shape = images(height, width).shape
        with pytest.raises(ValueError, match=rf"size_check: images must be at least 8x8 \(height, width\). "
                                             rf"Received: images of shape \({shape[0]}, {shape[1]}, {shape[2]}, "):
            check(images(height, width))


def test_size_check_traced_with_one_side_known_checks_the_other_at_run_time():
    check = MinimumSizeCheck(8, data_format="channels_last")
    traced = tf.function(check, input_signature=[tf.TensorSpec((None, 9, None, 2), tf.float32)])
    assert traced(np.zeros((1, 9, 8, 2), np.float32)).shape == (1, 9, 8, 2)
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"at least 8x8 \(height, width\). Received: images of shape"):
        traced(np.zeros((1, 9, 7, 2), np.float32))


def test_size_check_is_registered_under_the_package_name():
    # The name `.keras` files record for the layer, and look it up by when they load.
    assert keras.saving.get_registered_name(MinimumSizeCheck) == "inception_tf>MinimumSizeCheck"
