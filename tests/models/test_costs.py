"""Multiply-add and parameter counting, checked against TensorFlow's own FLOP count."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from inception_tf import InceptionModule
from inception_tf.models import costs


def tf_profiler_flops(layer, input_shape, op_types):
    """FLOPs that TensorFlow's graph profiler counts for `layer` on one example."""
    function = tf.function(layer, autograph=False).get_concrete_function(
        tf.TensorSpec((1,) + tuple(input_shape), tf.float32)
    )
    builder = tf.compat.v1.profiler.ProfileOptionBuilder
    options = builder(builder.float_operation()).with_empty_output().build()
    options["account_type_regexes"] = list(op_types)
    return tf.compat.v1.profiler.profile(graph=function.graph, options=options).total_float_ops


def tf_grouped_conv_flops(kernel, input_shape, strides, padding):
    """FLOPs TensorFlow's profiler counts for one NHWC `tf.nn.conv2d` with a grouped `(kh, kw, C_in / groups, C_out)`
    kernel (Keras runs its grouped convolutions in a compiled function the profiler does not enter)."""
    def conv(x):
        return tf.nn.conv2d(x, tf.constant(kernel), strides, padding.upper())

    return tf_profiler_flops(conv, input_shape, ["Conv2D"])


def test_slide_11_numbers():
    example = costs.ReductionExample()
    # The deck's "120+ million" and "12+ million", worked out by hand.
    assert example.direct == 28 * 28 * 32 * 5 * 5 * 192 == 120_422_400
    assert example.reduction == 28 * 28 * 16 * 192 == 2_408_448
    assert example.reduced_conv == 28 * 28 * 32 * 5 * 5 * 16 == 10_035_200
    assert example.with_reduction == 12_443_648
    assert round(example.ratio, 1) == 9.7
    with pytest.raises(dataclasses.FrozenInstanceError):
        example.filters = 64


@pytest.mark.parametrize(
    "filters,input_shape",
    [((64, 96, 128, 16, 32, 32), (28, 28, 192)), ((3, 2, 5, 1, 4, 2), (13, 17, 1))],
)
def test_inception_module_mult_adds_equal_tf_profiler(filters, input_shape):
    module = InceptionModule(*filters)
    module.build((None,) + input_shape)
    ours = costs.layer_cost(module, input_shape)
    assert ours.mult_adds * 2 == tf_profiler_flops(module, input_shape, ["Conv2D"])
    assert ours.params == module.count_params()
    assert ours.output_shape == input_shape[:2] + (filters[0] + filters[2] + filters[4] + filters[5],)


def test_strided_conv_and_dense_equal_tf_profiler():
    conv = keras.layers.Conv2D(64, 7, strides=2, padding="same")
    conv.build((None, 224, 224, 3))
    cost = costs.layer_cost(conv, (224, 224, 3))
    assert cost.output_shape == (112, 112, 64)
    assert cost.mult_adds * 2 == tf_profiler_flops(conv, (224, 224, 3), ["Conv2D"])
    assert cost.params == 7 * 7 * 3 * 64 + 64
    with pytest.raises(dataclasses.FrozenInstanceError):  # a cost, once counted, stays as counted
        cost.params = 0

    dense = keras.layers.Dense(1000)
    dense.build((None, 1024))
    cost = costs.layer_cost(dense, (1024,))
    assert cost.mult_adds * 2 == tf_profiler_flops(dense, (1024,), ["MatMul"])
    assert cost.params == 1024 * 1000 + 1000


def test_dense_on_a_map_counts_every_position():
    dense = keras.layers.Dense(8)
    dense.build((None, 5, 7, 16))
    cost = costs.layer_cost(dense, (5, 7, 16))
    assert cost.output_shape == (5, 7, 8) and cost.mult_adds == 5 * 7 * 16 * 8


def test_model_costs_sum_layers():
    inputs = keras.Input((28, 28, 192))
    x = InceptionModule(64, 96, 128, 16, 32, 32)(inputs)
    x = keras.layers.MaxPooling2D(3, 2, padding="same")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(10)(x))
    rows = costs.model_costs(model)
    assert [r.kind for r in rows] == ["InceptionModule", "MaxPooling2D", "GlobalAveragePooling2D", "Dense"]
    params, mult_adds = costs.total(rows)
    assert params == model.count_params()
    assert rows[1].mult_adds == 0 and rows[1].output_shape == (14, 14, 256)
    assert mult_adds == rows[0].mult_adds + 256 * 10


def test_unsupported_weighted_layer_is_named():
    layer = keras.layers.Conv1D(4, 3)
    layer.build((None, 10, 2))
    with pytest.raises(ValueError, match="Conv1D"):
        costs.layer_cost(layer, (10, 2))


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("groups,strides,padding", [(1, 1, "same"), (2, 1, "valid"), (4, 2, "same"), (12, 3, "valid")])
def test_grouped_conv_mult_adds_follow_the_formula_and_tf_profiler(groups, strides, padding, data_format):
    """H_out * W_out * K_h * K_w * C_in / groups * C_out, and TensorFlow's count of the grouped Conv2D."""
    height, width, in_channels, filters, kernel = 17, 14, 12, 24, (3, 5)
    conv = keras.layers.Conv2D(filters, kernel, strides=strides, padding=padding, groups=groups,
                               data_format=data_format)
    shape = (height, width, in_channels) if data_format == "channels_last" else (in_channels, height, width)
    conv.build((None,) + shape)
    cost = costs.layer_cost(conv, shape)
    out_h, out_w = ((-(-height // strides), -(-width // strides)) if padding == "same"
                    else ((height - 3) // strides + 1, (width - 5) // strides + 1))
    assert cost.mult_adds == out_h * out_w * 3 * 5 * (in_channels // groups) * filters
    assert type(cost.mult_adds) is int  # noqa: E721 (a count, never a float)
    assert cost.params == 3 * 5 * (in_channels // groups) * filters + filters
    flops = tf_grouped_conv_flops(np.asarray(conv.kernel), (height, width, in_channels), strides, padding)
    assert cost.mult_adds * 2 == flops  # the kernel is HWIO in both data formats


@pytest.mark.parametrize("multiplier,strides", [(1, 1), (3, 2)])
def test_depthwise_and_separable_mult_adds(multiplier, strides):
    """Depthwise: groups = C_in, C_out = C_in * multiplier; separable adds the 1x1 pointwise convolution."""
    height, width, in_channels, filters = 15, 16, 6, 10
    out_h, out_w = -(-height // strides), -(-width // strides)
    depthwise_macs = out_h * out_w * 3 * 3 * 1 * (in_channels * multiplier)
    depthwise = keras.layers.DepthwiseConv2D(3, strides=strides, padding="same", depth_multiplier=multiplier)
    depthwise.build((None, height, width, in_channels))
    cost = costs.layer_cost(depthwise, (height, width, in_channels))
    assert cost.output_shape == (out_h, out_w, in_channels * multiplier)
    assert cost.mult_adds == depthwise_macs
    assert cost.mult_adds * 2 == tf_profiler_flops(depthwise, (height, width, in_channels), ["DepthwiseConv2dNative"])
    separable = keras.layers.SeparableConv2D(filters, 3, strides=strides, padding="same", depth_multiplier=multiplier)
    separable.build((None, height, width, in_channels))
    cost = costs.layer_cost(separable, (height, width, in_channels))
    assert cost.mult_adds == depthwise_macs + out_h * out_w * (in_channels * multiplier) * filters
    assert cost.mult_adds * 2 == tf_profiler_flops(separable, (height, width, in_channels),
                                                   ["DepthwiseConv2dNative", "Conv2D"])
    assert cost.params == separable.count_params()
