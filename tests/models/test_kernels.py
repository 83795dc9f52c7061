"""kernels: the `implementation` rule, and exports that hold standard ops only."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from inception_tf import GoogLeNet, LocalResponseNormalization
from inception_tf.models import kernels
from tests.conftest import compiled_nodes


@pytest.fixture
def compiled_kernels_pay_off(monkeypatch):
    """Sets what `auto` finds about this machine, whatever the CPU running the test."""
    def set_to(value):
        monkeypatch.setattr(kernels, "compiled_kernels_pay_off", lambda kernel: value)
    return set_to


@pytest.mark.parametrize("kernel", kernels.KERNELS)
@pytest.mark.parametrize("pays_off", [True, False])
def test_auto_uses_xla_kernels_only_for_training_where_they_pay_off(compiled_kernels_pay_off, pays_off, kernel):
    compiled_kernels_pay_off(pays_off)
    assert kernels.resolve("auto", True, kernel) == ("xla" if pays_off else "standard")
    for training in (False, None):  # inference and export calls never get them
        assert kernels.resolve("auto", training, kernel) == "standard"
    assert kernels.resolve("standard", True, kernel) == "standard"
    assert kernels.resolve("xla", None, kernel) == "xla"


@pytest.mark.parametrize("onednn", [True, False])
def test_auto_compiles_lrn_on_every_cpu_and_the_pool_gradient_only_without_onednn(monkeypatch, onednn):
    # benchmarks/kernels.py: compiled LRN 0.43-0.70x TensorFlow's time with oneDNN on (AVX-512 Xeon), 0.27x
    # without (AVX2); the compiled pool gradient 1.15-2x with oneDNN, 0.22x without.
    kernels.compiled_kernels_pay_off.cache_clear()
    try:
        monkeypatch.setattr(kernels, "onednn_enabled", lambda: onednn)
        assert kernels.compiled_kernels_pay_off("lrn")
        assert kernels.compiled_kernels_pay_off("max_pool_gradient") == (not onednn)
        with pytest.raises(ValueError, match="kernel must be one of"):
            kernels.compiled_kernels_pay_off("conv")
    finally:
        kernels.compiled_kernels_pay_off.cache_clear()


def test_onednn_probe_reads_the_environment_setting():
    # TF_ENABLE_ONEDNN_OPTS=0 turns oneDNN off on every CPU; checked in a fresh process.
    import subprocess
    import sys

    code = "from inception_tf.models import kernels; print(kernels.onednn_enabled())"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env={**__import__("os").environ, "TF_ENABLE_ONEDNN_OPTS": "0"})
    assert result.stdout.strip() == "False", result.stderr


def test_bad_implementation_is_named():
    with pytest.raises(ValueError, match="implementation must be one of .* Received: implementation='fast'"):
        LocalResponseNormalization(implementation="fast")
    with pytest.raises(ValueError, match="implementation"):
        GoogLeNet(input_shape=(32, 32, 3), classes=3, implementation="fast")


def test_xla_context_is_detected_only_inside_jit_compiled_functions():
    seen = []

    def probe(x):
        seen.append(kernels.in_xla_function())
        return x + 1

    tf.function(probe)(tf.constant(1.0))
    tf.function(probe, jit_compile=True)(tf.constant(1.0))
    assert seen == [False, True]


def test_standard_kernels_copy_traces_no_xla_and_computes_the_same(rng):
    keras.utils.set_random_seed(3)
    model = GoogLeNet(input_shape=(32, 32, 3), classes=5, implementation="xla")
    copy = kernels.standard_kernels(model)
    assert copy is not model
    assert {getattr(layer, "implementation", None) for layer in copy._flatten_layers()} <= {None, "standard",
                                                                                            "auto"}
    x = rng.uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(copy(x), model(x), rtol=1e-5, atol=1e-6)
    traced = tf.function(lambda x: copy(x, training=True)).get_concrete_function(tf.TensorSpec((None, 32, 32, 3)))
    assert not compiled_nodes(traced)
    plain = GoogLeNet(input_shape=(32, 32, 3), classes=5)
    assert kernels.standard_kernels(plain) is plain  # nothing to replace


def test_keras_export_of_a_default_googlenet_holds_no_xla_function(tmp_path):
    # The standard Keras way out: model.export() traces inference calls only.
    model = GoogLeNet(input_shape=(32, 32, 3), classes=4)
    model.export(str(tmp_path / "export"), verbose=False)
    loaded = tf.saved_model.load(str(tmp_path / "export"))
    graph = loaded.signatures["serving_default"].graph.as_graph_def()
    functions = graph.library.function
    assert not [f.signature.name for f in functions if f.attr["_XlaMustCompile"].b]
    assert not [n.name for f in functions for n in f.node_def if n.attr["_XlaMustCompile"].b]
    assert "LRN" in {n.op for f in functions for n in f.node_def} | {n.op for n in graph.node}
