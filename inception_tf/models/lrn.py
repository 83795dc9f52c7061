"""Local response normalization across channels, as in GoogLeNet's stem."""

import functools

import keras
import numpy as np
from keras import ops

from inception_tf.models import kernels
from inception_tf.models.layout import channel_axis, standardize_data_format

# The name scope of the banded form's ops: an int8 LiteRT export finds them by it and keeps them in float32.
BANDED_SCOPE = "banded_lrn"


@keras.saving.register_keras_serializable(package="inception_tf")
class LocalResponseNormalization(kernels.KernelChoice, keras.layers.Layer):
    """Local response normalization across channels (Krizhevsky et al. 2012).

    Computes, for every position and channel `c`,

        output[c] = input[c] / (bias + alpha * sum(input[c'] ** 2)) ** beta

    where the sum runs over the `2 * depth_radius + 1` channels
    `c - depth_radius ... c + depth_radius` that exist. This is the convention
    of `tf.nn.local_response_normalization` (alpha is *not* divided by the
    window size). Caffe's LRN, used by the original GoogLeNet
    (`bvlc_googlenet`: local_size 5, alpha 1e-4, beta 0.75, k 1), divides its
    alpha by the window size; its layer is this one with `depth_radius=2`,
    `alpha=1e-4 / 5`, `beta=0.75`, `bias=1.0` -- the defaults here.

    The layer normalises in float32 (under mixed precision the input is upcast
    and the result cast back), since the sum of squares loses precision in 16
    bits -- except where `"auto"` finds AMX, and with `"banded"` (see
    `_banded_lrn`): there a bfloat16 input is normalised in bfloat16, within
    6.75 bfloat16 roundings of Caffe's formula. Which kernels compute it is the
    `implementation` argument (see `inception_tf.models.kernels`): TensorFlow's
    fused op, a 1x1 convolution with a band matrix (standard ops, faster where
    oneDNN runs TensorFlow; in float32, or in bfloat16 on AMX and for
    `"banded"`), the `keras.ops` form (other
    backends, and channels_first), or one XLA-compiled kernel with an
    XLA-compiled gradient. Tests check every path against the others and
    against Caffe's formula.

    Args:
        depth_radius: int. Half-width of the channel window. Defaults to 2.
        bias: float. Offset `k`. Defaults to 1.0.
        alpha: float. Scale of the sum of squares. Defaults to 2e-5 (Caffe's 1e-4 / 5).
        beta: float. Exponent. Defaults to 0.75.
        data_format: str or None. Which axis holds the channels. Defaults to
            `keras.config.image_data_format()`.
        implementation: str. `"auto"`, `"standard"`, `"banded"` or `"xla"`:
            which kernels run (`inception_tf.models.kernels`); `"banded"` is
            the band-convolution form, in bfloat16 for a bfloat16 input.
            Defaults to `"auto"`.
        **kwargs: base `Layer` arguments.

    Call arguments:
        inputs: `(batch_size, height, width, channels)` or channels first.
        training: bool or None. Whether the call is a training step (see
            `implementation`); the output does not depend on it.

    Returns:
        A tensor of the input's shape and dtype.

    Examples:

    >>> import numpy as np, inception_tf
    >>> lrn = inception_tf.LocalResponseNormalization()
    >>> tuple(lrn(np.ones((1, 4, 4, 8), "float32")).shape)
    (1, 4, 4, 8)
    """

    def __init__(self, depth_radius=2, bias=1.0, alpha=1e-4 / 5, beta=0.75, data_format=None,
                 implementation="auto", **kwargs):
        super().__init__(**kwargs)
        if isinstance(depth_radius, bool) or not isinstance(depth_radius, (int, np.integer)) or depth_radius < 0:
            raise ValueError(
                f"depth_radius must be a non-negative integer. Received: depth_radius={depth_radius!r}"
            )
        for name, value in (("bias", bias), ("alpha", alpha), ("beta", beta)):
            if not isinstance(value, (int, float, np.floating)) or isinstance(value, bool):
                raise ValueError(f"{name} must be a number. Received: {name}={value!r}")
        if bias <= 0 and alpha <= 0:
            raise ValueError(
                f"bias or alpha must be positive, or the denominator can be zero. "
                f"Received: bias={bias}, alpha={alpha}"
            )
        self.depth_radius = int(depth_radius)
        self.bias = float(bias)
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.data_format = standardize_data_format(data_format)
        self.implementation = implementation  # checked by KernelChoice
        self._channel_axis = channel_axis(self.data_format)

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(
                f"LocalResponseNormalization '{self.name}' expects a 4D input. "
                f"Received: input_shape={tuple(input_shape)}"
            )

    def call(self, inputs, training=None):
        kernel = kernels.resolve(self.implementation, training, "lrn", keras.backend.standardize_dtype(inputs.dtype))
        if kernel != "standard" and kernels.in_xla_function():
            return self._portable_lrn(inputs)  # XLA fuses these ops with the rest of the cluster
        if kernel == "xla":
            compiled = _xla_lrn_kernel(self.depth_radius, self.bias, self.alpha, self.beta, self._channel_axis)
            return compiled(inputs)
        if keras.backend.backend() == "tensorflow" and self._channel_axis == -1:
            if kernel in ("banded", "bfloat16_banded") and inputs.shape[-1] is not None:
                return self._banded_lrn(inputs, "bfloat16" if kernel == "bfloat16_banded" else "float32")
            return self._tensorflow_lrn(inputs)
        return self._portable_lrn(inputs)

    def _tensorflow_lrn(self, inputs):
        """TensorFlow's fused float32 op (channels last): no XLA, served by every TensorFlow runtime."""
        import tensorflow as tf

        x = tf.cast(inputs, tf.float32)
        normalized = tf.nn.local_response_normalization(
            x, depth_radius=self.depth_radius, bias=self.bias, alpha=self.alpha, beta=self.beta
        )
        return tf.cast(normalized, inputs.dtype)

    def _banded_lrn(self, inputs, compute_dtype="float32"):
        """Standard TensorFlow ops (channels last, known channel count), computed in `compute_dtype`.

        The window sums of squares, times alpha, are one 1x1 convolution of the
        squares with a `(channels, channels)` band matrix (`band_matrix`), plus
        `bias` as the convolution's bias; `** -beta` is `_inverse_power`. Where
        oneDNN runs TensorFlow's convolutions this takes 0.75-0.97x the time of
        TensorFlow's LRN op forward, 0.46-0.65x with its gradient (see
        `inception_tf.models.kernels`).

        `compute_dtype="bfloat16"` (for a bfloat16 input) keeps every pass in
        bfloat16: the convolution runs on AMX's matrix units, and the input
        goes through no float32 copy. Each of its six roundings to bfloat16's 8
        significant bits (unit roundoff u = 2**-8) carries into the result: the
        squares, alpha on the band and the convolution's output (sum and bias)
        make `bias + alpha * sum` within 3u, `rsqrt` within 2.5u, its `sqrt`
        2.25u, their product 5.75u, the output within 6.75u of Caffe's formula
        on the same input, against u for the float32 computation rounded once.
        """
        import tensorflow as tf

        with tf.name_scope(BANDED_SCOPE):
            x = tf.cast(inputs, compute_dtype)
            channels = x.shape[-1]
            band = tf.constant(band_matrix(channels, self.depth_radius, self.alpha)[None, None], compute_dtype)
            bias = tf.constant(np.full(channels, self.bias), compute_dtype)
            scale = tf.nn.bias_add(tf.nn.conv2d(tf.square(x), band, strides=1, padding="VALID"), bias)
            return tf.cast(x * _inverse_power(scale, self.beta), inputs.dtype)

    def _portable_lrn(self, inputs):
        """The same computation in `keras.ops`, for every backend and layout (float32 inside)."""
        return _lrn_ops(inputs, self.depth_radius, self.bias, self.alpha, self.beta, self._channel_axis)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "depth_radius": self.depth_radius,
                "bias": self.bias,
                "alpha": self.alpha,
                "beta": self.beta,
                "data_format": self.data_format,
                "implementation": self.implementation,
            }
        )
        return config


def _lrn_ops(inputs, depth_radius, bias, alpha, beta, channel_axis):
    """LRN in `keras.ops`: `inputs` of any float dtype, normalised in float32, returned in its dtype."""
    x = ops.cast(inputs, "float32")
    squares = ops.square(x)
    channels = ops.shape(x)[channel_axis]
    pad = [[0, 0]] * 4
    pad[channel_axis] = [depth_radius, depth_radius]
    padded = ops.pad(squares, pad)
    window_sum = squares
    for offset in range(2 * depth_radius + 1):
        if offset != depth_radius:
            window_sum = window_sum + _channel_slice(padded, channel_axis, offset, channels)
    scale = bias + alpha * window_sum
    return ops.cast(x * _inverse_power(scale, beta), inputs.dtype)


def _inverse_power(scale, beta):
    """`scale ** -beta` in `keras.ops`; for GoogLeNet's 0.75 as `rsqrt(scale) * sqrt(rsqrt(scale))` (not log/exp)."""
    if beta == 0.75:
        inv_sqrt = ops.rsqrt(scale)
        return inv_sqrt * ops.sqrt(inv_sqrt)
    if beta == 0.5:
        return ops.rsqrt(scale)
    return ops.power(scale, -beta)


def band_matrix(channels, depth_radius, alpha):
    """`(channels, channels)` float32 numpy array: `alpha` where `|i - j| <= depth_radius`, zero elsewhere.

    `squares @ band_matrix(...)` over the channel axis is LRN's `alpha * sum(input[c'] ** 2)`
    for every channel at once.
    """
    index = np.arange(channels)
    return np.where(np.abs(index[:, None] - index[None, :]) <= depth_radius, alpha, 0.0).astype(np.float32)


def _channel_slice(tensor, channel_axis, start, length):
    if channel_axis == -1:
        return tensor[..., start : start + length]
    return tensor[:, start : start + length]


@functools.lru_cache(maxsize=None)
def _xla_lrn_kernel(depth_radius, bias, alpha, beta, channel_axis):
    """`_lrn_ops` with these settings as one XLA-compiled TensorFlow function (gradient compiled too)."""
    import tensorflow as tf

    def kernel(inputs):
        return _lrn_ops(inputs, depth_radius, bias, alpha, beta, channel_axis)

    return tf.function(kernel, jit_compile=True, reduce_retracing=True,
                       # AutoGraph would trace the same graph: the loop and test are over Python ints.
                       autograph=False)  # pragma: no mutate
