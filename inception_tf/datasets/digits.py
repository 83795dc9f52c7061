"""The embedded default dataset: UCI handwritten digits as a tensorflow-datasets builder.

scikit-learn ships the 1,797 8x8 digit images of the UCI "Optical Recognition of
Handwritten Digits" test set inside its wheel, so this dataset needs no
download. Importing `inception_tf.datasets.examples` (which every pipeline,
calibration and evaluation reads through) registers the builder, after which
`tfds.load("digits")` works offline.

Splits are fixed: every fifth image (index 0, 5, 10, ...) is `test` (360
images), the rest `train` (1,437 images). Pixel values 0-16 are scaled to
0-255 (`round(v * 255 / 16)`), so images look like any other uint8 image.
"""

import numpy as np
import tensorflow_datasets as tfds

TEST_EVERY = 5
CLASS_NAMES = tuple(str(digit) for digit in range(10))


def _load_digits():
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., None]  # (1797, 8, 8, 1)
    return images, digits.target.astype(np.int64)


class Digits(tfds.core.GeneratorBasedBuilder):
    """UCI handwritten digits (8x8 grayscale, 10 classes), shipped inside scikit-learn."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Fixed split: every fifth image is test."}

    def _info(self):
        return self.dataset_info_from_configs(
            description=__doc__,
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(8, 8, 1)),
                    "label": tfds.features.ClassLabel(names=CLASS_NAMES),
                }
            ),
            supervised_keys=("image", "label"),
            homepage="https://archive.ics.uci.edu/dataset/80/optical+recognition+of+handwritten+digits",
            citation="Alpaydin, E. and Kaynak, C. (1998). Optical Recognition of Handwritten Digits. UCI.",
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # nothing to download
        images, labels = _load_digits()
        is_test = np.arange(len(labels)) % TEST_EVERY == 0
        return {
            "train": self._generate_examples(images[~is_test], labels[~is_test], np.flatnonzero(~is_test)),
            "test": self._generate_examples(images[is_test], labels[is_test], np.flatnonzero(is_test)),
        }

    def _generate_examples(self, images, labels, indices):
        for image, label, index in zip(images, labels, indices):
            yield int(index), {"image": image, "label": int(label)}
