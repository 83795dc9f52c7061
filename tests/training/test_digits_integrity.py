"""The embedded digits: splits checked against scikit-learn's own arrays, not the builder."""

import collections

import numpy as np
import pytest
import tensorflow_datasets as tfds
from sklearn.datasets import load_digits

from inception_tf.training.config import TrainConfig


def examples(split, tfds_dir):
    """Counter of (image bytes, label) over a split, read through tfds."""
    dataset = tfds.load("digits", split=split, data_dir=tfds_dir, as_supervised=True, shuffle_files=False)
    return collections.Counter((image.numpy().tobytes(), int(label)) for image, label in dataset)


@pytest.fixture(scope="module")
def reference():
    """(image bytes, label) for each of sklearn's 1,797 digits, scaled 0-16 -> 0-255 as documented."""
    digits = load_digits()
    images = np.rint(digits.images * 255 / 16).astype(np.uint8)[..., None]
    return [(image.tobytes(), int(label)) for image, label in zip(images, digits.target)]


def test_test_split_is_every_fifth_image_with_its_label(tfds_dir, reference):
    assert examples("test", tfds_dir) == collections.Counter(reference[0::5])


def test_train_split_is_the_rest_and_disjoint_from_test(tfds_dir, reference):
    train = examples("train", tfds_dir)
    expected = collections.Counter(pair for index, pair in enumerate(reference) if index % 5)
    assert train == expected
    # Together the splits are exactly the whole dataset: nothing shared, nothing lost.
    assert train + examples("test", tfds_dir) == collections.Counter(reference)


def test_default_train_and_validation_slices_partition_train(tfds_dir):
    config = TrainConfig()
    train = examples(config.train_split, tfds_dir)
    validation = examples(config.validation_split, tfds_dir)
    whole = examples("train", tfds_dir)
    assert sum(train.values()) + sum(validation.values()) == sum(whole.values()) == 1437
    assert train + validation == whole
    assert sum(validation.values()) == 1437 - round(1437 * 0.9)  # tfds rounds the 90% boundary
