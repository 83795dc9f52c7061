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


def test_every_variable_shape_of_googlenets_3a():
    # Inception (3a) on a 28x28x192 input (Table 1), HWIO kernels as on slide 12.
    assert slide.slide_variable_shapes(192, *GOOGLENET_3A, module=3) == {
        "W_conv3_1x1_1": (1, 1, 192, 64), "b_conv3_1x1_1": (64,),
        "W_conv3_1x1_2": (1, 1, 192, 96), "b_conv3_1x1_2": (96,),
        "W_conv3_3x3": (3, 3, 96, 128), "b_conv3_3x3": (128,),
        "W_conv3_1x1_3": (1, 1, 192, 16), "b_conv3_1x1_3": (16,),
        "W_conv3_5x5": (5, 5, 16, 32), "b_conv3_5x5": (32,),
        "W_conv3_1x1_4": (1, 1, 192, 32), "b_conv3_1x1_4": (32,),
    }


def test_names_default_to_the_slides_first_module():
    assert slide.slide_variable_names() == (
        "W_conv1_1x1_1", "W_conv1_1x1_2", "W_conv1_3x3", "W_conv1_1x1_3", "W_conv1_5x5", "W_conv1_1x1_4",
        "b_conv1_1x1_1", "b_conv1_1x1_2", "b_conv1_3x3", "b_conv1_1x1_3", "b_conv1_5x5", "b_conv1_1x1_4")
    assert set(slide.slide_variable_shapes(3, *GOOGLENET_3A)) == set(slide.slide_variable_names())


def test_source_initializers():
    w = slide.slide_initial_weights(64, 64, 64, 64, 64, 64, 64, seed=0)
    np.testing.assert_array_equal(w["b_conv1_5x5"], np.full(64, 0.1, np.float32))
    kernel = w["W_conv1_3x3"]
    assert np.abs(kernel).max() <= 0.2  # truncated at two standard deviations
    # A normal truncated at 2 sigma has std 0.88 sigma.
    assert 0.085 < kernel.std() < 0.091
    assert abs(w["b_conv1_3x3"].mean() - 0.1) > 0.05  # drawn, not the constant


def test_truncation_holds_for_the_smallest_tensors():
    # One value per variable: each draw beyond two standard deviations (0.2) must be redrawn on its own.
    drawn = np.concatenate([value.ravel() for seed in range(200)
                            for value in slide.slide_initial_weights(1, 1, 1, 1, 1, 1, 1, seed=seed).values()])
    assert drawn.size == 200 * (1 + 1 + 9 + 1 + 25 + 1 + 6)  # kernels 1x1, 1x1, 3x3, 1x1, 5x5, 1x1; 6 biases
    assert np.abs(drawn).max() <= 0.2
    assert np.abs(drawn).max() > 0.19  # the whole truncated range is reached


def test_missing_variable_is_named():
    w = slide.slide_initial_weights(3, 2, 2, 2, 2, 2, 2, seed=0)
    del w["b_conv1_3x3"]
    with pytest.raises(KeyError, match="b_conv1_3x3"):
        slide.inception_module(tf.zeros((1, 4, 4, 3)), w)


@pytest.mark.parametrize("module", [0, -1, 1.5, True, "1"])
@pytest.mark.parametrize("function", ["slide_variable_names", "slide_variable_shapes"])
def test_bad_module_number(module, function):
    call = {"slide_variable_names": lambda: slide.slide_variable_names(module),
            "slide_variable_shapes": lambda: slide.slide_variable_shapes(3, *GOOGLENET_3A, module=module)}[function]
    with pytest.raises(ValueError, match=rf"^module must be a positive integer\. Received: module={module!r}$"):
        call()
