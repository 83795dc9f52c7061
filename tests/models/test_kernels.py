"""tracing: which kind of graph a layer is traced into."""

import tensorflow as tf

from inception_tf import tracing


def test_eager_and_serving_graph_are_reported():
    assert tracing.eager_or_serving()  # eager
    seen = {}

    @tf.function
    def probe():
        seen["traced"] = tracing.eager_or_serving()
        with tracing.serving_graph():
            seen["serving"] = tracing.eager_or_serving()
        seen["after"] = tracing.in_serving_graph()
        return tf.constant(0)

    probe()
    assert seen == {"traced": False, "serving": True, "after": False}


def test_serving_graph_restores_the_previous_state_on_error():
    try:
        with tracing.serving_graph():
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert not tracing.in_serving_graph()


def test_xla_context_is_detected_only_inside_jit_compiled_functions():
    seen = []

    def probe(x):
        seen.append(tracing.in_xla_function())
        return x + 1

    tf.function(probe)(tf.constant(1.0))
    tf.function(probe, jit_compile=True)(tf.constant(1.0))
    assert seen == [False, True]
