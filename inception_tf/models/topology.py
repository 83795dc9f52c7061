"""The Inception module's graph, written once as data.

Slide 12 and Figure 2(b) of the paper: four branches read the module's input
(a 1x1 convolution; a 1x1 reduction then a 3x3; a 1x1 reduction then a 5x5; a
3x3 stride-1 max pool then a 1x1 projection) and their outputs are
concatenated on the channel axis. `InceptionModule.build` and `.call`, the cost
count, the diagram and the slide's variable names are all derived from
`NODES`, in its order.
"""

import collections

# Equivalent under any other string that is no node's name: it only keys the input in `wire`'s dict, read by this name.
INPUT = "input"  # pragma: no mutate

Node = collections.namedtuple("Node", ["name", "kind", "kernel_size", "filters_arg", "source", "slide_suffix"])
Node.__doc__ = """One sublayer of the module.

Attributes:
    name: str. The sublayer's name (variables read `<module>/<name>/kernel`).
    kind: str. `"conv"` (stride 1, SAME padding) or `"max_pool"` (3x3, stride 1, SAME).
    kernel_size: int. The square window.
    filters_arg: str or None. The `InceptionModule` argument holding its filters.
    source: str. The node whose output it reads, or `INPUT`.
    slide_suffix: str or None. Its variables on the slide: `W_conv<N>_<suffix>`, `b_conv<N>_<suffix>`.
"""

NODES = (
    #    name                 kind        size  filters argument      reads                slide
    Node("branch_1x1",        "conv",     1,    "filters_1x1",        INPUT,               "1x1_1"),
    Node("branch_3x3_reduce", "conv",     1,    "filters_3x3_reduce", INPUT,               "1x1_2"),
    Node("branch_3x3",        "conv",     3,    "filters_3x3",        "branch_3x3_reduce", "3x3"),
    Node("branch_5x5_reduce", "conv",     1,    "filters_5x5_reduce", INPUT,               "1x1_3"),
    Node("branch_5x5",        "conv",     5,    "filters_5x5",        "branch_5x5_reduce", "5x5"),
    Node("branch_pool",       "max_pool", 3,    None,                 INPUT,               None),
    Node("branch_pool_proj",  "conv",     1,    "filters_pool_proj",  "branch_pool",       "1x1_4"),
)

# The outputs concatenated on the channel axis, in order.
CONCATENATED = ("branch_1x1", "branch_3x3", "branch_5x5", "branch_pool_proj")

# The slide source's biases are drawn like its weights except these, constant 0.1.
SLIDE_CONSTANT_BIASES = ("5x5",)

# The slide applies ReLU after these two convolutions (and once after the concatenation).
SLIDE_RELU_AFTER = ("branch_3x3_reduce", "branch_5x5_reduce")

FILTER_ARGS = tuple(node.filters_arg for node in NODES if node.kind == "conv")
CONVOLUTIONS = tuple(node for node in NODES if node.kind == "conv")


def wire(inputs, apply):
    """Runs the graph: every node's output is `apply(node, output of node.source)`.

    Args:
        inputs: the module's input (a tensor, a Keras tensor, or a shape).
        apply: callable `(Node, value) -> value`.

    Returns:
        A dict from node name (and `INPUT`) to its output value.
    """
    outputs = {INPUT: inputs}
    for node in NODES:
        outputs[node.name] = apply(node, outputs[node.source])
    return outputs
