"""The Inception module of slide 12 and of the paper, as a Keras layer.

Written with Keras layers and `keras.ops` only, so it runs on every Keras
backend, and registered for `.keras` saving. Its graph is `topology.NODES`.
"""

import keras
import numpy as np

from inception_tf.checks import positive_int
from inception_tf.models import kernels, topology
from inception_tf.models.initializers import TruncatedNormal
from inception_tf.models.layout import (
    channel_axis,
    compute_data_format,
    from_compute_layout,
    standardize_data_format,
    to_compute_layout,
)
from inception_tf.models.pooling import MaxPooling2D
from inception_tf.models.slide import slide_variable_names

RELU_PLACEMENTS = ("as_written", "corrected")
_SLIDE_INITIALIZER = "slide"


@keras.saving.register_keras_serializable(package="inception_tf")
class InceptionModule(kernels.KernelChoice, keras.layers.Layer):
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
        implementation: str. `"auto"`, `"standard"`, `"banded"` or `"xla"`:
            the kernels of the pool branch (`inception_tf.models.kernels`;
            `"banded"`, an LRN form, is the standard pool here). Defaults to `"auto"`.
        **kwargs: base `Layer` arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        inputs: `(batch_size, height, width, channels)` for channels_last,
            `(batch_size, channels, height, width)` for channels_first.
        training: bool or None. Whether the call is a training step.

    Returns:
        `(batch_size, height, width, filters)` (or channels first), where
        `filters = filters_1x1 + filters_3x3 + filters_5x5 + filters_pool_proj`.

    Examples:

    >>> import numpy as np, inception_tf
    >>> module = inception_tf.InceptionModule(
    ...     filters_1x1=64, filters_3x3_reduce=96, filters_3x3=128,
    ...     filters_5x5_reduce=16, filters_5x5=32, filters_pool_proj=32)
    >>> tuple(module(np.ones((2, 28, 28, 192), "float32")).shape)
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
        implementation="auto",
        **kwargs,
    ):
        super().__init__(**kwargs)
        filters = dict(zip(topology.FILTER_ARGS, (filters_1x1, filters_3x3_reduce, filters_3x3,
                                                  filters_5x5_reduce, filters_5x5, filters_pool_proj)))
        for name, value in filters.items():
            setattr(self, name, positive_int(name, value))
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
        self.implementation = implementation  # checked by KernelChoice
        self._channel_axis = channel_axis(self.data_format)
        self._compute_format = compute_data_format(self.data_format)
        # Attribute names are part of the `.keras` weight layout: keep `convs` and `pool`.
        self.convs = {node.name: self._make_sublayer(node) for node in topology.CONVOLUTIONS}
        (pool_node,) = (node for node in topology.NODES if node.kind == "max_pool")
        self.pool = self._make_sublayer(pool_node)
        self.concat = keras.layers.Concatenate(
            axis=channel_axis(self._compute_format), dtype=self.dtype_policy, name="concat"
        )
        self.output_relu = (
            keras.layers.ReLU(dtype=self.dtype_policy, name="relu")
            if self.relu == "as_written"
            else None
        )

    def _make_sublayer(self, node):
        if node.kind == "max_pool":
            return MaxPooling2D(
                pool_size=node.kernel_size, strides=1, padding="same", data_format=self._compute_format,
                implementation=self.implementation, dtype=self.dtype_policy, name=node.name,
            )
        return keras.layers.Conv2D(
            getattr(self, node.filters_arg),
            kernel_size=node.kernel_size,
            padding="same",
            data_format=self._compute_format,
            activation=self._conv_activation(node.name),
            use_bias=self.use_bias,
            # `_initializer` tells only "bias" apart, so the kernel's kind is any other string.
            kernel_initializer=self._initializer("kernel", self.kernel_initializer, node.slide_suffix),  # pragma: no mutate
            bias_initializer=self._initializer("bias", self.bias_initializer, node.slide_suffix),
            kernel_regularizer=self.kernel_regularizer,
            bias_regularizer=self.bias_regularizer,
            dtype=self.dtype_policy,
            name=node.name,
        )

    def sublayer(self, name):
        """The sublayer of topology node `name`: a `Conv2D` in `convs`, or the `pool`."""
        return self.pool if name == self.pool.name else self.convs[name]

    def _conv_activation(self, branch):
        if self.relu == "corrected" or branch in topology.SLIDE_RELU_AFTER:
            return "relu"
        return None

    @staticmethod
    def _initializer(kind, initializer, slide_suffix):
        if not (isinstance(initializer, str) and initializer == _SLIDE_INITIALIZER):
            return keras.initializers.get(initializer)
        if kind == "bias" and slide_suffix in topology.SLIDE_CONSTANT_BIASES:
            return keras.initializers.Constant(0.1)
        return TruncatedNormal(stddev=0.1)

    @property
    def output_filters(self):
        """int. Channels of the output: the sum of the four branches' filters."""
        return sum(self.convs[name].filters for name in topology.CONCATENATED)

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

    def wire(self, inputs, apply=None):
        """Runs `topology.NODES` on `inputs` (compute layout) with this layer's sublayers.

        Args:
            inputs: a tensor, Keras tensor or batched shape in the compute layout.
            apply: callable `(sublayer, value) -> value`. Defaults to calling the sublayer.

        Returns:
            A dict from node name to its output.
        """
        apply = apply or (lambda layer, value: layer(value))
        return topology.wire(inputs, lambda node, value: apply(self.sublayer(node.name), value))

    def build(self, input_shape):
        input_shape = self._validate_input_shape(input_shape)
        self.input_channels = int(input_shape[self._channel_axis])

        def build_sublayer(layer, shape):
            layer.build(shape)
            return layer.compute_output_shape(shape)

        shapes = self.wire(self.compute_layout_shape(input_shape), build_sublayer)
        branch_shapes = [shapes[name] for name in topology.CONCATENATED]
        self.concat.build(branch_shapes)
        if self.output_relu is not None:
            # ReLU has no state: Keras marks it built from the start, so this call only keeps the shapes.
            self.output_relu.build(self.concat.compute_output_shape(branch_shapes))  # pragma: no mutate

    def compute_layout_shape(self, input_shape):
        """`input_shape` in the layout the sublayers compute in (see `layout.compute_data_format`)."""
        return to_compute_layout(input_shape, self.data_format, is_shape=True)

    def call(self, inputs, training=None):
        outputs = self.wire(
            to_compute_layout(inputs, self.data_format),
            # Keras hands the outer call's `training` to nested calls too; it is passed here to say so.
            lambda layer, value: layer(value, training=training) if layer is self.pool else layer(value),  # pragma: no mutate
        )
        outputs = self.concat([outputs[name] for name in topology.CONCATENATED])
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
        for node in topology.CONVOLUTIONS:
            kernel, bias = self.convs[node.name].get_weights()
            weights[f"W_conv{module}_{node.slide_suffix}"] = kernel
            weights[f"b_conv{module}_{node.slide_suffix}"] = bias
        return {name: weights[name] for name in slide_variable_names(module)}

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
        expected = slide_variable_names(module)
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
        for node in topology.CONVOLUTIONS:
            name, suffix, conv = node.name, node.slide_suffix, self.convs[node.name]
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
                **{name: getattr(self, name) for name in topology.FILTER_ARGS},
                "relu": self.relu,
                "data_format": self.data_format,
                "use_bias": self.use_bias,
                "kernel_initializer": _serialize_initializer(self.kernel_initializer),
                "bias_initializer": _serialize_initializer(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
                "implementation": self.implementation,
            }
        )
        return config


def _serialize_initializer(initializer):
    if isinstance(initializer, str) and initializer == _SLIDE_INITIALIZER:
        return initializer
    return keras.initializers.serialize(keras.initializers.get(initializer))


