"""MaxPooling2D: Keras' pooling, with a compiled gradient equal to TensorFlow's MaxPoolGrad."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from inception_tf import GoogLeNet, InceptionModule, MaxPooling2D
from tests.conftest import compiled_nodes, to_nchw, to_nhwc
from tests.layer_harness import run_layer_test

# (input shape, pool size, strides, padding): GoogLeNet's two kinds, odd sizes, windows that
# overhang the input, non-square windows and strides, a stride equal to the window.
CASES = [
    ((2, 14, 14, 6), (3, 3), (1, 1), "same"),
    ((2, 14, 14, 6), (3, 3), (2, 2), "same"),
    ((3, 15, 13, 5), (3, 3), (2, 2), "same"),
    ((3, 15, 13, 5), (3, 3), (1, 1), "valid"),
    ((3, 15, 13, 5), (3, 3), (2, 2), "valid"),
    ((2, 16, 16, 4), (2, 2), (2, 2), "valid"),
    ((2, 9, 9, 3), (3, 3), (3, 3), "same"),
    ((2, 1, 1, 3), (3, 3), (2, 2), "same"),
    ((2, 10, 11, 4), (2, 3), (1, 2), "same"),
    ((2, 11, 10, 4), (3, 2), (2, 1), "same"),
    ((2, 10, 11, 3), (3, 3), (3, 3), "valid"),  # the last row and columns lie in no window: gradient 0
]


def relu_input(rng, shape, dtype=np.float32):
    """Values with many exact ties at zero, as after a ReLU, plus ties between equal positives."""
    x = np.maximum(rng.standard_normal(shape) - 0.3, 0.0)
    x[..., ::3] = np.round(x[..., ::3] * 2) / 2  # coarse values: ties among nonzero maxima too
    return x.astype(dtype)


def numpy_max_pool_gradient(x, dy, pool_size, strides, padding):
    """Each output's gradient goes to the first maximum of its window (row-major), padding never wins."""
    batch, height, width, channels = x.shape
    (kh, kw), (sh, sw) = pool_size, strides
    out_h, out_w = dy.shape[1:3]
    top = left = 0
    if padding == "same":
        top = max((out_h - 1) * sh + kh - height, 0) // 2
        left = max((out_w - 1) * sw + kw - width, 0) // 2
    dx = np.zeros_like(x, dtype=np.float64)
    for i in range(out_h):
        for j in range(out_w):
            rows = [r for r in range(i * sh - top, i * sh - top + kh) if 0 <= r < height]
            cols = [c for c in range(j * sw - left, j * sw - left + kw) if 0 <= c < width]
            window = x[:, rows][:, :, cols].reshape(batch, -1, channels)
            first = window.argmax(axis=1)  # argmax returns the first maximum
            for b in range(batch):
                for ch in range(channels):
                    r, c = divmod(first[b, ch], len(cols))
                    dx[b, rows[r], cols[c], ch] += dy[b, i, j, ch]
    return dx


def traced_pool_and_gradient(layer, x, jit_compile=False, training=True):
    """The layer's output and input gradient of sum(y * w), traced as `fit` traces it."""

    @tf.function(jit_compile=jit_compile)
    def run(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=training)
            weights = tf.cast(tf.reshape(tf.range(tf.size(y)) % 7 - 3, tf.shape(y)), y.dtype)
            loss = tf.reduce_sum(y * weights)
        return y, tape.gradient(loss, x), weights

    return run, run(tf.constant(x))


def eager_tensorflow_gradient(x, dy_weights, pool_size, strides, padding):
    """tf.nn.max_pool2d's gradient (TensorFlow's MaxPoolGrad kernel), computed eagerly."""
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = tf.nn.max_pool2d(xt, pool_size, strides, padding.upper())
        loss = tf.reduce_sum(y * tf.cast(dy_weights, y.dtype))
    return y, tape.gradient(loss, xt)


def graph_op_types(concrete_function):
    graph = concrete_function.graph.as_graph_def()
    nodes = list(graph.node) + [n for f in graph.library.function for n in f.node_def]
    return {n.op for n in nodes}


@pytest.mark.parametrize("shape, pool_size, strides, padding", CASES)
def test_traced_gradient_is_compiled_and_equals_maxpoolgrad(rng, shape, pool_size, strides, padding):
    x = relu_input(rng, shape)
    layer = MaxPooling2D(pool_size, strides, padding=padding, implementation="xla")
    run, (y, grad, weights) = traced_pool_and_gradient(layer, x)
    concrete = run.get_concrete_function(tf.constant(x))
    assert compiled_nodes(concrete)
    assert "MaxPoolGrad" not in graph_op_types(concrete)
    expected_y, expected_grad = eager_tensorflow_gradient(x, weights, pool_size, strides, padding)
    np.testing.assert_array_equal(y, expected_y)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-6, atol=1e-5)
    reference = numpy_max_pool_gradient(x, weights.numpy(), pool_size, strides, padding)
    np.testing.assert_allclose(grad, reference, rtol=1e-6, atol=1e-5)


def test_inside_a_jit_compiled_function_the_gradient_joins_its_cluster(rng):
    x = relu_input(rng, (2, 12, 12, 8))
    layer = MaxPooling2D(3, 2, padding="same", implementation="xla")
    run, (y, grad, weights) = traced_pool_and_gradient(layer, x, jit_compile=True)
    assert not compiled_nodes(run.get_concrete_function(tf.constant(x)))  # no nested kernel
    expected_y, expected_grad = eager_tensorflow_gradient(x, weights, (3, 3), (2, 2), "same")
    np.testing.assert_array_equal(y, expected_y)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("implementation,training", [("standard", True), ("auto", False), ("auto", None),
                                                     ("xla", False)])
def test_standard_and_inference_calls_trace_tensorflow_pooling_only(rng, implementation, training):
    x = relu_input(rng, (2, 9, 9, 4))
    layer = MaxPooling2D(3, 1, padding="same", implementation=implementation)
    run, (y, grad, weights) = traced_pool_and_gradient(layer, x, training=training)
    concrete = run.get_concrete_function(tf.constant(x))
    # The forward pool is TensorFlow's op on every path; only "xla" compiles the gradient.
    assert bool(compiled_nodes(concrete)) == (implementation == "xla")
    assert "MaxPool" in graph_op_types(concrete)
    np.testing.assert_array_equal(y, tf.nn.max_pool2d(x, 3, 1, "SAME"))


def test_windows_above_3x3_use_tensorflows_gradient(rng):
    x = relu_input(rng, (2, 12, 12, 3))
    layer = MaxPooling2D(5, 2, padding="same", implementation="xla")
    run, (y, grad, weights) = traced_pool_and_gradient(layer, x)
    concrete = run.get_concrete_function(tf.constant(x))
    assert not compiled_nodes(concrete)
    assert "MaxPoolGrad" in graph_op_types(concrete)
    np.testing.assert_allclose(grad, numpy_max_pool_gradient(x, weights.numpy(), (5, 5), (2, 2), "same"),
                               rtol=1e-6, atol=1e-5)


def test_channels_first_traced_equals_channels_last(rng):
    x = relu_input(rng, (2, 10, 10, 6))
    _, (nchw, nchw_grad, _) = traced_pool_and_gradient(
        MaxPooling2D(3, 2, padding="same", data_format="channels_first", implementation="xla"), to_nchw(x))
    _, (nhwc, nhwc_grad, _) = traced_pool_and_gradient(MaxPooling2D(3, 2, padding="same", implementation="xla"), x)
    np.testing.assert_array_equal(to_nhwc(np.asarray(nchw)), nhwc)
    # The gradient weights follow each layout's flattening order, so compare against its own reference.
    weights = np.reshape(np.arange(nchw.numpy().size) % 7 - 3, nchw.shape).astype(np.float32)
    expected = numpy_max_pool_gradient(x, to_nhwc(weights), (3, 3), (2, 2), "same")
    np.testing.assert_allclose(to_nhwc(np.asarray(nchw_grad)), expected, rtol=1e-6, atol=1e-5)
    assert nhwc_grad.shape == x.shape


def test_bfloat16_gradient_equals_maxpoolgrad(rng):
    x = relu_input(rng, (2, 14, 14, 8))
    xb = tf.cast(x, tf.bfloat16).numpy()
    run, (y, grad, weights) = traced_pool_and_gradient(MaxPooling2D(3, 1, padding="same", dtype="bfloat16", implementation="xla"), xb)
    assert grad.dtype == tf.bfloat16
    expected_y, expected_grad = eager_tensorflow_gradient(xb, weights, (3, 3), (1, 1), "same")
    np.testing.assert_array_equal(tf.cast(y, tf.float32), tf.cast(expected_y, tf.float32))
    # Sums of up to nine small integers: exact in bfloat16 whatever the order.
    np.testing.assert_array_equal(tf.cast(grad, tf.float32), tf.cast(expected_grad, tf.float32))


def test_banded_pool_trains_with_tensorflows_gradient_where_auto_compiles_it(rng, cpu_kind):
    cpu_kind(onednn=False)  # "auto" compiles the max-pool gradient here; "banded" is an LRN form
    x = relu_input(rng, (2, 9, 9, 4))
    for implementation, compiled in (("auto", True), ("banded", False)):
        layer = MaxPooling2D(3, 1, padding="same", implementation=implementation)
        run, (y, grad, weights) = traced_pool_and_gradient(layer, x, training=True)
        assert bool(compiled_nodes(run.get_concrete_function(tf.constant(x)))) == compiled, implementation
        np.testing.assert_array_equal(y, tf.nn.max_pool2d(x, 3, 1, "SAME"))


@pytest.mark.parametrize("kwargs,output_shape", [
    ({"pool_size": (2, 3), "strides": (1, 2), "padding": "same", "implementation": "xla"}, (2, 9, 5, 4)),
    ({"pool_size": 3, "strides": 2, "implementation": "standard"}, (2, 4, 4, 4)),
], ids=["same_xla", "valid_standard"])
def test_layer_contract(kwargs, output_shape, tmp_path):
    run_layer_test(MaxPooling2D, kwargs, (2, 9, 9, 4), tmp_path, expected_output_shape=output_shape)


def test_googlenet_and_inception_module_pool_with_it():
    model = GoogLeNet(input_shape=(64, 64, 3), classes=10)
    pools = [layer for layer in model.layers if isinstance(layer, keras.layers.MaxPooling2D)]
    assert len(pools) == 4 and all(type(layer) is MaxPooling2D for layer in pools)
    module = InceptionModule(4, 2, 4, 2, 4, 4)
    module.build((None, 8, 8, 6))
    assert type(module.pool) is MaxPooling2D


def test_inception_module_traced_gradients_equal_eager_ones(rng):
    x = relu_input(rng, (2, 10, 10, 6))
    module = InceptionModule(4, 2, 4, 2, 4, 4, implementation="xla")
    module.build((None, 10, 10, 6))

    def gradients(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(module(x, training=True) ** 2)
        return tape.gradient(loss, [x] + module.trainable_weights)

    eager = gradients(tf.constant(x))
    traced = tf.function(gradients)(tf.constant(x))
    for got, expected in zip(traced, eager):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("pool_size, strides", [((2, 5), (1, 1)), ((2, 2), (3, 1)), ((2, 2), (1, 3))],
                         ids=["ten_positions", "row_stride_beyond_window", "column_stride_beyond_window"])
def test_windows_of_ten_positions_or_strides_beyond_the_window_use_tensorflows_gradient(rng, pool_size, strides):
    x = relu_input(rng, (2, 9, 9, 3))
    run, (y, grad, weights) = traced_pool_and_gradient(
        MaxPooling2D(pool_size, strides, padding="valid", implementation="xla"), x)
    concrete = run.get_concrete_function(tf.constant(x))
    assert not compiled_nodes(concrete) and "MaxPoolGrad" in graph_op_types(concrete)
    np.testing.assert_allclose(grad, numpy_max_pool_gradient(x, weights.numpy(), pool_size, strides, "valid"),
                               rtol=1e-6, atol=1e-5)


def test_a_window_of_nine_positions_with_a_stride_equal_to_it_compiles():
    x = np.zeros((1, 9, 9, 1), np.float32)
    for pool_size, strides in (((3, 3), (3, 3)), ((1, 9), (1, 9))):
        run, _ = traced_pool_and_gradient(MaxPooling2D(pool_size, strides, implementation="xla"), x)
        assert compiled_nodes(run.get_concrete_function(tf.constant(x))), pool_size


@pytest.mark.parametrize("data_format, signature", [
    ("channels_last", (2, None, 9, 4)), ("channels_last", (2, 9, None, 4)),
    ("channels_first", (2, 4, None, 9)), ("channels_first", (2, 4, 9, None)),
])
def test_an_unknown_height_or_width_uses_kerass_pool(rng, data_format, signature):
    """The compiled gradient needs the spatial size; an unknown one (any layout) falls back to Keras' layer."""
    x = relu_input(rng, (2, 9, 9, 4))
    if data_format == "channels_first":
        x = to_nchw(x)
    layer = MaxPooling2D(3, 2, padding="same", data_format=data_format, implementation="xla")

    @tf.function(input_signature=[tf.TensorSpec(signature, tf.float32)])
    def run(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(y * y)
        return y, tape.gradient(loss, x)

    assert not compiled_nodes(run.get_concrete_function())
    y, grad = run(tf.constant(x))
    expected = keras.layers.MaxPooling2D(3, 2, padding="same", data_format=data_format)(x)
    np.testing.assert_array_equal(y, expected)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:  # the gradient of Keras' own layer, eagerly
        tape.watch(xt)
        loss = tf.reduce_sum(keras.layers.MaxPooling2D(3, 2, padding="same", data_format=data_format)(xt) ** 2)
    np.testing.assert_array_equal(grad, tape.gradient(loss, xt))


def test_float64_gradient_keeps_float64_ties_apart():
    """Maxima closer than float32 can tell apart: a float32 detour would send the gradient to the wrong one."""
    x = np.zeros((1, 3, 3, 1))
    x[0, 0, 0, 0], x[0, 2, 2, 0] = 1.0, 1.0 + 1e-12  # equal in float32; the second is the maximum
    layer = MaxPooling2D(3, 1, padding="valid", dtype="float64", implementation="xla")
    run, (y, grad, weights) = traced_pool_and_gradient(layer, x)
    assert grad.dtype == tf.float64 and y.numpy().item() == 1.0 + 1e-12
    expected = np.zeros_like(x)
    expected[0, 2, 2, 0] = weights.numpy().item()
    np.testing.assert_array_equal(grad, expected)


def test_registered_name_and_default_implementation():
    assert keras.saving.get_registered_name(MaxPooling2D) == "inception_tf>MaxPooling2D"
    assert MaxPooling2D(3).implementation == "auto"
    assert MaxPooling2D(3).get_config()["implementation"] == "auto"
