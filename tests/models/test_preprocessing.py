"""ImagePreprocessing's absolute outputs, from the formulas (REFERENCES.md) and Keras' own preprocess_input."""

import keras
import numpy as np
import pytest

from inception_tf.models.preprocessing import ImagePreprocessing, has_preprocessing, model_record, set_model_record
from tests.layer_harness import run_layer_test

# Caffe's bvlc_googlenet train_val.prototxt: mean_value 104 (B), 117 (G), 123 (R), BGR input, no scaling.
CAFFE_MEAN_B, CAFFE_MEAN_G, CAFFE_MEAN_R = 104.0, 117.0, 123.0


def pixels():
    """(2, 2, 3, 3) RGB: black, white, the mid grey 127.5, pure channels and a few odd values."""
    rgb = [[[0, 0, 0], [255, 255, 255], [127.5, 127.5, 127.5]],
           [[255, 0, 0], [0, 255, 0], [0, 0, 255]]]
    odd = [[[10, 20, 30], [200, 1, 99], [3.25, 250, 64]],
           [[123, 117, 104], [104, 117, 123], [17, 170, 240]]]
    return np.array([rgb, odd], np.float32)


def test_tf_mode_is_x_over_127_5_minus_1():
    x = pixels()
    got = np.asarray(ImagePreprocessing("tf")(x))
    np.testing.assert_allclose(got[0, 0], [[-1, -1, -1], [1, 1, 1], [0, 0, 0]], atol=1e-7)
    np.testing.assert_allclose(got, x / 127.5 - 1, rtol=0, atol=1e-6)
    reference = keras.applications.imagenet_utils.preprocess_input(x.copy(), mode="tf")
    np.testing.assert_allclose(got, reference, rtol=0, atol=1e-6)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_caffe_mode_is_bgr_minus_caffes_mean(data_format):
    x = pixels()
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    expected = np.stack([b - CAFFE_MEAN_B, g - CAFFE_MEAN_G, r - CAFFE_MEAN_R], axis=-1)
    assert expected[1, 1, 0].tolist() == [0.0, 0.0, 0.0]  # Caffe's mean pixel (R 123, G 117, B 104) maps to zero
    layer = ImagePreprocessing("caffe", data_format=data_format)
    if data_format == "channels_first":
        got = np.transpose(np.asarray(layer(np.transpose(x, (0, 3, 1, 2)))), (0, 2, 3, 1))
    else:
        got = np.asarray(layer(x))
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(got[0, 1, 0], [-104.0, -117.0, 255.0 - 123.0])  # pure red


def test_output_follows_the_compute_dtype():
    layer = ImagePreprocessing("tf", dtype="mixed_bfloat16")
    got = layer(np.array([[[[0.0, 127.5, 255.0]]]], np.float32))
    assert keras.backend.standardize_dtype(got.dtype) == "bfloat16"
    np.testing.assert_array_equal(np.asarray(got, np.float32), [[[[-1.0, 0.0, 1.0]]]])
    uint8 = ImagePreprocessing("caffe")(np.full((1, 1, 1, 3), 255, np.uint8))  # integer pixels are cast first
    np.testing.assert_array_equal(np.asarray(uint8), [[[[255 - 104.0, 255 - 117.0, 255 - 123.0]]]])


def test_refusals_name_the_argument():
    with pytest.raises(ValueError, match=r"mode must be one of \('tf', 'caffe'\). Received: mode='torch'"):
        ImagePreprocessing("torch")
    with pytest.raises(ValueError, match=r"expects 4D images. Received: input_shape=\(2, 3\)"):
        ImagePreprocessing("tf")(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"mode='caffe' needs 3 \(RGB\) channels on axis -1.*\(1, 2, 2, 4\)"):
        ImagePreprocessing("caffe")(np.zeros((1, 2, 2, 4), np.float32))
    with pytest.raises(ValueError, match=r"mode='caffe' needs 3 \(RGB\) channels on axis 1"):
        ImagePreprocessing("caffe", data_format="channels_first")(np.zeros((1, 2, 2, 3), np.float32))
    ImagePreprocessing("tf")(np.zeros((1, 2, 2, 4), np.float32))  # any channel count in tf mode


@pytest.mark.parametrize("options", [{"mode": "tf"}, {"mode": "caffe"},
                                     {"mode": "tf", "geometry": "crop", "class_names": ["a", "b c"]}])
def test_layer_contract(options, tmp_path):
    # Pixels up to 255 are rounded to the compute dtype before the mean is subtracted: half a spacing at 255
    # (float16 0.0625, bfloat16 0.5) for the input and as much for the output, whatever the output's size.
    run_layer_test(ImagePreprocessing, options, (2, 4, 5, 3), tmp_path, input_range=(0.0, 255.0),
                   policies={"mixed_float16": 0.125, "mixed_bfloat16": 1.0})


def test_a_config_without_geometry_reads_as_the_modes_convention():
    # What an earlier version saved: mode and data_format only.
    for mode, geometry in (("tf", "square"), ("caffe", "crop")):
        layer = ImagePreprocessing.from_config({"name": "preprocessing", "mode": mode, "data_format": "channels_last"})
        assert (layer.geometry, layer.class_names) == (geometry, None)


def test_geometry_and_class_names_are_checked():
    with pytest.raises(ValueError, match=r"geometry must be one of \('square', 'crop'\)\. Received: geometry='centre'"):
        ImagePreprocessing("tf", geometry="centre")
    with pytest.raises(ValueError, match="class_names must be a sequence of names, not one string"):
        ImagePreprocessing("tf", class_names="cat")
    with pytest.raises(ValueError, match="class_names must not contain newlines"):
        ImagePreprocessing("tf", class_names=["cat", "dog\nfish"])


def _two_class_model(**options):
    inputs = keras.Input((4, 4, 3))
    x = keras.layers.GlobalAveragePooling2D()(ImagePreprocessing(**options)(inputs))
    return keras.Model(inputs, keras.layers.Dense(2)(x))


def test_model_record_reads_the_layer_and_set_model_record_writes_it(tmp_path):
    model = _two_class_model(mode="caffe")
    assert model_record(model) == ("caffe", "crop", None)
    set_model_record(model, geometry="square", class_names=["cat", "dog"])
    assert model_record(model) == ("caffe", "square", ["cat", "dog"])
    with pytest.raises(ValueError, match="class_names has 3 names but the model has 2 classes"):
        set_model_record(model, class_names=["cat", "dog", "fish"])
    with pytest.raises(ValueError, match="geometry must be one of"):
        set_model_record(model, geometry="centre")
    with pytest.raises(ValueError, match="class_names has 1 names"):
        set_model_record(model, geometry="crop", class_names=["cat"])
    assert model_record(model) == ("caffe", "square", ["cat", "dog"])  # a refused change changes nothing
    model.save(tmp_path / "m.keras")
    assert model_record(keras.models.load_model(tmp_path / "m.keras")) == ("caffe", "square", ["cat", "dog"])
    outer = keras.Sequential([keras.Input((4, 4, 3)), model])  # found at any depth
    assert model_record(outer).class_names == ["cat", "dog"]
    plain = keras.Model(model.input, model.layers[-1].output)
    with pytest.raises(ValueError, match="has no ImagePreprocessing layer"):
        model_record(keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Flatten(), keras.layers.Dense(2)]))
    assert model_record(plain).geometry == "square"


def test_detection():
    inputs = keras.Input((4, 4, 3))
    with_layer = keras.Model(inputs, ImagePreprocessing()(inputs))
    assert has_preprocessing(with_layer)
    assert not has_preprocessing(keras.Model(inputs, keras.layers.Identity()(inputs)))
    assert keras.saving.get_registered_name(ImagePreprocessing) == "inception_tf>ImagePreprocessing"


def test_the_record_of_a_model_with_auxiliary_heads_or_without_classes():
    from inception_tf import GoogLeNet

    model = GoogLeNet(input_shape=(32, 32, 3), classes=3, aux_logits=True)  # a dict of outputs: main counts
    set_model_record(model, class_names=["a", "b", "c"])
    assert model_record(model).class_names == ["a", "b", "c"] and model_record(model).preprocessing == "tf"
    with pytest.raises(ValueError, match="class_names has 2 names but the model has 3 classes"):
        set_model_record(model, class_names=["a", "b"])
    features = GoogLeNet(input_shape=(32, 32, 3), include_top=False)  # (batch, 1, 1, 1024): no classes to count
    assert model_record(set_model_record(features, class_names=["a", "b"])).class_names == ["a", "b"]
    plain = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Flatten(), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="has no ImagePreprocessing layer"):
        set_model_record(plain, geometry="crop")
