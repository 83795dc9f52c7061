"""Which kernels `LocalResponseNormalization` and `MaxPooling2D` run.

Both layers take an explicit `implementation` argument, saved in their config:

- `"standard"`: the backend's standard ops. On TensorFlow:
  `tf.nn.local_response_normalization` (in float32) and `MaxPool` /
  `MaxPoolGrad`; elsewhere the `keras.ops` form. TF Serving, the ONNX and
  LiteRT converters and every TensorFlow runtime accept these graphs.
- `"xla"`: on TensorFlow, XLA-compiled kernels: LRN forward and backward as
  one compiled function each, and the max-pool gradient as one compiled
  elementwise kernel (the forward pool stays TensorFlow's op). Inside a
  function that is itself XLA-compiled (`jit_compile=True`) the same math
  runs as plain ops that join the outer cluster. These kernels are for `fit`,
  `predict` and `evaluate` in this process: a SavedModel traced with them
  holds functions marked `_XlaMustCompile`, which TF Serving refuses unless
  started with `--xla_cpu_compilation_enabled`. `export_saved_model` rebuilds
  such models with `"standard"` (`standard_kernels(model)`). On other
  backends `"xla"` is `"standard"`.
- `"auto"` (the default): `"xla"` where it is measured to be faster and no
  export can see it, `"standard"` elsewhere. Only training calls
  (`training=True`, which `fit` and custom training steps make, never an
  export) on a machine without GPU or TPU, on the TensorFlow backend, can get
  the compiled kernels, and then per kernel (`python benchmarks/kernels.py`
  measures them on a CPU):
  - LRN: always. TensorFlow's LRN op is slow on every CPU kind measured and
    has no bfloat16 kernel: forward and backward at GoogLeNet's shapes take
    0.43-0.70x the time compiled on an AVX-512 Xeon with oneDNN on, 0.27x on
    an AVX2 EPYC.
  - the max-pool gradient: only when TensorFlow runs without oneDNN. On AVX2
    CPUs TensorFlow's Eigen `MaxPoolGrad` is slow (the compiled one is 4.5x
    faster); where TensorFlow turns oneDNN on by default (CPUs with AVX-512
    VNNI or BF16, AVX-VNNI or AMX) its pooling gradient beats the compiled
    one (1.15-2x the time compiled on the AVX-512 Xeon).

`resolve(implementation, training, kernel)` is the rule; tests compare the paths.
"""

import functools

import keras

IMPLEMENTATIONS = ("auto", "standard", "xla")
KERNELS = ("lrn", "max_pool_gradient")


def check_implementation(implementation):
    """`implementation` if it is one of `IMPLEMENTATIONS`; a ValueError naming it otherwise."""
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(
            f"implementation must be one of {IMPLEMENTATIONS}. Received: implementation={implementation!r}"
        )
    return implementation


def resolve(implementation, training, kernel):
    """`"standard"` or `"xla"`: the kernels a call runs.

    Args:
        implementation: str. One of `IMPLEMENTATIONS`.
        training: bool or None. The layer call's `training` argument.
        kernel: str. One of `KERNELS`: which layer asks.
    """
    if keras.backend.backend() != "tensorflow" or implementation == "standard":
        return "standard"
    if implementation == "xla":
        return "xla"
    return "xla" if training and compiled_kernels_pay_off(kernel) else "standard"


@functools.lru_cache(maxsize=None)
def compiled_kernels_pay_off(kernel):
    """Whether `"auto"` picks the XLA kernel `kernel` (one of `KERNELS`) for training on this machine.

    Never where TensorFlow sees a GPU or TPU (cuDNN's and XLA's own kernels are
    fast there); on a CPU, always for LRN, and for the max-pool gradient only
    when TensorFlow runs without oneDNN (see the module's docstring).
    """
    import tensorflow as tf

    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {KERNELS}. Received: kernel={kernel!r}")
    if tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("TPU"):
        return False
    return kernel == "lrn" or not onednn_enabled()


def onednn_enabled():
    """Whether this TensorFlow process runs oneDNN's kernels (`TF_ENABLE_ONEDNN_OPTS`, or the CPU's default)."""
    try:
        from tensorflow.python.util import _pywrap_util_port
    except ImportError:  # a TensorFlow build without the helper: assume TensorFlow's x86 default
        return False
    return bool(_pywrap_util_port.IsMklEnabled())


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


def standard_kernels(model):
    """`model`, or a copy with the same weights whose layers all run `"standard"` kernels.

    A model whose layers were built with `implementation="xla"` would trace
    XLA-compiled functions into an export; this rebuilds it from its config
    with `"standard"` and copies the weights. Other models are returned as is.
    """
    if not any(getattr(layer, "implementation", None) == "xla" for layer in _all_layers(model)):
        return model
    config = _with_standard_kernels(keras.saving.serialize_keras_object(model))
    copy = keras.saving.deserialize_keras_object(config)
    copy.set_weights(model.get_weights())
    return copy


def _all_layers(model):
    for layer in model._flatten_layers(include_self=False, recursive=True):
        yield layer


def _with_standard_kernels(config):
    if isinstance(config, dict):
        return {
            key: ("standard" if key == "implementation" and value == "xla" else _with_standard_kernels(value))
            for key, value in config.items()
        }
    if isinstance(config, list):
        return [_with_standard_kernels(value) for value in config]
    return config
