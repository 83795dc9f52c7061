"""Benchmarks: our GoogLeNet beside a plain Keras network and PyTorch eager, on one machine.

Run as `python benchmarks/run_benchmarks.py` (not installed with the package). In one
process, with the same thread count for every framework, it measures images/s
for inference at batch 1 and 32 and training at batch 32 (SGD with momentum),
candidates alternating within each repeat, the median (min, max) of the timed
repeats after warm-up, on random uniform inputs in [-1, 1] at 224x224. It also
measures the machine's matmul peak (float32, bfloat16), LRN's share of our
model's time, and the input pipelines' rates, and writes a Markdown report.
"""

import dataclasses
import os
import platform
import statistics
import tempfile
import time

import numpy as np

TRAIN_FLOP_FACTOR = 3  # forward + backward (about twice the forward)


@dataclasses.dataclass
class Candidate:
    """One thing to time: `step()` processes `images` images."""

    name: str
    framework: str
    precision: str
    workload: str
    step: object
    images: int
    samples: list = dataclasses.field(default_factory=list)
    max_samples: int = 0

    def rate(self, reducer=statistics.median):
        return reducer([self.images / s for s in self.samples]) if self.samples else float("nan")


def paired_ratios(a, b):
    """`a`'s rate over `b`'s, one per repeat both were timed in (candidates alternate within a repeat).

    A ratio of two samples taken within one repeat (seconds to a minute apart)
    cancels most of the drift of a shared machine that a ratio of the two
    medians keeps; the median of these is the report's ratio, their spread its
    (min-max).
    """
    pairs = list(zip(a.samples, b.samples))  # the first k samples of each come from the first k repeats
    return [(a.images / sa) / (b.images / sb) for sa, sb in pairs]


def _set_threads(threads):
    """Sets every framework's thread count; returns False where TensorFlow had already started."""
    os.environ["OMP_NUM_THREADS"] = str(threads)
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TensorFlow already ran something in this process
        return False
    return True


ALLOCATORS = {"tcmalloc": ("tcmalloc_minimal", "tcmalloc"), "jemalloc": ("jemalloc",)}


def allocator_library(choice):
    """The shared library to preload for `choice` ("auto", "system", "tcmalloc", "jemalloc"), or None.

    "auto" takes tcmalloc when the system has it (PyTorch's CPU tuning guide
    recommends it; it also speeds up TensorFlow's default allocator) and the
    system allocator otherwise. Raises ValueError when a named one is missing.
    """
    import ctypes.util

    if choice == "system":
        return None
    for name in ("tcmalloc",) if choice == "auto" else (choice,):
        for library in ALLOCATORS[name]:
            found = ctypes.util.find_library(library)
            if found:
                return found
    if choice == "auto":
        return None
    raise ValueError(f"allocator {choice!r} was not found on this system (Debian: apt install "
                     f"{'libtcmalloc-minimal4' if choice == 'tcmalloc' else 'libjemalloc2'}).")


def active_allocator():
    """What this process allocates with: the preloaded library, or glibc's malloc."""
    preloaded = [p for p in os.environ.get("LD_PRELOAD", "").split(":") if "malloc" in p]
    return os.path.basename(preloaded[0]) if preloaded else "glibc malloc"


def cpu_flags():
    """The vector and matrix extensions the CPU reports that matter here."""
    wanted = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile")
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("flags"):
                    present = set(line.split(":", 1)[1].split())
                    return [flag for flag in wanted if flag in present]
    except OSError:
        pass
    return []


# --- The networks --------------------------------------------------------------


def plain_keras_googlenet(image_size, classes=1000):
    """The same network as plain Keras layers, LRN as tf.nn.local_response_normalization in float32."""
    import keras
    import tensorflow as tf

    from inception_tf.models.googlenet import INCEPTION_SPEC, MAX_POOL_AFTER

    def conv(x, filters, size, strides=1):
        return keras.layers.Conv2D(filters, size, strides=strides, padding="same", activation="relu")(x)

    def pool(x, strides=2):
        return keras.layers.MaxPooling2D(3, strides=strides, padding="same")(x)

    def lrn(x):
        return keras.layers.Lambda(lambda t: tf.cast(tf.nn.local_response_normalization(
            tf.cast(t, tf.float32), depth_radius=2, bias=1.0, alpha=1e-4 / 5, beta=0.75), t.dtype))(x)

    inputs = keras.Input((image_size, image_size, 3))
    x = lrn(pool(conv(inputs, 64, 7, 2)))
    x = pool(lrn(conv(conv(x, 64, 1), 192, 3)))
    for spec in INCEPTION_SPEC:
        _, f1, r3, f3, r5, f5, pp = spec
        x = keras.layers.Concatenate()([
            conv(x, f1, 1), conv(conv(x, r3, 1), f3, 3), conv(conv(x, r5, 1), f5, 5), conv(pool(x, 1), pp, 1)])
        if spec.name in MAX_POOL_AFTER:
            x = pool(x)
    x = keras.layers.Dropout(0.4)(keras.layers.GlobalAveragePooling2D()(x))
    x = keras.layers.Dense(classes)(x)
    return keras.Model(inputs, keras.layers.Activation("softmax", dtype="float32")(x))


def torch_googlenet(classes=1000):
    """The same network in PyTorch (Caffe-style LRN, ceil-mode pools reproducing Table 1's sizes)."""
    import torch
    from torch import nn

    from inception_tf.models.googlenet import INCEPTION_SPEC, MAX_POOL_AFTER

    def conv(cin, cout, size, stride=1):
        return nn.Sequential(nn.Conv2d(cin, cout, size, stride, padding=size // 2), nn.ReLU(inplace=True))

    class Inception(nn.Module):
        def __init__(self, cin, f1, r3, f3, r5, f5, pp):
            super().__init__()
            self.b1 = conv(cin, f1, 1)
            self.b3 = nn.Sequential(conv(cin, r3, 1), conv(r3, f3, 3))
            self.b5 = nn.Sequential(conv(cin, r5, 1), conv(r5, f5, 5))
            self.bp = nn.Sequential(nn.MaxPool2d(3, 1, 1), conv(cin, pp, 1))

        def forward(self, x):
            return torch.cat([self.b1(x), self.b3(x), self.b5(x), self.bp(x)], 1)

    layers = [conv(3, 64, 7, 2), nn.MaxPool2d(3, 2, ceil_mode=True), nn.LocalResponseNorm(5, 1e-4, 0.75, 1.0),
              conv(64, 64, 1), conv(64, 192, 3), nn.LocalResponseNorm(5, 1e-4, 0.75, 1.0),
              nn.MaxPool2d(3, 2, ceil_mode=True)]
    channels = 192
    for spec in INCEPTION_SPEC:
        layers.append(Inception(channels, *spec[1:]))
        channels = spec[1] + spec[3] + spec[5] + spec[6]
        if spec.name in MAX_POOL_AFTER:
            layers.append(nn.MaxPool2d(3, 2, ceil_mode=True))
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.4), nn.Linear(channels, classes)]
    return nn.Sequential(*layers)


# --- Candidates -----------------------------------------------------------------


def _keras_candidates(name, build, precision, jit, inputs, labels, workloads):
    import keras
    import tensorflow as tf

    keras.config.set_dtype_policy(precision)
    try:
        model = build()
        candidates = []
        if "infer_1" in workloads or "infer_32" in workloads:
            forward = tf.function(lambda x: model(x, training=False), jit_compile=jit)
            for batch in (1, 32):
                if f"infer_{batch}" in workloads:
                    x = tf.constant(inputs[:batch])
                    candidates.append(Candidate(name, "keras", precision, f"infer_{batch}",
                                                (lambda f=forward, x=x: f(x).numpy()), batch))
        if "train_32" in workloads:
            model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
                          loss="sparse_categorical_crossentropy", jit_compile=jit)
            x, y = tf.constant(inputs[:32]), tf.constant(labels[:32])
            candidates.append(Candidate(name, "keras", precision, "train_32",
                                        (lambda: model.train_on_batch(x, y)), 32))
        return candidates
    finally:
        keras.config.set_dtype_policy("float32")


def _torch_candidates(name, channels_last, bf16, inputs, labels, workloads):
    import torch

    model = torch_googlenet()
    x_all = torch.from_numpy(np.ascontiguousarray(inputs.transpose(0, 3, 1, 2)))
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x_all = x_all.contiguous(memory_format=torch.channels_last)
    y = torch.from_numpy(labels[:32]).long()
    precision = "bf16 autocast" if bf16 else "float32"
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()

    def infer(x):
        model.eval()
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            return model(x)

    def train():
        model.train()
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = loss_fn(model(x_all[:32]), y)
        loss.backward()
        optimizer.step()

    candidates = []
    for batch in (1, 32):
        if f"infer_{batch}" in workloads:
            x = x_all[:batch]
            candidates.append(Candidate(name, "pytorch", precision, f"infer_{batch}", (lambda x=x: infer(x)), batch))
    if "train_32" in workloads:
        candidates.append(Candidate(name, "pytorch", precision, "train_32", train, 32))
    return candidates


def time_candidates(candidates, warmup, repeats, min_seconds, budget_seconds):
    """Fills each candidate's samples (seconds per step), candidates alternating.

    A candidate whose step is so slow that `repeats` samples would exceed
    `budget_seconds` gets fewer samples (at least one); the report gives the count.
    """
    for candidate in candidates:
        candidate.max_samples = _sample_count(candidate.step, warmup, repeats, budget_seconds)
    for _ in range(repeats):
        for candidate in candidates:  # alternating: drift hits every candidate alike
            if len(candidate.samples) >= candidate.max_samples:
                continue
            count, start = 0, time.perf_counter()
            while True:
                candidate.step()
                count += 1
                elapsed = time.perf_counter() - start
                if elapsed >= min_seconds:
                    break
            candidate.samples.append(elapsed / count)


def _sample_count(step, warmup, repeats, budget_seconds):
    """Warms `step` up and returns how many timed samples fit in `budget_seconds` (1 to `repeats`).

    The first call traces and compiles, so a step is predicted from the fastest
    call after it; only a first call that alone takes half the budget stands in.
    """
    calls = [_seconds(step)]
    if calls[0] <= budget_seconds / 2:
        calls.append(_seconds(step))
        while len(calls) < warmup and sum(calls) <= budget_seconds / 5:  # a slow step has warmed up enough
            calls.append(_seconds(step))
    step_seconds = min(calls[1:] or calls)
    return max(1, min(repeats, int(budget_seconds // max(step_seconds, 1e-9))))


def _matmul_peaks(sizes=(1024, 2048, 4096), repeats=5, torch=False, slow_seconds=2.0):
    """The machine's matmul peak in GFLOP/s per dtype: the best square matmul TensorFlow or PyTorch ran.

    Sizes grow until one product takes over `slow_seconds` (a framework with no
    fast kernel for a dtype, such as PyTorch's bfloat16 on CPUs without bf16
    instructions, would otherwise take minutes). Returns
    `{dtype: (gflops, "framework n=size")}` for float32 and bfloat16.
    """
    import tensorflow as tf

    def tensorflow_product(size, dtype):
        a = tf.cast(tf.random.uniform((size, size), dtype=tf.float32), getattr(tf, dtype))
        # Reduce to a scalar in the graph so copying the product out is not timed.
        product = tf.function(lambda: tf.cast(tf.matmul(a, a)[0, 0], tf.float32))
        return lambda: product().numpy()

    def torch_product(size, dtype):
        import torch as torch_module

        a = torch_module.rand(size, size).to(getattr(torch_module, dtype))
        return lambda: (a @ a)[0, 0].item()

    peaks = {}
    frameworks = [("TensorFlow", tensorflow_product)] + ([("PyTorch", torch_product)] if torch else [])
    for source, make in frameworks:
        for dtype in ("float32", "bfloat16"):
            for size in sizes:
                product = make(size, dtype)
                samples = [_seconds(product)]  # the first call compiles or warms up
                while len(samples) <= repeats and samples[-1] < slow_seconds:
                    samples.append(_seconds(product))
                gflops = 2 * size**3 / min(samples) / 1e9
                if gflops > peaks.get(dtype, (0, ""))[0]:
                    peaks[dtype] = (gflops, f"{source} n={size}")
                if min(samples) >= slow_seconds:
                    break
    return peaks


def _seconds(step):
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


XLA_KERNELS = "XLA-compiled kernels (LRN, max-pool gradients)"
# The profiler's name for one run of an XLA-compiled CPU kernel: TensorFlow 2.21 traces
# `CpuExecutable::ExecuteAsyncOnStream` with a `ThunkExecutor::Execute` inside it, 2.20 the
# `ThunkExecutor::Execute` alone. A run inside another run is not counted twice.
_XLA_RUN_EVENTS = ("CpuExecutable::ExecuteAsyncOnStream", "ThunkExecutor::Execute")


def _op_profile(step):
    """Milliseconds per TensorFlow op type in one call of `step`, from TensorFlow's profiler.

    XLA-compiled kernels (our LRN and max-pool gradients) are counted together:
    the profiler names their runs by executor (`_XLA_RUN_EVENTS`), not by op.
    """
    import collections

    import tensorflow as tf
    from tensorflow.python.framework import op_def_registry
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        try:
            step()
        finally:
            tf.profiler.experimental.stop()
        paths = [os.path.join(root, name) for root, _, names in os.walk(logdir) for name in names
                 if name.endswith(".xplane.pb")]
        space = xplane_pb2.XSpace()
        with open(paths[0], "rb") as handle:
            space.ParseFromString(handle.read())
    totals = collections.Counter()
    for plane in space.planes:
        names = {key: value.name for key, value in plane.event_metadata.items()}
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):
                continue
            xla_run_end = -1
            for event in sorted(line.events, key=lambda event: event.offset_ps):
                name = names.get(event.metadata_id, "")
                op_type = name.rpartition(":")[2]  # "node/name:OpType"
                if name in _XLA_RUN_EVENTS or "Xla" in op_type:
                    if event.offset_ps >= xla_run_end:
                        totals[XLA_KERNELS] += event.duration_ps / 1e9
                        xla_run_end = event.offset_ps + event.duration_ps
                elif op_def_registry.get(op_type) is not None or op_type.startswith("_"):
                    totals[op_type] += event.duration_ps / 1e9
    return totals


def _lrn_error():
    """Largest |our XLA-kernel LRN - tf.nn.local_response_normalization|, relative to the largest output."""
    import tensorflow as tf

    from inception_tf.models.lrn import LocalResponseNormalization

    x = tf.random.stateless_normal((8, 56, 56, 192), seed=(1, 2)) * 30
    layer = LocalResponseNormalization(implementation="xla")
    ours = tf.function(layer)(x)
    reference = tf.nn.local_response_normalization(x, layer.depth_radius, layer.bias, layer.alpha, layer.beta)
    return float(tf.reduce_max(tf.abs(ours - reference)) / tf.reduce_max(tf.abs(reference)))


def _pipeline_rates(image_size, batches=20):
    import tensorflow as tf

    from inception_tf.training import data

    rates = {}
    with tempfile.TemporaryDirectory() as folder:
        rng = np.random.default_rng(0)
        for split in ("train",):
            for label in ("a", "b"):
                os.makedirs(os.path.join(folder, split, label))
                for i in range(64):
                    pixels = rng.integers(0, 256, (image_size + 32, image_size + 32, 3), dtype=np.uint8)
                    tf.io.write_file(os.path.join(folder, split, label, f"{i}.jpg"), tf.io.encode_jpeg(pixels))
        for name, dataset in (
            ("digits (cached, resized to 224)", data.make_dataset("digits", "train", image_size, 32, training=True,
                                                                   seed=0)),
            ("ImageFolder JPEGs, decode + resize", data.make_dataset(f"folder:{folder}", "train", image_size, 32,
                                                                     training=True, cache=False, seed=0)),
            ("ImageFolder JPEGs + paper augmentation", data.make_dataset(f"folder:{folder}", "train", image_size, 32,
                                                                         training=True, augment=True, seed=0)),
        ):
            dataset = dataset.repeat()
            iterator = iter(dataset)
            next(iterator)
            start = time.perf_counter()
            for _ in range(batches):
                next(iterator)
            rates[name] = batches * 32 / (time.perf_counter() - start)
    return rates


def _machine():
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return cpu, os.cpu_count()


def run(output="benchmark-report.md", image_size=224, threads=None, warmup=2, repeats=9, min_seconds=0.5,
        torch=True, precisions=("float32", "mixed_bfloat16"), budget_seconds=120, matmul_sizes=(1024, 2048, 4096),
        log=print):
    """Runs every measurement and writes the Markdown report to `output`; returns the report text."""
    threads = threads or os.cpu_count()
    if not _set_threads(threads):
        log("TensorFlow had already started in this process: its thread settings stay as they were")
    import keras
    import tensorflow as tf

    import inception_tf
    from inception_tf import GoogLeNet

    rng = np.random.default_rng(0)
    inputs = rng.uniform(-1, 1, (32, image_size, image_size, 3)).astype(np.float32)  # never zero
    labels = rng.integers(0, 1000, 32).astype(np.int64)
    workloads = ("infer_1", "infer_32", "train_32")
    def ours(lrn=True, implementation="auto"):
        # Fed the same normalised inputs as the plain network: no preprocessing layer.
        return lambda: GoogLeNet(input_shape=(image_size, image_size, 3), lrn=lrn, include_preprocessing=False,
                                 implementation=implementation)

    plain = lambda: plain_keras_googlenet(image_size)  # noqa: E731

    candidates = []
    for precision in precisions:
        candidates += _keras_candidates("ours", ours(), precision, False, inputs, labels, workloads)
        candidates += _keras_candidates("ours, XLA kernels", ours(implementation="xla"), precision, False, inputs,
                                        labels, workloads)
        candidates += _keras_candidates("ours XLA", ours(), precision, True, inputs, labels, workloads)
        candidates += _keras_candidates("plain Keras", plain, precision, False, inputs, labels, workloads)
        candidates += _keras_candidates("ours without LRN", ours(False), precision, False, inputs, labels,
                                        ("infer_32", "train_32"))
    if torch:
        import torch as torch_module

        torch_module.set_num_threads(threads)
        for bf16 in [p == "mixed_bfloat16" for p in precisions]:
            for channels_last in (False, True):
                name = "PyTorch " + ("channels_last" if channels_last else "NCHW")
                candidates += _torch_candidates(name, channels_last, bf16, inputs, labels, workloads)
    log(f"timing {len(candidates)} candidates, {repeats} repeats each, {threads} threads")
    for workload in workloads:
        group = [c for c in candidates if c.workload == workload]
        log(f"  {workload}: {len(group)} candidates")
        time_candidates(group, warmup, repeats, min_seconds, budget_seconds)
    log("  profile of one training step, matmul peak, input pipelines")
    profiles = {}
    for precision in precisions:
        train = _find(candidates, "ours", precision, "train_32")
        if train:
            profiles[precision] = (train.rate(), _op_profile(train.step))
    peaks = _matmul_peaks(matmul_sizes, torch=torch)
    pipelines = _pipeline_rates(image_size)
    versions = {"inception_tf": inception_tf.__version__, "tensorflow": tf.__version__, "keras": keras.__version__}
    if torch:
        versions["torch"] = torch_module.__version__
    from inception_tf.models import costs

    mult_adds = costs.total(costs.model_costs(GoogLeNet(input_shape=(image_size, image_size, 3))))[1]
    report = _report(candidates, peaks, pipelines, versions, threads, image_size, repeats, mult_adds,
                     profiles=profiles, lrn_error=_lrn_error())
    if output:
        from inception_tf import files

        with files.atomic_file(output) as temporary:
            with open(temporary, "w") as handle:
                handle.write(report)
    return report


def _find(candidates, name, precision, workload):
    for c in candidates:
        if c.name == name and c.workload == workload and c.precision in (precision, _torch_precision(precision)):
            return c
    return None


def _torch_precision(precision):
    return "bf16 autocast" if precision == "mixed_bfloat16" else precision


def _report(candidates, peaks, pipelines, versions, threads, image_size, repeats, mult_adds, profiles=None,
            lrn_error=None):
    cpu, cores = _machine()
    flags = cpu_flags()
    native_bf16 = any(flag in flags for flag in ("avx512_bf16", "amx_bf16"))
    lines = [
        "# Benchmark results",
        "",
        "Written by `python benchmarks/run_benchmarks.py` (benchmarks/harness.py); one run on one machine.",
        "",
        f"Machine: {cpu}, {cores} cores; CPU extensions: {', '.join(flags) or 'none of AVX2/AVX-512/AMX'}"
        f"{'' if native_bf16 else ' (no native bfloat16 instructions: bfloat16 math is emulated)'}.",
        f"Threads: {threads} for every framework (TensorFlow intra-op {threads}, inter-op 1; "
        f"torch.set_num_threads({threads})).",
        f"Memory allocator: {active_allocator()} for the whole process (both frameworks); TensorFlow's "
        f"CPU tensors through its BFC allocator (TF_CPU_ALLOCATOR_USE_BFC="
        f"{os.environ.get('TF_CPU_ALLOCATOR_USE_BFC', 'false')}).",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".",
        f"Input: random uniform images in [-1, 1] at {image_size}x{image_size}; images/s as the median "
        f"(min-max) of {repeats} timed repeats after warm-up (fewer where a candidate's time budget ran out: "
        f"see samples), candidates alternating within each repeat.",
        "",
        "Matmul peak measured in this run (best square matmul of TensorFlow and PyTorch): "
        + "; ".join(f"{dtype} {gflops:.0f} GFLOP/s ({source})" for dtype, (gflops, source) in peaks.items()) + ".",
        "",
        f"GoogLeNet costs {mult_adds / 1e9:.3f} G multiply-adds per image forward (2 FLOPs each), "
        f"about {TRAIN_FLOP_FACTOR}x that per training image.",
        "",
        "| network | precision | workload | images/s (min-max) | samples | GFLOP/s | of matmul peak |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in candidates:
        flops = 2 * mult_adds * (TRAIN_FLOP_FACTOR if c.workload.startswith("train") else 1)
        gflops = c.rate() * flops / 1e9
        peak = peaks["bfloat16" if "bf" in c.precision else "float32"][0]
        lines.append(
            f"| {c.name} | {c.precision} | {c.workload} | {c.rate():.1f} ({c.rate(min):.1f}-{c.rate(max):.1f}) "
            f"| {len(c.samples)} | {gflops:.0f} | {gflops / peak:.0%} |"
        )
    lines += ["", "## Ratios against the targets", "",
              "Each ratio is the median (min-max) of the ratios of the two candidates' rates within one repeat.", "",
              "| ratio | precision | workload | value (min-max) | target | met |", "|---|---|---|---|---|---|"]

    def ratio_row(label, a, b, precision, workload, target):
        if a is None or b is None or not a.samples or not b.samples:
            return
        ratios = paired_ratios(a, b)
        value = statistics.median(ratios)
        lines.append(f"| {label} | {precision} | {workload} | {value:.2f} ({min(ratios):.2f}-{max(ratios):.2f}) | "
                     f"≥ {target} | {'yes' if value >= target else 'no'} |")

    for precision in ("float32", "mixed_bfloat16"):
        for workload in ("infer_1", "infer_32", "train_32"):
            ratio_row("ours / plain Keras", _find(candidates, "ours", precision, workload),
                      _find(candidates, "plain Keras", precision, workload), precision, workload, 1)
    for precision in ("float32", "mixed_bfloat16"):
        for workload in ("infer_32", "train_32"):
            best_ours = max((c for c in (_find(candidates, "ours", precision, workload),
                                         _find(candidates, "ours XLA", precision, workload)) if c),
                            key=Candidate.rate, default=None)
            ratio_row("ours (best of XLA on/off) / PyTorch channels_last", best_ours,
                      _find(candidates, "PyTorch channels_last", precision, workload), precision, workload, 2)
    ratio_row("ours bf16 / ours float32", _find(candidates, "ours", "mixed_bfloat16", "infer_32"),
              _find(candidates, "ours", "float32", "infer_32"), "-", "infer_32", 2)
    lines += ["", "## LRN's share of our model's time", "",
              "| precision | workload | with LRN | without | LRN share (median of paired repeats) | target |",
              "|---|---|---|---|---|---|"]
    for precision in ("float32", "mixed_bfloat16"):
        for workload in ("infer_32", "train_32"):
            with_lrn = _find(candidates, "ours", precision, workload)
            without = _find(candidates, "ours without LRN", precision, workload)
            if with_lrn and without and with_lrn.samples and without.samples:
                share = 1 - statistics.median(paired_ratios(with_lrn, without))  # time is 1 / rate
                lines.append(f"| {precision} | {workload} | {with_lrn.rate():.1f} | {without.rate():.1f} | "
                             f"{share:.1%} | ≤ 10% |")
    if lrn_error is not None:
        lines += ["", f"Our LRN with `implementation='xla'` (one XLA-compiled kernel) against "
                  f"`tf.nn.local_response_normalization`, float32, shape (8, 56, 56, 192), inputs ~N(0, 30²): "
                  f"largest difference {lrn_error:.1e} of the largest output (float32 rounding; the tests' bound: 1e-6)."]
    for precision, (rate, totals) in (profiles or {}).items():
        total = sum(totals.values())
        lines += ["", f"## Where a training step goes ({precision}, batch 32, TensorFlow profiler)", "",
                  f"One step of our model ({32 / rate:.2f} s at the median rate); op time summed over both threads' "
                  f"work, {total / 1000:.2f} s in ops.", "", "| op | ms | share |", "|---|---|---|"]
        lines += [f"| {name} | {ms:.0f} | {ms / total:.1%} |" for name, ms in totals.most_common(8)]
    train_rate = _find(candidates, "ours", "float32", "train_32")
    lines += ["", "## Input pipeline headroom", "",
              f"Our float32 training rate at batch 32: {train_rate.rate():.1f} images/s." if train_rate else "",
              "", "| pipeline (224x224, batch 32) | images/s |", "|---|---|"]
    lines += [f"| {name} | {rate:.0f} |" for name, rate in pipelines.items()]
    return "\n".join(lines) + "\n"
