"""Test-time crops against a plain, separately written reading of the paper's protocol.

`reference_boxes` restates the rules from Szegedy et al. 2014, Section 7 with
explicit landscape / portrait / square branches and exact fractions;
`reference_crops` applies them with numpy slicing, using `tf.image.resize` only
as the resize primitive. Where the image's shorter side already equals the
scale, no resize happens and a coordinate image (pixel = its own (row, col))
shows exactly which pixels each crop took.
"""

import doctest
import math
from fractions import Fraction

import numpy as np
import pytest
import tensorflow as tf

from inception_tf import crops as crops_module
from inception_tf.crops import BOX_FIELDS, CROP_COUNTS, crop_boxes, crop_scales, make_crops

PAPER_SHORTER_SIDES = (256, 288, 320, 352)


def half_up(fraction):
    return math.floor(fraction + Fraction(1, 2))


def reference_scales(size, n):
    lengths = PAPER_SHORTER_SIDES if n == 144 else PAPER_SHORTER_SIDES[:1]
    return [half_up(Fraction(size * length, 224)) for length in lengths]


def reference_resized(height, width, shorter):
    if height == width:
        return shorter, shorter
    if height < width:
        return shorter, half_up(Fraction(width * shorter, height))
    return half_up(Fraction(height * shorter, width)), shorter


def corners_and_centre(y, x, region_height, region_width, size):
    """(y0, x0) of the top-left, top-right, bottom-left, bottom-right, centre `size` squares of a region."""
    bottom, right = y + region_height - size, x + region_width - size
    centre = (y + (region_height - size) // 2, x + (region_width - size) // 2)
    return [(y, x), (y, right), (bottom, x), (bottom, right), centre]


def reference_boxes(height, width, size, n):
    """Rows (resized_height, resized_width, y0, x0, side, mirrored), as the module docstring orders them."""
    first = []
    if n == 1:
        rh, rw = reference_resized(height, width, reference_scales(size, n)[0])
        return [(rh, rw, (rh - size) // 2, (rw - size) // 2, size, 0)]
    if n == 10:
        rh, rw = reference_resized(height, width, reference_scales(size, n)[0])
        first = [(rh, rw, y, x, size) for y, x in corners_and_centre(0, 0, rh, rw, size)]
    else:
        for s in reference_scales(size, n):
            rh, rw = reference_resized(height, width, s)
            if rw > rh:  # landscape: left, centre, right
                squares = [(0, 0), (0, (rw - s) // 2), (0, rw - s)]
            elif rh > rw:  # portrait: top, centre, bottom
                squares = [(0, 0), ((rh - s) // 2, 0), (rh - s, 0)]
            else:
                squares = [(0, 0)] * 3
            for sy, sx in squares:
                first += [(rh, rw, y, x, size) for y, x in corners_and_centre(sy, sx, s, s, size)]
                first.append((rh, rw, sy, sx, s))
    return [row + (0,) for row in first] + [row + (1,) for row in first]


def _bilinear_weights(source, target):
    """(target, source) matrix of bilinear interpolation with half-pixel centres, edges clamped."""
    position = np.clip((np.arange(target) + 0.5) * source / target - 0.5, 0, source - 1)
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, source - 1)
    weights = np.zeros((target, source))
    np.add.at(weights, (np.arange(target), low), 1 - (position - low))
    np.add.at(weights, (np.arange(target), high), position - low)
    return weights


def numpy_bilinear(image, height, width):
    """Plain bilinear resizing (no antialiasing) of `(H, W, C)` to `(height, width, C)`, in numpy."""
    rows, cols = _bilinear_weights(image.shape[0], height), _bilinear_weights(image.shape[1], width)
    return np.einsum("yi,xj,ijc->yxc", rows, cols, np.asarray(image, np.float64)).astype(np.float32)


def reference_resize(image, height, width, antialias):
    if antialias:
        return tf.image.resize(image, (height, width), antialias=True).numpy()
    return numpy_bilinear(image, height, width)


def reference_crops(image, size, n, antialias=True):
    image = np.asarray(image, np.float32)
    resized = {}
    out = []
    for rh, rw, y0, x0, side, mirrored in reference_boxes(image.shape[0], image.shape[1], size, n):
        if (rh, rw) not in resized:
            resized[rh, rw] = reference_resize(image, rh, rw, antialias)
        crop = resized[rh, rw][y0:y0 + side, x0:x0 + side]
        if side != size:
            crop = reference_resize(crop, size, size, antialias)
        out.append(crop[:, ::-1] if mirrored else crop)
    return np.stack(out)


def coordinate_image(height, width):
    """float32 (height, width, 3): channel 0 the row, channel 1 the column, channel 2 zero."""
    rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    return np.stack([rows, cols, np.zeros_like(rows)], axis=-1).astype(np.float32)


def read_back(crop):
    """(y0, x0, mirrored) of a crop of a coordinate image, checking it is one unresized square."""
    rows, cols = crop[..., 0], crop[..., 1]
    size = crop.shape[0]
    y0, mirrored = int(rows[0, 0]), bool(cols[0, 0] > cols[0, -1])
    x0 = int(cols[0, -1] if mirrored else cols[0, 0])
    want_cols = x0 + np.arange(size)
    np.testing.assert_array_equal(rows, np.broadcast_to((y0 + np.arange(size))[:, None], (size, size)))
    np.testing.assert_array_equal(cols, np.broadcast_to((want_cols[::-1] if mirrored else want_cols), (size, size)))
    return y0, x0, mirrored


SHAPES = {"landscape": (40, 57), "portrait": (57, 40), "square": (45, 45), "downscaled": (90, 130)}


def test_crop_counts():
    assert CROP_COUNTS == (1, 10, 144)
    assert BOX_FIELDS == ("resized_height", "resized_width", "y0", "x0", "side", "mirrored")


def test_scales_of_the_paper_and_proportional():
    assert crop_scales(224, 144) == (256, 288, 320, 352)
    assert crop_scales(224, 1) == crop_scales(224, 10) == (256,)
    assert crop_scales(224) == (256, 288, 320, 352)  # the 144-crop scales by default
    # 32 * (256, 288, 320, 352) / 224 = 36.57, 41.14, 45.71, 50.29
    assert crop_scales(32, 144) == (37, 41, 46, 50)
    for size in (1, 2, 3, 28, 96, 299, 331):
        assert list(crop_scales(size, 144)) == reference_scales(size, 144)
        assert min(crop_scales(size, 144)) >= size


def test_boxes_hand_computed():
    # 375 x 500 landscape, 224 model: 500 * 256 / 375 = 341.33 -> 341; centre (32 // 2, 117 // 2).
    assert crop_boxes(375, 500, 224, 1).numpy().tolist() == [[256, 341, 16, 58, 224, 0]]
    # 500 x 375 portrait: 10 crops; 341 - 224 = 117 rows, 32 columns to spare.
    want = [[341, 256, 0, 0, 224, 0], [341, 256, 0, 32, 224, 0], [341, 256, 117, 0, 224, 0],
            [341, 256, 117, 32, 224, 0], [341, 256, 58, 16, 224, 0]]
    assert crop_boxes(500, 375, 224, 10).numpy().tolist() == want + [row[:5] + [1] for row in want]
    # 40 x 57 for a 32 model at 46: 57 * 46 / 40 = 65.55 -> 66; squares of 46 at x = 0, 10, 20.
    boxes = crop_boxes(40, 57, 32, 144).numpy()
    assert boxes[2 * 18 + 6 + 4].tolist() == [46, 66, 7, 10 + 7, 32, 0]  # scale 2, centre square, centre
    assert boxes[2 * 18 + 12 + 5].tolist() == [46, 66, 0, 20, 46, 0]  # scale 2, right square, whole
    assert boxes[72 + 2 * 18 + 12 + 1].tolist() == [46, 66, 0, 20 + 14, 32, 1]  # its top-right, mirrored


@pytest.mark.parametrize("n", CROP_COUNTS)
@pytest.mark.parametrize("size", [32, 224, 3])
@pytest.mark.parametrize("shape", [(40, 57), (57, 40), (45, 45), (375, 500), (1, 9), (300, 2)])
def test_boxes_match_reference(shape, size, n):
    assert crop_boxes(*shape, size, n).numpy().tolist() == [list(r) for r in reference_boxes(*shape, size, n)]


def test_boxes_from_dynamic_tensors():
    fn = tf.function(lambda h, w: crop_boxes(h, w, 32, 144),
                     input_signature=[tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.int32)])
    assert fn(tf.constant(57), tf.constant(40)).numpy().tolist() == [list(r) for r in reference_boxes(57, 40, 32, 144)]


@pytest.mark.parametrize("shape", [(37, 50), (50, 37), (37, 37)], ids=["landscape", "portrait", "square"])
def test_ten_crops_take_the_corners_centre_and_mirrors(shape):
    # Shorter side 37 = the 32 model's scale: no resize, so each crop is an exact slice.
    height, width = shape
    got = [read_back(c) for c in make_crops(coordinate_image(height, width), 32, 10).numpy()]
    bottom, right = height - 32, width - 32
    centre = (bottom // 2, right // 2)
    want = [(0, 0), (0, right), (bottom, 0), (bottom, right), centre]
    assert got == [(y, x, False) for y, x in want] + [(y, x, True) for y, x in want]
    one = make_crops(coordinate_image(height, width), 32, 1).numpy()
    assert [read_back(c) for c in one] == [(*centre, False)]


@pytest.mark.parametrize("shape", [(37, 50), (50, 37), (37, 37)], ids=["landscape", "portrait", "square"])
def test_144_crops_at_the_first_scale_take_3_squares(shape):
    height, width = shape
    image = coordinate_image(height, width)
    crops = make_crops(image, 32, 144).numpy()
    along = max(height, width) - 37  # 13 or 0
    for k, offset in enumerate((0, along // 2, along)):  # left/top, centre, right/bottom square
        sy, sx = (0, offset) if width >= height else (offset, 0)
        want = [(sy, sx), (sy, sx + 5), (sy + 5, sx), (sy + 5, sx + 5), (sy + 2, sx + 2)]
        square = crops[6 * k:6 * k + 6]
        assert [read_back(c) for c in square[:5]] == [(y, x, False) for y, x in want]
        assert [read_back(c) for c in crops[72 + 6 * k:72 + 6 * k + 5]] == [(y, x, True) for y, x in want]
        whole = tf.image.resize(image[sy:sy + 37, sx:sx + 37], (32, 32), antialias=True).numpy()
        np.testing.assert_allclose(square[5], whole, atol=1e-4)
        np.testing.assert_allclose(crops[72 + 6 * k + 5], whole[:, ::-1], atol=1e-4)


def test_one_crop_is_resize_shorter_side_then_centre_crop(rng):
    image = rng.integers(0, 256, (40, 57, 3), dtype=np.uint8)
    # 57 * 37 / 40 = 52.725 -> 53 columns; offsets (37 - 32) // 2 = 2, (53 - 32) // 2 = 10.
    for antialias in (True, False):
        resized = tf.image.resize(image.astype(np.float32), (37, 53), antialias=antialias).numpy()
        got = make_crops(image, 32, 1, antialias=antialias).numpy()
        np.testing.assert_allclose(got, resized[None, 2:34, 10:42], atol=1e-3)


@pytest.mark.parametrize("n", CROP_COUNTS)
@pytest.mark.parametrize("name", list(SHAPES))
def test_crops_match_reference(name, n, rng):
    image = rng.integers(0, 256, SHAPES[name] + (3,), dtype=np.uint8)
    got = make_crops(image, 32, n)
    assert got.shape == (n, 32, 32, 3) and got.dtype == tf.float32
    np.testing.assert_allclose(got.numpy(), reference_crops(image, 32, n), atol=1e-3)


def test_numpy_bilinear_is_tensorflows_plain_bilinear(rng):
    image = rng.integers(0, 256, (23, 31, 2)).astype(np.float32)
    for height, width in ((9, 40), (37, 12), (23, 31)):
        want = tf.image.resize(image, (height, width), antialias=False).numpy()
        np.testing.assert_allclose(numpy_bilinear(image, height, width), want, atol=1e-2)  # float32 positions in TF


@pytest.mark.parametrize("n", [10, 144])
@pytest.mark.parametrize("shape", [(90, 130), (130, 90), (57, 40)])
def test_crops_without_antialiasing_match_numpy_bilinear(shape, n, rng):
    image = rng.integers(0, 256, shape + (3,), dtype=np.uint8)
    got = make_crops(image, 32, n, antialias=False).numpy()
    want = reference_crops(image, 32, n, antialias=False)
    np.testing.assert_allclose(got, want, atol=1e-2)  # TensorFlow's float32 source positions
    # The option is switched on: antialiased crops of this image differ.
    assert np.abs(reference_crops(image, 32, n, antialias=True) - want).max() > 1


def test_mirrors_are_the_second_half(rng):
    got = make_crops(rng.random((50, 70, 2), np.float32), 32, 144).numpy()
    np.testing.assert_array_equal(got[72:], got[:72, :, ::-1])


def test_tiny_and_extreme_shapes(rng):
    for size, shape in [(1, (1, 1)), (3, (2, 7)), (4, (9, 1)), (32, (1, 64)), (32, (200, 3))]:
        image = rng.random(shape + (1,), np.float32)
        got = make_crops(image, size, 144)
        assert got.shape == (144, size, size, 1)
        np.testing.assert_allclose(got.numpy(), reference_crops(image, size, 144), atol=1e-4)


def test_tf_data_map_with_batching(rng):
    images = [rng.integers(0, 256, s + (3,), dtype=np.uint8) for s in [(37, 50), (90, 40), (45, 45), (33, 70)]]
    ds = tf.data.Dataset.from_generator(
        lambda: iter(images), output_signature=tf.TensorSpec((None, None, 3), tf.uint8)
    )
    batches = list(ds.map(lambda im: make_crops(im, 32, 10)).batch(2).as_numpy_iterator())
    assert [b.shape for b in batches] == [(2, 10, 32, 32, 3)] * 2
    want = np.stack([reference_crops(im, 32, 10) for im in images])
    np.testing.assert_allclose(np.concatenate(batches), want, atol=1e-3)
    # All 144 crops of one image as one model batch, channels unknown until run time.
    ds144 = tf.data.Dataset.from_generator(
        lambda: iter(images[1:2]), output_signature=tf.TensorSpec((None, None, None), tf.uint8)
    ).map(lambda im: make_crops(im, 32, 144))
    assert ds144.element_spec.shape.as_list() == [144, 32, 32, None]
    (batch,) = list(ds144.as_numpy_iterator())
    np.testing.assert_allclose(batch, reference_crops(images[1], 32, 144), atol=1e-3)


def test_unknown_rank_inside_tf_function(rng):
    fn = tf.function(lambda im: make_crops(im, 32, 10), input_signature=[tf.TensorSpec(None, tf.float32)])
    image = rng.random((41, 39, 3), np.float32)
    np.testing.assert_allclose(fn(image).numpy(), reference_crops(image, 32, 10), atol=1e-4)
    with pytest.raises(tf.errors.InvalidArgumentError):
        fn(np.zeros((41, 39), np.float32))


def test_dtype_and_value_range(rng):
    constant = make_crops(np.full((50, 60, 3), 200, np.uint8), 32, 144)
    assert constant.dtype == tf.float32
    # Antialiased resizing's weights sum to 1 up to float32 rounding.
    np.testing.assert_allclose(constant.numpy(), 200.0, rtol=1e-6)
    image = rng.integers(3, 251, (80, 45, 3), dtype=np.uint8)
    got = make_crops(image, 32, 144).numpy()
    assert got.min() >= 3 - 1e-3 and got.max() <= 250 + 1e-3
    assert got.max() > 200  # not rescaled to [0, 1] or normalised
    unit = rng.random((45, 80, 3))  # float64 in [0, 1)
    got = make_crops(unit, 32, 10)
    assert got.dtype == tf.float32
    assert -1e-6 <= got.numpy().min() and got.numpy().max() <= unit.max() + 1e-6
    assert make_crops(np.full((40, 50, 1), 0.5, np.float16), 32, 1).dtype == tf.float32


@pytest.mark.parametrize("crops", [0, 5, 12, 145, "10", 10.0, True, None])
def test_unsupported_crops(crops):
    with pytest.raises(ValueError, match=r"crops must be one of \(1, 10, 144\)\. Received: crops="):
        make_crops(np.zeros((40, 40, 3)), 32, crops)
    with pytest.raises(ValueError, match="crops must be one of"):
        crop_boxes(40, 40, 32, crops)


@pytest.mark.parametrize("image_size", [0, -32, 2.5, True, "32"])
def test_bad_image_size(image_size):
    with pytest.raises(ValueError, match="image_size must be a positive integer. Received: image_size="):
        make_crops(np.zeros((40, 40, 3)), image_size, 10)
    with pytest.raises(ValueError, match="image_size must be a positive integer"):
        crop_scales(image_size)


@pytest.mark.parametrize("shape", [(40, 40), (1, 40, 40, 3), (40,)])
def test_image_not_3d(shape):
    message = r"image must be a 3-D tensor \(height, width, channels\). Received: image.shape"
    with pytest.raises(ValueError, match=message):
        make_crops(np.zeros(shape, np.float32), 32, 1)


def test_bad_image_dtype_and_dimensions():
    with pytest.raises(ValueError, match="image must have a real dtype.*Received: image.dtype=bool"):
        make_crops(np.zeros((40, 40, 3), bool), 32, 1)
    with pytest.raises(ValueError, match="height must be a positive integer. Received: height=0"):
        crop_boxes(0, 40, 32, 1)
    with pytest.raises(ValueError, match="width must be a positive integer or a scalar integer tensor"):
        crop_boxes(40, 2.5, 32, 1)
    with pytest.raises(tf.errors.InvalidArgumentError, match="height must be positive"):
        make_crops(np.zeros((0, 40, 3), np.uint8), 32, 1)


def test_docstring_example_runs():
    result = doctest.testmod(crops_module, raise_on_error=False)
    assert result.attempted >= 4 and result.failed == 0
