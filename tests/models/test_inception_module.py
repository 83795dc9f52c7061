"""InceptionModule: equivalence with the slide's ops, saving, errors."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from inception_tf import InceptionModule
from inception_tf.models import kernels, slide
from tests.conftest import to_nchw, to_nhwc
from tests.layer_harness import run_layer_test

FILTERS = (8, 6, 10, 4, 6, 5)  # 1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj
OUT_CHANNELS = 8 + 10 + 6 + 5


def built_module(in_channels, relu="as_written", data_format="channels_last", seed=0, module=1):
    layer = InceptionModule(*FILTERS, relu=relu, data_format=data_format)
    shape = (None, 5, 5, in_channels) if data_format == "channels_last" else (None, in_channels, 5, 5)
    layer.build(shape)
    weights = slide.slide_initial_weights(in_channels, *FILTERS, module=module, seed=seed)
    layer.load_slide_weights(weights, module=module)
    return layer, weights


@pytest.mark.parametrize("relu", ["as_written", "corrected"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("shape", [(1, 13, 17, 1), (4, 8, 8, 7), (2, 28, 28, 192)])
def test_equals_slide_reference(rng, relu, data_format, shape):
    x = rng.standard_normal(shape).astype(np.float32)
    layer, weights = built_module(shape[-1], relu=relu, data_format=data_format)
    expected = slide.inception_module(tf.constant(x), weights).numpy()
    if data_format == "channels_first":
        got = to_nhwc(np.asarray(layer(to_nchw(x))))
    else:
        got = np.asarray(layer(x))
    assert got.shape == shape[:3] + (OUT_CHANNELS,)
    assert np.abs(got - expected).max() <= 1e-5


def test_as_written_equals_corrected_but_graphs_differ(rng):
    x = rng.standard_normal((3, 9, 9, 4)).astype(np.float32)
    as_written, weights = built_module(4, relu="as_written")
    corrected, _ = built_module(4, relu="corrected")
    np.testing.assert_allclose(as_written(x), corrected(x), atol=1e-6)
    # Same function, different graphs: the slide leaves the 1x1 branch linear.
    assert as_written.convs["branch_1x1"].activation is keras.activations.linear
    assert corrected.convs["branch_1x1"].activation is keras.activations.relu
    assert as_written.output_relu is not None and corrected.output_relu is None


def test_module_numbers_select_names(rng):
    layer, weights = built_module(3, module=2)
    assert set(layer.slide_weights(module=2)) == set(weights)
    for name, value in layer.slide_weights(module=2).items():
        np.testing.assert_array_equal(value, weights[name])


def test_variable_paths_are_addressable():
    layer = InceptionModule(*FILTERS, name="inception_3a")
    layer.build((None, 8, 8, 3))
    paths = {v.path for v in layer.weights}
    assert "inception_3a/branch_3x3/kernel" in paths
    assert "inception_3a/branch_pool_proj/bias" in paths
    assert len(layer.weights) == 12


def test_gradients_reach_all_twelve_weights(rng):
    layer, _ = built_module(3)
    x = tf.constant(rng.standard_normal((2, 6, 6, 3)).astype(np.float32))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x) ** 2)
    grads = tape.gradient(loss, layer.trainable_weights)
    assert len(grads) == 12
    for variable, grad in zip(layer.trainable_weights, grads):
        assert grad is not None, variable.path
        assert float(tf.reduce_max(tf.abs(grad))) > 0, variable.path


@pytest.mark.parametrize("kwargs", [
    {"relu": "as_written", "bias_initializer": "slide"},
    {"relu": "corrected", "use_bias": False, "kernel_initializer": "he_normal", "implementation": "standard",
     "kernel_regularizer": keras.regularizers.L2(1e-4), "bias_regularizer": "l1"},
], ids=["as_written", "corrected"])
def test_layer_contract(kwargs, tmp_path):
    filters = dict(zip(("filters_1x1", "filters_3x3_reduce", "filters_3x3", "filters_5x5_reduce", "filters_5x5",
                        "filters_pool_proj"), FILTERS))
    run_layer_test(InceptionModule, {**filters, **kwargs}, (2, 7, 7, 3), tmp_path,
                   expected_output_shape=(2, 7, 7, OUT_CHANNELS))


def test_slide_initializer_draws_the_source_distribution():
    layer = InceptionModule(64, 64, 64, 64, 64, 64, kernel_initializer="slide", bias_initializer="slide")
    layer.build((None, 4, 4, 64))
    w = layer.slide_weights()
    np.testing.assert_array_equal(w["b_conv1_5x5"], np.full(64, 0.1, np.float32))
    assert np.abs(w["W_conv1_1x1_2"]).max() <= 0.2 + 1e-6
    assert 0.08 < w["W_conv1_3x3"].std() < 0.095
    # Only the 5x5 *bias* is the constant: its kernel is drawn like every other kernel.
    assert 0.08 < w["W_conv1_5x5"].std() < 0.095


def test_named_initializers_are_keras_ones():
    # Any initializer name but "slide" means Keras' initializer of that name.
    layer = InceptionModule(*FILTERS, kernel_initializer="zeros", bias_initializer="ones")
    layer.build((None, 4, 4, 3))
    for name, value in layer.slide_weights().items():
        expected = 0.0 if name.startswith("W_") else 1.0
        np.testing.assert_array_equal(value, np.full(value.shape, expected, np.float32), err_msg=name)


def test_config_serializes_initializers_as_keras_layers_do():
    layer = InceptionModule(*FILTERS, kernel_initializer="he_normal", bias_initializer="ones")
    conv = keras.layers.Conv2D(1, 1, kernel_initializer="he_normal", bias_initializer="ones").get_config()
    config = layer.get_config()
    assert config["kernel_initializer"] == conv["kernel_initializer"]
    assert config["bias_initializer"] == conv["bias_initializer"]
    assert InceptionModule(*FILTERS, kernel_initializer="slide").get_config()["kernel_initializer"] == "slide"


def test_registered_under_the_package_name():
    # `.keras` files written by every version name the class "inception_tf>InceptionModule".
    assert keras.saving.get_registered_name(InceptionModule) == "inception_tf>InceptionModule"
    assert keras.saving.get_registered_object("inception_tf>InceptionModule") is InceptionModule


def test_sublayers_carry_the_diagram_names():
    layer = InceptionModule(*FILTERS, relu="as_written")
    names = [sublayer.name for sublayer in (*layer.convs.values(), layer.pool, layer.concat, layer.output_relu)]
    assert sorted(names) == sorted(["branch_1x1", "branch_3x3_reduce", "branch_3x3", "branch_5x5_reduce",
                                    "branch_5x5", "branch_pool", "branch_pool_proj", "concat", "relu"])


@pytest.mark.parametrize("relu", ["as_written", "corrected"])
def test_build_builds_every_sublayer(relu):
    layer = InceptionModule(*FILTERS, relu=relu)
    layer.build((None, 8, 8, 3))
    sublayers = [*layer.convs.values(), layer.pool, layer.concat] + ([layer.output_relu] if relu == "as_written" else [])
    assert [sublayer.name for sublayer in sublayers if not sublayer.built] == []


@pytest.mark.parametrize("training", [True, False])
def test_the_pool_is_told_whether_the_call_trains(rng, monkeypatch, training):
    # The pool's kernels depend on `training` (kernels.resolve); the module passes its own on.
    asked, resolve = [], kernels.resolve

    def recording(implementation, training, kernel, dtype=None):
        if kernel == "max_pool_gradient":
            asked.append(training)
        return resolve(implementation, training, kernel, dtype)

    monkeypatch.setattr(kernels, "resolve", recording)
    layer = InceptionModule(*FILTERS)
    layer(rng.standard_normal((1, 6, 6, 3)).astype(np.float32), training=training)
    assert asked == [training]


def test_works_in_sequential_functional_and_subclassed_models(rng):
    x = rng.standard_normal((2, 8, 8, 3)).astype(np.float32)
    sequential = keras.Sequential([keras.Input((8, 8, 3)), InceptionModule(*FILTERS)])

    inputs = keras.Input((8, 8, 3))
    functional = keras.Model(inputs, InceptionModule(*FILTERS)(inputs))

    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.module = InceptionModule(*FILTERS)
            self.pool = keras.layers.GlobalAveragePooling2D()

        def call(self, inputs):
            return self.pool(self.module(inputs))

    subclassed = Net()
    for model in (sequential, functional):
        assert model(x).shape == (2, 8, 8, OUT_CHANNELS)
    assert subclassed(x).shape == (2, OUT_CHANNELS)
    subclassed.compile(optimizer="sgd", loss="mse")
    subclassed.fit(x, np.zeros((2, OUT_CHANNELS)), epochs=1, verbose=0)


def test_compute_output_shape():
    layer = InceptionModule(64, 96, 128, 16, 32, 32)
    assert layer.compute_output_shape((None, 28, 28, 192)) == (None, 28, 28, 256)
    nchw = InceptionModule(64, 96, 128, 16, 32, 32, data_format="channels_first")
    assert nchw.compute_output_shape((5, 192, None, None)) == (5, 256, None, None)


@pytest.mark.parametrize(
    "argument,value",
    [("filters_1x1", 0), ("filters_3x3", -4), ("filters_5x5", 2.5), ("filters_pool_proj", True),
     ("filters_3x3_reduce", "16"), ("filters_5x5_reduce", None)],
)
def test_bad_filter_counts_are_named(argument, value):
    kwargs = dict(zip(
        ("filters_1x1", "filters_3x3_reduce", "filters_3x3", "filters_5x5_reduce", "filters_5x5",
         "filters_pool_proj"), FILTERS))
    kwargs[argument] = value
    with pytest.raises(ValueError, match=f"{argument} must be a positive integer. Received: {argument}={value!r}"):
        InceptionModule(**kwargs)


def test_unknown_relu_is_named():
    with pytest.raises(ValueError, match="relu must be one of .* Received: relu='paper'"):
        InceptionModule(*FILTERS, relu="paper")


def test_unknown_data_format_is_named():
    with pytest.raises(ValueError, match="data_format=.NHWC."):
        InceptionModule(*FILTERS, data_format="NHWC")


@pytest.mark.parametrize("shape", [(None, 8, 3), (None, 4, 8, 8, 3)])
def test_wrong_rank_is_named(shape):
    with pytest.raises(ValueError, match=r"4D input .* Received: input_shape="):
        InceptionModule(*FILTERS).build(shape)


def test_unknown_channels_are_named():
    with pytest.raises(ValueError, match="known channel count"):
        InceptionModule(*FILTERS)(keras.Input((None, None, None)))


class TestSlideWeightErrors:
    def test_missing(self):
        layer, weights = built_module(3)
        del weights["W_conv1_5x5"]
        with pytest.raises(ValueError, match=r"missing \['W_conv1_5x5'\]"):
            layer.load_slide_weights(weights)

    def test_extra(self):
        layer, weights = built_module(3)
        weights["W_conv1_7x7"] = np.zeros((7, 7, 3, 1))
        with pytest.raises(ValueError, match="unexpected variables \\['W_conv1_7x7'\\]"):
            layer.load_slide_weights(weights)

    def test_wrong_shape_names_the_variable_and_keeps_old_weights(self):
        layer, weights = built_module(3)
        before = layer.get_weights()
        weights["b_conv1_1x1_1"] = np.ones(FILTERS[0], np.float32) * 7
        weights["W_conv1_3x3"] = np.zeros((5, 5, 6, 10), np.float32)
        with pytest.raises(ValueError, match=r"W_conv1_3x3 has shape \(5, 5, 6, 10\).*\(3, 3, 6, 10\)"):
            layer.load_slide_weights(weights)
        for old, new in zip(before, layer.get_weights()):
            np.testing.assert_array_equal(old, new)  # nothing half-loaded

    @pytest.mark.parametrize("method,args", [("load_slide_weights", ({},)), ("slide_weights", ())])
    def test_unbuilt(self, method, args):
        with pytest.raises(ValueError, match=rf"not built yet: .* before {method}\(\)\."):
            getattr(InceptionModule(*FILTERS), method)(*args)

    @pytest.mark.parametrize("method", ["load_slide_weights", "slide_weights"])
    def test_without_bias(self, method):
        layer = InceptionModule(*FILTERS, use_bias=False)
        layer.build((None, 4, 4, 3))
        args = (slide.slide_initial_weights(3, *FILTERS, seed=0),) if method == "load_slide_weights" else ()
        with pytest.raises(ValueError, match=rf"^{method}\(\) needs use_bias=True"):
            getattr(layer, method)(*args)

    @pytest.mark.parametrize("module", [0, -2, True, 1.0])
    def test_bad_module_number_is_named(self, module):
        layer, _ = built_module(3)
        with pytest.raises(ValueError, match=rf"^module must be a positive integer\. Received: module={module!r}$"):
            layer.slide_weights(module=module)


