"""The preprocessing a network's weights expect, as a layer at the model's input.

Models built here take RGB images with values in [0, 255] and carry their
preprocessing inside, as keras.applications' ConvNeXt and EfficientNetV2 do
with `include_preprocessing=True`: training, SavedModel signatures and
`predict` then all get it from the model, never from a second copy. The same
layer records what happens before it, outside the graph: the test-time
geometry that turns a photo of any shape into the square input
(`inception_tf.geometry`) and the class names, so that a `.keras` file, a
SavedModel and the ONNX and LiteRT files carry them (`model_record`).
"""

import collections

import keras
from keras import ops

from inception_tf.geometry import check_class_names, check_geometry, default_geometry
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
        geometry: str or None. The test-time geometry of the model it starts,
            `"square"` or `"crop"` (`inception_tf.geometry`); applied by the
            callers that prepare images, not by this layer. None (also what a
            layer saved by an earlier version reads back as) picks `"square"`
            for `"tf"` and `"crop"` for `"caffe"`.
        class_names: sequence of str or None. The model's class names, by index.
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

    def __init__(self, mode="tf", geometry=None, class_names=None, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}. Received: mode={mode!r}")
        self.mode = mode
        self.geometry = default_geometry(mode) if geometry is None else check_geometry(geometry)
        self.class_names = class_names
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

    @property
    def class_names(self):
        """list of str or None: the model's class names, by index."""
        return None if self._class_names is None else list(self._class_names)

    @class_names.setter
    def class_names(self, names):
        names = check_class_names(names)
        self._class_names = None if names is None else tuple(names)  # a tuple: Keras tracks no plain data

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
        config.update({"mode": self.mode, "geometry": self.geometry, "class_names": self.class_names,
                       "data_format": self.data_format})
        return config


# What a model says about its inputs and outputs beyond its graph.
ModelRecord = collections.namedtuple("ModelRecord", ["preprocessing", "geometry", "class_names"])


def _preprocessing_layer(model):
    layers = [layer for layer in model._flatten_layers() if isinstance(layer, ImagePreprocessing)]
    return layers[0] if layers else None


def has_preprocessing(model):
    """Whether `model` carries an `ImagePreprocessing` layer (takes [0, 255] pixels)."""
    return _preprocessing_layer(model) is not None


def model_record(model):
    """`ModelRecord(preprocessing, geometry, class_names)` of a model that carries `ImagePreprocessing`.

    Raises:
        ValueError: the model has no `ImagePreprocessing` layer, so nothing says
            what its input pixels mean; or its class names do not match its output.
    """
    layer = _preprocessing_layer(model)
    if layer is None:
        raise ValueError(
            f"Model '{model.name}' has no ImagePreprocessing layer, so nothing records what its inputs mean "
            "(value range, channel order) or how to crop a photo for it. Build it with "
            "include_preprocessing=True, or put the layer in front: keras.Sequential([inception_tf."
            "ImagePreprocessing(mode, geometry=...), model]) with mode 'tf' for [-1, 1] inputs or 'caffe' "
            "for Caffe's mean-subtracted BGR."
        )
    return ModelRecord(layer.mode, layer.geometry, check_class_names(layer.class_names, _classes(model)))


def _classes(model):
    """The number of classes of a `(batch, classes)` output (the `"main"` one of a dict), or None."""
    try:
        output = model.output
    except AttributeError:  # a Sequential model never called on a tensor: its output shape is known all the same
        output = None
    if isinstance(output, dict):  # GoogLeNet with auxiliary heads: the main output names the classes
        shape = tuple(output["main"].shape) if "main" in output else None
    else:
        shape = model.output_shape
    if isinstance(shape, tuple) and len(shape) == 2:
        return shape[1]
    return None


def set_model_record(model, geometry=None, class_names=None):
    """Records `geometry` and/or `class_names` (those not None) in `model`'s `ImagePreprocessing` (in place).

    Both are checked before either is written, so a refused call changes nothing.

    Returns:
        `model`.

    Raises:
        ValueError: no `ImagePreprocessing` layer, an unknown geometry, or class
            names that do not match the model's classes.
    """
    model_record(model)  # refuses a model without the layer
    layer = _preprocessing_layer(model)
    geometry = None if geometry is None else check_geometry(geometry)
    class_names = check_class_names(class_names, _classes(model))
    if geometry is not None:
        layer.geometry = geometry
    if class_names is not None:
        layer.class_names = class_names
    return model
