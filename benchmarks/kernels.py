"""GoogLeNet's LRN and max-pool kernels, side by side on this CPU: `python benchmarks/kernels.py`.

Times each layer shape of GoogLeNet at batch 32 and 224x224 alone, float32
and bfloat16, the kernels alternating, median of the repeats:

- a training step (forward, and the gradient of a weighted sum) with
  TensorFlow's op ("standard"), LRN's banded form (standard ops: a 1x1
  convolution with a band matrix, in float32), for a bfloat16 input the same
  form computed in bfloat16 ("bf16 banded", what `"auto"` runs on AMX) and
  the XLA-compiled kernels ("xla");
- an inference call (forward only) of LRN's forms (the max pool's
  forward is TensorFlow's op in every form).

The result is what `implementation="auto"` should pick on this CPU kind
(inception_tf/models/kernels.py); it prints two Markdown tables.
"""

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from inception_tf import runtime  # noqa: E402

# (name, layer kind, input shape at batch 32 and 224x224, pool stride)
SHAPES = (
    ("lrn1", "lrn", (32, 56, 56, 64), None),
    ("lrn2", "lrn", (32, 56, 56, 192), None),
    ("pool1 3x3/2", "pool", (32, 112, 112, 64), 2),
    ("pool2 3x3/2", "pool", (32, 56, 56, 192), 2),
    ("3a branch pool 3x3/1", "pool", (32, 28, 28, 192), 1),
    ("4a branch pool 3x3/1", "pool", (32, 14, 14, 480), 1),
)
KERNELS = ("standard", "banded", "bf16 banded", "xla")


def layer_call(kind, stride, kernel, dtype):
    """`call(x, training)` running `kernel` (one of `KERNELS`; the banded ones for LRN only) of a fresh layer."""
    from inception_tf import LocalResponseNormalization, MaxPooling2D

    implementation = "xla" if kernel == "xla" else "standard"
    if kind == "pool":
        layer = MaxPooling2D(3, strides=stride, padding="same", implementation=implementation, dtype=dtype)
        return lambda x, training: layer(x, training=training)
    layer = LocalResponseNormalization(implementation=implementation, dtype=dtype)
    if kernel == "banded":
        return lambda x, training: layer._banded_lrn(x)
    if kernel == "bf16 banded":
        return lambda x, training: layer._banded_lrn(x, "bfloat16")
    return lambda x, training: layer(x, training=training)


def step_function(kind, shape, stride, kernel, dtype, training):
    """A no-argument callable: one traced training step (or inference call) of the layer on a fixed batch."""
    import tensorflow as tf

    call = layer_call(kind, stride, kernel, dtype)
    x = tf.cast(tf.nn.relu(tf.random.stateless_normal(shape, seed=(1, 2)) * 30), dtype)

    @tf.function
    def train_step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.cast(call(x, True), tf.float32)
            loss = tf.reduce_sum(y * tf.cast(tf.reshape(tf.range(tf.size(y)) % 7 - 3, tf.shape(y)), tf.float32))
        return tape.gradient(loss, x)

    @tf.function
    def infer(x):
        return call(x, False)

    step = train_step if training else infer
    return lambda: step(x).numpy()


def median_ms(steps, repeats):
    """{name: median milliseconds} of `steps` ({name: callable}), warmed up, then alternating."""
    for step in steps.values():
        step()
        step()
    times = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            times[name].append((time.perf_counter() - start) * 1e3)
    return {name: statistics.median(values) for name, values in times.items()}


def main(repeats=7):
    runtime.configure()
    import tensorflow as tf

    from inception_tf.models import kernels

    cpu = "unknown"
    with open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    flags = open("/proc/cpuinfo").read()
    isa = ", ".join(f for f in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16") if f in flags)
    print(f"CPU: {cpu} ({isa}); oneDNN {'on' if kernels.onednn_enabled() else 'off'}; TF {tf.__version__}; "
          f"{repeats} repeats, median ms")
    print()
    print("Training step (forward + gradient):")
    print()
    print(TABLE_HEADER)
    for name, kind, shape, stride in SHAPES:
        for dtype in ("float32", "bfloat16"):
            names = lrn_kernels(dtype) if kind == "lrn" else ("standard", "xla")
            ms = median_ms({k: step_function(kind, shape, stride, k, dtype, True) for k in names}, repeats)
            print(table_row(name, dtype, ms), flush=True)
    print()
    print("Inference call (forward only):")
    print()
    print(TABLE_HEADER)
    for name, kind, shape, stride in SHAPES:
        if kind != "lrn":
            continue
        for dtype in ("float32", "bfloat16"):
            ms = median_ms({k: step_function(kind, shape, stride, k, dtype, False) for k in lrn_kernels(dtype)},
                           repeats)
            print(table_row(name, dtype, ms), flush=True)


TABLE_HEADER = ("| layer | dtype | " + " | ".join(f"{k} ms" for k in KERNELS) + " | "
                + " | ".join(f"{k} / standard" for k in KERNELS[1:]) + " |\n|" + "---|" * (2 * len(KERNELS) + 1))


def lrn_kernels(dtype):
    """The LRN forms timed for `dtype`: the bfloat16 banded form only for a bfloat16 input."""
    return tuple(k for k in KERNELS if k != "bf16 banded" or dtype == "bfloat16")


def table_row(name, dtype, ms):
    """One Markdown row of `ms` ({kernel: median ms}); "-" for a kernel not timed."""
    times = [f"{ms[k]:.1f}" if k in ms else "-" for k in KERNELS]
    ratios = [f"{ms[k] / ms['standard']:.2f}" if k in ms else "-" for k in KERNELS[1:]]
    return f"| {name} | {dtype} | " + " | ".join(times + ratios) + " |"

if __name__ == "__main__":
    main()
