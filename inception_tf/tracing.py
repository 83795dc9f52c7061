"""Which kind of TensorFlow graph a layer is being traced into.

Layers pick their fastest kernels by context: eagerly, and inside
`serving_graph()` (which SavedModel exports use), they call standard
TensorFlow ops; inside a traced function (`fit`, `predict`, `tf.function`)
they may call XLA-compiled kernels; inside a function that is itself
XLA-compiled they use plain ops, which XLA fuses into its cluster.
"""

import contextlib
import threading


class _ServingGraphState(threading.local):
    active = False


_serving_graph = _ServingGraphState()


@contextlib.contextmanager
def serving_graph():
    """Within this block, layers trace only standard TensorFlow ops (no XLA clusters).

    TensorFlow Serving runs SavedModels without XLA unless started with
    `--xla_cpu_compilation_enabled`, so exports trace the model inside this block.
    """
    previous = _serving_graph.active
    _serving_graph.active = True
    try:
        yield
    finally:
        _serving_graph.active = previous


def in_serving_graph():
    """Whether the caller runs inside `serving_graph()`."""
    return _serving_graph.active


def in_xla_function():
    """Whether the graph being traced is itself XLA-compiled (`jit_compile=True`).

    There the plain ops are fused with the rest of the cluster; a nested compiled
    function would only get in XLA's way (its gradient there compiles for minutes).
    """
    try:
        import tensorflow as tf
        from tensorflow.python.ops import control_flow_util
    except ImportError:  # a TensorFlow without this helper: assume no outer XLA function
        return False
    return control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph())


def eager_or_serving():
    """Whether TensorFlow runs eagerly or a `serving_graph()` is being traced."""
    import tensorflow as tf

    return tf.executing_eagerly() or _serving_graph.active
