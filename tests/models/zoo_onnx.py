"""ONNX files laid out like the model zoo's googlenet-7.onnx (Caffe -> Caffe2 -> ONNX), with random weights.

Written from the zoo's documented layout and Caffe2's exporter, independently of the
package: NCHW input `data_0`, Caffe initializer names with `_w_0` / `_b_0`, OIHW kernels,
conv1 padded 3, Caffe's ceil-mode pools as Caffe2 exports them (opset 7: explicit pads
`[0, 0, 2, 2]` = output * stride - 1 + kernel - input at the end), LRN, a 7x7 average
pool, Dropout, a Reshape to (1, 1024), Gemm with `transB=1`, Softmax `prob_0`. The
`"ceil_mode"` layout is what a newer exporter writes: opset 11, `ceil_mode=1` and no
pads, Flatten, and with `spatial=None` any input size (a global average pool).
"""

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from tests.models.test_googlenet import TABLE_1  # Table 1, written once for the tests

CAFFE_BRANCHES = ("1x1", "3x3_reduce", "3x3", "5x5_reduce", "5x5", "pool_proj")


def conv_shapes():
    """Caffe conv layer name -> OIHW weight shape, in network order."""
    shapes = {"conv1/7x7_s2": (64, 3, 7, 7), "conv2/3x3_reduce": (64, 64, 1, 1), "conv2/3x3": (192, 64, 3, 3)}
    channels = 192
    for name, f1, r3, f3, r5, f5, proj in TABLE_1:
        for branch, shape in zip(CAFFE_BRANCHES, [(f1, channels, 1, 1), (r3, channels, 1, 1), (f3, r3, 3, 3),
                                                  (r5, channels, 1, 1), (f5, r5, 5, 5), (proj, channels, 1, 1)]):
            shapes[f"inception_{name}/{branch}"] = shape
        channels = f1 + f3 + f5 + proj
    return shapes


def random_weights(seed=0, classifier_std=2e-3, bias_std=0.5):
    """Caffe name (`conv1/7x7_s2_w_0`, ...) -> float32 array: He-normal kernels, normal biases.

    With the default `bias_std` the biases dominate deep activations, so the output hardly
    depends on the image; a small `bias_std` (0.01) keeps it sensitive to what the image shows.
    """
    rng = np.random.default_rng(seed)
    weights = {}
    for name, shape in conv_shapes().items():
        fan_in = shape[1] * shape[2] * shape[3]
        weights[f"{name}_w_0"] = rng.normal(0, np.sqrt(2 / fan_in), shape).astype(np.float32)
        weights[f"{name}_b_0"] = rng.normal(0, bias_std, shape[0]).astype(np.float32)
    weights["loss3/classifier_w_0"] = rng.normal(0, classifier_std, (1000, 1024)).astype(np.float32)
    weights["loss3/classifier_b_0"] = rng.normal(0, bias_std, 1000).astype(np.float32)
    return weights


REMOVE = object()  # in `build(changes=...)`: leave the attribute out (the reader then assumes ONNX's default)


class _Builder:
    def __init__(self, weights, layout, changes):
        self.weights, self.layout, self.nodes = weights, layout, []
        self.changes = dict(changes or {})

    def node(self, op, inputs, output, **attributes):
        for name, value in self.changes.pop(output, {}).items():
            if value is REMOVE:
                del attributes[name]
            else:
                attributes[name] = value
        self.nodes.append(helper.make_node(op, inputs, [output], **attributes))
        return output

    def conv_relu(self, x, name, pad, stride=1):
        size = self.weights[f"{name}_w_0"].shape[-1]
        y = self.node("Conv", [x, f"{name}_w_0", f"{name}_b_0"], f"{name}_1", kernel_shape=[size, size],
                      strides=[stride, stride], pads=[pad] * 4, dilations=[1, 1], group=1)
        return self.node("Relu", [y], f"{name}_2")

    def pool_s2(self, x, name):
        if self.layout == "opset7":
            return self.node("MaxPool", [x], f"{name}_1", kernel_shape=[3, 3], strides=[2, 2], pads=[0, 0, 2, 2])
        return self.node("MaxPool", [x], f"{name}_1", kernel_shape=[3, 3], strides=[2, 2], pads=[0, 0, 0, 0],
                         ceil_mode=1)

    def lrn(self, x, name):
        return self.node("LRN", [x], f"{name}_1", size=5, alpha=1e-4, beta=0.75, bias=1.0)


def build(weights, layout="opset7", spatial=224, changes=None):
    """A `onnx.ModelProto` of GoogLeNet in the zoo's layout.

    Args:
        weights: dict from `random_weights`.
        layout: `"opset7"` (the zoo's googlenet-7) or `"ceil_mode"` (opset 11).
        spatial: 224, or None for symbolic height and width (`"ceil_mode"` only).
        changes: dict from a node's output name (`"conv2/3x3_1"`, `"pool1/norm1_1"`,
            `"loss3/classifier_1"`) to `{attribute: value}`, `REMOVE` as the value leaving
            the attribute out: a file that differs from the layout in exactly those.
    """
    b = _Builder(weights, layout, changes)
    x = b.conv_relu("data_0", "conv1/7x7_s2", pad=3, stride=2)
    x = b.lrn(b.pool_s2(x, "pool1/3x3_s2"), "pool1/norm1")
    x = b.conv_relu(x, "conv2/3x3_reduce", pad=0)
    x = b.conv_relu(x, "conv2/3x3", pad=1)
    x = b.pool_s2(b.lrn(x, "conv2/norm2"), "pool2/3x3_s2")
    for name, *_ in TABLE_1:
        prefix = f"inception_{name}"
        branch_1x1 = b.conv_relu(x, f"{prefix}/1x1", pad=0)
        branch_3x3 = b.conv_relu(b.conv_relu(x, f"{prefix}/3x3_reduce", pad=0), f"{prefix}/3x3", pad=1)
        branch_5x5 = b.conv_relu(b.conv_relu(x, f"{prefix}/5x5_reduce", pad=0), f"{prefix}/5x5", pad=2)
        pool = b.node("MaxPool", [x], f"{prefix}/pool_1", kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1])
        branch_pool = b.conv_relu(pool, f"{prefix}/pool_proj", pad=0)
        x = b.node("Concat", [branch_1x1, branch_3x3, branch_5x5, branch_pool], f"{prefix}/output_1", axis=1)
        if name in ("3b", "4e"):
            x = b.pool_s2(x, "pool3/3x3_s2" if name == "3b" else "pool4/3x3_s2")
    if spatial is None:
        x = b.node("GlobalAveragePool", [x], "pool5/7x7_s1_1")
    else:
        x = b.node("AveragePool", [x], "pool5/7x7_s1_1", kernel_shape=[7, 7], strides=[1, 1], pads=[0, 0, 0, 0])
    x = b.node("Dropout", [x], "pool5/7x7_s1_2", ratio=0.4)
    initializers = [numpy_helper.from_array(value, name) for value, name in
                    ((value, name) for name, value in weights.items())]
    if layout == "opset7":
        initializers.append(numpy_helper.from_array(np.array([1, 1024], np.int64), "OC2_DUMMY_1"))
        x = b.node("Reshape", [x, "OC2_DUMMY_1"], "OC2_DUMMY_0")
    else:
        x = b.node("Flatten", [x], "OC2_DUMMY_0", axis=1)
    logits = b.node("Gemm", [x, "loss3/classifier_w_0", "loss3/classifier_b_0"], "loss3/classifier_1", transB=1)
    b.node("Softmax", [logits], "prob_0")
    height, width = (spatial, spatial) if spatial else ("H", "W")
    batch = 1 if layout == "opset7" else "N"
    inputs = [helper.make_tensor_value_info("data_0", TensorProto.FLOAT, [batch, 3, height, width])]
    if layout == "opset7":  # IR version 3 lists every initializer among the graph inputs
        inputs += [helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in initializers]
    outputs = [helper.make_tensor_value_info("prob_0", TensorProto.FLOAT, [batch, 1000]),
               helper.make_tensor_value_info("loss3/classifier_1", TensorProto.FLOAT, [batch, 1000])]
    if b.changes:
        raise ValueError(f"changes name nodes the layout does not have: {sorted(b.changes)}")
    graph = helper.make_graph(b.nodes, "googlenet", inputs, outputs, initializers)
    opset, ir_version = (7, 3) if layout == "opset7" else (11, 6)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="test")
    model.ir_version = ir_version
    onnx.checker.check_model(model)
    return model


def write(path, seed=0, classifier_std=2e-3, bias_std=0.5, **build_kwargs):
    """Writes `build(random_weights(seed, classifier_std, bias_std), **build_kwargs)` to `path`.

    Returns:
        (weights, path as str): the Caffe-named arrays the file holds, and where it is.
    """
    weights = random_weights(seed=seed, classifier_std=classifier_std, bias_std=bias_std)
    onnx.save(build(weights, **build_kwargs), str(path))
    return weights, str(path)


def caffe_input(rgb):
    """RGB pixels (B, H, W, 3) in [0, 255] -> the zoo's input: BGR minus (104, 117, 123), NCHW."""
    bgr = rgb[..., ::-1].astype(np.float32) - np.array([104, 117, 123], np.float32)
    return np.ascontiguousarray(np.transpose(bgr, (0, 3, 1, 2)))
