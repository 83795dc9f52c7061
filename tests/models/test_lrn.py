"""LocalResponseNormalization: Caffe's formula, TensorFlow's op, the banded form and the XLA kernels."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from inception_tf import LocalResponseNormalization
from inception_tf.models import kernels, lrn
from tests.conftest import compiled_nodes, to_nchw, to_nhwc
from tests.layer_harness import run_layer_test


def numpy_lrn_caffe(x, local_size=5, alpha=1e-4, beta=0.75, k=1.0):
    """Caffe's ACROSS_CHANNELS LRN in float64 (NHWC): alpha divided by local_size."""
    x = x.astype(np.float64)
    half = local_size // 2
    channels = x.shape[-1]
    padded = np.pad(x ** 2, [(0, 0)] * 3 + [(half, half)])
    window = sum(padded[..., i : i + channels] for i in range(local_size))
    return x / (k + alpha / local_size * window) ** beta


@pytest.mark.parametrize("scale", [1.0, 30.0])
@pytest.mark.parametrize("params", [{}, {"depth_radius": 3, "bias": 2.0, "alpha": 1e-3, "beta": 0.5}])
def test_lrn_equals_tf_nn_lrn(rng, scale, params):
    x = (rng.standard_normal((2, 9, 9, 24)) * scale).astype(np.float32)
    layer = LocalResponseNormalization(**params)
    expected = tf.nn.local_response_normalization(
        x, depth_radius=layer.depth_radius, bias=layer.bias, alpha=layer.alpha, beta=layer.beta
    )
    np.testing.assert_allclose(layer(x), expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("params", [{}, {"depth_radius": 1, "bias": 2.0, "alpha": 1e-3, "beta": 0.6}])
def test_lrn_portable_path_equals_tf_nn_lrn(rng, params):
    # The keras.ops implementation other backends and channels_first use.
    x = (rng.standard_normal((2, 7, 7, 20)) * 30).astype(np.float32)
    layer = LocalResponseNormalization(**params)
    expected = tf.nn.local_response_normalization(
        x, depth_radius=layer.depth_radius, bias=layer.bias, alpha=layer.alpha, beta=layer.beta)
    np.testing.assert_allclose(layer._portable_lrn(tf.constant(x)), expected, rtol=1e-6, atol=1e-6)


def graph_lrn(layer, x):
    """The layer's output and its input gradient (of sum(y * w)), traced as fit/predict trace it."""
    weights = tf.constant(np.linspace(-1, 1, x.size, dtype=np.float32).reshape(x.shape))

    @tf.function
    def run(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(tf.cast(y, tf.float32) * weights)
        return y, tape.gradient(loss, x)

    return run, run(tf.constant(x)), weights


def tf_lrn_and_gradient(layer, x, weights):
    """`tf.nn.local_response_normalization` of `x` with `layer`'s parameters, and its input gradient of sum(y * w)."""
    with tf.GradientTape() as tape:
        xt = tf.constant(x)
        tape.watch(xt)
        expected = tf.nn.local_response_normalization(
            xt, depth_radius=layer.depth_radius, bias=layer.bias, alpha=layer.alpha, beta=layer.beta)
        loss = tf.reduce_sum(expected * weights)
    return expected, tape.gradient(loss, xt)


@pytest.mark.parametrize("params", [{}, {"depth_radius": 3, "bias": 2.0, "alpha": 1e-3, "beta": 0.5}])
def test_lrn_xla_kernels_are_compiled_and_equal_tf_nn_lrn(rng, params):
    x = (rng.standard_normal((3, 8, 8, 64)) * 30).astype(np.float32)
    layer = LocalResponseNormalization(**params, implementation="xla")
    run, (y, grad), weights = graph_lrn(layer, x)
    assert compiled_nodes(run.get_concrete_function(tf.constant(x)))
    expected, expected_grad = tf_lrn_and_gradient(layer, x, weights)
    np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("implementation", ["xla", "auto"])
def test_lrn_inside_a_jit_compiled_function_joins_its_cluster(rng, monkeypatch, implementation):
    monkeypatch.setattr(kernels, "banded_lrn_pays_off", lambda: True)  # "auto": the banded form outside XLA
    x = (rng.standard_normal((2, 5, 5, 16)) * 30).astype(np.float32)
    layer = LocalResponseNormalization(implementation=implementation)
    jitted = tf.function(lambda x: layer(x, training=True), jit_compile=True)
    graph = jitted.get_concrete_function(tf.TensorSpec((None, 5, 5, 16)))
    assert not compiled_nodes(graph)  # no nested kernel
    assert "Conv2D" not in {node.op for node in graph.graph.as_graph_def().node}  # the plain ops, for XLA to fuse
    expected = tf.nn.local_response_normalization(x, depth_radius=2, bias=1.0, alpha=1e-4 / 5, beta=0.75)
    np.testing.assert_allclose(jitted(tf.constant(x)), expected, rtol=1e-6, atol=1e-6)


def test_lrn_standard_inside_a_jit_compiled_function_keeps_tensorflows_op(rng):
    # "standard" names TensorFlow's LRN op, which XLA compiles itself: no plain-ops rewrite of it.
    x = (rng.standard_normal((2, 5, 5, 16)) * 30).astype(np.float32)
    layer = LocalResponseNormalization(implementation="standard")
    jitted = tf.function(lambda x: layer(x, training=True), jit_compile=True)
    ops = {node.op for node in jitted.get_concrete_function(tf.TensorSpec((None, 5, 5, 16))).graph.as_graph_def().node}
    assert "LRN" in ops and "Conv2D" not in ops
    np.testing.assert_allclose(jitted(tf.constant(x)), numpy_lrn_caffe(x), rtol=1e-5, atol=1e-6)


def test_lrn_xla_kernel_is_traced_once_for_every_batch_size():
    # Each trace of the compiled kernel is one more XLA compilation; the second batch size relaxes the signature.
    layer = LocalResponseNormalization(depth_radius=1, bias=1.25, alpha=1e-3, implementation="xla")
    for batch_size in (1, 2, 3, 4):
        layer(np.ones((batch_size, 4, 4, 8), np.float32))
    kernel = lrn._xla_lrn_kernel(1, 1.25, 1e-3, 0.75, -1)
    assert kernel.experimental_get_tracing_count() == 2


@pytest.mark.parametrize("implementation,training,banded_pays_off",
                         [("standard", True, True), ("standard", None, True), ("auto", False, False),
                          ("auto", None, False)])
def test_lrn_standard_calls_use_tensorflows_op_only(rng, monkeypatch, implementation, training, banded_pays_off):
    monkeypatch.setattr(kernels, "banded_lrn_pays_off", lambda: banded_pays_off)
    x = (rng.standard_normal((2, 5, 5, 16)) * 30).astype(np.float32)
    layer = LocalResponseNormalization(implementation=implementation)
    concrete = tf.function(lambda x: layer(x, training=training)).get_concrete_function(
        tf.TensorSpec((None, 5, 5, 16)))
    assert not compiled_nodes(concrete)
    ops = {node.op for node in concrete.graph.as_graph_def().node}
    assert "LRN" in ops and "Conv2D" not in ops
    np.testing.assert_allclose(concrete(tf.constant(x)), layer(x), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("training", [False, None])
def test_lrn_inference_calls_use_the_banded_form_where_it_pays_off(rng, monkeypatch, training):
    monkeypatch.setattr(kernels, "banded_lrn_pays_off", lambda: True)
    x = (rng.standard_normal((2, 5, 5, 16)) * 30).astype(np.float32)
    layer = LocalResponseNormalization()
    concrete = tf.function(lambda x: layer(x, training=training)).get_concrete_function(
        tf.TensorSpec((None, 5, 5, 16)))
    assert not compiled_nodes(concrete)
    ops = {node.op for node in concrete.graph.as_graph_def().node}
    assert "Conv2D" in ops and "LRN" not in ops
    expected = tf.nn.local_response_normalization(x, depth_radius=2, bias=1.0, alpha=1e-4 / 5, beta=0.75)
    np.testing.assert_allclose(concrete(tf.constant(x)), expected, rtol=1e-6, atol=1e-6)


def test_lrn_auto_training_call_runs_the_banded_form_where_compiled_kernels_do_not_pay(rng, monkeypatch):
    monkeypatch.setattr(kernels, "compiled_kernels_pay_off", lambda kernel: False)
    monkeypatch.setattr(kernels, "banded_lrn_pays_off", lambda: True)
    x = (rng.standard_normal((3, 8, 8, 64)) * 30).astype(np.float32)
    layer = LocalResponseNormalization()
    run, (y, grad), weights = graph_lrn(layer, x)
    ops = {node.op for node in run.get_concrete_function(tf.constant(x)).graph.as_graph_def().node}
    assert "Conv2D" in ops and "LRN" not in ops
    expected, expected_grad = tf_lrn_and_gradient(layer, x, weights)
    np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("params", [{}, {"depth_radius": 3, "bias": 2.0, "alpha": 1e-3, "beta": 0.5}])
@pytest.mark.parametrize("onednn,bfc", [(False, False), (True, False)])  # "auto": TensorFlow's op / banded
def test_lrn_banded_implementation_equals_tf_nn_lrn_on_every_machine(rng, cpu_kind, params, onednn, bfc):
    cpu_kind(onednn, bfc=bfc)
    x = (rng.standard_normal((3, 8, 8, 64)) * 30).astype(np.float32)
    layer = LocalResponseNormalization(**params, implementation="banded")
    run, (y, grad), weights = graph_lrn(layer, x)  # a training call: the same form, its gradient by autodiff
    training_ops = {node.op for node in run.get_concrete_function(tf.constant(x)).graph.as_graph_def().node}
    inference = tf.function(lambda x: layer(x, training=False)).get_concrete_function(tf.TensorSpec(x.shape))
    for ops in (training_ops, {node.op for node in inference.graph.as_graph_def().node}):
        assert "Conv2D" in ops and not {"LRN", "LRNGrad"} & ops
    assert not compiled_nodes(run.get_concrete_function(tf.constant(x)))
    expected, expected_grad = tf_lrn_and_gradient(layer, x, weights)
    np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(inference(tf.constant(x)), expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-5, atol=1e-6)


def test_lrn_of_unknown_channel_count_uses_tensorflows_op(rng, monkeypatch):
    # The band matrix needs the channel count when the graph is traced.
    monkeypatch.setattr(kernels, "banded_lrn_pays_off", lambda: True)
    layer = LocalResponseNormalization()
    concrete = tf.function(lambda x: layer(x, training=False)).get_concrete_function(
        tf.TensorSpec((None, 5, 5, None)))
    assert "LRN" in {node.op for node in concrete.graph.as_graph_def().node}
    x = (rng.standard_normal((2, 5, 5, 12)) * 30).astype(np.float32)
    expected = tf.nn.local_response_normalization(x, depth_radius=2, bias=1.0, alpha=1e-4 / 5, beta=0.75)
    np.testing.assert_allclose(concrete(tf.constant(x)), expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("shape,params", [
    ((2, 6, 6, 64), {}),  # GoogLeNet's: Caffe's local_size 5, alpha 1e-4, beta 0.75, k 1
    ((1, 4, 3, 7), {"local_size": 3, "alpha": 1e-2, "beta": 0.5, "k": 2.0}),
    ((1, 3, 3, 5), {"local_size": 11, "alpha": 3e-3, "beta": 1.0, "k": 1.5}),  # window wider than the channels
    ((1, 3, 3, 6), {"local_size": 1, "alpha": 5e-3, "beta": 0.6, "k": 0.5}),
])
def test_lrn_banded_form_equals_caffes_formula(rng, shape, params):
    x = (rng.standard_normal(shape) * 30).astype(np.float32)
    local_size = params.get("local_size", 5)
    layer = LocalResponseNormalization(depth_radius=local_size // 2, alpha=params.get("alpha", 1e-4) / local_size,
                                       beta=params.get("beta", 0.75), bias=params.get("k", 1.0))
    expected = numpy_lrn_caffe(x, **params)
    np.testing.assert_allclose(layer._banded_lrn(tf.constant(x)), expected, rtol=2e-6, atol=1e-6)


def test_lrn_banded_form_gradient_equals_tensorflows(rng):
    x = tf.constant((rng.standard_normal((2, 5, 5, 24)) * 30).astype(np.float32))
    weights = tf.constant(rng.standard_normal(x.shape).astype(np.float32))
    layer = LocalResponseNormalization()
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        banded = tf.reduce_sum(layer._banded_lrn(x) * weights)
        fused = tf.reduce_sum(layer._tensorflow_lrn(x) * weights)
    np.testing.assert_allclose(tape.gradient(banded, x), tape.gradient(fused, x), rtol=1e-5, atol=1e-6)


def test_lrn_banded_form_keeps_a_bfloat16_input_dtype_and_normalises_in_float32(rng):
    x = (rng.standard_normal((1, 4, 4, 32)) * 30).astype(np.float32)
    layer = LocalResponseNormalization()
    y = layer._banded_lrn(tf.constant(x, tf.bfloat16))
    assert y.dtype == tf.bfloat16
    xb = tf.cast(tf.cast(x, tf.bfloat16), tf.float32)  # the float32 values the layer sees
    expected = tf.nn.local_response_normalization(xb, depth_radius=2, bias=1.0, alpha=1e-4 / 5, beta=0.75)
    # Only the final rounding to bfloat16 (8 significant bits) separates the two.
    np.testing.assert_allclose(tf.cast(y, tf.float32), expected, rtol=2 ** -8, atol=0)


# The bfloat16 banded form's bound (its docstring): the output within 6.75 units of bfloat16's roundoff
# (2**-8) of Caffe's formula for beta 0.75, (3 * beta + 2) units for beta computed by `power`; 7 units here.
BFLOAT16_BANDED_RTOL = 7 * 2 ** -8


@pytest.mark.parametrize("scale", [30.0, 300.0])  # alpha * sum from about 0.1 to 10: the power matters
@pytest.mark.parametrize("shape,params", [
    ((2, 6, 6, 64), {}),
    ((1, 4, 3, 7), {"local_size": 3, "alpha": 1e-2, "beta": 0.5, "k": 2.0}),
    ((1, 3, 3, 6), {"local_size": 1, "alpha": 5e-3, "beta": 0.6, "k": 0.5}),
])
def test_lrn_bfloat16_banded_form_equals_caffes_formula_within_its_roundings(rng, scale, shape, params):
    x = tf.constant(rng.standard_normal(shape) * scale, tf.bfloat16)
    local_size = params.get("local_size", 5)
    layer = LocalResponseNormalization(depth_radius=local_size // 2, alpha=params.get("alpha", 1e-4) / local_size,
                                       beta=params.get("beta", 0.75), bias=params.get("k", 1.0))
    y = layer._banded_lrn(x, "bfloat16")
    assert y.dtype == tf.bfloat16
    expected = numpy_lrn_caffe(tf.cast(x, tf.float64).numpy(), **params)
    np.testing.assert_allclose(tf.cast(y, tf.float64), expected, rtol=BFLOAT16_BANDED_RTOL, atol=1e-30)


def test_lrn_bfloat16_banded_form_gradient_equals_tensorflows(rng):
    x = tf.constant(rng.standard_normal((2, 5, 5, 24)) * 100, tf.bfloat16)
    weights = tf.constant(rng.standard_normal(x.shape).astype(np.float32))
    layer = LocalResponseNormalization()
    exact = tf.cast(x, tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, exact])
        banded = tf.reduce_sum(tf.cast(layer._banded_lrn(x, "bfloat16"), tf.float32) * weights)
        fused = tf.reduce_sum(layer._tensorflow_lrn(exact) * weights)
    grad, expected = tf.cast(tape.gradient(banded, x), tf.float32), tape.gradient(fused, exact)
    assert grad.dtype == tf.float32 and tape.gradient(banded, x).dtype == tf.bfloat16
    # Each of the gradient's two terms (the output's, and the window's through the sum of squares; neither
    # larger than the largest gradient here) goes through the forward's roundings and its own products': 8 units
    # of bfloat16's roundoff of the largest gradient (measured: 2.5).
    np.testing.assert_allclose(grad, expected, rtol=0, atol=8 * 2 ** -8 * float(tf.reduce_max(tf.abs(expected))))


@pytest.mark.parametrize("implementation,amx,in_bfloat16", [("auto", True, True), ("auto", False, False),
                                                             ("banded", True, True), ("banded", False, True)])
@pytest.mark.parametrize("training", [True, False])
def test_lrn_under_mixed_bfloat16_runs_in_bfloat16_on_amx_or_when_banded(rng, cpu_kind, implementation, amx,
                                                                         in_bfloat16, training):
    # "auto" computes in bfloat16 where it measured faster (AMX); "banded" names the form, on every machine.
    cpu_kind(onednn=True, amx=amx)
    x = (rng.standard_normal((3, 8, 8, 64)) * 100).astype(np.float32)
    layer = LocalResponseNormalization(dtype="mixed_bfloat16", implementation=implementation)
    if training:
        run, (y, _), _ = graph_lrn(layer, x)
        concrete = run.get_concrete_function(tf.constant(x))
    else:
        concrete = tf.function(lambda x: layer(x, training=False)).get_concrete_function(tf.TensorSpec(x.shape))
        y = concrete(tf.constant(x))
    nodes = concrete.graph.as_graph_def().node
    convolutions = [tf.dtypes.as_dtype(n.attr["T"].type) for n in nodes if n.op == "Conv2D"]
    assert convolutions == [tf.bfloat16 if in_bfloat16 else tf.float32]
    assert not {"LRN", "LRNGrad"} & {n.op for n in nodes}
    casts = [tf.dtypes.as_dtype(n.attr["DstT"].type) for n in nodes if n.op == "Cast"]
    assert (tf.float32 in casts) == (not in_bfloat16 or training)  # only the loss's cast where bfloat16 throughout
    assert y.dtype == tf.bfloat16
    seen = tf.cast(tf.cast(x, tf.bfloat16), tf.float64).numpy()  # what autocasting feeds it
    rtol = BFLOAT16_BANDED_RTOL if in_bfloat16 else 2 ** -8  # in float32, only the final rounding
    np.testing.assert_allclose(tf.cast(y, tf.float64), numpy_lrn_caffe(seen), rtol=rtol, atol=1e-30)


def test_lrn_channels_first_traced_equals_channels_last(rng):
    x = (rng.standard_normal((2, 6, 6, 12)) * 20).astype(np.float32)
    _, (nchw, nchw_grad), _ = graph_lrn(
        LocalResponseNormalization(data_format="channels_first", implementation="xla"), to_nchw(x))
    _, (nhwc, nhwc_grad), _ = graph_lrn(LocalResponseNormalization(implementation="xla"), x)
    np.testing.assert_allclose(to_nhwc(np.asarray(nchw)), nhwc, rtol=1e-6, atol=1e-6)
    assert nchw_grad.shape == to_nchw(x).shape


@pytest.mark.parametrize("beta", [0.5, 0.75, 1.5, 1.75, 1.0])  # rsqrt, rsqrt * sqrt(rsqrt), and `power`
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])  # banded form, keras.ops form
def test_lrn_matches_caffes_formula_for_every_beta(rng, beta, data_format):
    x = (rng.standard_normal((2, 4, 4, 9)) * 30).astype(np.float32)
    layer = LocalResponseNormalization(depth_radius=2, bias=1.5, alpha=3e-3 / 5, beta=beta, data_format=data_format,
                                       implementation="banded")
    y = layer(x if data_format == "channels_last" else to_nchw(x))
    y = np.asarray(y) if data_format == "channels_last" else to_nhwc(np.asarray(y))
    np.testing.assert_allclose(y, numpy_lrn_caffe(x, local_size=5, alpha=3e-3, beta=beta, k=1.5), rtol=2e-6, atol=1e-6)


@pytest.mark.parametrize("bias,alpha", [(0.0, 1e-3), (0.5, 0.0)])
def test_lrn_accepts_a_zero_bias_or_a_zero_alpha_when_the_other_is_positive(rng, bias, alpha):
    x = (rng.standard_normal((1, 3, 3, 6)) * 30).astype(np.float32)
    layer = LocalResponseNormalization(depth_radius=1, bias=bias, alpha=alpha / 3)
    np.testing.assert_allclose(layer(x), numpy_lrn_caffe(x, local_size=3, alpha=alpha, k=bias), rtol=2e-6, atol=1e-6)


def test_lrn_is_registered_under_the_package_name():
    # The name `.keras` files record for the layer, and look it up by when they load.
    assert keras.saving.get_registered_name(LocalResponseNormalization) == "inception_tf>LocalResponseNormalization"
    config = keras.saving.serialize_keras_object(LocalResponseNormalization())
    assert config["registered_name"] == "inception_tf>LocalResponseNormalization"


def test_lrn_defaults_are_caffe_googlenet(rng):
    x = (rng.standard_normal((2, 5, 5, 16)) * 50).astype(np.float32)
    np.testing.assert_allclose(LocalResponseNormalization()(x), numpy_lrn_caffe(x), rtol=1e-6)


def test_lrn_channels_first(rng):
    x = (rng.standard_normal((2, 6, 6, 10)) * 20).astype(np.float32)
    nchw = LocalResponseNormalization(data_format="channels_first")(to_nchw(x))
    np.testing.assert_allclose(to_nhwc(np.asarray(nchw)), LocalResponseNormalization()(x), rtol=1e-6)


@pytest.mark.parametrize("onednn", [True, False])
def test_lrn_under_mixed_bfloat16_normalises_in_float32_without_amx(rng, cpu_kind, onednn):
    cpu_kind(onednn, amx=False)  # the banded form, or TensorFlow's op (on AMX: the test above)
    x = (rng.standard_normal((2, 6, 6, 32)) * 20).astype(np.float32)
    x = np.asarray(tf.cast(tf.cast(x, tf.bfloat16), tf.float32))  # what autocasting feeds it
    reference = np.asarray(LocalResponseNormalization()(x))
    keras.config.set_dtype_policy("mixed_bfloat16")
    layer = LocalResponseNormalization()
    out = layer(x)
    _, (traced, _), _ = graph_lrn(LocalResponseNormalization(implementation="xla"), x)
    for result in (out, traced):  # eager (the machine's inference kernel) and traced (XLA kernel)
        assert keras.backend.standardize_dtype(result.dtype) == "bfloat16"
        # Only the final rounding to bfloat16 (8 significant bits) separates the two.
        np.testing.assert_allclose(np.asarray(result, np.float32), reference, rtol=2 ** -8, atol=0)


@pytest.mark.parametrize("kwargs", [{"depth_radius": 1, "bias": 2.0, "alpha": 1e-2, "beta": 0.5},
                                    {"implementation": "standard"}, {"implementation": "banded"},
                                    {"implementation": "xla"}],
                         ids=["parameters", "standard", "banded", "xla"])
def test_lrn_layer_contract(kwargs, tmp_path):
    run_layer_test(LocalResponseNormalization, kwargs, (2, 6, 6, 8), tmp_path, expected_output_shape=(2, 6, 6, 8),
                   input_range=(-10.0, 10.0))


@pytest.mark.parametrize(
    "kwargs,message",
    [({"depth_radius": -1}, "depth_radius"), ({"depth_radius": 2.5}, "depth_radius"),
     ({"beta": "x"}, "^beta must be a number. Received: beta='x'$"),
     ({"bias": "1"}, "^bias must be a number. Received: bias='1'$"),
     ({"alpha": True}, "^alpha must be a number. Received: alpha=True$"),
     ({"bias": 0.0, "alpha": 0.0}, "bias or alpha"), ({"bias": -1.0, "alpha": 0.0}, "bias or alpha"),
     ({"bias": 0.0, "alpha": -1e-3}, "bias or alpha"),
     ({"implementation": "fast"}, "implementation must be one of")],
)
def test_lrn_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LocalResponseNormalization(**kwargs)
