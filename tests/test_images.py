"""Image geometry: resize_image's central square against painted margins, prepare_images against numpy."""

import numpy as np
import pytest

from inception_tf.images import resize_image


@pytest.mark.parametrize("height, width", [(40, 100), (100, 40)])
def test_central_square_drops_the_margins(height, width):
    # A red central square, blue margins along the long side: the crop must keep only red.
    image = np.zeros((height, width, 3), np.uint8)
    image[..., 2] = 255
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    image[top:top + side, left:left + side] = (255, 0, 0)
    out = resize_image(image, 16).numpy()
    assert out.shape == (16, 16, 3)
    np.testing.assert_allclose(out, np.broadcast_to([255.0, 0.0, 0.0], out.shape), atol=1e-3)


def test_a_square_image_is_only_resized():
    # Block-constant 32x32 -> 16x16: bilinear halving of 2x2 constant blocks returns each block's value.
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (16, 16, 3)).astype(np.float32)
    image = np.repeat(np.repeat(small, 2, axis=0), 2, axis=1)
    np.testing.assert_allclose(resize_image(image, 16).numpy(), small, atol=1e-3)


def _numpy_centre_crop(image, size):
    """The paper's single crop by hand: shorter side to round(size * 256 / 224), aspect kept, central square."""
    import tensorflow as tf

    height, width = image.shape[:2]
    short = (2 * size * 256 + 224) // (2 * 224)
    resized_h, resized_w = (short, (2 * width * short + height) // (2 * height)) if height <= width else (
        (2 * height * short + width) // (2 * width), short)
    resized = tf.image.resize(image.astype(np.float32), (resized_h, resized_w), antialias=True).numpy()
    top, left = (resized_h - size) // 2, (resized_w - size) // 2
    return resized[top:top + size, left:left + size]


@pytest.mark.parametrize("shape", [(40, 57, 3), (57, 40, 3), (45, 45, 3)])
def test_prepare_images_applies_the_named_geometry(shape):
    from inception_tf.images import prepare_images

    image = np.random.default_rng(2).integers(0, 256, shape).astype(np.uint8)
    np.testing.assert_allclose(prepare_images(image, 32, "square").numpy(), resize_image(image, 32).numpy())
    cropped = prepare_images(image, 32, "crop").numpy()
    np.testing.assert_allclose(cropped, _numpy_centre_crop(image, 32), atol=1e-3)
    assert np.abs(cropped - prepare_images(image, 32, "square").numpy()).max() > 10  # the geometries differ
    batch = prepare_images(np.stack([image, image[::-1]]), 32, "crop").numpy()  # a batch: each image alike
    np.testing.assert_allclose(batch, np.stack([cropped, prepare_images(image[::-1], 32, "crop").numpy()]), atol=1e-4)
    assert batch.shape == (2, 32, 32, 3) and batch.dtype == np.float32


def test_prepare_images_keeps_pixels_in_range_and_converts_channels():
    from inception_tf.images import prepare_images

    white = np.full((40, 57, 3), 255, np.uint8)  # antialiased resizing may round a little above 255
    for geometry in ("square", "crop"):
        out = prepare_images(white, 32, geometry).numpy()
        assert out.max() <= 255.0 and out.min() >= 0.0
        assert prepare_images(np.zeros((40, 57, 3), np.uint8), 32, geometry).numpy().max() == 0.0  # black stays 0
        grey = prepare_images(white, 32, geometry, channels=1).numpy()
        assert grey.shape == (32, 32, 1) and np.allclose(grey, 255.0, atol=1e-3)


def test_prepare_images_refuses_an_unknown_geometry():
    from inception_tf.images import prepare_images

    with pytest.raises(ValueError, match=r"geometry must be one of \('square', 'crop'\)\. Received: geometry='full'"):
        prepare_images(np.zeros((8, 8, 3), np.uint8), 8, "full")


def test_to_channels_against_numpy():
    from inception_tf.images import to_channels

    rng = np.random.default_rng(5)
    rgba = rng.integers(0, 256, (2, 5, 6, 4)).astype(np.uint8)
    np.testing.assert_array_equal(np.asarray(to_channels(rgba, 3)), rgba[..., :3])  # alpha dropped
    grey = rgba[..., :1]
    np.testing.assert_array_equal(np.asarray(to_channels(grey, 3)), np.repeat(grey, 3, axis=-1))  # grey repeated
    luma = np.round(rgba[..., :3].astype(np.float64) @ [0.2989, 0.5870, 0.1140])[..., None]  # ITU-R 601 weights
    assert np.abs(np.asarray(to_channels(rgba[..., :3], 1)).astype(np.float64) - luma).max() <= 1
    assert to_channels(rgba, 1).shape == (2, 5, 6, 1)  # alpha dropped, then averaged
    np.testing.assert_array_equal(np.asarray(to_channels(grey, 1)), grey)  # already right: unchanged
    with pytest.raises(ValueError, match="Cannot turn images with 2 channels into 3"):
        to_channels(rgba[..., :2], 3)
    with pytest.raises(ValueError, match="Cannot turn images with 3 channels into 2"):
        to_channels(rgba[..., :3], 2)
