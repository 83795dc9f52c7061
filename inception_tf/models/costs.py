"""Exact parameter and multiply-add counts, computed from layer shapes.

A multiply-add (MAC) is one multiplication accumulated into a sum: a
convolution producing an `(H, W, C_out)` map with a `kh x kw` kernel over
`C_in` channels costs `H * W * kh * kw * C_in * C_out` of them, and with `groups`
(each output channel sees `C_in / groups` inputs) `H * W * kh * kw * C_in / groups * C_out`;
a depthwise convolution is the grouped one with `groups = C_in` and
`C_out = C_in * depth_multiplier`, a separable one that plus a 1x1 convolution; a
dense layer `C_in * C_out`. Bias additions, activations, pooling and normalisation are not
multiply-adds, as in the paper's "ops" column. TensorFlow's profiler counts
2 FLOPs per multiply-add; tests check the two agree.
"""

import dataclasses

import keras

from inception_tf.models.inception_module import InceptionModule


@dataclasses.dataclass(frozen=True)
class LayerCost:
    """The cost of one layer.

    Attributes:
        name: str. The layer's name.
        kind: str. The layer's class name.
        output_shape: tuple. Output shape without the batch dimension.
        params: int. Number of weights (trainable and not).
        mult_adds: int. Multiply-adds for one example.
    """

    name: str
    kind: str
    output_shape: tuple
    params: int
    mult_adds: int


def conv2d_mult_adds(output_height, output_width, kernel_height, kernel_width, in_channels, filters):
    """Multiply-adds of one dense 2D convolution for one example."""
    return output_height * output_width * kernel_height * kernel_width * in_channels * filters


def _spatial_and_channels(shape, data_format):
    """Splits a batchless 3D shape into ((height, width), channels)."""
    if data_format == "channels_first":
        return tuple(shape[1:]), shape[0]
    return tuple(shape[:2]), shape[2]


def _conv_cost(layer, input_shape, output_shape):
    _, in_channels = _spatial_and_channels(input_shape, layer.data_format)
    (height, width), filters = _spatial_and_channels(output_shape, layer.data_format)
    kernel_h, kernel_w = layer.kernel_size
    return conv2d_mult_adds(height, width, kernel_h, kernel_w, in_channels // layer.groups, filters)


def _depthwise_cost(layer, input_shape, output_shape):
    """A depthwise (`C_in` groups of one channel) convolution, plus the 1x1 pointwise one if separable."""
    _, in_channels = _spatial_and_channels(input_shape, layer.data_format)
    (height, width), filters = _spatial_and_channels(output_shape, layer.data_format)
    kernel_h, kernel_w = layer.kernel_size
    depthwise_channels = in_channels * layer.depth_multiplier
    cost = conv2d_mult_adds(height, width, kernel_h, kernel_w, 1, depthwise_channels)
    if isinstance(layer, keras.layers.SeparableConv2D):
        cost += conv2d_mult_adds(height, width, 1, 1, depthwise_channels, filters)
    return cost


def _mult_adds(layer, input_shape, output_shape):
    """Multiply-adds of `layer` for one example; shapes are batchless."""
    if isinstance(layer, keras.layers.Conv2D):
        return _conv_cost(layer, input_shape, output_shape)
    if isinstance(layer, (keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D)):
        return _depthwise_cost(layer, input_shape, output_shape)
    if isinstance(layer, keras.layers.Dense):
        return int(input_shape[-1]) * layer.units * _prod(input_shape[:-1])
    if isinstance(layer, InceptionModule):
        return sum(cost.mult_adds for cost in inception_module_costs(layer, input_shape))
    if layer.weights and not isinstance(layer, keras.layers.BatchNormalization):
        raise ValueError(
            f"Cannot count the multiply-adds of layer '{layer.name}' "
            f"({type(layer).__name__}): only Conv2D (grouped too), DepthwiseConv2D, "
            f"SeparableConv2D, Dense, InceptionModule and weightless layers are supported."
        )
    return 0


def _prod(values):
    result = 1
    for value in values:
        result *= int(value)
    return result


def _count_params(layer):
    return sum(_prod(weight.shape) for weight in layer.weights)


def layer_cost(layer, input_shape):
    """The cost of one built layer applied to a batchless `input_shape`.

    Args:
        layer: a built `keras.layers.Layer`.
        input_shape: tuple. The input shape without the batch dimension.

    Returns:
        A `LayerCost`.
    """
    output_shape = tuple(layer.compute_output_shape((None,) + tuple(input_shape)))[1:]
    return LayerCost(
        name=layer.name,
        kind=type(layer).__name__,
        output_shape=output_shape,
        params=_count_params(layer),
        mult_adds=_mult_adds(layer, tuple(input_shape), output_shape),
    )


def inception_module_costs(module, input_shape):
    """Per-convolution costs inside an `InceptionModule`.

    Args:
        module: a built `InceptionModule`.
        input_shape: tuple. The module's batchless input shape.

    Returns:
        A list of six `LayerCost`, one per convolution, named by branch.
    """
    costs = []

    def count(layer, shape):
        if isinstance(layer, keras.layers.Conv2D):
            costs.append(layer_cost(layer, shape[1:]))
        return layer.compute_output_shape(shape)

    module.wire(module.compute_layout_shape((None,) + tuple(input_shape)), count)
    return costs


def model_costs(model):
    """Per-layer costs of a built functional or Sequential model.

    Args:
        model: a `keras.Model` whose layers are Conv2D, DepthwiseConv2D,
            SeparableConv2D, Dense, InceptionModule or weightless layers.

    Returns:
        A list of `LayerCost` in the model's layer order, input layers left out.
    """
    costs = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        input_shape = _layer_input_shape(layer)
        costs.append(layer_cost(layer, input_shape))
    return costs


def _layer_input_shape(layer):
    shape = layer.input.shape if not isinstance(layer.input, (list, tuple)) else None
    if shape is None:
        raise ValueError(
            f"Layer '{layer.name}' has several inputs; model_costs counts "
            f"single-input layers only."
        )
    return tuple(shape)[1:]


def total(costs):
    """(params, mult_adds) summed over a list of `LayerCost`."""
    return sum(c.params for c in costs), sum(c.mult_adds for c in costs)


@dataclasses.dataclass(frozen=True)
class ReductionExample:
    """Slide 11's claim: a 1x1 reduction cuts a 5x5 convolution's cost about 10x.

    Attributes:
        height, width, in_channels: the input map (28, 28, 192).
        filters: the 5x5 convolution's filters (32).
        reduce_filters: the 1x1 reduction's filters (16).
    """

    height: int = 28
    width: int = 28
    in_channels: int = 192
    filters: int = 32
    reduce_filters: int = 16

    @property
    def direct(self):
        """Multiply-adds of the 5x5 convolution applied directly."""
        return conv2d_mult_adds(self.height, self.width, 5, 5, self.in_channels, self.filters)

    @property
    def reduction(self):
        """Multiply-adds of the 1x1 reduction."""
        return conv2d_mult_adds(self.height, self.width, 1, 1, self.in_channels, self.reduce_filters)

    @property
    def reduced_conv(self):
        """Multiply-adds of the 5x5 convolution after the reduction."""
        return conv2d_mult_adds(self.height, self.width, 5, 5, self.reduce_filters, self.filters)

    @property
    def with_reduction(self):
        """Multiply-adds of reduction plus 5x5 convolution."""
        return self.reduction + self.reduced_conv

    @property
    def ratio(self):
        """How many times cheaper the reduced path is."""
        return self.direct / self.with_reduction

    def report(self):
        """The example as printed by `inception-tf costs`: a list of lines."""
        h, w, c = self.height, self.width, self.in_channels
        return [
            f"Slide 11: a {h}x{w}x{c} input through {self.filters} 5x5 filters",
            f"  directly:                 {self.direct:>13,} multiply-adds",
            f"  1x1 reduction to {self.reduce_filters} first: "
            f"{self.reduction:,} + {self.reduced_conv:,} = {self.with_reduction:,} multiply-adds",
            f"  {self.ratio:.1f}x fewer",
        ]
