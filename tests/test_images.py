"""resize_image's central square crop, against an image whose margins are painted."""

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
