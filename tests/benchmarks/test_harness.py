"""The benchmark: a small run writes a complete report; the allocator choice is checked."""

import ctypes.util
import re

import pytest

from benchmarks import harness as bench


@pytest.fixture(scope="module")
def small_report(tmp_path_factory):
    output = tmp_path_factory.mktemp("bench") / "RESULTS.md"
    text = bench.run(output=str(output), image_size=32, threads=2, warmup=1, repeats=2, min_seconds=0.01,
                     torch=False, precisions=("float32",), budget_seconds=5, matmul_sizes=(128,), log=lambda _: None)
    return output, text


def table_rows(text, header):
    section = text.split(header, 1)[1]
    return [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| network")]


@pytest.mark.slow  # the shared report is a whole (small) benchmark run: minutes on 2 cores
def test_report_is_written_with_every_candidate_and_workload(small_report):
    output, text = small_report
    assert output.read_text() == text
    rows = {tuple(cell.strip() for cell in row.split("|")[1:4]) for row in table_rows(text, "| network |")}
    for name in ("ours", "ours, XLA kernels", "ours XLA", "plain Keras"):
        for workload in ("infer_1", "infer_32", "train_32"):
            assert (name, "float32", workload) in rows
    assert ("ours without LRN", "float32", "train_32") in rows
    rates = re.findall(r"\| float32 \| (?:infer|train)_\d+ \| ([0-9.]+) \(", text)
    assert rates and all(float(rate) > 0 for rate in rates)


@pytest.mark.slow  # the shared report is a whole (small) benchmark run: minutes on 2 cores
def test_report_states_ratios_lrn_share_profile_and_pipelines(small_report):
    _, text = small_report
    assert "| ours / plain Keras | float32 | train_32 |" in text
    assert re.search(r"\| float32 \| infer_32 \| [0-9.]+ \| [0-9.]+ \| -?[0-9.]+% \| ≤ 10% \|", text)
    profile = text.split("## Where a training step goes (float32", 1)[1]
    # The profiler's op types, parsed from its trace; oneDNN names them differently on each CPU
    # (Conv2DBackpropFilter, _MklNativeConv2DBackpropFilterWithBias, ...): any convolution gradient.
    assert re.search(r"Conv2DBackprop(Filter|Input)", profile)
    assert "Matmul peak measured in this run" in text and "float32" in text
    assert "ImageFolder JPEGs, decode + resize" in text
    lrn = float(re.search(r"largest difference ([0-9.e+-]+) of the largest output", text).group(1))
    assert lrn < 1e-6


@pytest.mark.slow  # profiles GoogLeNet's training steps
def test_profile_counts_our_xla_compiled_kernels(rng):
    from inception_tf import GoogLeNet

    inputs = rng.uniform(-1, 1, (32, 32, 32, 3)).astype("float32")
    labels = rng.integers(0, 1000, 32)
    build = lambda: GoogLeNet(input_shape=(32, 32, 3), implementation="xla")  # noqa: E731
    (train,) = bench._keras_candidates("ours", build, "float32", False, inputs, labels, ("train_32",))
    train.step()  # compiles
    totals = bench._op_profile(train.step)
    assert totals[bench.XLA_KERNELS] > 0  # LRN and max-pool gradients, which the profiler does not name by op
    # Whatever kernel names this CPU's oneDNN build picks, the convolution gradients are counted.
    assert sum(ms for op, ms in totals.items() if re.search(r"Conv2DBackprop(Filter|Input)", op)) > 0


@pytest.mark.parametrize(
    "durations, calls, samples",
    [
        ([20.0, 3.0], 2, 9),  # the first call compiled: the second predicts the step, not the first
        ([50.0, 40.0], 2, 3),  # a slow step: as many samples as fit the 120 s budget
        ([70.0], 1, 1),  # a first call over half the budget is not run again to warm up
    ],
)
def test_sample_count_predicts_the_step_from_calls_after_compiling(monkeypatch, durations, calls, samples):
    made = []

    def seconds(step):
        made.append(step)
        return durations[len(made) - 1]

    monkeypatch.setattr(bench, "_seconds", seconds)
    assert bench._sample_count(object(), warmup=2, repeats=9, budget_seconds=120) == samples
    assert len(made) == calls


def test_allocator_choice(monkeypatch):
    assert bench.allocator_library("system") is None
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    assert bench.allocator_library("auto") is None  # falls back to the system's malloc
    with pytest.raises(ValueError, match="allocator 'jemalloc' was not found.*libjemalloc2"):
        bench.allocator_library("jemalloc")
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: f"lib{name}.so.4")
    assert bench.allocator_library("auto") == "libtcmalloc_minimal.so.4"


def test_ratios_pair_the_samples_of_one_repeat():
    # Seconds per step; the machine is twice as slow in the second repeat, for both candidates alike.
    ours = bench.Candidate("ours", "keras", "float32", "infer_32", None, 32, samples=[1.0, 2.0, 0.8])
    plain = bench.Candidate("plain Keras", "keras", "float32", "infer_32", None, 32, samples=[1.1, 2.2, 0.9])
    ratios = bench.paired_ratios(ours, plain)
    assert ratios == pytest.approx([1.1, 1.1, 0.9 / 0.8])
    # Fewer samples of one candidate (its budget ran out): only the repeats both were timed in.
    plain.samples = plain.samples[:2]
    assert bench.paired_ratios(ours, plain) == pytest.approx([1.1, 1.1])
