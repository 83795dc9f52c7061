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


@keras.saving.register_keras_serializable(package="inception_tf")
class MinimumSizeCheck(keras.layers.Layer):
    """Passes images through unchanged, or raises when they are smaller than `min_size`.

    For models whose input height and width are unknown until called
    (`input_shape=(None, None, 3)`): a smaller image would run through the
    network and give meaningless outputs from an empty feature map. Static
    sizes are checked when the model is built; this checks the others at call
    time (as a TensorFlow assertion inside traced TensorFlow functions).

    Args:
        min_size: int. The smallest height and width.
        data_format: str or None. Where the spatial axes are.
        **kwargs: base `Layer` arguments.

    Call arguments:
        inputs: `(batch_size, height, width, channels)` or channels first.

    Returns:
        `inputs`.
    """

    def __init__(self, min_size, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.min_size = int(min_size)
        self.data_format = standardize_data_format(data_format)

    def call(self, inputs):
        height, width = spatial_dims(ops.shape(inputs), self.data_format)
        message = (f"{self.name}: images must be at least {self.min_size}x{self.min_size} "
                   f"(height, width). Received: ")
        if keras.backend.backend() == "tensorflow" and not (isinstance(height, int) and isinstance(width, int)):
            import tensorflow as tf

            smallest = tf.reduce_min(tf.stack([height, width]))
            check = tf.Assert(smallest >= self.min_size, [message + "images of shape", tf.shape(inputs)])
            with tf.control_dependencies([check]):
                return tf.identity(inputs)
        if int(height) < self.min_size or int(width) < self.min_size:
            raise ValueError(message + f"images of shape {tuple(ops.shape(inputs))}")
        return inputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"min_size": self.min_size, "data_format": self.data_format})
        return config
