"""Input pipelines: a dataset's examples to batched, normalised, optionally augmented tf.data.

Every pipeline yields `(images, labels)`: images float32
`(batch_size, image_size, image_size, 3)` with values in [0, 255] (the models
carry their own preprocessing, `inception_tf.ImagePreprocessing`), labels
int64 `(batch_size,)`.

Datasets (tensorflow-datasets names, `"digits"`, `"folder:PATH"`) are read by
`inception_tf.datasets.examples`, below training, serving and evaluation alike;
its public names (`load_examples`, `dataset_info`, `DatasetInfo`,
`calibration_set`) are re-exported here. Importing this module registers the
embedded `digits` builder with tensorflow-datasets.
"""

import tensorflow as tf

from inception_tf.checks import positive_int
from inception_tf.datasets.examples import (  # noqa: F401  (re-exported)
    DatasetInfo,
    calibration_set,
    dataset_info,
    load_examples,
)
from inception_tf.datasets.names import DEFAULT_DATASET
from inception_tf.geometry import SQUARE
from inception_tf.images import prepare_images, to_channels

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
