"""The raw examples of a split: tfds' slice syntax on image folders, preparing, refusals, calibration images."""

import dataclasses
import re
import types

import numpy as np
import pytest
import tensorflow_datasets as tfds

from inception_tf.datasets import examples
from tests.conftest import square_input_refusal
from tests.geometry_expectations import PREPARED_BY
from tests.training.test_data import write_image_folder

IMAGES_PER_CLASS = 10  # two classes: 20 images in the train split


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """(`folder:PATH`, PATH) of a folder whose 20 train images each have their own height and width."""
    root = tmp_path_factory.mktemp("images")
    write_image_folder(root, sizes=tuple((20 + i, 30 + i) for i in range(IMAGES_PER_CLASS)))
    return f"folder:{root}", str(root)


def image_sizes(dataset):
    """(height, width, label) of each example, in order: each image of the folder is told apart by its size."""
    return [tuple(image.shape[:2]) + (int(label),) for image, label in dataset]


@pytest.fixture(scope="module")
def stored_order(folder):
    """The train split's images in the order tensorflow-datasets' ImageFolder reads them, unshuffled."""
    dataset = tfds.folder_dataset.ImageFolder(folder[1]).as_dataset(split="train", shuffle_files=False,
                                                                    as_supervised=True)
    return image_sizes(dataset)


def tfds_slice(spec, num_examples):
    """The Python slice tensorflow-datasets reads for `spec` of a split of `num_examples` examples."""
    split = spec.partition("[")[0]
    instruction = tfds.core.ReadInstruction.from_spec(spec).to_absolute(
        {split: types.SimpleNamespace(num_examples=num_examples)})[0]
    return slice(instruction.from_, instruction.to)


@pytest.mark.parametrize("spec", ["train[:90%]", "train[90%:]", "train[:53%]", "train[10%:]", "train[-25%:]",
                                  "train[-10%:-5%]", "train[0%:0%]", "train[0:5]", "train[5:8]", "train[5:5]",
                                  "train[:-3]", "train[-3:-1]", "train[-20:]", "train[:20]"])
def test_an_image_folder_slice_holds_the_examples_tfds_slicing_names(folder, stored_order, spec):
    dataset, count = examples.load_examples(folder[0], spec)
    expected = stored_order[tfds_slice(spec, len(stored_order))]
    assert count == len(expected)
    assert image_sizes(dataset) == expected


def test_every_percent_boundary_of_an_image_folder_rounds_as_tfds_does(folder, stored_order):
    for percent in (0, 3, 8, 25, 33, 50, 53, 67, 90, 97, 100):  # 20 * 53 / 100 = 10.6: one off with a wrong divisor
        for spec in (f"train[:{percent}%]", f"train[{percent}%:]", f"train[-{percent}%:]"):
            _, count = examples.load_examples(folder[0], spec)
            assert count == len(stored_order[tfds_slice(spec, len(stored_order))]), spec


@pytest.mark.parametrize("spec,expected", [("train[-30:]", slice(-30, None)), ("train[:100]", slice(None, 100)),
                                           ("train[15:5]", slice(15, 5)), ("train[12:200]", slice(12, 200))])
def test_image_folder_slices_past_the_split_are_cut_as_python_cuts_a_list(folder, stored_order, spec, expected):
    dataset, count = examples.load_examples(folder[0], spec)
    assert count == len(stored_order[expected])
    assert image_sizes(dataset) == stored_order[expected]


def test_an_unsliced_image_folder_split_is_read_in_the_stored_order_by_default(folder, stored_order):
    dataset, count = examples.load_examples(folder[0], "train")
    assert count == 20
    assert image_sizes(dataset) == stored_order


def test_a_missing_split_is_named_as_it_was_asked_for(tfds_dir):
    with pytest.raises(ValueError, match=r"'digits' has no split 'validation\[:50%\]' .*Its splits: \['test', 'train'\]"):
        examples.load_examples("digits", "validation[:50%]", tfds_dir)


def test_a_new_data_directory_has_the_digits_prepared_on_first_read(tmp_path):
    dataset, count = examples.load_examples("digits", "test", str(tmp_path / "first"))
    assert count == 360 and len(list(dataset)) == 360  # every fifth of scikit-learn's 1,797 images
    info = examples.dataset_info("digits", str(tmp_path / "second"))
    assert info.split_sizes == {"train": 1437, "test": 360}


def test_dataset_info_is_immutable(folder):
    info = examples.dataset_info(folder[0])
    assert info.num_classes == 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.class_names = ("cat",)


@pytest.mark.parametrize("name,features", [("imdb_reviews", "['label', 'text']"),  # no image
                                           ("celeb_a", "['attributes', 'identity', 'image', 'landmarks']")])  # no label
def test_a_dataset_without_image_and_label_features_is_refused_naming_its_features(name, features):
    with tfds.testing.mock_data(num_examples=2):
        with pytest.raises(ValueError, match=rf"'{name}' needs 'image' and 'label' features\. Its features: "
                                             f"{re.escape(features)}"):
            examples.dataset_info(name)


@pytest.mark.parametrize("channels", [1, 3])
def test_calibration_images_are_the_first_of_the_split_in_its_stored_order(folder, channels):
    calibration = examples.calibration_set(folder[0], (None, 16, 16, channels), 5, "square")
    stored = tfds.folder_dataset.ImageFolder(folder[1]).as_dataset(split="train", shuffle_files=False,
                                                                   as_supervised=True)
    expected = np.stack([PREPARED_BY["square"](image.numpy(), 16) for image, _ in stored.take(5)])
    if channels == 1:  # ITU-R 601 luma, as tf.image.rgb_to_grayscale
        expected = expected @ np.array([[0.2989], [0.5870], [0.1140]])
    assert calibration.images.shape == (5, 16, 16, channels) and calibration.images.dtype == np.float32
    np.testing.assert_allclose(calibration.images, expected, atol=0.5)
    assert (calibration.dataset, calibration.split) == (folder[0], "train")


def test_calibration_takes_what_a_short_split_has_and_refuses_an_empty_one(folder):
    assert examples.calibration_set(folder[0], (None, 16, 16, 3), 50, "square").images.shape == (20, 16, 16, 3)
    with pytest.raises(ValueError, match=r"split 'train\[:0\]' holds no images to calibrate on"):
        examples.calibration_set(folder[0], (None, 16, 16, 3), 4, "square", split="train[:0]")


@pytest.mark.parametrize("count", [0, -2, 2.5, True])
def test_calibration_refuses_a_count_that_is_no_positive_integer(folder, count):
    with pytest.raises(ValueError, match=rf"count must be a positive integer\. Received: count={count!r}"):
        examples.calibration_set(folder[0], (None, 16, 16, 3), count, "square")


@pytest.mark.parametrize("input_shape", [(None, 16, 16), (None, 16, 16, 3, 1), (None, None, None, 3),
                                         (None, 16, 12, 3), (None, 12, 16, 3), (None, 16, 16, 2), (None, 16, 16, 4)])
def test_calibration_refuses_a_model_input_that_is_not_square_with_one_or_three_channels(folder, input_shape):
    with pytest.raises(ValueError, match=square_input_refusal("Calibration", input_shape)):
        examples.calibration_set(folder[0], input_shape, 2, "square")


def test_calibration_refuses_an_unknown_geometry_before_reading_any_dataset(tmp_path):
    with pytest.raises(ValueError, match=r"geometry must be one of \('square', 'crop'\)\. Received: geometry='centre'"):
        examples.calibration_set(f"folder:{tmp_path / 'missing'}", (None, 16, 16, 3), 2, "centre")
