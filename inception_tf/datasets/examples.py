"""The raw examples of a dataset split, as stored: tensorflow-datasets, the embedded digits, image folders.

Datasets are named as in tensorflow-datasets (`"mnist"`, `"cifar10"`,
`"imagenette"`, `"tf_flowers"`, `"imagenet2012"`, ... any with image and label
features), `"digits"` for the embedded default, or `"folder:PATH"` for a
directory of images laid out `PATH/<split>/<class>/<image>` (read by
`tfds.folder_dataset.ImageFolder`, with tfds' slicing added). Importing this
module registers the `digits` builder with tensorflow-datasets.

Training's pipelines (`inception_tf.training.data`), the int8 exports'
calibration (`calibration_set`, for `inception_tf.serving.runs`) and
evaluation read their images here.
"""

import dataclasses
import os
import re

import tensorflow_datasets as tfds

from inception_tf.calibration import DEFAULT_CALIBRATION_SPLIT, Calibration
from inception_tf.checks import positive_int
from inception_tf.datasets import digits  # noqa: F401  (registers the "digits" builder)
from inception_tf.datasets.names import FOLDER_PREFIX
from inception_tf.geometry import check_geometry, square_input
from inception_tf.images import prepare_images


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What a pipeline needs to know about a dataset.

    Attributes:
        name: str. The dataset's name as given.
        class_names: tuple of str. One name per class, in label order.
        split_sizes: dict from split name to number of examples.
    """

    name: str
    class_names: tuple
    split_sizes: dict

    @property
    def num_classes(self):
        return len(self.class_names)


def _builder(name, data_dir=None):
    if name.startswith(FOLDER_PREFIX):
        root = name[len(FOLDER_PREFIX):]
        if not os.path.isdir(root):
            raise FileNotFoundError(f"Image folder {root!r} does not exist (dataset={name!r}).")
        return tfds.folder_dataset.ImageFolder(root)
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError as error:
        raise ValueError(f"Unknown dataset {name!r}: {str(error).splitlines()[0]}") from None
    return builder


def _prepare(builder):
    if isinstance(builder, tfds.folder_dataset.ImageFolder):
        return
    builder.download_and_prepare()


def dataset_info(name, data_dir=None):
    """Class names and split sizes of a dataset, preparing it if needed.

    Raises:
        ValueError: the dataset is unknown or has no `image` and `label` features.
    """
    builder = _builder(name, data_dir)
    _prepare(builder)
    features = builder.info.features
    if "image" not in features or "label" not in features:
        raise ValueError(
            f"Dataset {name!r} needs 'image' and 'label' features. Its features: {sorted(features)}"
        )
    splits = {split: info.num_examples for split, info in builder.info.splits.items()}
    return DatasetInfo(name=name, class_names=tuple(features["label"].names), split_sizes=splits)


_SLICE = re.compile(r"^(?P<base>[\w-]+)\[(?P<start>-?\d+%?)?:(?P<end>-?\d+%?)?\]$")


def _slice_bound(text, total, default):
    if text is None:
        return default
    # A bound matched _SLICE's `-?\d+%?`: only a "%" can end it, whatever other characters rstrip is given.
    value = int(text.rstrip("%"))  # pragma: no mutate
    if text.endswith("%"):
        value = round(total * value / 100)  # tfds rounds percent boundaries the same way for both sides
    return max(0, min(total, value + total if value < 0 else value))


def _load_folder_slice(builder, name, split):
    """`(dataset, count)` of an image-folder split with tfds' slice syntax (`train[:90%]`), which
    `tfds.folder_dataset.ImageFolder` lacks; files are read in their fixed order, so slices are disjoint."""
    match = _SLICE.match(split)
    base = match.group("base")
    if base not in builder.info.splits:
        raise ValueError(f"Dataset {name!r} has no split {base!r}. Its splits: {sorted(builder.info.splits.keys())}")
    total = builder.info.splits[base].num_examples
    start = _slice_bound(match.group("start"), total, 0)
    end = _slice_bound(match.group("end"), total, total)
    dataset = builder.as_dataset(split=base, as_supervised=True, shuffle_files=False)
    return dataset.skip(start).take(max(0, end - start)), max(0, end - start)


def load_examples(name, split, data_dir=None, shuffle_files=False, seed=None):
    """The raw `(image, label)` examples of a split, and its number of examples.

    Args:
        name: str. A tensorflow-datasets name, `"digits"`, or `"folder:PATH"`.
        split: str. A split, with tfds slicing (`"train[:90%]"`).
        data_dir: str or None. Where tensorflow-datasets keeps its data.
        shuffle_files: bool. Whether tensorflow-datasets shuffles the order of its files.
        seed: int or None. The seed of that shuffle.

    Returns:
        `(tf.data.Dataset, int or None)`: images uint8 `(height, width, channels)`
        as stored (unresized), labels int64 scalars; the count where known.

    Raises:
        ValueError: a split the dataset does not have, naming its splits.
    """
    builder = _builder(name, data_dir)
    _prepare(builder)
    if isinstance(builder, tfds.folder_dataset.ImageFolder) and _SLICE.match(split):
        return _load_folder_slice(builder, name, split)
    read_config = tfds.ReadConfig(shuffle_seed=seed)
    try:
        dataset = builder.as_dataset(
            split=split, as_supervised=True, shuffle_files=shuffle_files, read_config=read_config
        )
    except (ValueError, KeyError) as error:
        splits = sorted(builder.info.splits.keys())
        raise ValueError(f"Dataset {name!r} has no split {split!r} ({error}). Its splits: {splits}") from None
    try:
        num_examples = builder.info.splits[split].num_examples
    except (KeyError, ValueError, TypeError):
        num_examples = None
    return dataset, num_examples


def calibration_set(name, input_shape, count, geometry, split=DEFAULT_CALIBRATION_SPLIT, data_dir=None):
    """Images to calibrate an int8 export on: the first `count` of a split, at the model's test-time geometry.

    Each image goes through `inception_tf.images.prepare_images` with
    `geometry` (the model's, as the exported graphs' clients prepare images),
    unshuffled, so the same call gives the same images.

    Args:
        name: str. A tensorflow-datasets name, `"digits"`, or `"folder:PATH"`.
        input_shape: tuple `(batch, size, size, channels)`. The model's input.
        count: int. How many images (fewer when the split has fewer).
        geometry: str. The model's test-time geometry (`inception_tf.geometry`).
        split: str. The split to read. Defaults to "train".
        data_dir: str or None. Where tensorflow-datasets keeps its data.

    Returns:
        `inception_tf.calibration.Calibration` with float32
        `(count, size, size, channels)` images in [0, 255].

    Raises:
        ValueError: `count` below 1, a model input that is not square with 1 or
            3 channels, an unknown geometry, dataset or split, or images that
            cannot be turned into the model's channels.
    """
    count = positive_int("count", count)
    size, channels = square_input(input_shape, "Calibration")
    check_geometry(geometry)
    examples, _ = load_examples(name, split, data_dir, shuffle_files=False, seed=None)
    images = examples.take(count).map(lambda image, label: prepare_images(image, size, geometry, channels))
    batch = next(iter(images.batch(count)), None)
    if batch is None:
        raise ValueError(f"Dataset {name!r} split {split!r} holds no images to calibrate on.")
    return Calibration(images=batch.numpy(), dataset=name, split=split)
