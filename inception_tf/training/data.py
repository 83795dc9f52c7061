"""Input pipelines: tensorflow-datasets and image folders to batched, normalised tf.data.

Every pipeline yields `(images, labels)`: images float32
`(batch_size, image_size, image_size, 3)` with values in [0, 255] (the models
carry their own preprocessing, `inception_tf.ImagePreprocessing`), labels
int64 `(batch_size,)`.

Datasets are named as in tensorflow-datasets (`"mnist"`, `"cifar10"`,
`"imagenette"`, `"tf_flowers"`, `"imagenet2012"`, ... any with image and label
features), `"digits"` for the embedded default, or `"folder:PATH"` for a
directory of images laid out `PATH/<split>/<class>/<image>` (read by
`tfds.folder_dataset.ImageFolder`).
"""

import dataclasses
import os
import re

import tensorflow as tf
import tensorflow_datasets as tfds

from inception_tf.training import digits  # noqa: F401  (registers the "digits" builder)
from inception_tf.checks import positive_int
from inception_tf.images import prepare_images, to_channels
from inception_tf.calibration import Calibration
from inception_tf.geometry import SQUARE, check_geometry
from inception_tf.training.config import DEFAULT_DATASET, FOLDER_PREFIX

# The test-time geometry of the pipelines' evaluation path (and of every image without augmentation):
# training records it in the models it trains, so they are prepared the same way at test time.
TEST_GEOMETRY = SQUARE
# Cache decoded, resized images in memory when they take less than this.
CACHE_LIMIT_BYTES = 2 * 1024**3

# The paper's augmentation: crops of 8%-100% of the image area with aspect
# ratio in [3/4, 4/3], and photometric distortions.
CROP_AREA_RANGE = (0.08, 1.0)
CROP_ASPECT_RATIO_RANGE = (3 / 4, 4 / 3)
_INTERPOLATIONS = ("bilinear", "bicubic", "area", "nearest")
# Photometric distortions (Howard 2013, drawn as TF-Slim's inception_preprocessing does): brightness
# shifted by up to 32 of 255, contrast and saturation scaled by a factor in [0.5, 1.5], hue turned by
# up to 0.1 of the colour circle; each drawn uniformly, in this order.
BRIGHTNESS_MAX_DELTA = 32.0
CONTRAST_RANGE = (0.5, 1.5)
SATURATION_RANGE = (0.5, 1.5)
HUE_MAX_DELTA = 0.1


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


def augment_image(image, image_size, seed, flip=True, photometric=True):
    """The paper's augmentation, stateless: the same `seed` gives the same result.

    A random crop covering 8%-100% of the area with aspect ratio in [3/4, 4/3],
    resized to `image_size` with a randomly chosen interpolation; a random
    horizontal flip; then, in [0, 255] units, brightness `+ U(-32, 32)`, contrast
    (around each channel's mean) and saturation (in HSV) scaled by `U(0.5, 1.5)`,
    hue `+ U(-0.1, 0.1)` of the colour circle; clipped to [0, 255].

    Args:
        image: tensor `(height, width, 3)`, values in [0, 255].
        image_size: int. Output height and width.
        seed: int tensor of shape (2,).
        flip: bool. Whether to flip horizontally at random (off for digits and text).
        photometric: bool. Whether to distort colours.

    Returns:
        float32 `(image_size, image_size, 3)` with values in [0, 255].
    """
    seeds = tf.random.experimental.stateless_split(seed, num=7)
    begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
        tf.shape(image), bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]), seed=seeds[0],
        min_object_covered=0.0, aspect_ratio_range=CROP_ASPECT_RATIO_RANGE,
        area_range=CROP_AREA_RANGE, max_attempts=20, use_image_if_no_bounding_boxes=True,
    )
    crop = tf.slice(image, begin, size)
    method = tf.random.stateless_uniform((), seeds[1], 0, len(_INTERPOLATIONS), dtype=tf.int32)
    branches = [
        (lambda m=m: tf.image.resize(crop, (image_size, image_size), method=m)) for m in _INTERPOLATIONS
    ]
    image = tf.switch_case(method, branches)
    image.set_shape((image_size, image_size, 3))
    if flip:
        image = tf.image.stateless_random_flip_left_right(image, seeds[2])
    if photometric:
        image = tf.image.stateless_random_brightness(image, BRIGHTNESS_MAX_DELTA, seeds[3])
        image = tf.image.stateless_random_contrast(image, *CONTRAST_RANGE, seeds[4])
        image = tf.image.stateless_random_saturation(image, *SATURATION_RANGE, seeds[5])
        image = tf.image.stateless_random_hue(image / 255.0, HUE_MAX_DELTA, seeds[6]) * 255.0
    return tf.clip_by_value(image, 0.0, 255.0)


def _should_cache(cache, num_examples, image_size):
    if cache in (True, False):
        return cache
    if cache != "auto":
        raise ValueError(f"cache must be True, False or 'auto'. Received: cache={cache!r}")
    return num_examples is not None and num_examples * image_size * image_size * 3 * 4 < CACHE_LIMIT_BYTES


_SLICE = re.compile(r"^(?P<base>[\w-]+)\[(?P<start>-?\d+%?)?:(?P<end>-?\d+%?)?\]$")


def _slice_bound(text, total, default):
    if text is None:
        return default
    value = int(text.rstrip("%"))
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


def make_dataset(
    name=DEFAULT_DATASET,
    split="train",
    image_size=224,
    batch_size=32,
    training=False,
    data_dir=None,
    augment=False,
    flip=True,
    seed=None,
    cache="auto",
    shuffle_buffer=10_000,
    drop_remainder=False,
    channels=3,
    shuffle=None,
):
    """A batched `tf.data.Dataset` of `(images, labels)`, pixels in [0, 255].

    Args:
        name: str. A tensorflow-datasets name, `"digits"`, or `"folder:PATH"`.
        split: str. A split, with tfds slicing (`"train[:90%]"`).
        image_size: int. Height and width of the output images.
        batch_size: int. The global batch size.
        training: bool. Shuffle every epoch (and augment, if asked).
        data_dir: str or None. Where tensorflow-datasets keeps its data.
        augment: bool. Apply `augment_image` when training.
        flip: bool. Horizontal flips in augmentation.
        seed: int or None. With a seed, the order and augmentation are deterministic.
        cache: True, False or `"auto"` (cache resized images in memory when
            they fit in `CACHE_LIMIT_BYTES`).
        shuffle_buffer: int. Shuffle buffer size.
        drop_remainder: bool. Drop the last partial batch.
        channels: int. 3 (RGB; grayscale is repeated) or 1 (grayscale). Defaults to 3.
        shuffle: bool or None. Shuffle every epoch; None means when training.
            A seeded shuffle is reproducible for a given number of iterations
            over the dataset (each new iterator reshuffles).

    Returns:
        A dataset of float32 `(batch_size, image_size, image_size, channels)` images
        with values in [0, 255] and int64 `(batch_size,)` labels.
    """
    image_size = positive_int("image_size", image_size)
    batch_size = positive_int("batch_size", batch_size)
    dataset, num_examples = load_examples(name, split, data_dir, shuffle_files=training, seed=seed)
    autotune = tf.data.AUTOTUNE

    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3. Received: channels={channels!r}")
    if augment and channels != 3:
        raise ValueError("augment=True needs channels=3 (the photometric distortions work on RGB).")

    def to_float_pair(image, label):
        image = to_channels(image, channels)
        if augment and training:
            return tf.cast(image, tf.float32), label  # cropped and resized per epoch below
        return prepare_images(image, image_size, TEST_GEOMETRY, channels), label

    dataset = dataset.map(to_float_pair, num_parallel_calls=autotune)
    if augment and training:
        do_cache = cache is True  # full-size decoded images: only when asked
    else:
        do_cache = _should_cache(cache, num_examples, image_size)
    if do_cache:
        dataset = dataset.cache()
    if training if shuffle is None else shuffle:
        dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if training:
        if augment:
            seeds = tf.data.Dataset.random(seed=seed).batch(2)
            dataset = tf.data.Dataset.zip((dataset, seeds)).map(
                lambda pair, s: (augment_image(pair[0], image_size, s, flip=flip), pair[1]),
                num_parallel_calls=autotune,
            )
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder).prefetch(autotune)
    options = tf.data.Options()
    options.deterministic = seed is not None
    # Shard by element: in-memory and few-file datasets have too few files to shard by file.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def calibration_set(name, input_shape, count, geometry, split="train", data_dir=None):
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
    shape = tuple(input_shape)
    if len(shape) != 4 or shape[1] is None or shape[1] != shape[2] or shape[3] not in (1, 3):
        raise ValueError(f"Calibration needs a model taking square (batch, size, size, 1 or 3) images. "
                         f"Received input_shape={shape}")
    check_geometry(geometry)
    size, channels = int(shape[1]), int(shape[3])
    examples, _ = load_examples(name, split, data_dir, shuffle_files=False, seed=None)
    images = examples.take(count).map(lambda image, label: prepare_images(image, size, geometry, channels))
    batch = next(iter(images.batch(count)), None)
    if batch is None:
        raise ValueError(f"Dataset {name!r} split {split!r} holds no images to calibrate on.")
    return Calibration(images=batch.numpy(), dataset=name, split=split)
