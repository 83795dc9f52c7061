"""kernels: the `implementation` rule, and exports that hold standard ops only."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from inception_tf import GoogLeNet, InceptionModule, LocalResponseNormalization, MaxPooling2D
from inception_tf.models import kernels
from tests.conftest import compiled_nodes


@pytest.fixture
def machine(monkeypatch):
    """Sets what `auto` finds about this machine, whatever the CPU running the test."""
    def set_to(compiled_pays_off, banded_pays_off):
        monkeypatch.setattr(kernels, "compiled_kernels_pay_off", lambda kernel: compiled_pays_off)
        monkeypatch.setattr(kernels, "banded_lrn_pays_off", lambda: banded_pays_off)
    return set_to


@pytest.mark.parametrize("kernel", kernels.KERNELS)
@pytest.mark.parametrize("compiled_pays_off", [True, False])
@pytest.mark.parametrize("banded_pays_off", [True, False])
def test_auto_uses_xla_kernels_only_for_training_where_they_pay_off(machine, compiled_pays_off, banded_pays_off,
                                                                    kernel):
    machine(compiled_pays_off, banded_pays_off)
    inference = "banded" if kernel == "lrn" and banded_pays_off else "standard"
    assert kernels.resolve("auto", True, kernel) == ("xla" if compiled_pays_off else inference)
    for training in (False, None):  # inference and export calls never get compiled kernels
        assert kernels.resolve("auto", training, kernel) == inference
    for training in (True, False, None):
        assert kernels.resolve("standard", training, kernel) == "standard"
        assert kernels.resolve("xla", training, kernel) == "xla"


# What an explicit implementation runs, per (implementation, kernel) and input dtype: the same on every machine
# and in every call. "banded" is LRN's band-convolution form, in bfloat16 for a bfloat16 input, and the
# standard kernels of a max pool.
DTYPES = (None, "float32", "float16", "bfloat16")
EXPLICIT_KERNELS = {  # (implementation, kernel): the kernels for an input of each of DTYPES
    ("standard", "lrn"):               ("standard", "standard", "standard", "standard"),
    ("standard", "max_pool_gradient"): ("standard", "standard", "standard", "standard"),
    ("banded", "lrn"):                 ("banded", "banded", "banded", "bfloat16_banded"),
    ("banded", "max_pool_gradient"):   ("standard", "standard", "standard", "standard"),
    ("xla", "lrn"):                    ("xla", "xla", "xla", "xla"),
    ("xla", "max_pool_gradient"):      ("xla", "xla", "xla", "xla"),
}
MACHINE_KINDS = [  # (oneDNN, GPU or TPU visible, BFC allocator, AMX)
    (True, False, False, False), (True, False, True, True), (False, False, False, False),
    (False, False, True, False), (True, True, True, True), (False, True, False, False),
]


def test_explicit_kernels_cover_every_implementation_kernel_and_dtype():
    explicit = [i for i in kernels.IMPLEMENTATIONS if i != "auto"]
    assert kernels.IMPLEMENTATIONS == ("auto", "standard", "banded", "xla")
    assert set(EXPLICIT_KERNELS) == {(i, k) for i in explicit for k in kernels.KERNELS}


@pytest.mark.parametrize("machine_kind", MACHINE_KINDS)
@pytest.mark.parametrize("training", [True, False, None])
def test_explicit_implementations_resolve_alike_on_every_machine(cpu_kind, machine_kind, training):
    onednn, accelerator, bfc, amx = machine_kind
    cpu_kind(onednn, accelerator=accelerator, bfc=bfc, amx=amx)
    for (implementation, kernel), row in EXPLICIT_KERNELS.items():
        for dtype, expected in zip(DTYPES, row, strict=True):
            assert kernels.resolve(implementation, training, kernel, dtype) == expected, (implementation, kernel, dtype)


def test_every_implementation_is_standard_on_other_backends(monkeypatch):
    # JAX and PyTorch run the keras.ops forms, whatever was asked.
    monkeypatch.setattr(kernels.keras.backend, "backend", lambda: "jax")
    for implementation in kernels.IMPLEMENTATIONS:
        for kernel in kernels.KERNELS:
            assert kernels.resolve(implementation, True, kernel, "bfloat16") == "standard"


@pytest.mark.parametrize("onednn", [True, False])
@pytest.mark.parametrize("bfc", [True, False])
def test_auto_compiles_kernels_only_without_onednn_and_bands_lrn_with_it(cpu_kind, onednn, bfc):
    # benchmarks/kernels.py, AVX-512 Xeon: with oneDNN the banded LRN trains in 0.46-0.65x TensorFlow's time
    # (compiled: 0.41-0.79x), infers in 0.75-0.97x; oneDNN's pool gradient beats the compiled one (1.2-1.8x).
    # Without oneDNN the compiled LRN trains in 0.27-0.51x (float32), the compiled pool gradient in 0.2-0.4x,
    # and the banded LRN infers faster than TensorFlow's op only with the BFC allocator (0.81-0.98x).
    cpu_kind(onednn, bfc=bfc)
    assert kernels.banded_lrn_pays_off() == (onednn or bfc)
    for kernel in kernels.KERNELS:
        assert kernels.compiled_kernels_pay_off(kernel) == (not onednn)
    with pytest.raises(ValueError, match="kernel must be one of"):
        kernels.compiled_kernels_pay_off("conv")
    # What a default layer then runs, per call.
    assert kernels.resolve("auto", True, "lrn") == ("banded" if onednn else "xla")
    assert kernels.resolve("auto", False, "lrn") == ("banded" if onednn or bfc else "standard")
    assert kernels.resolve("auto", True, "max_pool_gradient") == ("standard" if onednn else "xla")


@pytest.mark.parametrize("onednn", [True, False])
def test_auto_is_standard_where_a_gpu_or_tpu_is_visible(cpu_kind, onednn):
    cpu_kind(onednn, accelerator=True, bfc=True)
    assert not kernels.banded_lrn_pays_off()
    assert not any(kernels.compiled_kernels_pay_off(kernel) for kernel in kernels.KERNELS)


@pytest.mark.parametrize("onednn", [True, False])
@pytest.mark.parametrize("amx", [True, False])
@pytest.mark.parametrize("training", [True, False, None])
def test_auto_computes_lrn_in_bfloat16_only_for_bfloat16_inputs_with_onednn_on_amx(cpu_kind, onednn, amx, training):
    # benchmarks/kernels.py, AMX Xeon: the banded form in bfloat16 takes 0.46-0.48x TensorFlow's time forward
    # (float32 banded: 0.58-0.88x) and 0.46-0.52x with its gradient (0.51-0.63x; compiled: 0.44-0.57x).
    cpu_kind(onednn, bfc=True, amx=amx)
    assert kernels.bfloat16_banded_lrn_pays_off() == (onednn and amx)
    without_amx = kernels.resolve("auto", training, "lrn")  # the rule of the other CPU kinds
    assert without_amx == ("banded" if onednn or not training else "xla")
    for dtype in (None, "float32", "float16"):
        assert kernels.resolve("auto", training, "lrn", dtype) == without_amx
    assert kernels.resolve("auto", training, "lrn", "bfloat16") == (
        "bfloat16_banded" if onednn and amx else without_amx)
    for implementation in ("standard", "xla"):  # forced kernels stay what they say
        assert kernels.resolve(implementation, training, "lrn", "bfloat16") == implementation
    assert kernels.resolve("auto", training, "max_pool_gradient", "bfloat16") == (
        "xla" if training and not onednn else "standard")
    cpu_kind(onednn, accelerator=True, amx=amx)
    assert kernels.resolve("auto", training, "lrn", "bfloat16") == "standard"


def test_amx_probe_reads_the_cpu_flags(tmp_path):
    amx = tmp_path / "amx"
    amx.write_text("processor\t: 0\nflags\t\t: fpu avx512f avx512_bf16 amx_bf16 amx_tile\n\n")
    bf16_only = tmp_path / "bf16"
    bf16_only.write_text("processor\t: 0\nflags\t\t: fpu avx512f avx512_bf16 amx_tile\nbugs\t\t: amx_bf16\n")
    assert kernels.cpu_has_amx(str(amx))
    assert not kernels.cpu_has_amx(str(bf16_only))  # AMX's tiles without its bfloat16 unit; "bugs" is no flag line
    assert not kernels.cpu_has_amx(str(tmp_path / "missing"))  # not Linux, or no /proc: no AMX path


def test_cpu_flags_are_the_words_after_the_colon_of_the_flags_lines(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx512f\n\nprocessor\t: 1\nflags\t\t: fpu amx_bf16\n"
                       "bugs\t\t: spectre_v1\n")
    assert kernels.cpu_flags(str(cpuinfo)) == frozenset({"fpu", "sse2", "avx512f", "amx_bf16"})
    odd = tmp_path / "odd"
    odd.write_text("flags\n")  # a flags line without its colon: no AMX, and no error
    assert not kernels.cpu_has_amx(str(odd))


def test_amx_probe_reads_proc_cpuinfo_by_default(monkeypatch):
    read = []
    monkeypatch.setattr(kernels, "cpu_flags", lambda cpuinfo: read.append(cpuinfo) or frozenset({"amx_bf16"}))
    assert kernels.cpu_has_amx() and read == ["/proc/cpuinfo"]


def test_cpu_flags_read_proc_cpuinfo_by_default(monkeypatch, tmp_path):
    opened, fake = [], tmp_path / "cpuinfo"
    fake.write_text("flags\t\t: fpu avx2\n")
    real_open = open
    monkeypatch.setattr("builtins.open", lambda path, *args, **kwargs: opened.append(path) or real_open(fake))
    assert kernels.cpu_flags() == frozenset({"fpu", "avx2"}) and opened == ["/proc/cpuinfo"]


@pytest.mark.parametrize("gpus,tpus,visible", [(1, 0, True), (0, 1, True), (2, 1, True), (0, 0, False)])
def test_a_gpu_or_a_tpu_counts_as_an_accelerator(monkeypatch, gpus, tpus, visible):
    devices = {"GPU": [f"/device:GPU:{i}" for i in range(gpus)], "TPU": [f"/device:TPU:{i}" for i in range(tpus)]}
    monkeypatch.setattr(tf.config, "list_logical_devices", lambda kind=None: devices.get(kind, []))
    assert kernels._accelerator_visible() is visible


def test_probes_assume_no_onednn_and_no_xla_where_tensorflow_lacks_their_helpers(monkeypatch):
    import importlib
    import sys

    helpers = (("tensorflow.python.util", "_pywrap_util_port"), ("tensorflow.python.ops", "control_flow_util"))
    for package, helper in helpers:
        monkeypatch.delattr(importlib.import_module(package), helper, raising=False)
        monkeypatch.setitem(sys.modules, f"{package}.{helper}", None)  # its import raises ImportError
    assert kernels.onednn_enabled() is False
    assert kernels.in_xla_function() is False


@pytest.mark.parametrize("value,enabled", [("true", True), ("TRUE", True), ("1", True), ("false", False),
                                           ("0", False), (None, False)])
def test_bfc_allocator_probe_reads_tensorflows_variable(monkeypatch, value, enabled):
    if value is None:
        monkeypatch.delenv("TF_CPU_ALLOCATOR_USE_BFC", raising=False)
    else:
        monkeypatch.setenv("TF_CPU_ALLOCATOR_USE_BFC", value)
    assert kernels.bfc_allocator_enabled() == enabled


def test_onednn_probe_reads_the_environment_setting():
    # TF_ENABLE_ONEDNN_OPTS=0 turns oneDNN off on every CPU; checked in a fresh process.
    import subprocess
    import sys

    code = "from inception_tf.models import kernels; print(kernels.onednn_enabled())"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env={**__import__("os").environ, "TF_ENABLE_ONEDNN_OPTS": "0"})
    assert result.stdout.strip() == "False", result.stderr


def test_bad_implementation_is_named():
    with pytest.raises(ValueError, match=r"implementation must be one of \('auto', 'standard', 'banded', 'xla'\). "
                                         r"Received: implementation='fast'"):
        LocalResponseNormalization(implementation="fast")
    with pytest.raises(ValueError, match="Received: implementation='bfloat16_banded'"):  # a form, not a choice
        LocalResponseNormalization(implementation="bfloat16_banded")
    with pytest.raises(ValueError, match="implementation"):
        GoogLeNet(input_shape=(32, 32, 3), classes=3, implementation="fast")


def test_xla_context_is_detected_only_inside_jit_compiled_functions():
    seen = []

    def probe(x):
        seen.append(kernels.in_xla_function())
        return x + 1

    # Traced as Keras traces a layer's call: the probe's code as written, not AutoGraph's conversion of it.
    tf.function(probe, autograph=False)(tf.constant(1.0))
    tf.function(probe, jit_compile=True, autograph=False)(tf.constant(1.0))
    assert seen == [False, True]


@pytest.mark.parametrize("implementation", ["xla", "auto"])
def test_using_standard_kernels_traces_tensorflows_ops_and_restores_the_layers(rng, monkeypatch, implementation):
    monkeypatch.setattr(kernels, "banded_lrn_pays_off", lambda: True)  # "auto" inference: the banded LRN
    keras.utils.set_random_seed(3)
    model = GoogLeNet(input_shape=(32, 32, 3), classes=5, implementation=implementation)
    x = rng.uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    expected = model(x)
    with kernels.using_kernels(model, "standard"):
        assert {layer.implementation for layer in kernels.kernel_layers(model)} == {"standard"}
        for training in (True, False):
            traced = tf.function(lambda x: model(x, training=training)).get_concrete_function(
                tf.TensorSpec((None, 32, 32, 3)))
            assert not compiled_nodes(traced)
            assert sum(node.op == "LRN" for node in traced.graph.as_graph_def().node) == 2  # the stem's two
        np.testing.assert_allclose(model(x), expected, rtol=1e-5, atol=1e-6)
    assert {layer.implementation for layer in kernels.kernel_layers(model)} == {implementation}
    with pytest.raises(RuntimeError):
        with kernels.using_kernels(model, "standard"):
            raise RuntimeError("an export failed")
    assert {layer.implementation for layer in kernels.kernel_layers(model)} == {implementation}


def test_kernel_layers_are_this_packages_only():
    class Other(keras.layers.Layer):  # another library's layer with an attribute of the same name
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.implementation = "auto"

        def call(self, x):
            return x

    inputs = keras.Input((8, 8, 4))
    other, lrn = Other(), LocalResponseNormalization()
    model = keras.Model(inputs, [other(inputs), lrn(inputs)])
    assert kernels.kernel_layers(model) == [lrn]
    kernels.set_kernels(model, "xla")
    assert (other.implementation, lrn.implementation) == ("auto", "xla")


def test_kernel_layers_are_found_at_any_depth_and_switched_together():
    inner_lrn = LocalResponseNormalization(implementation="xla")
    inner = keras.Sequential([keras.Input((8, 8, 4)), inner_lrn])
    module = InceptionModule(4, 2, 4, 2, 4, 4, implementation="xla")
    inputs = keras.Input((8, 8, 4))
    model = keras.Model(inputs, module(inner(inputs)))
    layers = (inner_lrn, module, module.pool)  # a nested model's layer, a layer, a layer's sublayer
    assert sorted(map(id, kernels.kernel_layers(model))) == sorted(map(id, layers))
    with kernels.using_kernels(model, "standard"):
        assert [layer.implementation for layer in layers] == ["standard"] * 3
    assert [layer.implementation for layer in layers] == ["xla"] * 3


def test_set_kernels_refuses_an_unknown_implementation_even_without_kernel_layers():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="implementation must be one of .* Received: implementation='fast'"):
        kernels.set_kernels(model, "fast")
    with pytest.raises(ValueError, match="Received: implementation='fast'"):
        with kernels.using_kernels(model, "fast"):
            pass


KERNEL_LAYER_KINDS = {
    "lrn": LocalResponseNormalization,
    "max_pool": lambda **options: MaxPooling2D(3, strides=2, padding="same", **options),
    "inception_module": lambda **options: InceptionModule(4, 2, 4, 2, 4, 4, **options),
}


@pytest.mark.parametrize("kind", sorted(KERNEL_LAYER_KINDS))
def test_every_kernel_layer_kind_is_switched_and_checks_what_it_is_given(kind):
    layer = KERNEL_LAYER_KINDS[kind](implementation="xla")
    inputs = keras.Input((8, 8, 4))
    model = keras.Model(inputs, layer(inputs))
    assert layer in kernels.kernel_layers(model)
    for implementation in ("standard", "banded"):
        with kernels.using_kernels(model, implementation):
            assert layer.implementation == implementation
    assert layer.implementation == "xla"
    banded = KERNEL_LAYER_KINDS[kind](implementation="banded")
    assert type(banded).from_config(banded.get_config()).implementation == "banded"
    with pytest.raises(ValueError, match="Received: implementation='fast'"):
        layer.implementation = "fast"
    with pytest.raises(ValueError, match="Received: implementation='fast'"):
        KERNEL_LAYER_KINDS[kind](implementation="fast")
    assert layer.implementation == "xla"


@pytest.mark.parametrize("banded_pays_off", [True, False])
def test_keras_export_of_a_default_googlenet_holds_no_xla_function(tmp_path, rng, monkeypatch, banded_pays_off):
    # The standard Keras way out: model.export() traces inference calls only; what it holds is the
    # machine's inference LRN (TensorFlow's op, or the banded form's standard ops).
    monkeypatch.setattr(kernels, "banded_lrn_pays_off", lambda: banded_pays_off)
    model = GoogLeNet(input_shape=(32, 32, 3), classes=4)
    model.export(str(tmp_path / "export"), verbose=False)
    loaded = tf.saved_model.load(str(tmp_path / "export"))
    graph = loaded.signatures["serving_default"].graph.as_graph_def()
    functions = graph.library.function
    assert not [f.signature.name for f in functions if f.attr["_XlaMustCompile"].b]
    assert not [n.name for f in functions for n in f.node_def if n.attr["_XlaMustCompile"].b]
    ops = {n.op for f in functions for n in f.node_def} | {n.op for n in graph.node}
    assert ("LRN" in ops) == (not banded_pays_off)
    x = rng.uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(loaded.serve(tf.constant(x)), model(x), rtol=1e-5, atol=1e-6)


def test_in_process_inference_kernels_compile_on_a_cpu_only_machine(rng, cpu_kind):
    cpu_kind(onednn=True)
    keras.utils.set_random_seed(4)
    model = GoogLeNet(input_shape=(32, 32, 3), classes=5)
    x = rng.uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    expected = model(x)
    assert kernels.in_process_inference_kernels(model) is model  # set in place: no copy of the weights
    assert {layer.implementation for layer in kernels.kernel_layers(model)} == {"xla"}
    traced = tf.function(lambda x: model(x, training=False)).get_concrete_function(tf.TensorSpec((None, 32, 32, 3)))
    assert compiled_nodes(traced)
    np.testing.assert_allclose(model(x), expected, rtol=1e-5, atol=1e-6)
    cpu_kind(onednn=True, accelerator=True)  # cuDNN's kernels: the model as it is
    other = GoogLeNet(input_shape=(32, 32, 3), classes=5)
    kernels.in_process_inference_kernels(other)
    assert {layer.implementation for layer in kernels.kernel_layers(other)} == {"auto"}
