"""GoogLeNet's stem and pools follow Caffe's bvlc_googlenet geometry at every input size.

The references are written here in numpy from Caffe's definitions: conv1 pads 3 on every
side; the 3x3/2 max pools round their output size up and clip the last window at the
border (caffe/src/caffe/layers/pooling_layer.cpp).
"""

import math

import keras
import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from inception_tf import GoogLeNet, MaxPooling2D
from inception_tf.models.padding import ConstantPadding2D
from tests.layer_harness import DTYPE_TOLERANCES, run_layer_test


def caffe_conv(x, kernel, bias, stride, pad):
    """NHWC input, HWIO kernel, symmetric zero padding: Caffe's convolution."""
    x = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    size = kernel.shape[0]
    windows = sliding_window_view(x, (size, size), axis=(1, 2))[:, ::stride, ::stride]  # (B, H', W', C, k, k)
    return np.einsum("bhwcij,ijco->bhwo", windows.astype(np.float64), kernel.astype(np.float64)) + bias


def caffe_max_pool(x, size=3, stride=2):
    """Caffe's MAX pooling without padding: ceil-mode output, windows clipped at the border."""
    batch, height, width, channels = x.shape
    out_h = math.ceil((height - size) / stride) + 1
    out_w = math.ceil((width - size) / stride) + 1
    out = np.empty((batch, out_h, out_w, channels), x.dtype)
    for i in range(out_h):
        for j in range(out_w):
            window = x[:, i * stride : min(i * stride + size, height), j * stride : min(j * stride + size, width)]
            out[:, i, j] = window.max(axis=(1, 2))
    return out


def caffe_sizes(size):
    """conv1, pool1, pool2, pool3, pool4 output sizes for one spatial axis, by Caffe's formulas."""
    conv1 = (size + 2 * 3 - 7) // 2 + 1
    pools = [conv1]
    for _ in range(4):
        pools.append(math.ceil((pools[-1] - 3) / 2) + 1)
    return pools


def test_caffe_sizes_at_224_are_table_1():
    assert caffe_sizes(224) == [112, 56, 28, 14, 7]


def test_odd_and_even_sizes_follow_caffe():
    # 37 and 50: Keras' "same" pooling would give pool1 10 instead of 9 for the odd side.
    model = GoogLeNet(input_shape=(37, 50, 3), include_top=False, include_preprocessing=False)
    for index, name in enumerate(["conv1", "pool1", "pool2", "pool3", "pool4"]):
        shape = model.get_layer(name).output.shape
        assert shape[1:3] == (caffe_sizes(37)[index], caffe_sizes(50)[index]), name
    assert caffe_sizes(37)[1] == 9 and caffe_sizes(50) == [25, 12, 6, 3, 1]


@pytest.mark.parametrize("height,width", [(37, 50), (64, 40)])
def test_stem_matches_a_numpy_caffe_stem(rng, height, width):
    """conv1 (pad 3, stride 2) + ReLU + ceil-mode pool1, against numpy: on a 37x50 image pool1 sees
    19x25 (odd: a pad, then a VALID pool), on a 64x40 one 32x20 (even: Keras' SAME pool)."""
    model = GoogLeNet(input_shape=(height, width, 3), include_top=False, include_preprocessing=False)
    stem = keras.Model(model.input, model.get_layer("pool1").output)
    x = rng.normal(0, 50, (2, height, width, 3)).astype(np.float32)
    kernel, bias = model.get_layer("conv1").get_weights()
    expected = caffe_max_pool(np.maximum(caffe_conv(x, kernel, bias, stride=2, pad=3), 0))
    got = np.asarray(stem(x))
    assert got.shape == expected.shape == (2, caffe_sizes(height)[1], caffe_sizes(width)[1], 64)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-3 * np.abs(expected).max())


def test_dynamic_input_size_follows_caffe(rng):
    model = GoogLeNet(input_shape=(None, None, 3), include_top=False, include_preprocessing=False)
    x = rng.uniform(0, 1, (1, 45, 38, 3)).astype(np.float32)
    assert model(x).shape == (1, caffe_sizes(45)[-1], caffe_sizes(38)[-1], 1024)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_ceil_mode_pool_on_negative_values(rng, dtype, data_format):
    """The padding never wins the max, even where every real value is negative."""
    x = -rng.uniform(1, 100, (2, 7, 8, 3)).astype(np.float32)
    x = np.asarray(keras.ops.cast(x, dtype)).astype(np.float32)  # values the dtype can hold
    expected = caffe_max_pool(x)                                  # (2, 3, 4, 3)
    pad = ConstantPadding2D(((0, 1), (0, 1)), data_format=data_format, dtype=dtype)
    pool = MaxPooling2D(3, strides=2, padding="valid", data_format=data_format, dtype=dtype)
    inputs = x if data_format == "channels_last" else np.transpose(x, (0, 3, 1, 2))
    got = np.asarray(keras.ops.cast(pool(pad(keras.ops.cast(inputs, dtype))), "float32"))
    if data_format == "channels_first":
        got = np.transpose(got, (0, 2, 3, 1))
    np.testing.assert_array_equal(got, expected)


def test_lowest_padding_value_per_dtype():
    x = np.zeros((1, 1, 1, 1), np.float32)
    for dtype, lowest in [("float32", -3.4028234663852886e38), ("float16", -65504.0),
                          ("bfloat16", -3.3895313892515355e38)]:
        padded = ConstantPadding2D(((0, 1), (0, 0)), dtype=dtype)(keras.ops.cast(x, dtype))
        assert float(np.asarray(keras.ops.cast(padded, "float32"))[0, 1, 0, 0]) == lowest, dtype


@pytest.mark.parametrize("kwargs,policies", [
    ({"padding": ((1, 2), (0, 3)), "value": -1.5}, DTYPE_TOLERANCES),
    # "lowest" pads with each dtype's own lowest value (test_lowest_padding_value_per_dtype), not float32's.
    ({}, {}),
], ids=["value", "lowest"])
def test_padding_layer_contract(kwargs, policies, tmp_path):
    output_shape = (2, 7, 8, 3) if kwargs else (2, 5, 6, 3)
    run_layer_test(ConstantPadding2D, kwargs, (2, 4, 5, 3), tmp_path, expected_output_shape=output_shape,
                   policies=policies)


def test_padding_layer_shapes_and_values():
    layer = ConstantPadding2D(((1, 2), (0, 3)), value=-1.5, data_format="channels_first", name="p")
    assert layer.compute_output_shape((None, 4, 5, None)) == (None, 4, 8, None)
    out = np.asarray(layer(np.zeros((1, 2, 1, 1), np.float32)))
    assert out.shape == (1, 2, 4, 4) and out[0, 0, 0, 0] == -1.5 and out[0, 0, 1, 0] == 0.0
    with pytest.raises(ValueError, match="value must be a number or 'lowest'"):
        ConstantPadding2D(value="min")
    with pytest.raises(ValueError, match="padding must be"):
        ConstantPadding2D(padding=(1, 2, 3))


def test_googlenet_pools_are_valid_after_a_pad_at_odd_sizes_and_same_at_even_ones():
    for size in (33, 35, 37, 99):
        model = GoogLeNet(input_shape=(size, size, 3), implementation="xla")
        side = (size + 6 - 7) // 2 + 1  # conv1, padded 3
        for name in ("pool1", "pool2", "pool3", "pool4"):
            pool = model.get_layer(name)
            names = {layer.name for layer in model.layers}
            if side % 2:  # odd: SAME would pad the top; Caffe pads only the bottom and right
                assert (pool.padding, pool.strides, pool.implementation) == ("valid", (2, 2), "xla")
                assert model.get_layer(f"{name}_pad").padding == ((0, 1), (0, 1))
            else:
                assert pool.padding == "same" and f"{name}_pad" not in names
            side = -(-(side - 3) // 2) + 1  # Caffe's ceil mode
            assert pool.output.shape[1] == side
    # 224x224: 112, 56, 28, 14, all even, where SAME pads nothing before and one after, as Caffe does.
    model = GoogLeNet(implementation="xla")
    for name in ("pool1", "pool2", "pool3", "pool4"):
        assert (model.get_layer(name).padding, model.get_layer(name).strides) == ("same", (2, 2))
    assert not [layer.name for layer in model.layers if layer.name.startswith("pool") and layer.name.endswith("_pad")]
    assert model.get_layer("conv1").padding == "valid"
    assert model.get_layer("conv1_pad").padding == ((3, 3), (3, 3))


def test_padding_amounts_as_an_int_a_pair_or_pairs_match_numpy_pad(rng):
    x = rng.normal(0, 1, (1, 3, 4, 2)).astype(np.float32)
    for padding, numpy_width in [(0, ((0, 0), (0, 0))), (2, ((2, 2), (2, 2))), ((1, 2), ((1, 1), (2, 2))),
                                 ((0, 3), ((0, 0), (3, 3))), (((2, 0), (1, 3)), ((2, 0), (1, 3)))]:
        expected = np.pad(x, ((0, 0), *numpy_width, (0, 0)), constant_values=-7.0)
        layer = ConstantPadding2D(padding, value=-7.0, data_format="channels_last")
        np.testing.assert_array_equal(np.asarray(layer(x)), expected, err_msg=str(padding))
        assert layer.compute_output_shape(x.shape) == expected.shape, padding


@pytest.mark.parametrize("padding", [-1, (-1, 2), (1, 0.5), ((1, -1), (0, 0)), ((-2, 1), (0, 0)), ((1.5, 0), (0, 0)),
                                     ((0, 1, 2), (0, 1))])
def test_padding_refuses_negative_non_integer_or_three_sided_amounts(padding):
    with pytest.raises(ValueError, match=r"padding must be (a )?non-negative.*Received"):
        ConstantPadding2D(padding)


def test_padding_refuses_more_than_two_spatial_axes():
    with pytest.raises(ValueError, match=r"padding must be an int, \(rows, columns\).*Received: padding="):
        ConstantPadding2D(((0, 1), (0, 1), (0, 1)))


def test_padding_layer_is_registered_under_the_package_name():
    # The name `.keras` files record for the layer, and look it up by when they load.
    assert keras.saving.get_registered_name(ConstantPadding2D) == "inception_tf>ConstantPadding2D"
    config = keras.saving.serialize_keras_object(ConstantPadding2D())
    assert config["registered_name"] == "inception_tf>ConstantPadding2D"
