"""The ways out, side by side: `python benchmarks/exports.py [--repeats N] [--output report.md]`.

GoogLeNet at 224x224 with weights of the ONNX zoo's googlenet-7 layout
(random values: speed does not depend on them; the file is built as
tests/models/zoo_onnx.py builds it), exported six ways and each run by its
own runtime in one process:

- the SavedModel's `serving_default` in float32 and bfloat16 (TensorFlow, oneDNN);
- the ONNX export in float32 and int8 (onnxruntime, CPU execution provider);
- the LiteRT export in float32 and int8 (the `ai_edge_litert` interpreter, XNNPACK).

Batch 1 and 32, the candidates alternating within each repeat
(`harness.time_candidates`), the median of the paired per-repeat ratios of
each low-precision candidate to its own runtime's float32 (`harness.paired_ratios`).
It also states the CPU's instruction sets, the file sizes, what each int8
file holds (node and tensor kinds) and the bfloat16 matmul peak measured in
the same run, and writes a Markdown report.
"""

import argparse
import collections
import os
import statistics
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import harness  # noqa: E402

BATCHES = (1, 32)
WAYS = (  # (name, runtime, precision)
    ("SavedModel", "TensorFlow", "float32"),
    ("SavedModel", "TensorFlow", "bfloat16"),
    ("ONNX", "onnxruntime", "float32"),
    ("ONNX", "onnxruntime", "int8"),
    ("LiteRT", "LiteRT", "float32"),
    ("LiteRT", "LiteRT", "int8"),
)
TARGETS = {("int8", 1): 1.5, ("int8", 32): 1.5, ("bfloat16", 32): 1.8}  # issue 24's speed targets
PEAK_SHARE_TARGET = 0.35  # the bfloat16 SavedModel at batch 32 against the bfloat16 matmul peak


def zoo_layout_model(scratch):
    """GoogLeNet(weights=<a googlenet-7-layout .onnx file with random weights>), 224x224, 1000 classes."""
    from inception_tf import GoogLeNet
    from tests.models import zoo_onnx

    path = os.path.join(scratch, "googlenet-7-layout.onnx")
    import onnx

    onnx.save(zoo_onnx.build(zoo_onnx.random_weights(seed=0)), path)
    return GoogLeNet(weights=path)


def export_all(model, scratch, calibration_images, log):
    """Writes the six exports under `scratch`; returns {(name, precision): path}."""
    from inception_tf.serving import export, formats

    rng = np.random.default_rng(1)
    images = rng.uniform(0, 255, (calibration_images, 224, 224, 3)).astype(np.float32)
    calibration = formats.Calibration(images=images, dataset="uniform random pixels", split="-")
    paths = {}
    for precision in ("float32", "bfloat16"):
        log(f"  SavedModel {precision}")
        paths["SavedModel", precision] = export.export_saved_model(
            model, os.path.join(scratch, f"savedmodel_{precision}"), version=1, precision=precision, warmup=False)
    for name, format in (("ONNX", "onnx"), ("LiteRT", "litert")):
        for quantize in (None, "int8"):
            log(f"  {name} {quantize or 'float32'}")
            path = os.path.join(scratch, f"googlenet_{quantize or 'float32'}{formats.FORMATS[format]}")
            paths[name, quantize or "float32"] = formats.export_model(
                model, path, format, quantize=quantize, calibration=calibration if quantize else None)
    return paths


def size_mb(path):
    """Megabytes of a file, or of a directory's files (a SavedModel)."""
    if os.path.isfile(path):
        return os.path.getsize(path) / 1e6
    return sum(os.path.getsize(os.path.join(root, name)) for root, _, names in os.walk(path) for name in names) / 1e6


def _saved_model_step(path, batch):
    import tensorflow as tf

    signature = tf.saved_model.load(path).signatures["serving_default"]
    images = tf.constant(np.random.default_rng(2).uniform(0, 255, (batch, 224, 224, 3)).astype(np.float32))
    return lambda: signature(images=images)["probabilities"].numpy()


def _onnx_step(path, batch, threads):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    images = np.random.default_rng(2).uniform(0, 255, (batch, 224, 224, 3)).astype(np.float32)
    return lambda: session.run(["probabilities"], {"images": images})[0]


def _litert_step(path, batch, threads):
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=path, num_threads=threads).get_signature_runner()
    images = np.random.default_rng(2).uniform(0, 255, (batch, 224, 224, 3)).astype(np.float32)
    return lambda: runner(images=images)["probabilities"]


def candidates(paths, threads):
    """One `harness.Candidate` per way and batch size."""
    steps = {"SavedModel": lambda path, batch: _saved_model_step(path, batch),
             "ONNX": lambda path, batch: _onnx_step(path, batch, threads),
             "LiteRT": lambda path, batch: _litert_step(path, batch, threads)}
    return [harness.Candidate(name, runtime, precision, f"infer_{batch}", steps[name](paths[name, precision], batch),
                              batch)
            for batch in BATCHES for name, runtime, precision in WAYS]


def onnx_contents(path):
    """Node types of an ONNX file and the dtypes of its initializers, counted."""
    import onnx

    graph = onnx.load(path).graph
    dtypes = collections.Counter(onnx.helper.tensor_dtype_to_np_dtype(t.data_type).name for t in graph.initializer)
    return collections.Counter(node.op_type for node in graph.node), dtypes


def litert_contents(path):
    """Op names of a LiteRT file (with the dtype of each op's first input) and its tensors' dtypes, counted."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path)
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    ops = collections.Counter()
    for op in interpreter._get_ops_details():
        first = next((i for i in op["inputs"] if i >= 0), None)
        ops[f"{op['op_name']} {np.dtype(tensors[first]['dtype']).name if first in tensors else '-'}"] += 1
    return ops, collections.Counter(np.dtype(t["dtype"]).name for t in tensors.values())


def _find(group, name, precision, batch):
    return next(c for c in group if c.name == name and c.precision == precision and c.images == batch)


def report(group, paths, peaks, threads, repeats, versions, contents):
    """The Markdown section: machine, table of rates, ratios against the targets, sizes, contents, peak."""
    cpu, cores = harness._machine()
    flags = harness.cpu_flags()
    lines = [f"CPU: {cpu}, {cores} cores, {threads} threads; flags: {' '.join(flags)}.",
             "Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".",
             f"Median of {repeats} paired repeats (candidates alternating within a repeat); the ratio is the "
             "median of the per-repeat ratios to the same runtime's float32, (min-max) their spread.", "",
             "| way | runtime | precision | file MB | batch 1 ms | batch 1 vs float32 | batch 32 ms | "
             "batch 32 img/s | batch 32 vs float32 |", "|---|---|---|---|---|---|---|---|---|"]
    for name, runtime, precision in WAYS:
        row = [name, runtime, precision, f"{size_mb(paths[name, precision]):.1f}"]
        for batch in BATCHES:
            candidate = _find(group, name, precision, batch)
            row.append(f"{1000 * statistics.median(candidate.samples):.1f}")
            if batch == 32:
                row.append(f"{candidate.rate():.1f}")
            if precision == "float32":
                row.append("1")
                continue
            ratios = harness.paired_ratios(candidate, _find(group, name, "float32", batch))
            target = TARGETS.get((precision, batch))
            verdict = "" if target is None else (f", target {target}: " + ("met" if statistics.median(ratios) >= target
                                                                          else "NOT met"))
            row.append(f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f}){verdict}")
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "Sizes against float32: " + ", ".join(
        f"{name} {precision} {size_mb(paths[name, precision]) / size_mb(paths[name, 'float32']):.2f}"
        for name, _, precision in WAYS if precision != "float32")]
    bf16 = _find(group, "SavedModel", "bfloat16", 32)
    from inception_tf.models import costs
    from inception_tf import GoogLeNet

    mult_adds = costs.total(costs.model_costs(GoogLeNet(input_shape=(224, 224, 3))))[1]
    peak, where = peaks["bfloat16"]
    share = bf16.rate() * 2 * mult_adds / 1e9 / peak
    lines += ["", f"bfloat16 matmul peak {peak:.0f} GFLOP/s ({where}), float32 {peaks['float32'][0]:.0f} GFLOP/s; "
              f"the bfloat16 SavedModel at batch 32 runs {bf16.rate():.1f} img/s = {bf16.rate() * 2 * mult_adds / 1e9:.0f}"
              f" GFLOP/s ({2 * mult_adds / 1e9:.2f} GFLOP an image) = {100 * share:.0f}% of that peak "
              f"(target {100 * PEAK_SHARE_TARGET:.0f}%: {'met' if share >= PEAK_SHARE_TARGET else 'NOT met'})."]
    for label, (kinds, dtypes) in contents.items():
        lines += ["", f"{label}: " + ", ".join(f"{k} x{n}" for k, n in kinds.most_common()),
                  f"{label} tensor dtypes: " + ", ".join(f"{k} x{n}" for k, n in dtypes.most_common())]
    return "\n".join(lines) + "\n"


def run(output, repeats, threads, calibration_images, min_seconds, log=print):
    threads = threads or os.cpu_count()
    harness._set_threads(threads)
    import keras
    import onnxruntime
    import tensorflow as tf

    import inception_tf

    with tempfile.TemporaryDirectory(prefix="exports_benchmark_") as scratch:
        log("building GoogLeNet with zoo-layout weights; exporting")
        paths = export_all(zoo_layout_model(scratch), scratch, calibration_images, log)
        contents = {"int8 ONNX nodes": onnx_contents(paths["ONNX", "int8"]),
                    "int8 LiteRT ops": litert_contents(paths["LiteRT", "int8"])}
        group = candidates(paths, threads)
        log(f"timing {len(group)} candidates, {repeats} repeats")
        for batch in BATCHES:
            harness.time_candidates([c for c in group if c.images == batch], warmup=2, repeats=repeats,
                                    min_seconds=min_seconds, budget_seconds=600)
        log("bfloat16 matmul peak")
        peaks = harness._matmul_peaks()
        versions = {"inception_tf": inception_tf.__version__, "tensorflow": tf.__version__,
                    "keras": keras.__version__, "onnxruntime": onnxruntime.__version__}
        text = report(group, paths, peaks, threads, repeats, versions, contents)
    if output:
        from inception_tf import files

        with files.atomic_file(output) as temporary:
            with open(temporary, "w") as handle:
                handle.write(text)
    return text


def main(argv=None):
    parser = argparse.ArgumentParser(prog="exports.py", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--output", default="exports-report.md", help="the Markdown report to write")
    parser.add_argument("--repeats", type=int, default=7, help="paired repeats (5 or more)")
    parser.add_argument("--threads", type=int, default=None, help="default: all cores")
    parser.add_argument("--calibration-images", type=int, default=32, help="images the int8 exports calibrate on")
    parser.add_argument("--min-seconds", type=float, default=0.5, help="least time per sample")
    args = parser.parse_args(argv)
    print(run(args.output, args.repeats, args.threads, args.calibration_images, args.min_seconds))


if __name__ == "__main__":
    main()
