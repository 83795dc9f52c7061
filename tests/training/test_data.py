"""Input pipelines: the embedded digits, tfds datasets (mocked), image folders, augmentation."""

import colorsys
import math
import sys

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from inception_tf.training import data


def first_batch(dataset):
    images, labels = next(iter(dataset))
    return images.numpy(), labels.numpy()


def test_digits_is_registered_and_offline(tfds_dir):
    info = data.dataset_info("digits", tfds_dir)
    assert info.split_sizes == {"train": 1437, "test": 360}
    assert info.class_names == tuple("0123456789")
    examples = list(tfds.load("digits", split="test", data_dir=tfds_dir, as_supervised=True).take(400))
    assert len(examples) == 360


def test_digits_images_are_sklearns_scaled(tfds_dir):
    from sklearn.datasets import load_digits

    reference = load_digits()
    test = tfds.load("digits", split="test", data_dir=tfds_dir, shuffle_files=False)
    by_label = {}
    for example in test:
        by_label.setdefault(int(example["label"]), []).append(example["image"].numpy()[..., 0])
    # Every fifth image is test; image 0 is a zero.
    expected = np.rint(reference.images[0] * 255 / 16).astype(np.uint8)
    assert any(np.array_equal(image, expected) for image in by_label[int(reference.target[0])])
    assert sum(len(v) for v in by_label.values()) == len(reference.target[::5])


def test_digits_pipeline_shapes_and_range(tfds_dir):
    dataset = data.make_dataset("digits", "train", image_size=32, batch_size=16, data_dir=tfds_dir)
    images, labels = first_batch(dataset)
    assert images.shape == (16, 32, 32, 3) and images.dtype == np.float32
    # Pixels in [0, 255]: the model normalises (ImagePreprocessing); digits' ink reaches 255.
    assert images.min() >= 0.0 and images.max() <= 255.0 and images.max() > 200
    np.testing.assert_array_equal(images[..., 0], images[..., 2])  # grayscale repeated as RGB
    assert labels.dtype == np.int64 and set(labels) <= set(range(10))
    gray, _ = first_batch(data.make_dataset("digits", "train", image_size=28, batch_size=4,
                                            data_dir=tfds_dir, channels=1))
    assert gray.shape == (4, 28, 28, 1)


def test_seeded_order_is_deterministic(tfds_dir):
    def labels(seed):
        dataset = data.make_dataset("digits", "train", image_size=16, batch_size=64, training=True,
                                    seed=seed, data_dir=tfds_dir)
        return np.concatenate([y.numpy() for _, y in dataset.take(3)])

    np.testing.assert_array_equal(labels(7), labels(7))
    assert not np.array_equal(labels(7), labels(8))


def test_augmentation_is_seeded_and_in_range(tfds_dir):
    def batch(seed):
        dataset = data.make_dataset("digits", "train", image_size=24, batch_size=8, training=True,
                                    augment=True, seed=seed, data_dir=tfds_dir)
        return first_batch(dataset)[0]

    a, b, c = batch(1), batch(1), batch(2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.shape == (8, 24, 24, 3) and a.min() >= 0.0 and a.max() <= 255.0


def test_augment_crop_respects_the_papers_ranges(monkeypatch):
    # Szegedy et al. 2014, section 6: patches of 8%-100% of the image area, aspect ratio in [3/4, 4/3].
    calls = []
    sample = tf.image.stateless_sample_distorted_bounding_box

    def recording(*args, **kwargs):
        calls.append(kwargs)
        return sample(*args, **kwargs)

    monkeypatch.setattr(tf.image, "stateless_sample_distorted_bounding_box", recording)
    image = tf.reshape(tf.range(100 * 100 * 3, dtype=tf.float32) % 255, (100, 100, 3))
    for i in range(5):
        out = data.augment_image(image, 50, tf.constant([i, 3]), photometric=False, flip=False)
        assert out.shape == (50, 50, 3)
    assert calls and all(tuple(call["area_range"]) == pytest.approx((0.08, 1.0)) for call in calls)
    assert all(tuple(call["aspect_ratio_range"]) == pytest.approx((0.75, 4 / 3)) for call in calls)


# The documented ranges (augment_image's docstring): brightness +-32 of 255, contrast and saturation
# factors in [0.5, 1.5], hue +-0.1 of the colour circle.
BRIGHTNESS, CONTRAST, SATURATION, HUE = (-32.0, 32.0), (0.5, 1.5), (0.5, 1.5), (-0.1, 0.1)
SEEDS = [tf.constant([seed, 11]) for seed in range(150)]


def assert_spans(values, bounds, tolerance):
    """All of `values` lie in `bounds`, and they reach within a tenth of the range of both ends."""
    low, high = bounds
    values = np.asarray(values)
    assert values.min() >= low - tolerance and values.max() <= high + tolerance, (values.min(), values.max())
    assert values.min() < low + 0.1 * (high - low) and values.max() > high - 0.1 * (high - low)


def test_brightness_saturation_and_hue_ranges_on_a_flat_colour():
    """A flat RGB (150, 120, 100): contrast has nothing to scale; brightness adds d to every channel
    (V = 150 + d, hue kept), saturation scales S = (max - min) / max = 50 / (150 + d) by f, hue turns by h."""
    colour = np.array([150.0, 120.0, 100.0])
    image = tf.constant(np.broadcast_to(colour, (12, 12, 3)), tf.float32)
    augment = tf.function(lambda seed: data.augment_image(image, 6, seed))
    hue = colorsys.rgb_to_hsv(*(colour / 255))[0]
    shifts, factors, turns = [], [], []
    for seed in SEEDS:
        out = augment(seed).numpy().reshape(-1, 3)
        assert np.ptp(out, axis=0).max() < 1e-3  # still flat
        h, s, v = colorsys.rgb_to_hsv(*(out.mean(axis=0) / 255))
        shifts.append(255 * v - 150)
        factors.append(s * 255 * v / 50)
        turns.append((h - hue + 0.5) % 1 - 0.5)
    assert_spans(shifts, BRIGHTNESS, 1e-3)
    assert_spans(factors, SATURATION, 1e-4)
    assert_spans(turns, HUE, 1e-5)


def test_contrast_and_brightness_ranges_on_a_grey_ramp():
    """Grey pixels (R = G = B) keep their saturation and hue, so the photometric output is
    (x - mean) * c + mean + d of the same crop without it (same seed): c and d by least squares."""
    ramp = np.linspace(100, 156, 20)[:, None] * np.ones((20, 20))
    image = tf.constant(np.repeat(ramp[..., None], 3, axis=-1), tf.float32)
    with_colour = tf.function(lambda seed: data.augment_image(image, 10, seed))
    without = tf.function(lambda seed: data.augment_image(image, 10, seed, photometric=False))
    factors, shifts = [], []
    for seed in SEEDS:
        base, out = without(seed).numpy().ravel(), with_colour(seed).numpy().ravel()
        centred = base - base.mean()
        if centred.std() < 1:
            continue  # a crop too thin to see the contrast
        factor = (centred @ (out - out.mean())) / (centred @ centred)
        np.testing.assert_allclose(out, centred * factor + out.mean(), atol=0.05)
        factors.append(factor)
        shifts.append(out.mean() - base.mean())
    assert len(factors) > 100
    assert_spans(factors, CONTRAST, 1e-4)
    assert_spans(shifts, BRIGHTNESS, 1e-3)


@pytest.mark.parametrize(
    "name,split,channels_in",
    [("mnist", "train", 1), ("cifar10", "test", 3), ("imagenette", "validation", 3)],
)
def test_tfds_pipelines_with_mock_data(name, split, channels_in):
    with tfds.testing.mock_data(num_examples=12):
        dataset = data.make_dataset(name, split, image_size=40, batch_size=5, training=True, seed=0)
        batches = list(dataset)
    assert [b[0].shape[0] for b in batches] == [5, 5, 2]
    for images, labels in batches:
        assert images.shape[1:] == (40, 40, 3) and images.dtype == tf.float32
        assert float(tf.reduce_min(images)) >= 0.0 and float(tf.reduce_max(images)) <= 255.0
        assert labels.dtype == tf.int64


def write_image_folder(root, sizes=((30, 40), (50, 20))):
    rng = np.random.default_rng(0)  # flat colours survive JPEG
    for split in ("train", "test"):
        for index, label in enumerate(("cat", "dog")):
            folder = root / split / label
            folder.mkdir(parents=True)
            for j, (h, w) in enumerate(sizes):
                pixels = np.full((h, w, 3), rng.integers(60, 200), dtype=np.uint8)
                pixels[..., 0] = 255 * index  # a class you can see
                encoded = tf.io.encode_png(pixels) if j % 2 else tf.io.encode_jpeg(pixels)
                (folder / f"{j}.{'png' if j % 2 else 'jpg'}").write_bytes(encoded.numpy())


def test_image_folder_with_real_jpeg_and_png_files(tmp_path):
    write_image_folder(tmp_path)
    name = f"folder:{tmp_path}"
    info = data.dataset_info(name)
    assert info.class_names == ("cat", "dog") and info.split_sizes == {"train": 4, "test": 4}
    images, labels = first_batch(data.make_dataset(name, "train", image_size=32, batch_size=8))
    assert images.shape == (4, 32, 32, 3)
    for image, label in zip(images, labels):
        red = image[..., 0].mean()
        assert red == pytest.approx(255 * label, abs=6)


@pytest.mark.parametrize(
    "kwargs,error,message",
    [
        ({"name": "no_such_dataset_xyz"}, ValueError, "Unknown dataset 'no_such_dataset_xyz'"),
        ({"name": "folder:/no/such/dir"}, FileNotFoundError, "/no/such/dir"),
        ({"image_size": 0}, ValueError, "image_size must be a positive integer"),
        ({"batch_size": 2.5}, ValueError, "batch_size must be a positive integer"),
        ({"split": "validation"}, ValueError, "no split 'validation'"),
        ({"channels": 2}, ValueError, "channels must be 1 or 3"),
    ],
)
def test_bad_arguments(tfds_dir, kwargs, error, message):
    kwargs = {"name": "digits", "split": "train", "data_dir": tfds_dir, **kwargs}
    with pytest.raises(error, match=message):
        data.make_dataset(**kwargs)


@pytest.mark.slow
def test_importing_the_data_pipelines_registers_digits():
    import subprocess
    import sys

    code = ("import tensorflow_datasets as tfds, inception_tf.training.data; "
            "print('digits' in tfds.list_builders(with_community_datasets=False))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.stdout.strip().splitlines()[-1] == "True", result.stderr[-2000:]


def test_image_folder_slices_are_disjoint_and_cover_the_split(tmp_path):
    # ImageFolder has no tfds slicing; TrainConfig's defaults (train[:90%], train[90%:]) need it.
    sizes = tuple((20 + i, 30 + i) for i in range(10))  # 10 images per class, 20 in train
    write_image_folder(tmp_path, sizes=sizes)
    name = f"folder:{tmp_path}"

    def images(split):
        dataset, count = data.load_examples(name, split, None, shuffle_files=False, seed=None)
        shapes = [tuple(image.shape[:2]) + (int(label),) for image, label in dataset]
        assert len(shapes) == count
        return shapes

    whole, head, tail = images("train"), images("train[:90%]"), images("train[90%:]")
    assert (len(whole), len(head), len(tail)) == (20, 18, 2)
    assert head + tail == whole  # disjoint, in order, covering the split
    assert images("train[5:8]") == whole[5:8] and images("train[-3:]") == whole[-3:]
    with pytest.raises(ValueError, match="has no split 'valid'"):
        images("valid[:50%]")


def _png_folder(root, images):
    """`folder:root` holding `images` (uint8 arrays) as PNG files `train/a/00.png`, ... in order."""
    (root / "train" / "a").mkdir(parents=True)
    for i, image in enumerate(images):
        (root / "train" / "a" / f"{i:02d}.png").write_bytes(tf.io.encode_png(image).numpy())
    return f"folder:{root}"


@pytest.mark.parametrize("geometry", ["square", "crop"])
def test_calibration_images_are_prepared_with_the_models_geometry(tmp_path, geometry):
    from tests.geometry_expectations import PREPARED_BY

    rng = np.random.default_rng(4)
    images = [rng.integers(0, 256, shape, dtype=np.uint8) for shape in ((40, 57, 3), (57, 40, 3), (45, 45, 3))]
    calibration = data.calibration_set(_png_folder(tmp_path, images), (None, 32, 32, 3), 3, geometry)

    prepare = PREPARED_BY[geometry]
    other = {"square": "crop", "crop": "square"}[geometry]
    # ImageFolder lists files in its own order: match each calibration image to its nearest expectation.
    expected = np.stack([prepare(image, 32) for image in images])
    distances = np.abs(calibration.images[:, None] - expected[None]).max(axis=(2, 3, 4))
    assert sorted(distances.argmin(axis=1)) == [0, 1, 2] and distances.min(axis=1).max() < 1e-3
    other_images = data.calibration_set(_png_folder(tmp_path / "other", images), (None, 32, 32, 3), 3, other).images
    assert np.abs(np.sort(other_images.ravel()) - np.sort(calibration.images.ravel())).max() > 1  # it discriminates
    with pytest.raises(ValueError, match=r"geometry must be one of \('square', 'crop'\)\. Received: geometry='centre'"):
        data.calibration_set(_png_folder(tmp_path / "bad", images), (None, 32, 32, 3), 3, "centre")


def test_auto_cache_holds_float32_images_under_2_gib():
    # A float32 224x224x3 image takes 224 * 224 * 3 * 4 = 602,112 bytes: 3,566 fit under 2 GiB (2,147,483,648
    # bytes: 3,566 take 2,147,131,392), 3,567 (2,147,733,504 bytes) do not.
    assert data._should_cache("auto", 3566, 224) is True
    assert data._should_cache("auto", 3567, 224) is False
    assert data._should_cache("auto", 1_281_167, 224) is False  # ImageNet's training split
    assert data._should_cache("auto", 1437, 32) is True  # digits at 32x32
    assert data._should_cache("auto", None, 32) is False  # a split of unknown size
    assert data._should_cache(True, 10**9, 224) is True and data._should_cache(False, 1, 1) is False


@pytest.fixture
def cache_calls(monkeypatch):
    """The `Dataset.cache()` calls the pipelines make (tensorflow-datasets caches small splits on its own)."""
    calls = []
    cache = tf.data.Dataset.cache

    def recording(self, *args, **kwargs):
        if sys._getframe(1).f_globals.get("__name__") == data.__name__:
            calls.append(args)
        return cache(self, *args, **kwargs)

    monkeypatch.setattr(tf.data.Dataset, "cache", recording)
    return calls


@pytest.mark.parametrize("options, cached", [
    ({}, True),  # "auto": digits fit in memory
    ({"training": True}, True),  # resized images, cached before the shuffle
    ({"cache": True}, True),
    ({"cache": False}, False),
    ({"cache": "auto", "training": True, "augment": True}, False),  # full-size decoded images: only when asked
    ({"cache": True, "training": True, "augment": True}, True),
    ({"cache": False, "training": True, "augment": True}, False),
])
def test_cache_option_decides_whether_the_pipeline_caches(tfds_dir, cache_calls, options, cached):
    data.make_dataset("digits", "test", image_size=16, batch_size=8, data_dir=tfds_dir, seed=0, **options)
    assert len(cache_calls) == int(cached)


def test_cache_must_be_true_false_or_auto(tfds_dir):
    with pytest.raises(ValueError, match="cache must be True, False or 'auto'. Received: cache='yes'"):
        data.make_dataset("digits", "test", image_size=16, data_dir=tfds_dir, cache="yes")


def raw_digits(tfds_dir, split):
    """A split's raw examples in tfds' own order: uint8 `(n, 8, 8, 1)` images and int64 labels."""
    examples = tfds.as_numpy(tfds.load("digits", split=split, data_dir=tfds_dir, as_supervised=True,
                                       shuffle_files=False))
    images, labels = zip(*examples)
    return np.stack(images), np.array(labels)


def test_defaults_are_the_unshuffled_train_split_at_224_in_batches_of_32(tfds_dir):
    dataset = data.make_dataset("digits", data_dir=tfds_dir, seed=0)  # seeded: parallel maps keep the order
    raw_images, raw_labels = raw_digits(tfds_dir, "train")
    assert int(dataset.cardinality()) == math.ceil(1437 / 32)  # every example of "train", the last batch kept
    images, labels = first_batch(dataset)
    assert images.shape == (32, 224, 224, 3)
    np.testing.assert_array_equal(labels, raw_labels[:32])  # no shuffle, no augmentation
    # 8x8 squares, bilinearly resized (tf.image.resize) and repeated as RGB.
    expected = tf.image.resize(raw_images[:32].astype("float32"), (224, 224), method="bilinear").numpy()
    np.testing.assert_allclose(images, np.repeat(expected, 3, axis=-1), atol=1e-3)


def test_drop_remainder_drops_the_last_partial_batch(tfds_dir):
    def batches(**options):
        return int(data.make_dataset("digits", "test", image_size=8, batch_size=100, data_dir=tfds_dir,
                                     **options).cardinality())

    assert (batches(), batches(drop_remainder=True)) == (4, 3)  # 360 test examples


def epoch_labels(dataset, epochs=1):
    """Each epoch's labels of `dataset` (a fresh iterator per epoch, as `fit` makes)."""
    return [np.concatenate([labels.numpy() for _, labels in dataset]) for _ in range(epochs)]


def test_shuffle_option_overrides_training(tfds_dir):
    _, raw_labels = raw_digits(tfds_dir, "test")

    def labels(**options):
        return epoch_labels(data.make_dataset("digits", "test", image_size=8, batch_size=64, data_dir=tfds_dir,
                                              seed=3, **options))[0]

    np.testing.assert_array_equal(labels(training=False), raw_labels)
    np.testing.assert_array_equal(labels(training=True, shuffle=False), raw_labels)
    for shuffled in (labels(training=True), labels(training=False, shuffle=True)):
        assert not np.array_equal(shuffled, raw_labels)
        np.testing.assert_array_equal(np.sort(shuffled), np.sort(raw_labels))  # the same examples, reordered


def test_a_seeded_pipeline_reshuffles_every_epoch_reproducibly(tfds_dir):
    def two_epochs(seed):
        return epoch_labels(data.make_dataset("digits", "test", image_size=8, batch_size=64, training=True,
                                              seed=seed, data_dir=tfds_dir), epochs=2)

    first, second = two_epochs(5)
    assert not np.array_equal(first, second)
    for again, before in zip(two_epochs(5), (first, second)):
        np.testing.assert_array_equal(again, before)


def test_pipeline_options_are_deterministic_with_a_seed_and_shard_by_data(tfds_dir):
    def options(seed):
        return data.make_dataset("digits", "test", image_size=8, data_dir=tfds_dir, seed=seed).options()

    assert options(0).deterministic is True and options(None).deterministic is False
    for seed in (0, None):
        assert options(seed).experimental_distribute.auto_shard_policy == tf.data.experimental.AutoShardPolicy.DATA


def test_augmentation_needs_three_channels(tfds_dir):
    with pytest.raises(ValueError, match="augment=True needs channels=3"):
        data.make_dataset("digits", "train", image_size=8, data_dir=tfds_dir, training=True, augment=True,
                          channels=1)


def test_augmented_pipeline_has_static_image_shapes(tfds_dir):
    dataset = data.make_dataset("digits", "train", image_size=24, batch_size=8, training=True, augment=True,
                                seed=0, data_dir=tfds_dir)
    images_spec, labels_spec = dataset.element_spec
    assert images_spec.shape.as_list() == [None, 24, 24, 3] and images_spec.dtype == tf.float32
    assert labels_spec.shape.as_list() == [None] and labels_spec.dtype == tf.int64


def test_augmentation_flips_about_half_the_images_unless_told_not_to():
    # A left-to-right ramp stays increasing under any crop and resize; a flip makes it decreasing.
    image = tf.constant(np.broadcast_to(np.linspace(0, 250, 30)[None, :, None], (30, 30, 3)), tf.float32)

    def flipped(**options):
        augment = tf.function(lambda seed: data.augment_image(image, 12, seed, photometric=False, **options))
        rows = [augment(seed).numpy()[6, :, 0] for seed in SEEDS[:60]]
        return [bool(row[0] > row[-1]) for row in rows]

    by_default = flipped()
    assert 15 <= sum(by_default) <= 45  # Binomial(60, 1/2): outside [15, 45] with probability < 1e-4
    assert flipped(flip=True) == by_default
    assert not any(flipped(flip=False))


def test_photometric_output_is_clipped_to_0_and_255():
    # Half black, half white: any brightness shift pushes one half past the range, which is clipped onto it.
    halves = np.zeros((16, 16, 3))
    halves[:, 8:] = 255
    augment = tf.function(lambda seed: data.augment_image(tf.constant(halves, tf.float32), 8, seed, flip=False))
    outputs = np.stack([augment(seed).numpy() for seed in SEEDS[:40]])
    assert outputs.min() == 0.0 and outputs.max() == 255.0


def test_brightness_shift_spans_32_of_255():
    # Grey 128 with contrast (no effect on a flat image), saturation and hue (none on grey): only brightness moves it.
    image = tf.fill((8, 8, 3), 128.0)
    augment = tf.function(lambda seed: data.augment_image(image, 4, seed, flip=False))
    shifts = [float(augment(tf.constant([seed, 5])).numpy().mean()) - 128 for seed in range(600)]
    # Uniform in [-32, 32]: 600 draws come within 0.5 of each end with probability 1 - (63.5/64)^600 > 0.99.
    assert_spans(shifts, BRIGHTNESS, 1e-3)
    assert min(shifts) < -31.5 and max(shifts) > 31.5


def test_each_random_draw_of_the_augmentation_has_its_own_seed(monkeypatch):
    # Crop, interpolation, flip, brightness, contrast, saturation and hue are drawn independently: seven seeds.
    drawn, methods = {}, []

    def record(name, module, attribute, seed_at):
        function = getattr(module, attribute)

        def recording(*args, **kwargs):
            seed = kwargs["seed"] if seed_at == "seed" else args[seed_at]
            drawn.setdefault(name, []).append(tuple(np.asarray(seed)))
            result = function(*args, **kwargs)
            if name == "interpolation":
                methods.append(int(result))
            return result

        monkeypatch.setattr(module, attribute, recording)

    record("crop", tf.image, "stateless_sample_distorted_bounding_box", "seed")
    record("interpolation", tf.random, "stateless_uniform", 1)
    record("flip", tf.image, "stateless_random_flip_left_right", 1)
    record("brightness", tf.image, "stateless_random_brightness", 2)
    record("contrast", tf.image, "stateless_random_contrast", 3)
    record("saturation", tf.image, "stateless_random_saturation", 3)
    record("hue", tf.image, "stateless_random_hue", 2)
    image = tf.constant(np.random.default_rng(0).uniform(0, 255, (20, 20, 3)), tf.float32)
    for seed in SEEDS[:40]:
        data.augment_image(image, 8, seed)
    assert sorted(drawn) == ["brightness", "contrast", "crop", "flip", "hue", "interpolation", "saturation"]
    for i in range(40):
        seeds = [draws[i] for draws in drawn.values()]
        assert len(set(seeds)) == 7, seeds
    assert set(methods) == {0, 1, 2, 3}  # bilinear, bicubic, area and nearest are each chosen


def test_crops_span_8_to_100_percent_of_the_area_within_the_aspect_ratios(monkeypatch):
    # Szegedy et al. 2014, section 6, measured on the crops drawn rather than on the arguments passed.
    crops = []
    sample = tf.image.stateless_sample_distorted_bounding_box

    def recording(*args, **kwargs):
        begin, size, box = sample(*args, **kwargs)
        crops.append((begin.numpy(), size.numpy()))
        return begin, size, box

    monkeypatch.setattr(tf.image, "stateless_sample_distorted_bounding_box", recording)
    image = tf.zeros((100, 100, 3))
    for seed in range(200):
        data.augment_image(image, 4, tf.constant([seed, 1]), flip=False, photometric=False)
    begins = np.array([begin[:2] for begin, _ in crops])
    sizes = np.array([size[:2] for _, size in crops])
    assert (begins >= 0).all() and (begins + sizes <= 100).all()  # inside the image
    areas, aspects = sizes.prod(axis=1) / 100**2, sizes[:, 1] / sizes[:, 0]
    assert areas.min() >= 0.08 - 0.01 and areas.max() <= 1.0
    assert areas.min() < 0.15 and areas.max() > 0.9
    # Whole pixels: a side rounded by half a pixel moves the ratio by a few hundredths.
    assert aspects.min() >= 0.75 - 0.05 and aspects.max() <= 4 / 3 + 0.05
    assert aspects.min() < 0.8 and aspects.max() > 1.25


def test_augmented_pipelines_flip_unless_told_not_to(tfds_dir):
    def images(**options):
        return first_batch(data.make_dataset("digits", "train", image_size=16, batch_size=32, training=True,
                                             augment=True, seed=4, data_dir=tfds_dir, **options))[0]

    by_default = images()
    np.testing.assert_array_equal(by_default, images(flip=True))
    assert not np.array_equal(by_default, images(flip=False))
