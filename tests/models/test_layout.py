"""A GoogLeNet of unknown input size refuses images below its minimum at call time."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from inception_tf import GoogLeNet
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
