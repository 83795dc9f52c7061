"""Which kernels `LocalResponseNormalization` and `MaxPooling2D` run.

Both layers take an explicit `implementation` argument, saved in their config:

- `"standard"`: the backend's standard ops. On TensorFlow:
  `tf.nn.local_response_normalization` (in float32) and `MaxPool` /
  `MaxPoolGrad`; elsewhere the `keras.ops` form. TF Serving, the ONNX and
  LiteRT converters and every TensorFlow runtime accept these graphs, and the
  converters map TensorFlow's LRN op to their own (ONNX's `LRN`, LiteRT's
  `LOCAL_RESPONSE_NORMALIZATION`).
- `"banded"`: LRN's *banded* form (below: standard ops, a band convolution
  over the channels) whatever the machine, computed in bfloat16 for a
  bfloat16 input (the bfloat16 banded form) and in float32 for any other; the
  max pool's standard kernels. The choice for an export whose runtime runs
  the band convolution faster than its own LRN op: it names a form, not a
  machine, so the graph is the same whichever machine traces it -- which is
  also why a bfloat16 input gets the bfloat16 form without `"auto"`'s AMX
  probe (the float32 form would add a cast to float32 and back, each one more
  pass over the tensor). Where the banded form cannot run (other backends,
  channels first, an unknown channel count) the layer runs its `"standard"`
  computation.
- `"xla"`: on TensorFlow, XLA-compiled kernels: LRN forward and backward as
  one compiled function each, and the max-pool gradient as one compiled
  elementwise kernel (the forward pool stays TensorFlow's op). Inside a
  function that is itself XLA-compiled (`jit_compile=True`) the same math
  runs as plain ops that join the outer cluster. These kernels are for `fit`,
  `predict` and `evaluate` in this process: a SavedModel traced with them
  holds functions marked `_XlaMustCompile`, which TF Serving refuses unless
  started with `--xla_cpu_compilation_enabled`. On other backends `"xla"` is
  `"standard"`.
- `"auto"` (the default): per kernel, a choice by what the machine's
  TensorFlow runs, measured with `python benchmarks/kernels.py`, and never a
  compiled kernel in an inference call -- so `model.export()` and
  `tf.saved_model.save` on a default model trace graphs TF Serving loads. On
  TensorFlow, where it sees no GPU or TPU:
  - where TensorFlow runs oneDNN (it turns it on for CPUs with AVX-512 VNNI
    or BF16, AVX-VNNI or AMX): LRN's *banded* form in training and
    inference -- standard ops, the window sums of squares as one 1x1
    convolution with a band matrix, then `rsqrt`/`sqrt` for `** -0.75`. On a
    2-core AVX-512 Xeon its forward takes 0.75-0.97x the time of TensorFlow's
    LRN op, its training step 0.46-0.65x; the compiled kernel trains in
    0.41-0.79x (up to 11% faster than banded in float32, slower in bfloat16;
    the whole network trains at the same rate either way). The max pool's
    gradient stays oneDNN's, faster than the compiled one (which takes
    1.2-1.8x its time).
  - where TensorFlow runs oneDNN on a CPU with AMX (`amx_bf16`): the same,
    except that a bfloat16 input (a layer under `mixed_bfloat16`) goes
    through the banded form computed in bfloat16 -- the band convolution on
    the matrix units, every elementwise pass on half the bytes, no float32
    copy of the input -- in training and inference. On a 2-core AMX Xeon its
    forward takes 0.48-0.57x the time of TensorFlow's LRN op (the float32
    banded form 0.86-0.91x on bfloat16 inputs), its training step 0.42-0.49x
    (float32 banded 0.50-0.58x, compiled 0.59-0.66x); it is within 6.75
    bfloat16 roundings of Caffe's formula, against one for the float32
    forms. Float32 inputs keep the float32 banded form (forward 0.60-1.03x,
    training step 0.48-0.64x; compiled 0.40-0.66x).
  - without oneDNN (AVX2 CPUs): the compiled kernels in training calls
    (`training=True`, which `fit` and custom training steps make, never an
    export): LRN 0.27x TensorFlow's time in float32 on an AVX2 EPYC (0.37-0.51x
    on the Xeon with oneDNN off), the max-pool gradient 0.2-0.4x Eigen's
    `MaxPoolGrad`. In inference calls the banded form where TensorFlow's CPU
    tensors come from its BFC allocator (`TF_CPU_ALLOCATOR_USE_BFC=true`, which
    `inception_tf.runtime.configure()` and the `inception-tf` command set:
    0.81-0.98x the time of TensorFlow's op), TensorFlow's op with the default
    allocator (there the banded form's separate ops are slower in three of
    four cases).
  Where TensorFlow sees a GPU or TPU, `"auto"` is `"standard"` (cuDNN's and
  XLA's own kernels are fast there). `TF_ENABLE_ONEDNN_OPTS=0/1` switches
  oneDNN, and with it the rule. Only the AMX row looks at the dtype: in
  bfloat16 without oneDNN the banded form would train faster than the
  compiled one, but bfloat16 is emulated (slow) on those CPUs anyway.

A layer reads its `implementation` whenever a call is traced, so
`using_kernels(model, implementation)` switches a built model's kernels for a
block: this package's exporters (`export_saved_model`, ONNX, LiteRT) trace and
save inside `using_kernels(model, form)`, with the form measured fastest in
each export's runtime (`inception_tf.serving.signatures.LRN_FORMS`:
`"standard"` or `"banded"`), so their exports are the same graph whichever
machine writes them; `inception-tf evaluate` sets the
compiled kernels on the model it only infers with
(`in_process_inference_kernels`). `resolve(implementation, training, kernel)`
is the rule; tests compare the paths. The layers that take an `implementation`
inherit `KernelChoice`, which is how `kernel_layers` finds them: this module
imports none of them.
"""

import contextlib
import functools
import os

import keras

IMPLEMENTATIONS = ("auto", "standard", "banded", "xla")
KERNELS = ("lrn", "max_pool_gradient")


def check_implementation(implementation):
    """`implementation` if it is one of `IMPLEMENTATIONS`; a ValueError naming it otherwise."""
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(
            f"implementation must be one of {IMPLEMENTATIONS}. Received: implementation={implementation!r}"
        )
    return implementation


class KernelChoice:
    """Mixin of the layers that take an `implementation`: `LocalResponseNormalization`, `MaxPooling2D`, `InceptionModule`.

    `kernel_layers` (and with it `set_kernels` and `using_kernels`) finds a
    model's kernel layers by this base class. The attribute is checked on every
    assignment, in the constructor and by `set_kernels` alike.
    """

    @property
    def implementation(self):
        """str. One of `IMPLEMENTATIONS`: the kernels the layer's next traced call runs."""
        return self._implementation

    @implementation.setter
    def implementation(self, value):
        self._implementation = check_implementation(value)


def resolve(implementation, training, kernel, dtype=None):
    """`"standard"`, `"banded"`, `"bfloat16_banded"` (both LRN only) or `"xla"`: the kernels a call runs.

    `"standard"` and `"xla"` are what they say; `"banded"` is LRN's banded
    form, `"bfloat16_banded"` for a bfloat16 `dtype` (on every machine), and
    `"standard"` for the other kernels; `"auto"` is the machine's rule (see
    the module's docstring). On backends other than TensorFlow every
    implementation is `"standard"` (the `keras.ops` forms).

    Args:
        implementation: str. One of `IMPLEMENTATIONS`.
        training: bool or None. The layer call's `training` argument.
        kernel: str. One of `KERNELS`: which layer asks.
        dtype: str or None. The dtype of the layer's input (`"bfloat16"`,
            `"float32"`, ...), where the choice depends on it.
    """
    if keras.backend.backend() != "tensorflow" or implementation == "standard":
        return "standard"
    if implementation == "xla":
        return "xla"
    if implementation == "banded":
        if kernel != "lrn":
            return "standard"
        return "bfloat16_banded" if dtype == "bfloat16" else "banded"
    if training and compiled_kernels_pay_off(kernel):
        return "xla"
    if kernel == "lrn" and banded_lrn_pays_off():
        if dtype == "bfloat16" and bfloat16_banded_lrn_pays_off():
            return "bfloat16_banded"
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

    On a machine without GPU or TPU, where TensorFlow runs oneDNN, or else
    where its CPU tensors come from the BFC allocator (see the module's docstring).
    """
    return not _accelerator_visible() and (onednn_enabled() or bfc_allocator_enabled())


@functools.lru_cache(maxsize=None)
def bfloat16_banded_lrn_pays_off():
    """Whether `"auto"`, where it picks LRN's banded form, computes it in bfloat16 for a bfloat16 input.

    Only where oneDNN runs TensorFlow on a CPU with AMX (`cpu_has_amx`): there
    the band convolution runs on the matrix units and the elementwise passes
    move half the bytes (see the module's docstring).
    """
    return banded_lrn_pays_off() and onednn_enabled() and cpu_has_amx()


@functools.lru_cache(maxsize=None)
def cpu_flags(cpuinfo="/proc/cpuinfo"):
    """The instruction-set flags the CPU reports (the `flags` lines of `cpuinfo`), a frozenset; empty where unreadable."""
    try:
        with open(cpuinfo) as handle:
            return frozenset(flag for line in handle if line.startswith("flags")
                             for flag in line.split(":", 1)[-1].split())
    except OSError:
        return frozenset()


def cpu_has_amx(cpuinfo="/proc/cpuinfo"):
    """Whether the CPU has AMX for bfloat16 (`amx_bf16` among the flags of `cpuinfo`); False where it is unreadable."""
    return "amx_bf16" in cpu_flags(cpuinfo)


def bfc_allocator_enabled():
    """Whether TensorFlow takes CPU tensors from its BFC allocator (`TF_CPU_ALLOCATOR_USE_BFC`, read at start-up).

    `inception_tf.runtime.configure()` (which the `inception-tf` command calls) turns it on.
    """
    return os.environ.get("TF_CPU_ALLOCATOR_USE_BFC", "").strip().lower() in ("1", "true")


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


def in_process_inference_kernels(model):
    """`model`, its layers set (in place) to the kernels fastest for inference in this process.

    The compiled kernels infer fastest on a CPU-only machine on TensorFlow
    (LRN's forward: 0.28-0.46x the time of TensorFlow's op, against 0.75-0.97x
    banded, on the AVX-512 Xeon; 0.29-0.65x with oneDNN off), which `"auto"`
    never picks for an inference call because an export could trace it. For a
    model that only ever infers in this process, such as the one
    `inception-tf evaluate` loads; never for one that is exported or saved.
    Elsewhere (other backends, GPU or TPU) `model` is left as it is.
    """
    if keras.backend.backend() == "tensorflow" and not _accelerator_visible():
        set_kernels(model, "xla")
    return model


def set_kernels(model, implementation):
    """Sets `implementation` on every layer of `model` that takes one (in place).

    A layer reads its `implementation` when a call is traced, so functions
    traced afterwards run these kernels (and a model saved afterwards records
    them in its config).

    Returns:
        The layers' previous values, in the order of `kernel_layers(model)`.
    """
    check_implementation(implementation)
    layers = kernel_layers(model)
    previous = [layer.implementation for layer in layers]
    for layer in layers:
        layer.implementation = implementation
    return previous


@contextlib.contextmanager
def using_kernels(model, implementation):
    """Within the block, every layer of `model` that takes an `implementation` runs `implementation`.

    The exporters trace and save inside `using_kernels(model, "standard")`
    or `using_kernels(model, "banded")` (the form their runtime runs
    fastest), so an export holds the same standard ops whichever machine
    writes it (no XLA-compiled function; TensorFlow's LRN op, which the ONNX
    and LiteRT converters map to their own, or the banded form's ops). The
    layers' values are restored on leaving the block, whatever happens in it.
    """
    layers = kernel_layers(model)
    previous = set_kernels(model, implementation)
    try:
        yield model
    finally:
        for layer, value in zip(layers, previous):
            layer.implementation = value


def kernel_layers(model):
    """The layers of `model`, at any depth, that take an `implementation` (the `KernelChoice` layers)."""
    layers = model._flatten_layers(include_self=False, recursive=True)
    return [layer for layer in layers if isinstance(layer, KernelChoice)]
