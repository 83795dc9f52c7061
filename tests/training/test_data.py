"""Input pipelines: the embedded digits, tfds datasets (mocked), image folders, augmentation."""

import colorsys

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
