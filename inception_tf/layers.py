"""Keras layers: the Inception module and local response normalization.

Both are written with Keras layers and `keras.ops` only, so they run on every
Keras backend, and both are registered for `.keras` saving.
"""

import functools

import keras
import numpy as np
from keras import ops

from inception_tf.checks import positive_int
from inception_tf.pooling import MaxPooling2D
from inception_tf.tracing import eager_or_serving, in_xla_function, serving_graph  # noqa: F401

RELU_PLACEMENTS = ("as_written", "corrected")

# Sublayer names, in the order their outputs are concatenated. Variable paths
# read e.g. `inception_3a/branch_3x3/kernel`.
_CONV_BRANCHES = (
    # name, kernel size, filters argument, slide suffix
    ("branch_1x1", 1, "filters_1x1", "1x1_1"),
    ("branch_3x3_reduce", 1, "filters_3x3_reduce", "1x1_2"),
    ("branch_3x3", 3, "filters_3x3", "3x3"),
    ("branch_5x5_reduce", 1, "filters_5x5_reduce", "1x1_3"),
    ("branch_5x5", 5, "filters_5x5", "5x5"),
    ("branch_pool_proj", 1, "filters_pool_proj", "1x1_4"),
)
_REDUCTIONS = ("branch_3x3_reduce", "branch_5x5_reduce")
_SLIDE_INITIALIZER = "slide"


def standardize_data_format(data_format):
    """`data_format`, or Keras' global default when None; anything else is an error."""
    if data_format is None:
        return keras.config.image_data_format()
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(
            "data_format must be 'channels_last', 'channels_first' or None. "
            f"Received: data_format={data_format!r}"
        )
    return data_format


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


def _channel_axis(data_format):
    return -1 if data_format == "channels_last" else 1


@keras.saving.register_keras_serializable(package="inception_tf")
class InceptionModule(keras.layers.Layer):
    """The Inception module of slide 12 and of Szegedy et al. 2014, Figure 2(b).

    Four parallel branches whose outputs are concatenated on the channel axis:
    a 1x1 convolution; a 1x1 reduction then a 3x3 convolution; a 1x1
    reduction then a 5x5 convolution; a 3x3 stride-1 max pool then a 1x1
    projection. Every convolution has stride 1 and SAME padding, so the
    spatial size is kept.

    ReLU placement:
    - `"as_written"` (the slide): ReLU after the 3x3-reduce and 5x5-reduce
      convolutions, and once after the concatenation. The 1x1, 3x3, 5x5 and
      pool-projection convolutions have no ReLU of their own.
    - `"corrected"` (the paper: "all the convolutions, including those inside
      the Inception modules, use rectified linear activation"; slide 8): ReLU
      right after each of the six convolutions, none after the concatenation.

    The two compute the same function: ReLU acts elementwise, so
    `relu(concat([a, b, c, d])) == concat([relu(a), relu(b), relu(c), relu(d)])`.
    They differ only in where the ReLU sits in the graph.

    Args:
        filters_1x1: int. Filters of the 1x1 branch (the slide's `W_convN_1x1_1`).
        filters_3x3_reduce: int. Filters of the 1x1 reduction before the 3x3
            (`W_convN_1x1_2`).
        filters_3x3: int. Filters of the 3x3 convolution (`W_convN_3x3`).
        filters_5x5_reduce: int. Filters of the 1x1 reduction before the 5x5
            (`W_convN_1x1_3`).
        filters_5x5: int. Filters of the 5x5 convolution (`W_convN_5x5`).
        filters_pool_proj: int. Filters of the 1x1 projection after the max pool
            (`W_convN_1x1_4`).
        relu: str. `"as_written"` or `"corrected"`. Defaults to `"as_written"`.
        data_format: str or None. `"channels_last"` `(B, H, W, C)` or
            `"channels_first"` `(B, C, H, W)`; the concatenation axis follows it.
            Defaults to `keras.config.image_data_format()`.
        use_bias: bool. Whether the convolutions have biases. Defaults to True.
        kernel_initializer: initializer for every kernel, or `"slide"` for the
            slide source's truncated normal with stddev 0.1. Defaults to
            `"glorot_uniform"`.
        bias_initializer: initializer for every bias, or `"slide"` for the
            slide source's (truncated normal with stddev 0.1, except the 5x5
            bias, constant 0.1). Defaults to `"zeros"`.
        kernel_regularizer: regularizer for every kernel. Defaults to None.
        bias_regularizer: regularizer for every bias. Defaults to None.
        **kwargs: base `Layer` arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        inputs: `(batch_size, height, width, channels)` for channels_last,
            `(batch_size, channels, height, width)` for channels_first.

    Returns:
        `(batch_size, height, width, filters)` (or channels first), where
        `filters = filters_1x1 + filters_3x3 + filters_5x5 + filters_pool_proj`.

    Examples:

    >>> import numpy as np, inception_tf
    >>> module = inception_tf.InceptionModule(64, 96, 128, 16, 32, 32)
    >>> module(np.ones((2, 28, 28, 192), "float32")).shape
    (2, 28, 28, 256)
    """

    def __init__(
        self,
        filters_1x1,
        filters_3x3_reduce,
        filters_3x3,
        filters_5x5_reduce,
        filters_5x5,
        filters_pool_proj,
        relu="as_written",
        data_format=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters_1x1 = positive_int("filters_1x1", filters_1x1)
        self.filters_3x3_reduce = positive_int("filters_3x3_reduce", filters_3x3_reduce)
        self.filters_3x3 = positive_int("filters_3x3", filters_3x3)
        self.filters_5x5_reduce = positive_int("filters_5x5_reduce", filters_5x5_reduce)
        self.filters_5x5 = positive_int("filters_5x5", filters_5x5)
        self.filters_pool_proj = positive_int("filters_pool_proj", filters_pool_proj)
        if relu not in RELU_PLACEMENTS:
            raise ValueError(
                f"relu must be one of {RELU_PLACEMENTS}. Received: relu={relu!r}"
            )
        self.relu = relu
        self.data_format = standardize_data_format(data_format)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self._channel_axis = _channel_axis(self.data_format)
        self._compute_format = compute_data_format(self.data_format)

        self.convs = {
            name: keras.layers.Conv2D(
                getattr(self, filters_arg),
                kernel_size=size,
                padding="same",
                data_format=self._compute_format,
                activation=self._conv_activation(name),
                use_bias=self.use_bias,
                kernel_initializer=self._initializer("kernel", kernel_initializer, suffix),
                bias_initializer=self._initializer("bias", bias_initializer, suffix),
                kernel_regularizer=self.kernel_regularizer,
                bias_regularizer=self.bias_regularizer,
                dtype=self.dtype_policy,
                name=name,
            )
            for name, size, filters_arg, suffix in _CONV_BRANCHES
        }
        self.pool = MaxPooling2D(
            pool_size=3,
            strides=1,
            padding="same",
            data_format=self._compute_format,
            dtype=self.dtype_policy,
            name="branch_pool",
        )
        self.concat = keras.layers.Concatenate(
            axis=_channel_axis(self._compute_format), dtype=self.dtype_policy, name="concat"
        )
        self.output_relu = (
            keras.layers.ReLU(dtype=self.dtype_policy, name="relu")
            if self.relu == "as_written"
            else None
        )

    def _conv_activation(self, branch):
        if self.relu == "corrected" or branch in _REDUCTIONS:
            return "relu"
        return None

    @staticmethod
    def _initializer(kind, initializer, slide_suffix):
        if not (isinstance(initializer, str) and initializer == _SLIDE_INITIALIZER):
            return keras.initializers.get(initializer)
        from inception_tf import slide

        if kind == "bias" and slide_suffix in slide._CONSTANT_BIASES:
            return keras.initializers.Constant(0.1)
        return keras.initializers.TruncatedNormal(stddev=0.1)

    @property
    def output_filters(self):
        """int. Channels of the output: the sum of the four branches' filters."""
        return self.filters_1x1 + self.filters_3x3 + self.filters_5x5 + self.filters_pool_proj

    def _validate_input_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != 4:
            raise ValueError(
                f"InceptionModule '{self.name}' expects a 4D input "
                f"(batch_size, height, width, channels) or channels first. "
                f"Received: input_shape={input_shape}"
            )
        if input_shape[self._channel_axis] is None:
            raise ValueError(
                f"InceptionModule '{self.name}' needs a known channel count on axis "
                f"{self._channel_axis} ({self.data_format}). Received: input_shape={input_shape}"
            )
        return input_shape

    def build(self, input_shape):
        input_shape = self._validate_input_shape(input_shape)
        self.input_channels = int(input_shape[self._channel_axis])
        input_shape = self.compute_layout_shape(input_shape)
        convs = self.convs
        for name in ("branch_1x1", "branch_3x3_reduce", "branch_5x5_reduce"):
            convs[name].build(input_shape)
        convs["branch_3x3"].build(convs["branch_3x3_reduce"].compute_output_shape(input_shape))
        convs["branch_5x5"].build(convs["branch_5x5_reduce"].compute_output_shape(input_shape))
        self.pool.build(input_shape)
        convs["branch_pool_proj"].build(self.pool.compute_output_shape(input_shape))
        branch_shapes = [
            convs[name].compute_output_shape(input_shape)
            for name in ("branch_1x1", "branch_3x3", "branch_5x5", "branch_pool_proj")
        ]
        self.concat.build(branch_shapes)
        if self.output_relu is not None:
            self.output_relu.build(self.concat.compute_output_shape(branch_shapes))

    def compute_layout_shape(self, input_shape):
        """`input_shape` in the layout the sublayers compute in (see `compute_data_format`)."""
        return to_compute_layout(input_shape, self.data_format, is_shape=True)

    def call(self, inputs):
        inputs = to_compute_layout(inputs, self.data_format)
        convs = self.convs
        branch_1x1 = convs["branch_1x1"](inputs)
        branch_3x3 = convs["branch_3x3"](convs["branch_3x3_reduce"](inputs))
        branch_5x5 = convs["branch_5x5"](convs["branch_5x5_reduce"](inputs))
        branch_pool = convs["branch_pool_proj"](self.pool(inputs))
        outputs = self.concat([branch_1x1, branch_3x3, branch_5x5, branch_pool])
        if self.output_relu is not None:
            outputs = self.output_relu(outputs)
        return from_compute_layout(outputs, self.data_format)

    def compute_output_shape(self, input_shape):
        shape = list(self._validate_input_shape(input_shape))
        shape[self._channel_axis] = self.output_filters
        return tuple(shape)

    def slide_weights(self, module=1):
        """The layer's weights under the slide's 12 variable names.

        Args:
            module: int. The module number in the names (`W_conv{module}_...`).

        Returns:
            A dict such as `{"W_conv1_3x3": (3, 3, reduce, filters_3x3) array,
            "b_conv1_3x3": (filters_3x3,) array, ...}`, kernels in HWIO layout.
        """
        self._require_built("slide_weights")
        self._require_bias("slide_weights")
        weights = {}
        for name, _, _, suffix in _CONV_BRANCHES:
            kernel, bias = self.convs[name].get_weights()
            weights[f"W_conv{module}_{suffix}"] = kernel
            weights[f"b_conv{module}_{suffix}"] = bias
        from inception_tf import slide  # the TensorFlow reference; imported only when used

        return {name: weights[name] for name in slide.slide_variable_names(module)}

    def load_slide_weights(self, weights, module=1):
        """Sets the layer's weights from the slide's 12 variables.

        Args:
            weights: mapping from the slide's names (`W_conv1_1x1_1`,
                `b_conv1_1x1_1`, ...) to HWIO kernels and biases.
            module: int. The module number in the names.

        Raises:
            ValueError: a variable is missing, unexpected, or has the wrong shape.
        """
        self._require_built("load_slide_weights")
        self._require_bias("load_slide_weights")
        from inception_tf import slide

        expected = slide.slide_variable_names(module)
        missing = [name for name in expected if name not in weights]
        extra = sorted(set(weights) - set(expected))
        if missing:
            raise ValueError(f"Slide weights for module {module} are missing {missing}.")
        if extra:
            raise ValueError(
                f"Slide weights for module {module} have unexpected variables {extra}; "
                f"expected exactly {list(expected)}."
            )
        values = {}
        for name, _, _, suffix in _CONV_BRANCHES:
            conv = self.convs[name]
            for var_name, variable in (
                (f"W_conv{module}_{suffix}", conv.kernel),
                (f"b_conv{module}_{suffix}", conv.bias),
            ):
                value = np.asarray(weights[var_name])
                if value.shape != tuple(variable.shape):
                    raise ValueError(
                        f"Slide variable {var_name} has shape {value.shape}; "
                        f"this layer's {name} needs {tuple(variable.shape)}."
                    )
                values[var_name] = (variable, value)
        for variable, value in values.values():
            variable.assign(value)

    def _require_built(self, method):
        if not self.built:
            raise ValueError(
                f"InceptionModule '{self.name}' is not built yet: call it on an input "
                f"or call build(input_shape) before {method}()."
            )

    def _require_bias(self, method):
        if not self.use_bias:
            raise ValueError(
                f"{method}() needs use_bias=True: the slide has a bias for every "
                f"convolution. Received: use_bias=False on '{self.name}'."
            )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters_1x1": self.filters_1x1,
                "filters_3x3_reduce": self.filters_3x3_reduce,
                "filters_3x3": self.filters_3x3,
                "filters_5x5_reduce": self.filters_5x5_reduce,
                "filters_5x5": self.filters_5x5,
                "filters_pool_proj": self.filters_pool_proj,
                "relu": self.relu,
                "data_format": self.data_format,
                "use_bias": self.use_bias,
                "kernel_initializer": _serialize_initializer(self.kernel_initializer),
                "bias_initializer": _serialize_initializer(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
            }
        )
        return config


def _serialize_initializer(initializer):
    if isinstance(initializer, str) and initializer == _SLIDE_INITIALIZER:
        return initializer
    return keras.initializers.serialize(keras.initializers.get(initializer))


@keras.saving.register_keras_serializable(package="inception_tf")
class LocalResponseNormalization(keras.layers.Layer):
    """Local response normalization across channels (Krizhevsky et al. 2012).

    Computes, for every position and channel `c`,

        output[c] = input[c] / (bias + alpha * sum(input[c'] ** 2)) ** beta

    where the sum runs over the `2 * depth_radius + 1` channels
    `c - depth_radius ... c + depth_radius` that exist. This is the convention
    of `tf.nn.local_response_normalization` (alpha is *not* divided by the
    window size). Caffe's LRN, used by the original GoogLeNet
    (`bvlc_googlenet`: local_size 5, alpha 1e-4, beta 0.75, k 1), divides its
    alpha by the window size; its layer is this one with `depth_radius=2`,
    `alpha=1e-4 / 5`, `beta=0.75`, `bias=1.0` — the defaults here.

    The layer is written with `keras.ops`, so it runs on every backend, and it
    always normalises in float32 (under mixed precision the input is upcast
    and the result cast back), since the sum of squares loses precision in 16
    bits. On the TensorFlow backend, inside a traced function (`fit`,
    `predict`, `tf.function`), the whole computation -- casts, window sum and
    power -- runs as one XLA-compiled kernel with an XLA-compiled gradient,
    three to four times faster on CPU than `tf.nn.local_response_normalization`
    (inside a function that is itself XLA-compiled, the plain ops join its
    cluster); eagerly, and inside `serving_graph()` (which SavedModel exports use, since
    TensorFlow Serving runs without XLA by default), it calls that fused
    TensorFlow op instead. Tests check every path against the others.

    Args:
        depth_radius: int. Half-width of the channel window. Defaults to 2.
        bias: float. Offset `k`. Defaults to 1.0.
        alpha: float. Scale of the sum of squares. Defaults to 2e-5 (Caffe's 1e-4 / 5).
        beta: float. Exponent. Defaults to 0.75.
        data_format: str or None. Which axis holds the channels. Defaults to
            `keras.config.image_data_format()`.
        **kwargs: base `Layer` arguments.

    Call arguments:
        inputs: `(batch_size, height, width, channels)` or channels first.

    Returns:
        A tensor of the input's shape and dtype.

    Examples:

    >>> import numpy as np, inception_tf
    >>> lrn = inception_tf.LocalResponseNormalization()
    >>> lrn(np.ones((1, 4, 4, 8), "float32")).shape
    (1, 4, 4, 8)
    """

    def __init__(self, depth_radius=2, bias=1.0, alpha=1e-4 / 5, beta=0.75, data_format=None, **kwargs):
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
        self._channel_axis = _channel_axis(self.data_format)

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(
                f"LocalResponseNormalization '{self.name}' expects a 4D input. "
                f"Received: input_shape={tuple(input_shape)}"
            )

    def call(self, inputs):
        if keras.backend.backend() == "tensorflow":
            return self._tensorflow_call(inputs)
        return self._portable_lrn(inputs)

    def _tensorflow_call(self, inputs):
        if eager_or_serving():
            return self._tensorflow_lrn(inputs) if self._channel_axis == -1 else self._portable_lrn(inputs)
        if in_xla_function():
            return self._portable_lrn(inputs)  # XLA fuses these ops with the rest of the cluster
        kernel = _xla_lrn_kernel(self.depth_radius, self.bias, self.alpha, self.beta, self._channel_axis)
        return kernel(inputs)

    def _tensorflow_lrn(self, inputs):
        """TensorFlow's fused float32 op (channels last): no XLA, served by every TensorFlow runtime."""
        import tensorflow as tf

        x = tf.cast(inputs, tf.float32)
        normalized = tf.nn.local_response_normalization(
            x, depth_radius=self.depth_radius, bias=self.bias, alpha=self.alpha, beta=self.beta
        )
        return tf.cast(normalized, inputs.dtype)

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
    if beta == 0.75:
        # scale ** -0.75 == rsqrt(scale) * sqrt(rsqrt(scale)): two cheap ops, not log/exp.
        inv_sqrt = ops.rsqrt(scale)
        normalizer = inv_sqrt * ops.sqrt(inv_sqrt)
    else:
        normalizer = ops.power(scale, -beta)
    return ops.cast(x * normalizer, inputs.dtype)


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

    return tf.function(kernel, jit_compile=True, reduce_retracing=True, autograph=False)
