"""The slide reference against an independent numpy implementation of its ops."""

import numpy as np
import pytest
import tensorflow as tf

from inception_tf.models import slide

GOOGLENET_3A = (64, 96, 128, 16, 32, 32)


def numpy_conv_same(x, kernel):
    """Stride-1 SAME convolution (cross-correlation), NHWC x HWIO, in float64."""
    kh, kw = kernel.shape[:2]
    top, left = (kh - 1) // 2, (kw - 1) // 2
    padded = np.pad(x, ((0, 0), (top, kh - 1 - top), (left, kw - 1 - left), (0, 0)))
    height, width = x.shape[1:3]
    out = np.zeros(x.shape[:3] + (kernel.shape[3],))
    for i in range(kh):
        for j in range(kw):
            out += padded[:, i : i + height, j : j + width, :] @ kernel[i, j]
    return out


def numpy_max_pool_3x3(x):
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=-np.inf)
    height, width = x.shape[1:3]
    windows = [padded[:, i : i + height, j : j + width] for i in range(3) for j in range(3)]
    return np.max(windows, axis=0)


def numpy_inception(x, w, m):
    def conv(inp, suffix):
        return numpy_conv_same(inp, w[f"W_conv{m}_{suffix}"]) + w[f"b_conv{m}_{suffix}"]

    relu = lambda t: np.maximum(t, 0)  # noqa: E731
    a = conv(x, "1x1_1")
    b = conv(relu(conv(x, "1x1_2")), "3x3")
    c = conv(relu(conv(x, "1x1_3")), "5x5")
    d = conv(numpy_max_pool_3x3(x), "1x1_4")
    return relu(np.concatenate([a, b, c, d], axis=3))


def test_helpers_match_numpy(rng):
    x = rng.standard_normal((2, 9, 11, 3)).astype(np.float32)
    kernel = rng.standard_normal((5, 5, 3, 4)).astype(np.float32)
    np.testing.assert_allclose(slide.conv2d_s1(x, kernel), numpy_conv_same(x, kernel), atol=1e-4)
    np.testing.assert_array_equal(slide.max_pool_3x3_s1(x), numpy_max_pool_3x3(x))


@pytest.mark.parametrize("module", [1, 2])
def test_inception_module_matches_numpy(rng, module):
    x = rng.standard_normal((2, 7, 10, 6)).astype(np.float32)
    w = slide.slide_initial_weights(6, 8, 4, 8, 4, 8, 8, module=module, seed=3)
    got = slide.inception_module(tf.constant(x), w, module=module).numpy()
    np.testing.assert_allclose(got, numpy_inception(x, w, module), atol=1e-5)
    assert got.shape == (2, 7, 10, 32)


def test_tf0_concat_signature_no_longer_works():
    # The one change the port makes: TF 0.x's tf.concat(axis, values) fails in TF 2.
    parts = [tf.zeros((1, 2, 2, 1))] * 2
    with pytest.raises((TypeError, ValueError)):
        tf.concat(3, parts)


def test_variable_names_and_shapes():
    names = slide.slide_variable_names(2)
    assert names[:2] == ("W_conv2_1x1_1", "W_conv2_1x1_2")
    assert len(names) == 12 and len(set(names)) == 12
    shapes = slide.slide_variable_shapes(192, *GOOGLENET_3A)
    assert shapes["W_conv1_3x3"] == (3, 3, 96, 128)
    assert shapes["W_conv1_5x5"] == (5, 5, 16, 32)
    assert shapes["W_conv1_1x1_4"] == (1, 1, 192, 32)
    assert shapes["b_conv1_1x1_3"] == (16,)


def test_source_initializers():
    w = slide.slide_initial_weights(64, 64, 64, 64, 64, 64, 64, seed=0)
    np.testing.assert_array_equal(w["b_conv1_5x5"], np.full(64, 0.1, np.float32))
    kernel = w["W_conv1_3x3"]
    assert np.abs(kernel).max() <= 0.2  # truncated at two standard deviations
    # A normal truncated at 2 sigma has std 0.88 sigma.
    assert 0.085 < kernel.std() < 0.091
    assert abs(w["b_conv1_3x3"].mean() - 0.1) > 0.05  # drawn, not the constant


def test_missing_variable_is_named():
    w = slide.slide_initial_weights(3, 2, 2, 2, 2, 2, 2, seed=0)
    del w["b_conv1_3x3"]
    with pytest.raises(KeyError, match="b_conv1_3x3"):
        slide.inception_module(tf.zeros((1, 4, 4, 3)), w)


@pytest.mark.parametrize("module", [0, -1, 1.5, True, "1"])
def test_bad_module_number(module):
    with pytest.raises(ValueError, match="module"):
        slide.slide_variable_names(module)
