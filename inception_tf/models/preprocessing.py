"""The preprocessing a network's weights expect, as a layer at the model's input.

Models built here take RGB images with values in [0, 255] and carry their
preprocessing inside, as keras.applications' ConvNeXt and EfficientNetV2 do
with `include_preprocessing=True`: training, SavedModel signatures and
`predict` then all get it from the model, never from a second copy.
"""

import keras
from keras import ops

from inception_tf.models.layout import channel_axis, standardize_data_format

# The mean pixel of Caffe's bvlc_googlenet (train_val.prototxt's mean_value), in its BGR order.
CAFFE_BGR_MEAN = (104.0, 117.0, 123.0)
MODES = ("tf", "caffe")


@keras.saving.register_keras_serializable(package="inception_tf")
class ImagePreprocessing(keras.layers.Layer):
    """Maps RGB images in [0, 255] to a network's input convention.

    Modes (named as in `keras.applications.imagenet_utils.preprocess_input`):
    - `"tf"`: `x / 127.5 - 1`, values in [-1, 1]; for networks trained here.
    - `"caffe"`: RGB to BGR, then subtract the mean pixel `(104, 117, 123)`
      (B, G, R) of Caffe's `bvlc_googlenet`; no scaling. For its ImageNet weights.

    Args:
        mode: str. `"tf"` or `"caffe"`. Defaults to `"tf"`.
        data_format: str or None. Which axis holds the channels. Defaults to
            `keras.config.image_data_format()`.
        **kwargs: base `Layer` arguments.

    Call arguments:
        inputs: `(batch_size, height, width, channels)` (or channels first),
            values in [0, 255]; `"caffe"` needs 3 (RGB) channels.

    Returns:
        A float tensor of the input's shape.

    Examples:

    >>> import numpy as np, inception_tf
    >>> layer = inception_tf.ImagePreprocessing("tf")
    >>> np.asarray(layer(np.array([[[[0.0, 127.5, 255.0]]]]))).tolist()
    [[[[-1.0, 0.0, 1.0]]]]
    """

    def __init__(self, mode="tf", data_format=None, **kwargs):
        super().__init__(**kwargs)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}. Received: mode={mode!r}")
        self.mode = mode
        self.data_format = standardize_data_format(data_format)
        self._channel_axis = channel_axis(self.data_format)

    def build(self, input_shape):
        channels = input_shape[self._channel_axis] if len(input_shape) == 4 else None
        if len(input_shape) != 4:
            raise ValueError(
                f"ImagePreprocessing '{self.name}' expects 4D images. Received: input_shape={tuple(input_shape)}"
            )
        if self.mode == "caffe" and channels != 3:
            raise ValueError(
                f"ImagePreprocessing mode='caffe' needs 3 (RGB) channels on axis {self._channel_axis}. "
                f"Received: input_shape={tuple(input_shape)}"
            )

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        if self.mode == "tf":
            return x / 127.5 - 1.0
        bgr = ops.flip(x, axis=self._channel_axis)
        shape = [1, 1, 1, 1]
        shape[self._channel_axis] = 3
        return bgr - ops.reshape(ops.convert_to_tensor(CAFFE_BGR_MEAN, dtype=self.compute_dtype), shape)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"mode": self.mode, "data_format": self.data_format})
        return config


def has_preprocessing(model):
    """Whether `model` carries an `ImagePreprocessing` layer (takes [0, 255] pixels)."""
    return any(isinstance(layer, ImagePreprocessing) for layer in model._flatten_layers(include_self=False))
