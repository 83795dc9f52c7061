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
        grey = prepare_images(white, 32, geometry, channels=1).numpy()
        assert grey.shape == (32, 32, 1) and np.allclose(grey, 255.0, atol=1e-3)


def test_prepare_images_refuses_an_unknown_geometry():
    from inception_tf.images import prepare_images

    with pytest.raises(ValueError, match=r"geometry must be one of \('square', 'crop'\)\. Received: geometry='full'"):
        prepare_images(np.zeros((8, 8, 3), np.uint8), 8, "full")
