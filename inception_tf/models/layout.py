"""Data formats: validation, the channel axis, and the layout convolutions compute in."""

import keras
from keras import ops

DATA_FORMATS = ("channels_last", "channels_first")


def standardize_data_format(data_format):
    """`data_format`, or Keras' global default when None; anything else is an error."""
    if data_format is None:
        return keras.config.image_data_format()
    if data_format not in DATA_FORMATS:
        raise ValueError(
            "data_format must be 'channels_last', 'channels_first' or None. "
            f"Received: data_format={data_format!r}"
        )
    return data_format


def channel_axis(data_format):
    """-1 for channels_last `(B, H, W, C)`, 1 for channels_first `(B, C, H, W)`."""
    return -1 if data_format == "channels_last" else 1


def spatial_dims(shape, data_format):
    """`(height, width)` of a batched 4D shape."""
    return tuple(shape[1:3]) if data_format == "channels_last" else tuple(shape[2:4])


def compute_data_format(data_format):
    """The layout convolutions run in for an interface `data_format`.

    TensorFlow's CPU kernels have no NCHW Conv2D, so on the TensorFlow backend a
    channels_first layer computes in channels_last between one transpose in and
    one out (NHWC is also what oneDNN and tensor cores prefer). Other backends
    run channels_first natively.
    """
    if data_format == "channels_first" and keras.backend.backend() == "tensorflow":
        return "channels_last"
    return data_format


def to_compute_layout(shape_or_tensor, data_format, is_shape=False):
    """Moves channels from axis 1 to the last axis when the compute layout differs."""
    if compute_data_format(data_format) == data_format:
        return shape_or_tensor
    if is_shape:
        shape = tuple(shape_or_tensor)
        return (shape[0],) + shape[2:] + (shape[1],)
    return ops.transpose(shape_or_tensor, (0, 2, 3, 1))


def from_compute_layout(tensor, data_format):
    """Inverse of `to_compute_layout` for a tensor."""
    if compute_data_format(data_format) == data_format:
        return tensor
    return ops.transpose(tensor, (0, 3, 1, 2))
