"""GoogLeNet and SlideNet: Table 1 exactly, auxiliary heads, saving, layouts, precision."""


import keras
import numpy as np
import pytest

import inception_tf
from inception_tf import GoogLeNet, InceptionModule, SlideNet, inference_model

# Table 1 as printed in the paper, written out here independently of the package:
# name, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj.
TABLE_1 = [
    ("3a", 64, 96, 128, 16, 32, 32), ("3b", 128, 128, 192, 32, 96, 64),
    ("4a", 192, 96, 208, 16, 48, 64), ("4b", 160, 112, 224, 24, 64, 64),
    ("4c", 128, 128, 256, 24, 64, 64), ("4d", 112, 144, 288, 32, 64, 64),
    ("4e", 256, 160, 320, 32, 128, 128), ("5a", 256, 160, 320, 32, 128, 128),
    ("5b", 384, 192, 384, 48, 128, 128),
]


def conv_params(k, cin, cout):
    return k * k * cin * cout + cout


def expected_params(classes=1000, aux=False):
    total = conv_params(7, 3, 64) + conv_params(1, 64, 64) + conv_params(3, 64, 192)
    channels = 192
    aux_inputs = {}
    for name, f1, r3, f3, r5, f5, pp in TABLE_1:
        total += (conv_params(1, channels, f1) + conv_params(1, channels, r3) + conv_params(3, r3, f3)
                  + conv_params(1, channels, r5) + conv_params(5, r5, f5) + conv_params(1, channels, pp))
        channels = f1 + f3 + f5 + pp
        aux_inputs[name] = channels
    total += channels * classes + classes
    if aux:
        for name in ("4a", "4d"):
            total += conv_params(1, aux_inputs[name], 128) + (4 * 4 * 128 * 1024 + 1024) + (1024 * classes + classes)
    return total


def test_exact_parameter_counts():
    assert GoogLeNet().count_params() == expected_params() == 6_998_552
    assert GoogLeNet(aux_logits=True).count_params() == expected_params(aux=True) == 13_378_280
    assert GoogLeNet(classes=10, input_shape=(96, 96, 3)).count_params() == expected_params(10)


# Endpoint shapes at 224x224 (Table 1's "output size" column) and at 32x32.
ENDPOINTS = [
    ("conv1", (112, 112, 64), (16, 16, 64)), ("pool1", (56, 56, 64), (8, 8, 64)),
    ("conv2", (56, 56, 192), (8, 8, 192)), ("pool2", (28, 28, 192), (4, 4, 192)),
    ("inception_3a", (28, 28, 256), (4, 4, 256)), ("inception_3b", (28, 28, 480), (4, 4, 480)),
    ("pool3", (14, 14, 480), (2, 2, 480)), ("inception_4a", (14, 14, 512), (2, 2, 512)),
    ("inception_4b", (14, 14, 512), (2, 2, 512)), ("inception_4c", (14, 14, 512), (2, 2, 512)),
    ("inception_4d", (14, 14, 528), (2, 2, 528)), ("inception_4e", (14, 14, 832), (2, 2, 832)),
    ("pool4", (7, 7, 832), (1, 1, 832)), ("inception_5a", (7, 7, 832), (1, 1, 832)),
    ("inception_5b", (7, 7, 1024), (1, 1, 1024)), ("avg_pool", (1024,), (1024,)),
    ("predictions", (1000,), (1000,)),
]


@pytest.mark.parametrize("size,column", [(224, 1), (32, 2)])
def test_endpoint_shapes(size, column):
    model = GoogLeNet(input_shape=(size, size, 3))
    for row in ENDPOINTS:
        assert model.get_layer(row[0]).output.shape[1:] == row[column], row[0]


def test_auxiliary_heads_match_the_paper():
    model = GoogLeNet(aux_logits=True)
    assert model.get_layer("aux1_avg_pool").output.shape[1:] == (4, 4, 512)
    assert model.get_layer("aux2_avg_pool").output.shape[1:] == (4, 4, 528)
    assert model.get_layer("aux1_fc").units == 1024
    assert model.get_layer("aux1_dropout").rate == 0.7
    assert set(model.output) == {"main", "aux1", "aux2"}
    assert inception_tf.LOSS_WEIGHTS == {"main": 1.0, "aux1": 0.3, "aux2": 0.3}


def test_layer_names_are_stable():
    names = [layer.name for layer in GoogLeNet().layers]
    # At 224x224 every pool input is even: Caffe's ceil-mode pools are Keras' SAME ones, no pad layer.
    assert names[:10] == ["images", "preprocessing", "conv1_pad", "conv1", "pool1", "lrn1",
                          "conv2_reduce", "conv2", "lrn2", "pool2"]
    modules = [n for n in names if n.startswith("inception_")]
    assert modules == [f"inception_{row[0]}" for row in TABLE_1]
    assert names[-4:] == ["avg_pool", "dropout", "logits", "predictions"]
    assert "inception_4c/branch_5x5/kernel" in {w.path for w in GoogLeNet().weights}


def test_real_5x5_convolutions():
    model = GoogLeNet()
    for row in TABLE_1:
        kernel = model.get_layer(f"inception_{row[0]}").convs["branch_5x5"].kernel
        assert tuple(kernel.shape) == (5, 5, row[4], row[5])


def test_output_structure_is_the_same_in_training_and_inference(rng):
    model = GoogLeNet(input_shape=(64, 64, 3), classes=7, aux_logits=True)
    x = rng.uniform(0, 1, (2, 64, 64, 3)).astype(np.float32)
    for training in (True, False):
        out = model(x, training=training)
        assert set(out) == {"main", "aux1", "aux2"}
        assert all(tuple(v.shape) == (2, 7) for v in out.values())
    inference = model(x, training=False)
    repeat = model(x, training=False)
    np.testing.assert_array_equal(inference["main"], repeat["main"])  # no dropout at inference


def test_inference_model_shares_weights(rng):
    model = GoogLeNet(input_shape=(64, 64, 3), classes=5, aux_logits=True)
    main = inference_model(model)
    assert main.output_shape == (None, 5)
    x = rng.uniform(0, 1, (2, 64, 64, 3)).astype(np.float32)
    np.testing.assert_allclose(main(x), model(x)["main"], rtol=1e-6)
    logits = model.get_layer("logits")
    logits.bias.assign(logits.bias + np.arange(5, dtype=np.float32))  # a change in one...
    np.testing.assert_allclose(main(x), model(x)["main"], rtol=1e-6)  # ...is seen by the other
    assert len(main.weights) < len(model.weights)  # no auxiliary heads
    assert inference_model(GoogLeNet(input_shape=(64, 64, 3))).output_shape == (None, 1000)


def test_fit_with_auxiliary_losses(rng):
    model = GoogLeNet(input_shape=(32, 32, 3), classes=3, aux_logits=True)
    loss = "sparse_categorical_crossentropy"
    model.compile(optimizer="sgd", loss={key: loss for key in model.output},
                  loss_weights=inception_tf.LOSS_WEIGHTS)
    x = rng.uniform(0, 1, (4, 32, 32, 3)).astype(np.float32)
    y = np.array([0, 1, 2, 0])
    history = model.fit(x, {"main": y, "aux1": y, "aux2": y}, epochs=1, verbose=0)
    assert {"main_loss", "aux1_loss", "aux2_loss"} <= set(history.history)
    losses = history.history
    total = losses["main_loss"][0] + 0.3 * (losses["aux1_loss"][0] + losses["aux2_loss"][0])
    assert losses["loss"][0] == pytest.approx(total, rel=1e-4)


def test_keras_file_round_trip(tmp_path, rng):
    model = GoogLeNet(input_shape=(48, 48, 3), classes=4, aux_logits=True)
    model.save(tmp_path / "googlenet.keras")
    loaded = keras.models.load_model(tmp_path / "googlenet.keras")
    x = rng.uniform(0, 1, (2, 48, 48, 3)).astype(np.float32)
    for key in ("main", "aux1", "aux2"):
        np.testing.assert_array_equal(loaded(x)[key], model(x)[key])


def test_weights_file_is_loaded(tmp_path, rng):
    model = GoogLeNet(input_shape=(32, 32, 3), classes=3)
    path = tmp_path / "trained.weights.h5"
    model.save_weights(path)
    loaded = GoogLeNet(input_shape=(32, 32, 3), classes=3, weights=str(path))
    x = rng.uniform(0, 1, (2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_array_equal(loaded(x), model(x))


def test_channels_first_equals_channels_last(rng):
    nhwc = GoogLeNet(input_shape=(40, 40, 3), classes=6, data_format="channels_last")
    nchw = GoogLeNet(input_shape=(3, 40, 40), classes=6, data_format="channels_first")
    nchw.set_weights(nhwc.get_weights())
    x = rng.uniform(0, 1, (2, 40, 40, 3)).astype(np.float32)
    np.testing.assert_allclose(nchw(np.transpose(x, (0, 3, 1, 2))), nhwc(x), rtol=1e-5, atol=1e-6)
    features = GoogLeNet(include_top=False, input_shape=(3, 64, 64), data_format="channels_first")
    assert features.output_shape == (None, 1024, 2, 2)


def test_mixed_bfloat16_forward_pass(rng):
    x = rng.uniform(0, 1, (2, 64, 64, 3)).astype(np.float32)
    reference = GoogLeNet(input_shape=(64, 64, 3), classes=10)
    keras.config.set_dtype_policy("mixed_bfloat16")
    model = GoogLeNet(input_shape=(64, 64, 3), classes=10)
    model.set_weights(reference.get_weights())
    out = np.asarray(model(x))
    assert model.get_layer("conv1").compute_dtype == "bfloat16"
    assert out.dtype == np.float32  # the classifier computes in float32
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(out, reference(x), atol=2e-2)


def test_default_input_is_224_rgb_in_either_layout():
    # Table 1: a 224x224 receptive field in RGB colour space.
    default = GoogLeNet(include_top=False)
    assert default.input_shape == (None, 224, 224, 3) and default.name == "googlenet"
    assert GoogLeNet(include_top=False, data_format="channels_first").input_shape == (None, 3, 224, 224)


def test_include_top_false_and_pooling():
    assert GoogLeNet(include_top=False, input_shape=(64, 64, 3)).output_shape == (None, 2, 2, 1024)
    average = GoogLeNet(include_top=False, pooling="avg", input_shape=(None, None, 3))
    assert average.output_shape == (None, 1024) and average.layers[-1].name == "avg_pool"
    maximum = GoogLeNet(include_top=False, pooling="max")
    assert maximum.output_shape == (None, 1024) and maximum.layers[-1].name == "max_pool"


def test_every_convolution_and_hidden_layer_is_rectified():
    # The paper: "All the convolutions, including those inside the Inception modules, use rectified linear
    # activation"; the auxiliary heads' 1x1 conv and FC 1024 have "rectified linear activation" too.
    model = GoogLeNet(input_shape=(96, 96, 3), classes=5, aux_logits=True)
    for name in ("conv1", "conv2_reduce", "conv2", "aux1_conv", "aux1_fc", "aux2_conv", "aux2_fc"):
        assert model.get_layer(name).activation is keras.activations.relu, name
    assert model.get_layer("logits").activation is keras.activations.linear


def test_classifiers_compute_in_float32_under_mixed_precision():
    keras.config.set_dtype_policy("mixed_float16")
    model = GoogLeNet(input_shape=(64, 64, 3), classes=3, aux_logits=True)
    assert model.get_layer("conv1").compute_dtype == "float16"
    for name in ("aux1", "aux2", "predictions"):
        assert model.get_layer(name).compute_dtype == "float32", name


@pytest.mark.parametrize("classes,activation", [(1, "sigmoid"), (1, None), (2, "softmax")])
def test_one_class_needs_no_softmax(classes, activation):
    model = GoogLeNet(input_shape=(32, 32, 3), classes=classes, classifier_activation=activation)
    assert model.output_shape == (None, classes)


def test_no_dropout_is_accepted():
    assert GoogLeNet(input_shape=(32, 32, 3), dropout_rate=0.0).get_layer("dropout").rate == 0.0


def test_a_chosen_preprocessing_mode_is_kept():
    # "caffe": mean-subtracted BGR, as Caffe's bvlc_googlenet was trained; the default without weights is "tf".
    assert GoogLeNet(input_shape=(32, 32, 3), preprocessing_mode="caffe").get_layer("preprocessing").mode == "caffe"
    assert GoogLeNet(input_shape=(32, 32, 3)).get_layer("preprocessing").mode == "tf"


@pytest.mark.parametrize("data_format,input_shape", [
    ("channels_last", (None, 64, 3)), ("channels_last", (64, None, 3)),
    ("channels_first", (3, None, 64)), ("channels_first", (3, 64, None)), ("channels_last", (64, 64, 3)),
])
def test_an_unknown_height_or_width_is_checked_when_called(data_format, input_shape):
    names = [layer.name for layer in GoogLeNet(input_shape=input_shape, data_format=data_format,
                                               include_top=False, pooling="avg").layers]
    assert ("size_check" in names) == (None in input_shape)


def test_channels_first_transposes_are_named_where_the_backend_computes_channels_last():
    names = [layer.name for layer in GoogLeNet(input_shape=(3, 32, 32), data_format="channels_first",
                                               include_top=False).layers]
    if keras.backend.backend() == "tensorflow":  # TensorFlow's CPU kernels have no NCHW Conv2D
        assert names[2] == "to_channels_last" and names[-1] == "to_channels_first"
    else:  # the other backends run channels_first natively
        assert not {"to_channels_last", "to_channels_first"} & set(names)


def test_input_tensor():
    inputs = keras.Input((64, 64, 3))
    model = GoogLeNet(input_tensor=inputs, classes=2)
    assert model.inputs[0] is inputs


def test_without_lrn_and_with_slide_relu(rng):
    plain = GoogLeNet(input_shape=(32, 32, 3), lrn=False)
    assert not any(isinstance(layer, inception_tf.LocalResponseNormalization) for layer in plain.layers)
    as_written = GoogLeNet(input_shape=(32, 32, 3), lrn=False, relu="as_written")
    as_written.set_weights(plain.get_weights())
    x = rng.uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(as_written(x), plain(x), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    "kwargs,error,message",
    [
        ({"weights": "imagenet21k"}, ValueError, "Unknown published weights .imagenet21k.; known: .imagenet."),
        ({"weights": "missing.weights.h5"}, FileNotFoundError, "does not exist"),
        ({"weights": 3}, ValueError, "weights must be None, 'imagenet', or the path"),
        ({"input_shape": (31, 64, 3)}, ValueError, "at least 32x32"),
        ({"input_shape": (64, 64)}, ValueError, "input_shape must be"),
        ({"pooling": "mean", "include_top": False}, ValueError, "^pooling must be one of"),
        ({"classes": 0}, ValueError, "^classes must be a positive integer"),
        ({"aux_logits": True, "include_top": False}, ValueError, "aux_logits=True needs include_top"),
        ({"aux_logits": True, "input_shape": (None, None, 3)}, ValueError, "fixed height and width"),
        ({"relu": "paper"}, ValueError, r"^relu must be one of \('corrected', 'as_written'\)\. Received: relu='paper'$"),
        ({"dropout_rate": 1.0}, ValueError, "dropout_rate"),
        ({"data_format": "channels_first", "input_shape": (3, 31, 64)}, ValueError, r"at least 32x32. .*\(3, 31, 64\)"),
        ({"data_format": "channels_first", "input_shape": (None, 64, 64)}, ValueError,
         r"input_shape needs a known channel count. Received: input_shape=\(None, 64, 64\)"),
        ({"data_format": "channels_first", "input_shape": (3, None, 64), "aux_logits": True}, ValueError,
         "fixed height and width"),
        ({"classes": 1}, ValueError, r"^classes must be >= 2 with classifier_activation='softmax'"),
        ({"classes": 1, "classifier_activation": keras.activations.softmax}, ValueError, "classes must be >= 2"),
        ({"dropout_rate": -0.1}, ValueError, r"^dropout_rate must be in \[0, 1\). Received: dropout_rate=-0.1$"),
        ({"implementation": "fast"}, ValueError, "^implementation must be one of"),
    ],
)
def test_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        GoogLeNet(**kwargs)


# --- SlideNet -----------------------------------------------------------------


def test_slidenet_matches_its_source():
    model = SlideNet()
    first, second = model.get_layer("inception_1"), model.get_layer("inception_2")
    assert isinstance(first, InceptionModule) and first.relu == "as_written"
    assert (first.filters_1x1, first.filters_3x3_reduce, first.output_filters) == (32, 16, 128)
    assert (second.filters_3x3, second.filters_5x5_reduce, second.output_filters) == (64, 16, 256)
    assert model.get_layer("flatten").output.shape[1:] == (28 * 28 * 4 * 64,)
    # module 1, module 2, FC 700, FC 10, by hand: 1x1 and pool proj, two reductions, 3x3, 5x5
    module_1 = 2 * (1 * 32 + 32) + (1 * 16 + 16) * 2 + (9 * 16 * 32 + 32) + (25 * 16 * 32 + 32)
    module_2 = 2 * (128 * 64 + 64) + (128 * 16 + 16) * 2 + (9 * 16 * 64 + 64) + (25 * 16 * 64 + 64)
    assert model.count_params() == module_1 + module_2 + (200_704 * 700 + 700) + (700 * 10 + 10)
    np.testing.assert_array_equal(model.get_layer("fc1").bias.numpy(), np.full(700, 0.1, np.float32))
    np.testing.assert_array_equal(second.slide_weights(module=2)["b_conv2_5x5"], np.full(64, 0.1, np.float32))
    assert model.get_layer("dropout").rate == 0.5
    assert model.name == "slidenet"
    assert [layer.name for layer in model.layers] == [
        "images", "preprocessing", "inception_1", "inception_2", "flatten", "fc1", "dropout", "logits", "predictions"]
    assert model.get_layer("preprocessing").mode == "tf"  # [0, 255] -> [-1, 1]
    # FC weights: truncated normal with stddev 0.1, whose standard deviation is 0.88 * 0.1.
    assert 0.087 < float(np.std(np.asarray(model.get_layer("fc1").kernel[:100]))) < 0.089
    assert 0.08 < float(np.std(model.get_layer("logits").kernel.numpy())) < 0.096


@pytest.mark.parametrize("input_shape", [(28, 28), (28, 28, 1, 1), (None, 28, 1), (28, 28, None)])
def test_slidenet_needs_a_fixed_3d_input(input_shape):
    with pytest.raises(ValueError, match=r"^input_shape must be a fixed \(height, width, channels\)"):
        SlideNet(input_shape=input_shape)
