"""Max pooling whose gradient is cheap on TensorFlow's CPU backend.

`MaxPooling2D` is `keras.layers.MaxPooling2D` -- the same arguments, output
and config -- plus an `implementation` argument (`inception_tf.models.kernels`).
With the XLA kernels, on the TensorFlow backend, the layer keeps TensorFlow's
forward `MaxPool` op and computes the gradient as one XLA-compiled kernel of
elementwise ops. TensorFlow's Eigen `MaxPoolGrad` (the CPU kernel where oneDNN
is off) takes about fifteen times as long as the forward pool (GoogLeNet's eight
distinct 3x3 pool shapes at batch 32 on two AVX2 cores: 48 ms forward, 734 ms
backward); the compiled kernel takes 163 ms. Every output position passes its
gradient to the first maximum of its window, in row-major order, exactly as
`MaxPoolGrad` does when values tie (ReLU outputs tie at zero often). Inside a
function that is itself XLA-compiled, the same ops join the outer cluster. With
the standard kernels, on accelerators, and for windows of more than nine
positions or strides larger than the window, it is exactly Keras' layer.
"""

import functools

import keras
from keras import ops

from inception_tf.models import kernels

_MAX_WINDOW_TERMS = 9  # the gradient kernel unrolls one term per window position


@keras.saving.register_keras_serializable(package="inception_tf")
class MaxPooling2D(kernels.KernelChoice, keras.layers.MaxPooling2D):
    """`keras.layers.MaxPooling2D` with a fast gradient on TensorFlow's CPU backend.

    Args:
        implementation: str. `"auto"`, `"standard"`, `"banded"` or `"xla"`:
            which kernels run (`inception_tf.models.kernels`); `"banded"`
            (an LRN form) runs the standard kernels here. Defaults to `"auto"`.
        **kwargs: the arguments of `keras.layers.MaxPooling2D`.

    Call arguments:
        inputs: `(batch_size, height, width, channels)` or channels first.
        training: bool or None. Whether the call is a training step (see
            `implementation`); the output does not depend on it.

    Returns:
        `(batch_size, pooled_height, pooled_width, channels)`, or channels first.

    Examples:

    >>> import numpy as np, inception_tf
    >>> pool = inception_tf.MaxPooling2D(3, strides=2, padding="same")
    >>> tuple(pool(np.ones((1, 8, 8, 4), "float32")).shape)
    (1, 4, 4, 4)
    """

    def __init__(self, *args, implementation="auto", **kwargs):
        super().__init__(*args, **kwargs)
        self.implementation = implementation  # checked by KernelChoice

    def call(self, inputs, training=None):
        if not self._fast_gradient_applies(inputs, training):
            return super().call(inputs)
        channels_last = self.data_format == "channels_last"
        x = inputs if channels_last else ops.transpose(inputs, (0, 2, 3, 1))
        height, width = x.shape[1], x.shape[2]
        gradient = _max_pool_gradient_function(
            self.pool_size, self.strides, self.padding.lower(), height, width, compiled=not kernels.in_xla_function()
        )
        y = _max_pool_with_gradient(x, self.pool_size, self.strides, self.padding.upper(), gradient)
        return y if channels_last else ops.transpose(y, (0, 3, 1, 2))

    def _fast_gradient_applies(self, inputs, training):
        if kernels.resolve(self.implementation, training, "max_pool_gradient") != "xla":
            return False
        (pool_h, pool_w), (stride_h, stride_w) = self.pool_size, self.strides
        if pool_h * pool_w > _MAX_WINDOW_TERMS or not (1 <= stride_h <= pool_h and 1 <= stride_w <= pool_w):
            return False
        spatial = inputs.shape[1:3] if self.data_format == "channels_last" else inputs.shape[2:4]
        return None not in spatial

    def get_config(self):
        config = super().get_config()
        config["implementation"] = self.implementation
        return config


def _max_pool_with_gradient(x, pool_size, strides, padding, gradient):
    """TensorFlow's `MaxPool` forward (NHWC) whose gradient is `gradient(x, y, dy)`."""
    import tensorflow as tf

    @tf.custom_gradient
    def pool(x):
        y = tf.nn.max_pool2d(x, pool_size, strides, padding)

        def backward(dy):
            return gradient(x, y, dy)

        return y, backward

    return pool(x)


@functools.lru_cache(maxsize=None)
def _max_pool_gradient_function(pool_size, strides, padding, height, width, compiled):
    """`max_pool_gradient` for these settings, XLA-compiled unless `compiled` is False."""
    import tensorflow as tf

    def gradient(x, y, dy):
        return max_pool_gradient(x, y, dy, pool_size, strides, padding, height, width)

    if not compiled:
        return gradient
    # How often and how the function traces; never a value.
    tracing = {"reduce_retracing": True, "autograph": False}  # pragma: no mutate
    return tf.function(gradient, jit_compile=True, **tracing)


def _pooling_geometry(size, window, stride, padding):
    """(output size, padding before, padded span) along one spatial axis, TensorFlow's convention."""
    if padding == "same":
        outputs = -(-size // stride)
        total = max((outputs - 1) * stride + window - size, 0)
        before = total // 2
    else:
        outputs = (size - window) // stride + 1
        before = 0
    return outputs, before, (outputs - 1) * stride + window


def max_pool_gradient(x, y, dy, pool_size, strides, padding, height, width):
    """The gradient of a max pool with respect to its input, in elementwise TensorFlow ops.

    Each output position passes its gradient to the first maximum of its window
    in row-major order, as TensorFlow's `MaxPoolGrad` does. The window is
    unrolled: for every window offset, the positions whose maximum sits there
    are selected, and their gradients are placed back on the input grid by
    stride phase, so no strided scatter is needed.

    Args:
        x: `(batch_size, height, width, channels)`, the pool's input.
        y: `(batch_size, pooled_height, pooled_width, channels)`, its output.
        dy: the gradient with respect to `y`, shaped like it.
        pool_size, strides: `(rows, columns)` ints, with `1 <= stride <= window`.
        padding: `"same"` or `"valid"`.
        height, width: ints, the static spatial size of `x`.

    Returns:
        The gradient with respect to `x`: `(batch_size, height, width, channels)`,
        in `x`'s dtype (16-bit floats are computed in float32).
    """
    import tensorflow as tf

    if x.dtype != tf.float32 and x.dtype != tf.float64:
        # XLA's CPU code for 16-bit floats is several times slower; comparisons are exact after the cast.
        gradient = max_pool_gradient(tf.cast(x, tf.float32), tf.cast(y, tf.float32), tf.cast(dy, tf.float32),
                                     pool_size, strides, padding, height, width)
        return tf.cast(gradient, x.dtype)
    (window_h, window_w), (stride_h, stride_w) = pool_size, strides
    out_h, top, span_h = _pooling_geometry(height, window_h, stride_h, padding)
    out_w, left, span_w = _pooling_geometry(width, window_w, stride_w, padding)
    # Padding after the input need only reach the last window's end; more is never read.
    bottom, right = span_h - height - top, span_w - width - left  # pragma: no mutate
    padded = _pad_or_crop(x, (height, width), (top, bottom), (left, right), float("-inf"))
    # Rows of the input grid one stride phase covers, beyond the output's own (more would be cropped).
    reach_h, reach_w = (window_h - 1) // stride_h, (window_w - 1) // stride_w
    zeros = tf.zeros_like(dy)
    phases = {}
    taken = None
    for row in range(window_h):
        for col in range(window_w):
            candidate = padded[:, row : row + (out_h - 1) * stride_h + 1 : stride_h,
                               col : col + (out_w - 1) * stride_w + 1 : stride_w, :]
            is_max = tf.equal(candidate, y)
            if taken is None:
                first, taken = is_max, is_max
            else:
                first = tf.logical_and(is_max, tf.logical_not(taken))
                taken = tf.logical_or(taken, is_max)
            shift_h, shift_w = row // stride_h, col // stride_w
            term = tf.pad(
                tf.where(first, dy, zeros),
                [[0, 0], [shift_h, reach_h - shift_h], [shift_w, reach_w - shift_w], [0, 0]],
            )
            phase = (row % stride_h, col % stride_w)
            phases[phase] = term if phase not in phases else phases[phase] + term
    grid = _interleave_phases(phases, stride_h, stride_w, out_h + reach_h, out_w + reach_w)
    # `grid` covers padded rows [0, (out_h + reach_h) * stride_h); the input sits at [top, top + height).
    grid_h, grid_w = (out_h + reach_h) * stride_h, (out_w + reach_w) * stride_w
    return _pad_or_crop(grid, (grid_h, grid_w), (-top, top + height - grid_h), (-left, left + width - grid_w), 0.0)


def _interleave_phases(phases, stride_h, stride_w, rows, cols):
    """Phase tensors `(B, rows, cols, C)` keyed by `(row phase, column phase)` -> `(B, rows * stride_h, cols * stride_w, C)`."""
    import tensorflow as tf

    if stride_h == stride_w == 1:
        return phases[(0, 0)]
    zeros = tf.zeros_like(next(iter(phases.values())))
    stacked = tf.stack(
        [tf.stack([phases.get((a, b), zeros) for b in range(stride_w)], axis=3) for a in range(stride_h)],
        axis=2,
    )  # (B, rows, stride_h, cols, stride_w, C)
    return tf.reshape(stacked, [-1, rows * stride_h, cols * stride_w, tf.shape(stacked)[-1]])


def _pad_or_crop(tensor, size, rows, columns, value):
    """Pads (positive amounts) or crops (negative amounts) the spatial axes of an NHWC tensor.

    `size` is its static `(height, width)`; `rows` and `columns` are `(before, after)` amounts.
    """
    import tensorflow as tf

    (height, width), (top, bottom), (left, right) = size, rows, columns
    tensor = tensor[:, max(-top, 0) : height - max(-bottom, 0), max(-left, 0) : width - max(-right, 0), :]
    pads = [[0, 0], [max(top, 0), max(bottom, 0)], [max(left, 0), max(right, 0)], [0, 0]]
    if any(amount for pair in pads for amount in pair):
        tensor = tf.pad(tensor, pads, constant_values=tf.constant(value, tensor.dtype))
    return tensor
