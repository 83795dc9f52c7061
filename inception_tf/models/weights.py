"""Caffe's bvlc_googlenet ImageNet weights, read from the ONNX model zoo's googlenet-7.onnx.

The zoo's file is Caffe's model passed through Caffe2 ("Caffe BVLC GoogLeNet ==>
Caffe2 ==> ONNX"): NCHW, input `data_0` (1, 3, 224, 224) holding BGR pixels minus
the mean (104, 117, 123), initializers named after Caffe's layers with a `_w_0` /
`_b_0` suffix (`conv1/7x7_s2_w_0`, `inception_3a/5x5_reduce_b_0`, ...,
`loss3/classifier_w_0`), convolution kernels OIHW, the classifier a Gemm with
`transB=1` and a (1000, 1024) weight. `GoogLeNet` has Caffe's geometry, so the
weights only need renaming and transposing; this module does that, checking
every tensor's shape and the parts of the graph that must match (conv paddings
and strides, LRN constants, ceil-mode pools, the input).

Reading ONNX needs the `onnx` package: `pip install "inception_tf[pretrained]"`.
"""

import collections
import math
import os

import numpy as np

from inception_tf.models import topology

INPUT_NAME = "data_0"
INPUT_SIZE = 224
# Caffe's stem convolutions (Table 1's first rows): our layer -> (Caffe's layer, kernel size, filters). The
# module convolutions follow from topology.NODES (`branch_5x5_reduce` -> `inception_4c/5x5_reduce`).
STEM_CONVOLUTIONS = {"conv1": ("conv1/7x7_s2", 7, 64), "conv2_reduce": ("conv2/3x3_reduce", 1, 64),
                     "conv2": ("conv2/3x3", 3, 192)}
INPUT_CHANNELS = 3
CLASSIFIER = ("logits", "loss3/classifier")
# Caffe's conv1/7x7_s2: pad 3, stride 2; every other convolution has stride 1 and pads kernel // 2.
CONV1_PADDING, CONV1_STRIDE = 3, 2
# Caffe's LRN (bvlc_googlenet): local_size 5, alpha 1e-4, beta 0.75, k 1; ONNX's LRN divides alpha by size too.
LRN_ATTRIBUTES = {"size": 5, "alpha": 1e-4, "beta": 0.75, "bias": 1.0}
ONNX_LRN_DEFAULTS = {"size": None, "alpha": 1e-4, "beta": 0.75, "bias": 1.0}  # size is required
# The classifier's Gemm computes alpha * x @ W^T + beta * b; ONNX's defaults are alpha = beta = 1, transA = 0.
GEMM_EXPECTED = {"alpha": 1.0, "beta": 1.0, "transA": 0}
_BRANCH_PREFIX = "branch_"

LayerShapes = collections.namedtuple("LayerShapes", ["kernel", "bias"])
# Documentation text only: no behaviour depends on it.
LayerShapes.__doc__ = """The shapes of one layer's arrays: `kernel` `(height, width, in, out)` or `(in, out)`, `bias` `(out,)`."""  # pragma: no mutate


def caffe_layer_names():
    """Our layer path -> Caffe layer name, for every layer that has ImageNet weights.

    Returns:
        A dict such as `{"conv1": "conv1/7x7_s2", ..., "inception_3a/branch_1x1":
        "inception_3a/1x1", ..., "logits": "loss3/classifier"}` (58 entries), in
        network order. A path with a slash names a convolution inside an
        `InceptionModule`.
    """
    from inception_tf.models.architecture import INCEPTION_SPEC

    names = {path: caffe_name for path, (caffe_name, _, _) in STEM_CONVOLUTIONS.items()}
    for spec in INCEPTION_SPEC:
        for node in topology.CONVOLUTIONS:
            if not node.name.startswith(_BRANCH_PREFIX):
                raise ValueError(f"topology node {node.name!r} does not start with {_BRANCH_PREFIX!r}")
            names[f"inception_{spec.name}/{node.name}"] = (
                f"inception_{spec.name}/{node.name[len(_BRANCH_PREFIX):]}"
            )
    names[CLASSIFIER[0]] = CLASSIFIER[1]
    return names


def declared_shapes(classes):
    """Layer path -> `LayerShapes` of GoogLeNet with `classes` classes, from its specification alone.

    The stem from `STEM_CONVOLUTIONS`, each module's convolutions from
    `INCEPTION_SPEC` and `topology.NODES` (a convolution reads the channels of
    its source node; a module outputs the sum of `topology.CONCATENATED`), the
    classifier `(1024, classes)`: the shapes `model_shapes` reads off a built
    1000-class model, without building one.
    """
    from inception_tf.models.architecture import INCEPTION_SPEC

    shapes, channels = {}, INPUT_CHANNELS
    for path, (_, size, filters) in STEM_CONVOLUTIONS.items():
        shapes[path] = LayerShapes((size, size, channels, filters), (filters,))
        channels = filters
    for spec in INCEPTION_SPEC:
        channels = _module_shapes(spec, channels, shapes)
    shapes[CLASSIFIER[0]] = LayerShapes((channels, classes), (classes,))
    return shapes


def _module_shapes(spec, channels, shapes):
    """Adds the `LayerShapes` of module `spec`'s convolutions on a `channels`-deep input; returns its output depth."""
    filters = spec._asdict()

    def output_channels(node, input_channels):
        if node.kind != "conv":
            return input_channels  # the max pool keeps its input's channels
        count = filters[node.filters_arg]
        shapes[f"inception_{spec.name}/{node.name}"] = LayerShapes(
            (node.kernel_size, node.kernel_size, input_channels, count), (count,))
        return count

    outputs = topology.wire(channels, output_channels)
    return sum(outputs[name] for name in topology.CONCATENATED)


def model_shapes(model, skip=()):
    """Layer path -> `LayerShapes` of `model`'s layers in `caffe_layer_names()`, but those in `skip`."""
    return {path: LayerShapes(tuple(find_layer(model, path).kernel.shape), tuple(find_layer(model, path).bias.shape))
            for path in caffe_layer_names() if path not in skip}


def find_layer(model, path):
    """The layer of `model` at `path` (`"conv1"` or `"inception_3a/branch_1x1"`)."""
    module, _, sublayer = path.partition("/")
    layer = model.get_layer(module)
    return layer.sublayer(sublayer) if sublayer else layer


def _onnx():
    try:
        import onnx
    except ImportError as error:
        raise ImportError(
            "Reading ONNX files needs the onnx package: pip install \"inception_tf[pretrained]\" "
            "(or pip install onnx)."
        ) from error
    return onnx


def read_onnx(path):
    """Parses an ONNX file; a clear error names the file when it is missing, truncated or not ONNX.

    Args:
        path: str or os.PathLike. The `.onnx` file.

    Returns:
        The `onnx.ModelProto`.
    """
    onnx = _onnx()
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"ONNX file {path!r} does not exist.")
    try:
        model = onnx.load(path)
    except Exception as error:  # protobuf raises DecodeError (and others) on truncated or foreign bytes
        raise ValueError(
            f"{path!r} is not a readable ONNX model (truncated download, or not an ONNX file): "
            f"{type(error).__name__}: {error}"
        ) from error
    if not model.graph.node:
        raise ValueError(f"{path!r} is not a readable ONNX model: its graph has no nodes (truncated?).")
    return model


def _attributes(node):
    from onnx import helper

    return {attribute.name: helper.get_attribute_value(attribute) for attribute in node.attribute}


class _Graph:
    """The parts of an ONNX graph the checks read: nodes by type, consumers, float initializers."""

    def __init__(self, model, path):
        from onnx import numpy_helper

        self.path = path
        self.graph = model.graph
        self.initializers = {tensor.name: tensor for tensor in self.graph.initializer}
        self.to_array = numpy_helper.to_array
        self.consumers = {}
        for node in self.graph.node:
            for name in node.input:
                self.consumers.setdefault(name, node)

    def nodes(self, op_type):
        return [node for node in self.graph.node if node.op_type == op_type]

    def error(self, message):
        return ValueError(f"{self.path!r} is not Caffe's bvlc_googlenet as the ONNX zoo ships it: {message}")


def _check_input(graph):
    inputs = {value.name: value for value in graph.graph.input}
    if INPUT_NAME not in inputs:
        names = [name for name in inputs if name not in graph.initializers]
        raise graph.error(f"no input named {INPUT_NAME!r} (its inputs: {names}).")
    dims = inputs[INPUT_NAME].type.tensor_type.shape.dim
    shape = tuple(dim.dim_value if dim.HasField("dim_value") else None for dim in dims)
    if len(shape) != 4 or shape[1] != 3 or any(size not in (None, INPUT_SIZE) for size in shape[2:]):
        raise graph.error(f"input {INPUT_NAME!r} has shape {shape}; expected (N, 3, 224, 224) (NCHW).")


def _differences(found, expected):
    """`"strides [2, 2] (expected [1, 1]), group 2 (expected 1)"` for the keys where `found` differs
    (floats to a relative 1e-6: ONNX stores float attributes in float32); `""` when none does."""
    return ", ".join(f"{key} {_shown(found[key])} (expected {_shown(expected[key])})"
                     for key in expected if not _same(found[key], expected[key]))


def _same(value, expected):
    if isinstance(expected, float) and isinstance(value, (int, float)):
        return math.isclose(value, expected, rel_tol=1e-6)
    return value == expected


def _shown(value):
    """An attribute as the message shows it: text for bytes, floats to 6 digits (float32 attributes)."""
    if isinstance(value, bytes):
        return value.decode()
    return f"{value:.6g}" if isinstance(value, float) else value


def _check_conv(graph, node, path, caffe_name, kernel_size):
    """Caffe's convolutions: stride 2 and pad 3 in conv1, else stride 1 and pad kernel // 2; no groups,
    dilations or auto_pad. Absent attributes take ONNX's defaults (strides and dilations 1, pads 0,
    group 1, auto_pad NOTSET)."""
    attributes = _attributes(node)
    found = {
        "strides": list(attributes.get("strides", [1, 1])),
        "pads": list(attributes.get("pads", [0, 0, 0, 0])),
        "group": attributes.get("group", 1),
        "dilations": list(attributes.get("dilations", [1, 1])),
        "auto_pad": attributes.get("auto_pad", b"NOTSET"),
    }
    stride, pad = (CONV1_STRIDE, CONV1_PADDING) if path == "conv1" else (1, kernel_size // 2)
    expected = {"strides": [stride] * 2, "pads": [pad] * 4, "group": 1, "dilations": [1, 1], "auto_pad": b"NOTSET"}
    differences = _differences(found, expected)
    if differences:
        raise graph.error(f"Conv {caffe_name!r} (our layer {path!r}) has {differences}.")


def _check_lrn(graph):
    nodes = graph.nodes("LRN")
    if len(nodes) != 2:
        raise graph.error(f"{len(nodes)} LRN nodes; expected 2 (pool1/norm1, conv2/norm2).")
    for node in nodes:
        attributes = _attributes(node)
        differences = _differences({key: attributes.get(key, default) for key, default in ONNX_LRN_DEFAULTS.items()},
                                   LRN_ATTRIBUTES)
        if differences:
            raise graph.error(f"LRN {node.output[0]!r} has {differences}.")


def _check_pools(graph):
    """The four 3x3/2 max pools round up as Caffe's do, at the sizes they see in a 224x224 network."""
    strided = [node for node in graph.nodes("MaxPool") if list(_attributes(node).get("strides", [1, 1])) != [1, 1]]
    size, expected_sizes = (INPUT_SIZE + 2 * CONV1_PADDING - 7) // 2 + 1, []
    for _ in range(4):
        expected_sizes.append(size)
        size = math.ceil((size - 3) / 2) + 1
    if len(strided) != len(expected_sizes):
        raise graph.error(f"{len(strided)} strided MaxPool nodes; expected 4 (pool1 to pool4).")
    for node, size in zip(strided, expected_sizes):
        attributes = _attributes(node)
        pads = list(attributes.get("pads", [0, 0, 0, 0]))
        rounding = math.ceil if attributes.get("ceil_mode", 0) else math.floor
        kernel, strides = list(attributes.get("kernel_shape", [])), list(attributes["strides"])
        outputs = [rounding((size + pads[i] + pads[i + 2] - 3) / 2) + 1 for i in range(2)]
        caffe = math.ceil((size - 3) / 2) + 1
        if kernel != [3, 3] or strides != [2, 2] or pads[:2] != [0, 0] or outputs != [caffe, caffe]:
            raise graph.error(
                f"MaxPool {node.output[0]!r} (kernel {kernel}, strides {strides}, pads {pads}) maps "
                f"{size}x{size} to {outputs}; Caffe's ceil-mode 3x3/2 pool gives {caffe}x{caffe}."
            )


def _check_head(graph):
    """One average pool over the 7x7 map (pool5/7x7_s1, or a global one), then one Gemm x @ W^T + b."""
    averages = graph.nodes("AveragePool") + graph.nodes("GlobalAveragePool")
    if len(averages) != 1:
        raise graph.error(f"{len(averages)} average pools; expected 1 (pool5/7x7_s1) before the classifier.")
    if averages[0].op_type == "AveragePool":
        attributes = _attributes(averages[0])
        found = {"kernel_shape": list(attributes.get("kernel_shape", [])),
                 "strides": list(attributes.get("strides", [1, 1])),
                 "pads": list(attributes.get("pads", [0, 0, 0, 0]))}
        differences = _differences(found, {"kernel_shape": [7, 7], "strides": [1, 1], "pads": [0, 0, 0, 0]})
        if differences:
            raise graph.error(f"AveragePool {averages[0].output[0]!r} (pool5/7x7_s1) has {differences}.")
    gemms = graph.nodes("Gemm")
    if len(gemms) != 1:
        raise graph.error(f"{len(gemms)} Gemm nodes; expected 1 (loss3/classifier).")
    attributes = _attributes(gemms[0])
    differences = _differences({key: attributes.get(key, default) for key, default in GEMM_EXPECTED.items()},
                               GEMM_EXPECTED)
    if differences:
        raise graph.error(f"Gemm {gemms[0].output[0]!r} (loss3/classifier) has {differences}.")


def _classifier_transform(graph, node, weight_name, needed):
    """The Gemm weight to our (in, out) kernel of shape `needed`: transposed when `transB=1` (absent means 0,
    ONNX's default)."""
    transposed = _attributes(node).get("transB", 0)
    stored = tuple(graph.initializers[weight_name].dims) if weight_name in graph.initializers else None
    needed = tuple(needed)
    if stored is not None and stored != (needed[::-1] if transposed else needed):
        raise graph.error(
            f"Gemm {node.output[0]!r} (loss3/classifier) has transB {transposed}"
            f"{'' if 'transB' in _attributes(node) else ' (absent: ONNX default)'} with a {stored} weight, "
            f"so x @ W{'^T' if transposed else ''} does not give our layer 'logits' (in, out) = {needed}."
        )
    return np.transpose if transposed else np.asarray


def _tensor(graph, name, path, kind, expected_shape, transform):
    """Initializer `name` transformed to our layout, with its shape checked against `expected_shape`."""
    if name not in graph.initializers:
        raise graph.error(f"no initializer {name!r} for our layer {path!r} ({kind}).")
    value = transform(graph.to_array(graph.initializers[name]))
    if value.shape != tuple(expected_shape):
        raise graph.error(
            f"tensor {name!r} has shape {tuple(graph.initializers[name].dims)} (ONNX), {value.shape} in our "
            f"layout, but our layer {path!r} needs a {kind} of shape {tuple(expected_shape)}."
        )
    return value.astype(np.float32)


def onnx_weights(shapes, path):
    """Reads the zoo's GoogLeNet ONNX file as arrays of the layers in `shapes`.

    Checks, before returning anything: the input `data_0` (N, 3, 224, 224);
    every Caffe tensor of a layer in `shapes` exists with the shape it gives
    (kernels OIHW -> HWIO, the Gemm weight transposed when `transB=1`, as stored
    when `transB` is 0 or absent); every Conv node of the file reads a tensor we
    map, with Caffe's padding and stride and no group, dilation or auto_pad; two
    LRNs with Caffe's constants; four ceil-mode 3x3/2 max pools; one 7x7/1
    average pool without padding and one Gemm with alpha 1, beta 1, transA 0. A
    refusal names the node and each attribute that differs.

    Args:
        shapes: dict from layer path to `LayerShapes`: `model_shapes(model)` of the model
            to fill (any input size, data format or precision; a layer left out, such as a
            new classifier, is not read), or `declared_shapes(1000)`.
        path: str or os.PathLike. The ONNX file.

    Returns:
        A dict from layer path (`caffe_layer_names()`, those in `shapes`) to `[kernel, bias]`
        float32 arrays: kernels `(height, width, in, out)`, the classifier `(1024, 1000)`.

    Raises:
        FileNotFoundError, ValueError: the file is missing, unreadable or not this network;
            the message names the file, and for a shape mismatch our layer, the ONNX tensor
            and both shapes.
    """
    path = os.fspath(path)
    graph = _Graph(read_onnx(path), path)
    _check_input(graph)
    weights, mapped = {}, set()
    for layer_path, caffe_name in caffe_layer_names().items():
        weight_name, bias_name = f"{caffe_name}_w_0", f"{caffe_name}_b_0"
        node = graph.consumers.get(weight_name)
        expected_op = "Gemm" if layer_path == CLASSIFIER[0] else "Conv"
        if node is None or node.op_type != expected_op:
            raise graph.error(f"{weight_name!r} is not the weight of a {expected_op} node.")
        mapped.add(weight_name)
        if layer_path not in shapes:
            continue
        shape = shapes[layer_path]
        if expected_op == "Gemm":
            transform = _classifier_transform(graph, node, weight_name, shape.kernel)  # (1000, 1024), transB=1
        else:
            _check_conv(graph, node, layer_path, caffe_name, shape.kernel[0])
            transform = lambda value: np.transpose(value, (2, 3, 1, 0))  # noqa: E731 (OIHW -> HWIO)
        weights[layer_path] = [
            _tensor(graph, weight_name, layer_path, "kernel", shape.kernel, transform),
            _tensor(graph, bias_name, layer_path, "bias", shape.bias, np.asarray),
        ]
    unmapped = [node.input[1] for node in graph.nodes("Conv") if node.input[1] not in mapped]
    if unmapped:
        raise graph.error(f"Conv weights with no layer here: {unmapped[:5]}{' ...' if len(unmapped) > 5 else ''}.")
    _check_lrn(graph)
    _check_pools(graph)
    _check_head(graph)
    return weights


def assign_weights(model, weights, source="weights"):
    """Sets `[kernel, bias]` per layer path; every shape is checked before anything is assigned.

    Args:
        model: the `keras.Model` to fill.
        weights: dict from layer path (`find_layer`) to `[kernel, bias]` arrays.
        source: str. Where the arrays came from, for error messages.

    Raises:
        ValueError: `model` has no layer at a path, or a layer's kernel or bias has another
            shape than its array; the message names `source`, the layer and both shapes.
    """
    pairs = []
    for layer_path, values in weights.items():
        try:
            layer = find_layer(model, layer_path)
        except (ValueError, KeyError) as error:
            raise ValueError(f"{source}: arrays for layer {layer_path!r}, which {model.name} does not have.") from error
        for weight_name, variable, value in zip(("kernel", "bias"), (layer.kernel, layer.bias), values):
            if tuple(variable.shape) != tuple(np.shape(value)):
                raise ValueError(
                    f"{source}: layer {layer_path!r} needs a {weight_name} of shape {tuple(variable.shape)}; "
                    f"the array for it has shape {tuple(np.shape(value))}."
                )
            pairs.append((variable, value))
    for variable, value in pairs:
        variable.assign(value)
