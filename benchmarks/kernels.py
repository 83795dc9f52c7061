"""Standard vs XLA kernels for GoogLeNet's LRN and max pools on this CPU: `python benchmarks/kernels.py`.

Times, for each layer shape of GoogLeNet at batch 32 and 224x224, one training
step of the layer alone (forward, and the gradient of a weighted sum),
`implementation="standard"` beside `"xla"`, float32 and bfloat16, alternating,
median of the repeats. The result is what `implementation="auto"` should pick
on this CPU kind (inception_tf/models/kernels.py); it prints a Markdown table.
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


def step_function(kind, shape, stride, implementation, dtype):
    import tensorflow as tf

    from inception_tf import LocalResponseNormalization, MaxPooling2D

    if kind == "lrn":
        layer = LocalResponseNormalization(implementation=implementation, dtype=dtype)
    else:
        layer = MaxPooling2D(3, strides=stride, padding="same", implementation=implementation, dtype=dtype)
    x = tf.nn.relu(tf.random.stateless_normal(shape, seed=(1, 2)) * 30)
    x = tf.cast(x, dtype)
    weights = None

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(tf.cast(y, tf.float32) * tf.cast(tf.reshape(
                tf.range(tf.size(y)) % 7 - 3, tf.shape(y)), tf.float32))
        return tape.gradient(loss, x)

    del weights
    return lambda: step(x).numpy()


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
          f"{repeats} repeats, median ms of forward + gradient")
    print()
    print("| layer | dtype | standard ms | xla ms | xla / standard |")
    print("|---|---|---|---|---|")
    for name, kind, shape, stride in SHAPES:
        for dtype in ("float32", "bfloat16"):
            steps = {impl: step_function(kind, shape, stride, impl, dtype) for impl in ("standard", "xla")}
            for step in steps.values():
                step()
                step()
            times = {impl: [] for impl in steps}
            for _ in range(repeats):
                for impl, step in steps.items():
                    start = time.perf_counter()
                    step()
                    times[impl].append((time.perf_counter() - start) * 1e3)
            standard, xla = (statistics.median(times[impl]) for impl in ("standard", "xla"))
            print(f"| {name} | {dtype} | {standard:.1f} | {xla:.1f} | {xla / standard:.2f} |", flush=True)


if __name__ == "__main__":
    main()
