"""GoogLeNet's test-time crops: 1, 10 or 144 crops of one image, in pure TensorFlow.

Szegedy et al. 2014, "Going Deeper with Convolutions", Section 7 and Table 3,
for a model with square `image_size x image_size` inputs (224 in the paper).
Every length below is for `image_size = 224`; for other input sizes each
shorter-side length `L` becomes `floor(image_size * L / 224 + 1/2)` (rounded
half up), e.g. 37, 41, 46, 50 for a 32x32 model (see `crop_scales`).

The rules, for an image of `height x width` pixels:

* Resizing to a shorter side `S`: the shorter side becomes `S` and the longer
  side `floor(longer * S / shorter + 1/2)` (the aspect ratio, rounded half
  up); a square image becomes `S x S`. Resizing is bilinear with half-pixel
  centres (`tf.image.resize`), with antialiasing by default so that
  downscaling a large photo averages over all its pixels (as PIL's bilinear
  filter does); upscaling is plain bilinear either way.
* 1 crop: resize to `S = 256` and take the central `image_size` square at
  offsets `y0 = (resized_height - image_size) // 2`,
  `x0 = (resized_width - image_size) // 2` (integer division rounding down,
  as Caffe's test-phase crop does).
* 10 crops (Caffe's `oversample`): resize to `S = 256`; the top-left,
  top-right, bottom-left, bottom-right and central `image_size` squares (the
  centre as above), then the same 5 mirrored left to right.
* 144 crops: for each shorter side `S` in 256, 288, 320, 352, take 3 squares
  of side `S` along the longer side: left, centre, right for a landscape image
  (width > height), top, centre, bottom for a portrait one, offsets
  `0, (longer - S) // 2, longer - S`. For a square image the 3 squares are the
  same whole image and are kept, so the count is always 144 (each of its
  48 distinct crops appears 3 times, which leaves a mean over the crops
  unchanged). From each square: its 4 corner and central `image_size`
  squares, and the whole square resized to `image_size x image_size`; then all
  72 mirrored left to right: 4 x 3 x 6 x 2 = 144.

Order: for 10 and 144 crops the second half are the mirror images of the first
half, crop `i + n // 2` mirrors crop `i`. The first half runs through the
scales (shortest first), within a scale through the squares (left/top,
centre, right/bottom), within a square through top-left, top-right,
bottom-left, bottom-right, centre, whole square.

Example:

>>> import numpy as np
>>> image = np.zeros((40, 57, 3), np.uint8)  # a landscape photo, 40 rows
>>> [int(s) for s in crop_scales(32, 144)]
[37, 41, 46, 50]
>>> make_crops(image, 32, 10).shape
TensorShape([10, 32, 32, 3])
>>> crop_boxes(40, 57, 32, 1).numpy().tolist()  # [[rh, rw, y0, x0, side, mirrored]]
[[37, 53, 2, 10, 32, 0]]
"""

import numpy as np
import tensorflow as tf

from inception_tf.geometry import CROP_COUNTS, PAPER_IMAGE_SIZE, PAPER_SCALES

# The columns of `crop_boxes`.
BOX_FIELDS = ("resized_height", "resized_width", "y0", "x0", "side", "mirrored")

# Offsets as fractions (numerator, denominator) of the rows or columns to spare,
# rounded down: 0, half, all.
_NONE, _HALF, _ALL = (0, 1), (1, 2), (1, 1)
# (row fraction, column fraction) of each crop in its region, in crop order.
_CORNERS_AND_CENTRE = ((_NONE, _NONE), (_NONE, _ALL), (_ALL, _NONE), (_ALL, _ALL), (_HALF, _HALF))
_WHOLE = (_NONE, _NONE)
# The 3 squares along the longer side: left/top, centre, right/bottom.
_SQUARES = (_NONE, _HALF, _ALL)


def _check_image_size(image_size):
    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) or image_size < 1:
        raise ValueError(f"image_size must be a positive integer. Received: image_size={image_size!r}")
    return int(image_size)


def _check_crops(crops):
    if isinstance(crops, bool) or not isinstance(crops, (int, np.integer)) or int(crops) not in CROP_COUNTS:
        raise ValueError(f"crops must be one of {CROP_COUNTS}. Received: crops={crops!r}")
    return int(crops)


def crop_scales(image_size, crops=144):
    """The shorter-side lengths the image is resized to, shortest first.

    Args:
        image_size: int >= 1. The model's square input side (224 in the paper).
        crops: 1, 10 or 144.

    Returns:
        A tuple of int: `(floor(image_size * 256 / 224 + 1/2),)` for 1 and 10
        crops; the same for 256, 288, 320 and 352 for 144 crops. Each is at
        least `image_size`.

    Raises:
        ValueError: `image_size` is not a positive integer or `crops` is not
            one of `CROP_COUNTS`.
    """
    image_size = _check_image_size(image_size)
    crops = _check_crops(crops)
    scales = PAPER_SCALES if crops == 144 else PAPER_SCALES[:1]
    # Exact integer arithmetic for floor(x + 1/2) with x = image_size * s / 224.
    return tuple((2 * image_size * s + PAPER_IMAGE_SIZE) // (2 * PAPER_IMAGE_SIZE) for s in scales)


def _layout(crops):
    """The static description of each crop, as int64 arrays `(crops,)` in crop order.

    Keys: `scale` (index into `crop_scales`), `in_square` (1 for the 144-crop
    squares, 0 when crops come from the whole resized image), `square_num`,
    `square_den` (the square's offset as a fraction of the longer side's spare
    length), `y_num`, `y_den`, `x_num`, `x_den` (the crop's offset as a
    fraction of its region's spare rows and columns), `whole` (1 for a whole
    square), `mirrored`.
    """
    rows = []  # (scale, in_square, square fraction, y fraction, x fraction, whole)
    if crops == 1:
        rows.append((0, 0, _NONE, _HALF, _HALF, 0))
    elif crops == 10:
        rows += [(0, 0, _NONE, fy, fx, 0) for fy, fx in _CORNERS_AND_CENTRE]
    else:
        for scale in range(len(PAPER_SCALES)):
            for square in _SQUARES:
                rows += [(scale, 1, square, fy, fx, 0) for fy, fx in _CORNERS_AND_CENTRE]
                rows.append((scale, 1, square) + _WHOLE + (1,))
    mirrored = [0] * len(rows)
    if crops != 1:
        rows, mirrored = rows + rows, mirrored + [1] * len(rows)
    columns = zip(*[(sc, sq, *fs, *fy, *fx, wh) for sc, sq, fs, fy, fx, wh in rows])
    names = ("scale", "in_square", "square_num", "square_den", "y_num", "y_den", "x_num", "x_den", "whole")
    layout = {name: np.array(column, np.int64) for name, column in zip(names, columns)}
    layout["mirrored"] = np.array(mirrored, np.int64)
    return layout


def _check_dimension(name, value):
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        if value < 1:
            raise ValueError(f"{name} must be a positive integer. Received: {name}={value!r}")
        return tf.constant(int(value), tf.int64)
    value = tf.convert_to_tensor(value)
    if not value.dtype.is_integer or value.shape.rank not in (0, None):
        raise ValueError(
            f"{name} must be a positive integer or a scalar integer tensor. Received: {name}={value!r}"
        )
    value = tf.ensure_shape(tf.cast(value, tf.int64), [])
    with tf.control_dependencies(
        [tf.debugging.assert_positive(value, message=f"{name} must be positive")]
    ):
        return tf.identity(value)


def crop_boxes(height, width, image_size, crops):
    """Where each test-time crop of a `height x width` image comes from.

    Row `i` describes crop `i` of `make_crops`: resize the image to
    `resized_height x resized_width`, take the square
    `resized[y0:y0 + side, x0:x0 + side]`, resize it to
    `image_size x image_size` if `side != image_size` (the 144-crop "whole
    square" crops), and flip it left to right if `mirrored` is 1. The module
    docstring states the rules.

    Args:
        height: int >= 1 or a scalar integer tensor (static or dynamic). The
            image's number of rows.
        width: int >= 1 or a scalar integer tensor. The image's number of columns.
        image_size: int >= 1. The model's square input side (224 in the paper).
        crops: 1, 10 or 144.

    Returns:
        An int32 tensor `(crops, 6)` with columns `BOX_FIELDS`:
        `(resized_height, resized_width, y0, x0, side, mirrored)`. In eager
        mode `.numpy()` gives the numpy array.

    Raises:
        ValueError: `image_size` or a Python int `height`/`width` is not
            positive, `height`/`width` is not an integer (tensor), or `crops`
            is not one of `CROP_COUNTS`.
        tf.errors.InvalidArgumentError: a `height`/`width` tensor is not positive.
    """
    image_size = _check_image_size(image_size)
    crops = _check_crops(crops)
    height = _check_dimension("height", height)
    width = _check_dimension("width", width)
    layout = _layout(crops)
    scale = tf.constant(np.array(crop_scales(image_size, crops), np.int64)[layout["scale"]])  # (crops,)
    shorter = tf.minimum(height, width)
    # floor(length * scale / shorter + 1/2) in exact integer arithmetic.
    resized_height = (2 * height * scale + shorter) // (2 * shorter)
    resized_width = (2 * width * scale + shorter) // (2 * shorter)
    # A square of side `scale` along the longer side (the shorter one spares 0),
    # or the whole resized image for 1 and 10 crops (square_num is 0).
    top = (resized_height - scale) * layout["square_num"] // layout["square_den"]
    left = (resized_width - scale) * layout["square_num"] // layout["square_den"]
    region_height = tf.where(layout["in_square"] == 1, scale, resized_height)
    region_width = tf.where(layout["in_square"] == 1, scale, resized_width)
    y0 = top + (region_height - image_size) * layout["y_num"] // layout["y_den"]
    x0 = left + (region_width - image_size) * layout["x_num"] // layout["x_den"]
    side = tf.where(layout["whole"] == 1, scale, image_size)
    boxes = tf.stack([resized_height, resized_width, y0, x0, side, tf.constant(layout["mirrored"])], axis=1)
    return tf.cast(boxes, tf.int32)


def _square(image, box, side):
    """The `(side, side, C)` square of `image` `(H, W, C)` at the `y0`, `x0` of `box`, a row of `crop_boxes`."""
    return tf.slice(image, tf.stack([box[2], box[3], 0]), [side, side, -1])


def make_crops(image, image_size, crops, antialias=True):
    """The paper's 1, 10 or 144 test-time crops of one image, as one batch.

    Pure TensorFlow: works eagerly, inside `tf.function` and in
    `tf.data.Dataset.map`, for images of static or dynamic height, width and
    channels. Values are not normalised (models carry their own
    preprocessing): the crops keep the image's value range up to float32
    rounding (a constant 200 may come back as 199.99998), since bilinear
    resizing only averages neighbouring pixels.

    Args:
        image: `(height, width, channels)` tensor or array, any real dtype
            (uint8, float32, ...), any height and width >= 1.
        image_size: int >= 1. The model's square input side (224 in the paper).
        crops: 1, 10 or 144 (`CROP_COUNTS`); the rules are in the module docstring.
        antialias: bool. Passed to `tf.image.resize` for every resize; True
            (default) filters over all source pixels when shrinking.

    Returns:
        A float32 tensor `(crops, image_size, image_size, channels)`; crop `i`
        is the one row `i` of `crop_boxes(height, width, image_size, crops)`
        describes.

    Raises:
        ValueError: `image` is not 3-D or not real-valued, `image_size` is not
            a positive integer, or `crops` is not one of `CROP_COUNTS`.
        tf.errors.InvalidArgumentError: at run time, an image of unknown rank
            that is not 3-D, or one with no rows or columns.
    """
    image_size = _check_image_size(image_size)
    crops = _check_crops(crops)
    image = tf.convert_to_tensor(image)
    if image.shape.rank is not None and image.shape.rank != 3:
        raise ValueError(
            f"image must be a 3-D tensor (height, width, channels). Received: image.shape={image.shape}"
        )
    if not (image.dtype.is_integer or image.dtype.is_floating):
        raise ValueError(
            f"image must have a real dtype (uint8, float32, ...). Received: image.dtype={image.dtype.name}"
        )
    image = tf.ensure_shape(tf.cast(image, tf.float32), [None, None, None])
    shape = tf.shape(image, out_type=tf.int64)
    boxes = crop_boxes(shape[0], shape[1], image_size, crops)
    channels = image.shape[2]

    scales = crop_scales(image_size, crops)
    layout = _layout(crops)
    unmirrored = {}  # crop index -> (image_size, image_size, channels)
    for scale_index, scale in enumerate(scales):
        at_scale = (layout["scale"] == scale_index) & (layout["mirrored"] == 0)
        resized = tf.image.resize(image, boxes[np.flatnonzero(at_scale)[0], :2], antialias=antialias)
        for i in np.flatnonzero(at_scale & (layout["whole"] == 0)):
            unmirrored[i] = _square(resized, boxes[i], image_size)
        whole = np.flatnonzero(at_scale & (layout["whole"] == 1))
        if len(whole):  # 144 crops: the scale x scale squares, resized together
            squares = tf.stack([_square(resized, boxes[i], scale) for i in whole])
            squares = tf.image.resize(squares, (image_size, image_size), antialias=antialias)
            unmirrored.update((i, squares[j]) for j, i in enumerate(whole))
    batch = tf.stack([unmirrored[i] for i in sorted(unmirrored)])
    if crops != 1:  # crop i + crops // 2 mirrors crop i
        batch = tf.concat([batch, tf.reverse(batch, axis=[2])], axis=0)
    return tf.ensure_shape(batch, [crops, image_size, image_size, channels])
