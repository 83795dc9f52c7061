"""Which kernels `LocalResponseNormalization` and `MaxPooling2D` run.

Both layers take an explicit `implementation` argument, saved in their config:

- `"standard"`: the backend's standard ops. On TensorFlow:
  `tf.nn.local_response_normalization` (in float32) and `MaxPool` /
  `MaxPoolGrad`; elsewhere the `keras.ops` form. TF Serving, the ONNX and
  LiteRT converters and every TensorFlow runtime accept these graphs, and the
  converters map TensorFlow's LRN op to their own (ONNX's `LRN`, LiteRT's
  `LOCAL_RESPONSE_NORMALIZATION`).
- `"xla"`: on TensorFlow, XLA-compiled kernels: LRN forward and backward as
  one compiled function each, and the max-pool gradient as one compiled
  elementwise kernel (the forward pool stays TensorFlow's op). Inside a
  function that is itself XLA-compiled (`jit_compile=True`) the same math
  runs as plain ops that join the outer cluster. These kernels are for `fit`,
  `predict` and `evaluate` in this process: a SavedModel traced with them
  holds functions marked `_XlaMustCompile`, which TF Serving refuses unless
  started with `--xla_cpu_compilation_enabled`. On other backends `"xla"` is
  `"standard"`.
- `"auto"` (the default): per call and per kernel, the one measured to be
  fastest on this kind of machine (`python benchmarks/kernels.py` times them
  on a CPU), never a compiled kernel in an inference call -- so
  `model.export()` and `tf.saved_model.save` on a default model trace
  graphs TF Serving loads. On TensorFlow, where it sees no GPU or TPU:
  - where TensorFlow runs oneDNN (it turns it on for CPUs with AVX-512 VNNI
    or BF16, AVX-VNNI or AMX): LRN's *banded* form in training and
    inference -- standard ops, the window sums of squares as one 1x1
    convolution with a band matrix, then `rsqrt`/`sqrt` for `** -0.75`. On a
    2-core AVX-512 Xeon its forward takes 0.75-0.97x the time of TensorFlow's
    LRN op, its training step 0.46-0.65x, against 0.41-0.79x compiled (the
    compiled kernel is slower in bfloat16, within 10% in float32); the max
    pool's gradient stays oneDNN's, faster than the compiled one (which takes
    1.2-1.8x its time).
  - without oneDNN (AVX2 CPUs): the compiled kernels in training calls
    (`training=True`, which `fit` and custom training steps make, never an
    export): LRN 0.27x TensorFlow's time in float32 on an AVX2 EPYC (0.37-0.51x
    on the Xeon with oneDNN off), the max-pool gradient 0.2-0.4x Eigen's
    `MaxPoolGrad`; TensorFlow's ops in inference calls (there the banded
    form's separate ops are faster only with the BFC allocator).
  Where TensorFlow sees a GPU or TPU, `"auto"` is `"standard"` (cuDNN's and
  XLA's own kernels are fast there). `TF_ENABLE_ONEDNN_OPTS=0/1` switches
  oneDNN, and with it the rule.

The exporters of this package (`export_saved_model`, ONNX, LiteRT) rebuild a
model whose layers are not all `"standard"` with `"standard"`
(`standard_kernels(model)`), so an export is the same graph whichever machine
writes it. `resolve(implementation, training, kernel)` is the rule; tests
compare the paths.
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
    """`"standard"`, `"banded"` (LRN only) or `"xla"`: the kernels a call runs.

    Args:
        implementation: str. One of `IMPLEMENTATIONS`.
        training: bool or None. The layer call's `training` argument.
        kernel: str. One of `KERNELS`: which layer asks.
    """
    if keras.backend.backend() != "tensorflow" or implementation == "standard":
        return "standard"
    if implementation == "xla":
        return "xla"
    if training and compiled_kernels_pay_off(kernel):
        return "xla"
    if kernel == "lrn" and banded_lrn_pays_off():
        return "banded"
    return "standard"


@functools.lru_cache(maxsize=None)
def compiled_kernels_pay_off(kernel):
    """Whether `"auto"` picks the XLA kernel `kernel` (one of `KERNELS`) for training on this machine.

    Only on a CPU-only machine where TensorFlow runs without oneDNN (see the
    module's docstring): there TensorFlow's LRN gradient and Eigen's
    `MaxPoolGrad` are slow.
    """
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {KERNELS}. Received: kernel={kernel!r}")
    return not _accelerator_visible() and not onednn_enabled()


@functools.lru_cache(maxsize=None)
def banded_lrn_pays_off():
    """Whether `"auto"` picks LRN's banded form (standard ops) where it picks no compiled kernel.

    Where TensorFlow runs oneDNN on a machine without GPU or TPU (see the module's docstring).
    """
    return not _accelerator_visible() and onednn_enabled()


def _accelerator_visible():
    import tensorflow as tf

    return bool(tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("TPU"))


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

    A model with layers built with `implementation="xla"` would trace
    XLA-compiled functions into an export, and `"auto"` picks its inference
    kernels by the machine; this rebuilds the model from its config with
    `"standard"` everywhere and copies the weights, so that an export holds
    TensorFlow's own ops whichever machine writes it. Models whose layers are
    all `"standard"` (or take no `implementation`) are returned as is.
    """
    return with_kernels(model, "standard")


def in_process_inference_kernels(model):
    """`model`, or a copy with the same weights running the kernels fastest for inference in this process.

    The compiled kernels infer fastest on a CPU-only machine on TensorFlow
    (LRN's forward: 0.28-0.46x the time of TensorFlow's op, against 0.75-0.97x
    banded, on the AVX-512 Xeon; 0.29-0.65x with oneDNN off), which `"auto"`
    never picks for an inference call because an export could trace it. For
    work that stays in this process, such as `inception-tf evaluate`; never
    for a model that is exported or saved. Elsewhere `model` is returned as is.
    """
    if keras.backend.backend() != "tensorflow" or _accelerator_visible():
        return model
    return with_kernels(model, "xla")


def with_kernels(model, implementation):
    """`model`, or a copy with the same weights whose layers all run `implementation` kernels.

    Rebuilds the model from its config with every layer's `implementation`
    replaced and copies the weights; returns `model` itself when every layer
    that takes an `implementation` already has this one.
    """
    check_implementation(implementation)
    if all(layer.implementation == implementation for layer in _kernel_layers(model)):
        return model
    config = _with_kernels(keras.saving.serialize_keras_object(model), implementation)
    copy = keras.saving.deserialize_keras_object(config)
    copy.set_weights(model.get_weights())
    return copy


def _kernel_layers(model):
    """The layers of `model` (at any depth) whose `implementation` is one of `IMPLEMENTATIONS`."""
    return [layer for layer in _all_layers(model) if getattr(layer, "implementation", None) in IMPLEMENTATIONS]


def _all_layers(model):
    for layer in model._flatten_layers(include_self=False, recursive=True):
        yield layer


def _with_kernels(config, implementation):
    if isinstance(config, dict):
        return {
            key: (implementation if key == "implementation" and value in IMPLEMENTATIONS
                  else _with_kernels(value, implementation))
            for key, value in config.items()
        }
    if isinstance(config, list):
        return [_with_kernels(value, implementation) for value in config]
    return config
