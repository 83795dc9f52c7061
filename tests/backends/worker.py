"""Runs the backend cases on JAX or PyTorch, with TensorFlow hidden; writes what they compute.

Run by `test_backends.py` as

    KERAS_BACKEND=jax python -m tests.backends.worker JOB_DIR --load-from tensorflow

Keras fixes its backend at import, so each backend needs its own process. The
job directory holds `inputs.npz` and `weights.npz` (written by the TensorFlow
side) and one folder of `.keras` files per backend that has run. The worker
writes `JOB_DIR/<backend>/outputs.npz`, `JOB_DIR/<backend>/report.json` and its
own `.keras` files there.

TensorFlow is made unimportable before anything else is imported, as on a
machine with Keras and JAX or PyTorch only: `inception_tf` then skips its
TensorFlow-only modules, and any step that still reaches for TensorFlow fails
with the import error, recorded in the report under that step's name.
"""

import argparse
import contextlib
import json
import os
import sys
import time
import traceback


def hide_tensorflow():
    """Makes `import tensorflow` raise ModuleNotFoundError and `find_spec("tensorflow")` return None."""
    if "tensorflow" in sys.modules and sys.modules["tensorflow"] is not None:
        raise RuntimeError("TensorFlow was imported before the worker could hide it")
    sys.modules["tensorflow"] = None


def tensorflow_modules():
    """Names of TensorFlow modules that are really imported (not the hiding None)."""
    return sorted(name for name, module in sys.modules.items()
                  if module is not None and (name == "tensorflow" or name.startswith("tensorflow.")))


def describe(error):
    """The error, the package line that raised it, and the last lines of its traceback."""
    frames = traceback.extract_tb(error.__traceback__)
    ours = [frame for frame in frames if f"{os.sep}inception_tf{os.sep}" in frame.filename]
    where = f" (raised via {ours[-1].filename}:{ours[-1].lineno}: {ours[-1].line})" if ours else ""
    tail = "".join(traceback.format_exception(error)[-6:])
    return f"{type(error).__name__}: {error}{where}\n{tail}"


class Steps:
    """Runs named steps, recording each one's error and time instead of stopping at the first."""

    def __init__(self):
        self.errors, self.seconds = {}, {}

    @contextlib.contextmanager
    def step(self, name):
        start = time.perf_counter()
        try:
            yield
        except Exception as error:  # noqa: BLE001 -- every failure is reported under its step
            self.errors[name] = describe(error)
        finally:
            self.seconds[name] = round(time.perf_counter() - start, 2)


def run(job_dir, backend, load_from):
    """Computes every case on `backend`; returns (outputs, report)."""
    import keras
    import numpy as np

    from tests.backends import cases

    if keras.backend.backend() != backend:
        raise RuntimeError(f"KERAS_BACKEND gave {keras.backend.backend()!r}, expected {backend!r}")
    out_dir = os.path.join(job_dir, backend)
    os.makedirs(out_dir, exist_ok=True)
    inputs = dict(np.load(os.path.join(job_dir, "inputs.npz")))
    weights = dict(np.load(os.path.join(job_dir, "weights.npz")))
    steps, outputs, models, report = Steps(), {}, {}, {}

    for case in cases.CASES:
        for data_format in cases.formats(case):
            with steps.step(f"outputs/{case}/{data_format}"):
                model = cases.build(case, data_format)
                cases.load_weights(model, weights, case)
                x = cases.to_format(inputs[case], data_format)
                for name, value in cases.predict(model, x).items():
                    outputs[cases.key(case, data_format, name)] = value
                models[case, data_format] = model
            if case.startswith(("module", "googlenet")):
                with steps.step(f"costs/{case}/{data_format}"):
                    outputs[cases.key("costs", case, data_format)] = cases.model_costs(models[case, data_format])

    with steps.step("slide"):
        values, report["slide_names"] = cases.slide_helpers(inputs["slidenet"])
        outputs.update({cases.key("slide", name): value for name, value in values.items()})

    for source in load_from:
        for case, data_format in cases.SAVED_CASES:
            with steps.step(f"load/{source}/{case}/{data_format}"):
                model = keras.saving.load_model(os.path.join(job_dir, source, f"{case}_{data_format}.keras"))
                x = cases.to_format(inputs[case], data_format)
                for name, value in cases.predict(model, x).items():
                    outputs[cases.key("load", source, case, data_format, name)] = value
    for case, data_format in cases.SAVED_CASES:
        with steps.step(f"save/{case}/{data_format}"):
            models[case, data_format].save(os.path.join(out_dir, f"{case}_{data_format}.keras"))

    with steps.step("fit"):  # last: it changes the weights of its model
        fitted = cases.fit(models[cases.FIT_CASE], *cases.fit_data())
        outputs.update({cases.key("fit", name): value for name, value in fitted.items()})

    report.update(
        backend=backend,
        keras=keras.__version__,
        errors=steps.errors,
        seconds=steps.seconds,
        tensorflow_modules=tensorflow_modules(),
    )
    return outputs, report


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("job_dir")
    parser.add_argument("--load-from", nargs="*", default=[], help="backends whose .keras files to load")
    args = parser.parse_args(argv)
    backend = os.environ.get("KERAS_BACKEND")
    if backend not in ("jax", "torch"):
        parser.error(f"KERAS_BACKEND must be 'jax' or 'torch'. Received: KERAS_BACKEND={backend!r}")
    hide_tensorflow()
    start = time.perf_counter()
    outputs, report = run(args.job_dir, backend, args.load_from)
    report["total_seconds"] = round(time.perf_counter() - start, 2)

    import numpy as np

    out_dir = os.path.join(args.job_dir, backend)
    np.savez(os.path.join(out_dir, "outputs.npz"), **outputs)
    with open(os.path.join(out_dir, "report.json"), "w") as file:
        json.dump(report, file, indent=1)


if __name__ == "__main__":
    main()
