"""Spatial padding with a constant other than zero: Caffe's ceil-mode pooling in Keras.

Caffe rounds a pool's output size up (`ceil((H - k) / s) + 1`), TensorFlow's
VALID pooling rounds down (`floor((H - k) / s) + 1`). Padding `s - 1` rows and
columns at the bottom and right, with a value that never wins a max, and then
pooling VALID gives Caffe's size at every input size:
`floor((H + s - 1 - k) / s) + 1 == ceil((H - k) / s) + 1`. Each window keeps at
least one real pixel, so the padded values never reach the output.
"""

import keras
import ml_dtypes
from keras import ops

from inception_tf.models.layout import standardize_data_format

LOWEST = "lowest"


def _pair(value, name):
    pair = (value, value) if isinstance(value, int) else tuple(value) if isinstance(value, (tuple, list)) else ()
    if len(pair) != 2 or not all(isinstance(v, int) and v >= 0 for v in pair):
        raise ValueError(f"{name} must be a non-negative int or a pair of them. Received: {value!r}")
    return pair


def _normalize_padding(padding):
    if isinstance(padding, int):
        if padding < 0:
            raise ValueError(f"padding must be non-negative. Received: padding={padding}")
        return ((padding, padding), (padding, padding))
    padding = tuple(padding)
    if len(padding) != 2:
        raise ValueError(
            "padding must be an int, (rows, columns), or ((top, bottom), (left, right)). "
            f"Received: padding={padding!r}"
        )
    return tuple(_pair(amount, "padding") for amount in padding)


def lowest_value(dtype):
    """The most negative finite value of a float dtype (float16, bfloat16, float32, float64)."""
    return float(ml_dtypes.finfo(keras.backend.standardize_dtype(dtype)).min)


@keras.saving.register_keras_serializable(package="inception_tf")
class ConstantPadding2D(keras.layers.Layer):
    """Pads the spatial axes of images with a constant.

    With `value="lowest"` (the default) the constant is the most negative
    finite value of the layer's compute dtype (about -3.4e38 in float32 and
    bfloat16, -65504 in float16), so a following max pool never picks it and
    no infinity enters the graph.

    Args:
        padding: int, `(rows, columns)` (symmetric), or
            `((top, bottom), (left, right))`. Defaults to `((0, 1), (0, 1))`,
            the padding of Caffe's ceil-mode 3x3/2 max pool.
        value: float, or `"lowest"`. Defaults to `"lowest"`.
        data_format: str or None. `"channels_last"` or `"channels_first"`.
            Defaults to `keras.config.image_data_format()`.
        **kwargs: base `Layer` arguments.

    Call arguments:
        inputs: `(batch_size, height, width, channels)` or channels first.

    Returns:
        `(batch_size, top + height + bottom, left + width + right, channels)`,
        or channels first, in the input's dtype.

    Examples:

    >>> import numpy as np, inception_tf
    >>> from inception_tf.models.padding import ConstantPadding2D
    >>> tuple(ConstantPadding2D(((0, 1), (0, 1)))(np.ones((1, 4, 4, 2), "float32")).shape)
    (1, 5, 5, 2)
    """

    def __init__(self, padding=((0, 1), (0, 1)), value=LOWEST, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.padding = _normalize_padding(padding)
        if not (value == LOWEST or isinstance(value, (int, float))):
            raise ValueError(f"value must be a number or {LOWEST!r}. Received: value={value!r}")
        self.value = value if value == LOWEST else float(value)
        self.data_format = standardize_data_format(data_format)

    def _pad_width(self):
        spatial = [list(amounts) for amounts in self.padding]
        if self.data_format == "channels_last":
            return [[0, 0], *spatial, [0, 0]]
        return [[0, 0], [0, 0], *spatial]

    def call(self, inputs):
        value = lowest_value(inputs.dtype) if self.value == LOWEST else self.value
        return ops.pad(inputs, self._pad_width(), constant_values=value)

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != 4:
            raise ValueError(
                f"ConstantPadding2D '{self.name}' expects a 4D input. Received: input_shape={input_shape}"
            )
        shape = list(input_shape)
        first = 1 if self.data_format == "channels_last" else 2
        for offset, (before, after) in enumerate(self.padding):
            if shape[first + offset] is not None:
                shape[first + offset] += before + after
        return tuple(shape)

    def get_config(self):
        config = super().get_config()
        config.update({"padding": self.padding, "value": self.value, "data_format": self.data_format})
        return config
