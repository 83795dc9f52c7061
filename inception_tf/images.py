"""Image geometry shared by the training pipelines, SavedModel exports, predict and evaluation (TensorFlow ops)."""

import tensorflow as tf

from inception_tf.crops import make_crops
from inception_tf.geometry import SQUARE, check_geometry


def _central_square(images):
    """The largest central square of `(..., height, width, channels)` images."""
    shape = tf.shape(images)
    height, width = shape[-3], shape[-2]
    side = tf.minimum(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    return images[..., top : top + side, left : left + side, :]


def to_channels(image, channels):
    """`(..., channels_in)` images with `channels` channels: alpha dropped, grey repeated, RGB averaged."""
    image = tf.convert_to_tensor(image)
    if image.shape[-1] == 4:
        image = image[..., :3]  # drop alpha
    if image.shape[-1] == 3 and channels == 1:
        return tf.cast(tf.round(tf.image.rgb_to_grayscale(tf.cast(image, tf.float32))), image.dtype)
    if image.shape[-1] == channels:
        return image
    if image.shape[-1] == 1 and channels == 3:
        return tf.image.grayscale_to_rgb(image)
    raise ValueError(f"Cannot turn images with {image.shape[-1]} channels into {channels}.")


def resize_image(image, image_size, channels=3):
    """Decoded images to the model's input: central square, resized, `channels` channels.

    The `"square"` geometry (`inception_tf.geometry`), which the training
    pipelines apply to every image.

    Args:
        image: uint8 or float tensor `(height, width, channels_in)` or a batch
            `(batch_size, height, width, channels_in)`, values in [0, 255].
        image_size: int. Output height and width.
        channels: int. Output channels (grayscale becomes RGB). Defaults to 3.

    Returns:
        float32 `([batch_size,] image_size, image_size, channels)`, values in [0, 255].
    """
    image = to_channels(image, channels)
    image = tf.image.resize(_central_square(image), (image_size, image_size), method="bilinear")
    # Bilinear resizing cannot leave the input's range: the clip only guards float32 rounding.
    return tf.clip_by_value(image, 0.0, 255.0)  # pragma: no mutate


def prepare_images(images, image_size, geometry, channels=3):
    """Decoded images to a model's input by its test-time geometry (`inception_tf.geometry`).

    The one function that applies a model's recorded geometry: the SavedModel
    signatures, `predict`, `evaluate` without `crops`, the int8 calibration
    images and the ONNX/LiteRT client all call it.

    Args:
        images: uint8 or float tensor `(height, width, channels_in)` or a batch
            `(batch_size, height, width, channels_in)`, values in [0, 255].
        image_size: int. Output height and width.
        geometry: str. `"square"` (`resize_image`) or `"crop"` (the paper's
            single centre crop, `inception_tf.crops.make_crops(..., crops=1)`).
        channels: int. Output channels (grayscale becomes RGB). Defaults to 3.

    Returns:
        float32 `([batch_size,] image_size, image_size, channels)`, values in [0, 255].
    """
    check_geometry(geometry)
    if geometry == SQUARE:
        return resize_image(images, image_size, channels)
    images = to_channels(images, channels)

    def centre_crop(image):
        return make_crops(image, image_size, 1)[0]

    if images.shape.rank == 3:
        cropped = centre_crop(images)
    else:
        cropped = tf.map_fn(centre_crop, images, fn_output_signature=tf.TensorSpec(
            (image_size, image_size, channels), tf.float32))
    return tf.clip_by_value(cropped, 0.0, 255.0)
