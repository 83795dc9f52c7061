"""The layers, GoogLeNet, SlideNet, costs and `.keras` files on the TensorFlow, JAX and PyTorch backends.

The TensorFlow side runs here; `worker.py` runs the same cases (`cases.py`) with
the same weights and inputs under `KERAS_BACKEND=jax` and `KERAS_BACKEND=torch`
in subprocesses, with TensorFlow made unimportable there, and the tests compare
what the three computed. Outputs agree when the largest difference is at most
1e-5 of the largest output (float32).

JAX and PyTorch come with the `test` extra. Where one is not installed these
tests are skipped, except under CI (`CI` set), where that is a failure.
"""

import dataclasses
import importlib.util
import json
import os
import resource
import shutil
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

import inception_tf
from tests.backends import cases
from tests.backends.cases import key
from tests.models.test_initializers import TWO_SIGMA_TRUNCATED_STD

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RELATIVE_TOLERANCE = 1e-5
WORKER_TIMEOUT_S = 900
# Which backends' `.keras` files each worker loads; the TensorFlow side then loads both workers' files.
LOAD_FROM = {"jax": ("tensorflow",), "torch": ("tensorflow", "jax")}
TRANSFERS = [(saver, loader) for loader, savers in LOAD_FROM.items() for saver in savers] + [
    (saver, "tensorflow") for saver in cases.BACKENDS]
DIFFERENCES = {}  # (backend, data format) -> {what: relative difference}, printed at the end

pytestmark = pytest.mark.slow  # the shared fixture runs two subprocesses (about two minutes on 2 cores)


@dataclasses.dataclass
class Worker:
    """What one backend's subprocess computed."""

    backend: str
    outputs: dict
    report: dict
    failure: str = ""  # set when the process itself failed
    seconds: float = 0.0
    cpu_seconds: float = 0.0

    def value(self, name, step):
        """Output `name`; fails with the error of `step` when the worker could not compute it."""
        if self.failure:
            pytest.fail(self.failure)
        if name not in self.outputs:
            error = self.report.get("errors", {}).get(step, "no error recorded")
            pytest.fail(f"{self.backend} computed no {name!r}; its step {step!r} failed with\n{error}")
        return self.outputs[name]


@dataclasses.dataclass
class Job:
    inputs: dict
    weights: dict
    reference: dict  # everything the TensorFlow side computed, by npz key
    workers: dict  # backend -> Worker
    load_errors: dict  # npz key prefix -> why TensorFlow could not load that file


def _require_backends():
    missing = [backend for backend in cases.BACKENDS if importlib.util.find_spec(backend) is None]
    if missing:
        message = f"Keras backends {missing} are not installed (pip install -e '.[test]' installs them)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def _compute_on_tensorflow(job_dir):
    """Inputs, weights and every reference output, computed here; writes the job's files."""
    import tensorflow as tf

    inputs = cases.draw_inputs()
    weights, reference = {}, {}
    os.makedirs(os.path.join(job_dir, "tensorflow"))
    for seed, case in enumerate(cases.CASES):
        for data_format in cases.formats(case):
            model = cases.build(case, data_format)
            if data_format == "channels_last":
                weights.update(cases.draw_weights(model, case, seed=100 + seed))
            cases.load_weights(model, weights, case)
            for name, value in cases.predict(model, cases.to_format(inputs[case], data_format)).items():
                reference[key(case, data_format, name)] = value
            if case.startswith(("module", "googlenet")):
                reference[key("costs", case, data_format)] = cases.model_costs(model)
            if (case, data_format) in cases.SAVED_CASES:
                model.save(os.path.join(job_dir, "tensorflow", f"{case}_{data_format}.keras"))
    values, _ = cases.slide_helpers(inputs["slidenet"])
    reference.update({key("slide", name): value for name, value in values.items()})
    slide = cases.slide_module()
    channels = inputs["slidenet"].shape[-1]
    initial = slide.slide_initial_weights(channels, *cases.SLIDE_FILTERS, seed=cases.SLIDE_SEED)
    reference["slide_ops"] = slide.inception_module(tf.constant(inputs["slidenet"]), initial).numpy()
    np.savez(os.path.join(job_dir, "inputs.npz"), **inputs)
    np.savez(os.path.join(job_dir, "weights.npz"), **weights)
    return inputs, weights, reference


def _run_worker(backend, job_dir):
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(inception_tf.__file__)))
    path = [ROOT, package_root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    # One OpenMP thread: the workers run one at a time, and on a busy 2-core machine PyTorch's
    # thread pool spins (its fit took 26 s with two threads, 5 s with one).
    env = dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=os.pathsep.join(path), TF_CPP_MIN_LOG_LEVEL="2",
               JAX_PLATFORMS="cpu", CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "tests.backends.worker", str(job_dir), "--load-from", *LOAD_FROM[backend]]
    start, cpu_start = time.perf_counter(), _children_cpu_seconds()
    try:
        process = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                                 timeout=WORKER_TIMEOUT_S)
    except subprocess.TimeoutExpired as error:
        return Worker(backend, {}, {}, failure=f"{backend} worker ran past {WORKER_TIMEOUT_S} s:\n{error.stderr}")
    seconds, cpu_seconds = time.perf_counter() - start, _children_cpu_seconds() - cpu_start
    if process.returncode != 0:
        return Worker(backend, {}, {}, failure=(f"{backend} worker exited with {process.returncode}:\n"
                                                f"{process.stderr[-4000:]}"), seconds=seconds)
    with open(os.path.join(job_dir, backend, "report.json")) as file:
        report = json.load(file)
    outputs = dict(np.load(os.path.join(job_dir, backend, "outputs.npz")))
    return Worker(backend, outputs, report, seconds=seconds, cpu_seconds=cpu_seconds)


def _children_cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _load_workers_files(job_dir, inputs, reference):
    """The TensorFlow side loads each worker's `.keras` files; their outputs go into `reference`.

    Returns:
        {npz key prefix: error} for the files that are missing or fail to load.
    """
    errors = {}
    for saver in cases.BACKENDS:
        for case, data_format in cases.SAVED_CASES:
            prefix = key("load", saver, case, data_format, "")
            path = os.path.join(job_dir, saver, f"{case}_{data_format}.keras")
            if not os.path.exists(path):
                errors[prefix] = f"{saver} saved no {path}"
                continue
            try:
                model = keras.saving.load_model(path)
                for name, value in cases.predict(model, cases.to_format(inputs[case], data_format)).items():
                    reference[prefix + name] = value
            except Exception as error:  # noqa: BLE001 -- reported by the test of this file
                errors[prefix] = f"{type(error).__name__}: {error}"
    return errors


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("the reference side of these tests runs on the TensorFlow backend")
    _require_backends()
    job_dir = tmp_path_factory.mktemp("backends")
    inputs, weights, reference = _compute_on_tensorflow(job_dir)
    workers = {}
    for backend in cases.BACKENDS:  # one after the other: torch loads the files jax saved
        workers[backend] = _run_worker(backend, job_dir)
    load_errors = _load_workers_files(job_dir, inputs, reference)
    yield Job(inputs, weights, reference, workers, load_errors)
    for backend, worker in workers.items():
        print(f"\n{backend} worker: {worker.seconds:.1f} s ({worker.cpu_seconds:.1f} s CPU), "
              f"steps {worker.report.get('seconds')}")
    for (backend, data_format), differences in sorted(DIFFERENCES.items()):
        worst = max(differences, key=differences.get)
        print(f"{backend:10s} {data_format:14s} largest relative difference {differences[worst]:.2e} ({worst})")
    shutil.rmtree(job_dir, ignore_errors=True)  # about 250 MB of .keras files and weights


def assert_close(got, expected, what, backend, data_format):
    """|got - expected| <= RELATIVE_TOLERANCE * max |expected|, elementwise; records the difference."""
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.shape == expected.shape, f"{what} on {backend}: shape {got.shape}, expected {expected.shape}"
    scale = np.abs(expected).max()
    assert scale > 0, f"{what}: the reference output is all zeros, which would compare nothing"
    difference = float(np.abs(got.astype(np.float64) - expected).max() / scale)
    DIFFERENCES.setdefault((backend, data_format), {})[what] = difference
    assert difference <= RELATIVE_TOLERANCE, (
        f"{what} on {backend} differs from TensorFlow by {difference:.2e} of its largest output "
        f"(tolerance {RELATIVE_TOLERANCE:.0e})")


def _case_params():
    return [pytest.param(backend, case, data_format, id=f"{backend}-{case}-{data_format}")
            for backend in cases.BACKENDS for case in cases.CASES for data_format in cases.formats(case)]


@pytest.mark.parametrize("backend", cases.BACKENDS)
def test_worker_ran_without_tensorflow(job, backend):
    worker = job.workers[backend]
    if worker.failure:
        pytest.fail(worker.failure)
    assert worker.report["backend"] == backend
    assert worker.report["tensorflow_modules"] == [], "TensorFlow was imported despite being hidden"
    needs_tensorflow = {step: error.splitlines()[0] for step, error in worker.report["errors"].items()
                        if error.startswith("ModuleNotFoundError") and "tensorflow" in error.splitlines()[0]}
    assert not needs_tensorflow, f"On {backend} without TensorFlow these steps reached for it:\n" + "\n".join(
        f"- {step}: {error}" for step, error in needs_tensorflow.items())


@pytest.mark.parametrize("backend, case, data_format", _case_params())
def test_same_weights_give_the_same_outputs(job, backend, case, data_format):
    heads = [name for name in job.reference if name.startswith(key(case, data_format, ""))]
    assert heads, f"TensorFlow computed nothing for {case} {data_format}"
    for name in heads:
        got = job.workers[backend].value(name, f"outputs/{case}/{data_format}")
        assert_close(got, job.reference[name], name, backend, data_format)


def _module_cost(height, width, channels):
    """(parameters, multiply-adds) of an InceptionModule with MODULE_FILTERS, by hand."""
    f1, r3, f3, r5, f5, pool = cases.MODULE_FILTERS
    per_position = channels * f1 + channels * r3 + 9 * r3 * f3 + channels * r5 + 25 * r5 * f5 + channels * pool
    params = per_position + f1 + r3 + f3 + r5 + f5 + pool
    return params, height * width * per_position


@pytest.mark.parametrize("backend", ("tensorflow",) + cases.BACKENDS)
@pytest.mark.parametrize("data_format", cases.DATA_FORMATS)
@pytest.mark.parametrize("case", [case for case in cases.CASES if case.startswith(("module", "googlenet"))])
def test_costs_are_the_same_on_every_backend(job, backend, case, data_format):
    name = key("costs", case, data_format)
    if backend == "tensorflow":
        got = job.reference[name]
    else:
        got = job.workers[backend].value(name, f"costs/{case}/{data_format}")
    weights = [value for path, value in job.weights.items() if path.startswith(key(case, ""))]
    assert got[0] == sum(value.size for value in weights), "parameters differ from the weights' sizes"
    if case.startswith("module"):
        _, height, width, channels = cases.CASES[case]
        assert tuple(got) == _module_cost(height, width, channels)
    else:
        np.testing.assert_array_equal(got, job.reference[name])  # checked against TF's profiler in test_costs


@pytest.mark.parametrize("backend", cases.BACKENDS)
def test_slide_helpers_and_initializer_need_no_tensorflow(job, backend):
    worker = job.workers[backend]
    worker.value(key("slide", "loaded"), "slide")  # fails with the step's error if the step failed
    slide = {name: value for name, value in worker.outputs.items() if name.startswith("slide|")}
    expected_names = [f"{kind}_conv2_{suffix}" for kind in ("W", "b") for suffix in cases.SLIDE_SUFFIXES]
    assert tuple(worker.report["slide_names"]) == tuple(expected_names)
    reference = {name: value for name, value in job.reference.items() if name.startswith("slide|")}
    assert sorted(slide) == sorted(reference)
    for name in reference:
        if name.startswith(("slide|shape|", "slide|initial|")):  # same seed, same draws on every backend
            np.testing.assert_array_equal(slide[name], reference[name], err_msg=name)
    drawn = {name.split("|")[-1]: value for name, value in slide.items() if name.startswith("slide|drawn|")}
    np.testing.assert_array_equal(drawn["b_conv1_5x5"], np.full(cases.SLIDE_FILTERS[4], 0.1, np.float32))
    for name, value in drawn.items():
        assert np.abs(value).max() <= 0.2 + 1e-6, f"{name} is not truncated at two standard deviations"
        if name != "b_conv1_5x5":
            assert np.unique(value).size > value.size // 2, f"{name} is not drawn at random"
        if value.size >= 1000:  # a normal truncated at two standard deviations has std 0.88 of the untruncated
            assert 0.08 < value.std() < 0.095, f"{name} has std {value.std():.4f}, not about 0.088"
    bound, std = slide["slide|truncation"]
    assert bound <= 0.2 + 1e-6, f"{backend}: a truncated normal of stddev 0.1 drew {bound:.4f}, beyond 0.2"
    assert abs(std - 0.1 * TWO_SIGMA_TRUNCATED_STD) < 3e-4, f"{backend}: std {std:.5f}"
    # The layer on this backend, loaded with the slide's variables, equals the slide's TensorFlow ops.
    assert_close(slide["slide|loaded"], job.reference["slide_ops"], "slide|loaded", backend, "channels_last")
    assert_close(job.reference["slide|loaded"], job.reference["slide_ops"], "slide|loaded", "tensorflow",
                 "channels_last")


def _training_loss(logits, labels):
    """The paper's weighted cross-entropy (aux heads 0.3), in numpy, from {head: (N, classes) logits}."""
    total = 0.0
    for head, weight in (("main", 1.0), ("aux1", 0.3), ("aux2", 0.3)):
        z = logits[head].astype(np.float64)
        log_softmax = z - z.max(axis=1, keepdims=True)
        log_softmax -= np.log(np.exp(log_softmax).sum(axis=1, keepdims=True))
        total += weight * -log_softmax[np.arange(len(labels)), labels].mean()
    return total


@pytest.mark.parametrize("backend", ("tensorflow",) + cases.BACKENDS)
def test_fit_lowers_the_loss_and_trains_every_weight(job, backend):
    if backend == "tensorflow":
        model = cases.build(*cases.FIT_CASE)
        cases.load_weights(model, job.weights, cases.FIT_CASE[0])
        fitted = {key("fit", name): value for name, value in cases.fit(model, *cases.fit_data()).items()}
    else:
        worker = job.workers[backend]
        worker.value(key("fit", "after", "main"), "fit")  # fails with the step's error if fit failed
        fitted = {name: value for name, value in worker.outputs.items() if name.startswith("fit|")}
    _, labels = cases.fit_data()
    before, after = ({head: fitted[key("fit", when, head)] for head in ("main", "aux1", "aux2")}
                     for when in ("before", "after"))
    loss_before, loss_after = _training_loss(before, labels), _training_loss(after, labels)
    print(f"{backend}: loss {loss_before:.4f} -> {loss_after:.4f} after {cases.FIT_EPOCHS} steps")
    assert loss_after < 0.9 * loss_before, f"{backend}: loss {loss_before:.4f} -> {loss_after:.4f}"
    changes = {name: value for name, value in fitted.items() if name.startswith("fit|change|")}
    assert len(changes) == sum(1 for path in job.weights if path.startswith(key(cases.FIT_CASE[0], "")))
    unchanged = sorted(name for name, value in changes.items() if not value > 0)
    assert not unchanged, f"{backend}: fit left these weights unchanged (no gradient reached them): {unchanged}"


@pytest.mark.parametrize("case, data_format", cases.SAVED_CASES, ids=[f"{c}-{f}" for c, f in cases.SAVED_CASES])
@pytest.mark.parametrize("saver, loader", TRANSFERS, ids=[f"{s}-to-{t}" for s, t in TRANSFERS])
def test_keras_file_saved_on_one_backend_loads_on_another(job, saver, loader, case, data_format):
    prefix = key("load", saver, case, data_format, "")
    heads = [name for name in job.reference if name.startswith(key(case, data_format, ""))]
    for head in heads:
        name = prefix + head.split("|")[-1]
        if loader == "tensorflow":
            if name not in job.reference:
                save_error = job.workers[saver].report.get("errors", {}).get(f"save/{case}/{data_format}", "")
                pytest.fail(f"TensorFlow could not load {saver}'s file: {job.load_errors.get(prefix)}\n"
                            f"{save_error}")
            got = job.reference[name]
        else:
            got = job.workers[loader].value(name, f"load/{saver}/{case}/{data_format}")
        assert_close(got, job.reference[head], f"{saver}->{loader} {head}", loader, data_format)
