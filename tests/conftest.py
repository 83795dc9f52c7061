"""Shared fixtures: a quiet TensorFlow, a fresh dtype policy, seeded randomness, the data and files
several test modules read (each made once per session), and the command line run in process."""

import collections
import logging
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# The suite runs in one process per core (pytest.ini): each may share one GPU with the others.
os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")

from inception_tf import runtime  # noqa: E402

with runtime._quiet_stderr():  # TensorFlow's C++ start-up lines, which pytest's capture misses in xdist's controller
    import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


# The files that take longest, longest first (whole suite on 2 cores, 2026-12-04: 288 s down to 23 s
# each). xdist hands out a file at a time (pytest.ini), in collection order: these go first, so that no
# long file is left for the end while the other process idles. The order only schedules; every other
# file follows in its collection order.
LONGEST_FIRST = (
    "tests/training/test_train.py",
    "tests/training/test_train_behaviour.py",
    "tests/serving/test_quantized_exports.py",
    "tests/training/test_distribute.py",
    "tests/training/test_worker_failure.py",
    "tests/backends/test_backends.py",
    "tests/benchmarks/test_harness.py",
    "tests/serving/test_export.py",
    "tests/serving/test_one_answer.py",
    "tests/evaluation/test_evaluate.py",
    "notebooks/03_export_and_serve.ipynb",
    "tests/serving/test_formats.py",
    "tests/training/test_finetune.py",
    "notebooks/04_pretrained_googlenet.ipynb",
    "tests/models/test_googlenet.py",
    "tests/models/test_kernels.py",
    "tests/test_cli_errors.py",
    "notebooks/02_train_googlenet.ipynb",
)


def pytest_collection_modifyitems(config, items):
    """In an xdist worker, puts the tests of `LONGEST_FIRST`'s files first, in its order (a stable sort).

    A run in one process keeps the order it was given (the mutation runner puts its fastest files first).
    """
    if not hasattr(config, "workerinput"):
        return
    rank = {path: index for index, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


@pytest.fixture(autouse=True)
def _float32_policy():
    """Every test starts and ends under the float32 policy."""
    keras.config.set_dtype_policy("float32")
    yield
    keras.config.set_dtype_policy("float32")


@pytest.fixture(scope="session")
def tfds_dir(tmp_path_factory):
    """A tensorflow-datasets data directory with the embedded digits prepared in it, once per session."""
    from inception_tf.training import data

    directory = str(tmp_path_factory.mktemp("tensorflow_datasets"))
    data.dataset_info("digits", directory)
    return directory


@pytest.fixture(scope="session")
def zoo_files(tmp_path_factory):
    """`zoo_files(**kwargs)` -> (Caffe-named weights, path) of a zoo-layout ONNX file (tests/models/zoo_onnx.py).

    `kwargs` go to `zoo_onnx.write` (`seed`, `classifier_std`, `bias_std`, `layout`, `spatial`, `changes`); each
    distinct set is written once per session, under the zoo's file name `googlenet-7.onnx`. Without `onnx`
    installed, a test asking for it is skipped.
    """
    pytest.importorskip("onnx")
    from tests.models import zoo_onnx

    written = {}

    def zoo_file(**kwargs):
        key = repr(sorted(kwargs.items()))
        if key not in written:
            path = tmp_path_factory.mktemp("zoo") / "googlenet-7.onnx"
            written[key] = zoo_onnx.write(path, **kwargs)
        return written[key]

    return zoo_file


@pytest.fixture(scope="session")
def zoo_file(zoo_files):
    """Path of the zoo-layout googlenet-7.onnx with `zoo_onnx.random_weights(seed=0)`, written once."""
    return zoo_files()[1]


CliResult = collections.namedtuple("CliResult", "returncode stdout stderr")


@pytest.fixture
def run_cli(capfd, monkeypatch):
    """`run_cli(*args)` -> CliResult(returncode, stdout, stderr) of `inception_tf.cli.main(args)`, in this process.

    argparse's exits are returned as their code; stdout and stderr are read at the file descriptors,
    so TensorFlow's own lines are caught with Python's. `train` adds its log handler to the package
    logger once per process: each call starts without it.
    """
    from inception_tf import cli

    def run(*args):
        capfd.readouterr()
        with monkeypatch.context() as patch:
            patch.setattr(logging.getLogger("inception_tf"), "handlers", [])
            try:
                code = cli.main([str(arg) for arg in args])
            except SystemExit as exit_:
                code = exit_.code
        out, err = capfd.readouterr()
        return CliResult(code, out, err)

    return run


@pytest.fixture
def rng():
    return np.random.default_rng(1409_4842)


def to_nchw(x):
    """(B, H, W, C) -> (B, C, H, W)."""
    return np.transpose(x, (0, 3, 1, 2))


def to_nhwc(x):
    """(B, C, H, W) -> (B, H, W, C)."""
    return np.transpose(x, (0, 2, 3, 1))


def compiled_nodes(concrete_function):
    """Names of the nodes and library functions of a traced graph marked `_XlaMustCompile`."""
    graph = concrete_function.graph.as_graph_def()
    nodes = list(graph.node) + [n for f in graph.library.function for n in f.node_def]
    functions = [f for f in graph.library.function if f.attr["_XlaMustCompile"].b]
    return [n.name for n in nodes if n.attr["_XlaMustCompile"].b] + [f.signature.name for f in functions]


@pytest.fixture
def cpu_kind(monkeypatch):
    """Sets what the kernel rule finds about the machine, whatever runs the test; its caches cleared around.

    `cpu_kind(onednn, accelerator=False, bfc=False, amx=False)`: TensorFlow runs oneDNN or not, sees a GPU/TPU
    or not, takes CPU tensors from the BFC allocator or not, and the CPU has AMX or not.
    """
    from inception_tf.models import kernels

    rules = (kernels.compiled_kernels_pay_off, kernels.banded_lrn_pays_off, kernels.bfloat16_banded_lrn_pays_off)

    def set_to(onednn, accelerator=False, bfc=False, amx=False):
        monkeypatch.setattr(kernels, "onednn_enabled", lambda: onednn)
        monkeypatch.setattr(kernels, "_accelerator_visible", lambda: accelerator)
        monkeypatch.setattr(kernels, "bfc_allocator_enabled", lambda: bfc)
        monkeypatch.setattr(kernels, "cpu_has_amx", lambda: amx)
        for rule in rules:
            rule.cache_clear()

    yield set_to
    for rule in rules:
        rule.cache_clear()


def small_classifier(classes=3):
    """A small softmax classifier on `ImagePreprocessing("tf")`: (B, 32, 32, 3) pixels in [0, 255] -> (B, classes).

    For what an export, a file or a command does whatever the network (versions, records, sidecars,
    reports): it exports and evaluates in a fraction of GoogLeNet's time. Seeded: each call has the same weights.
    """
    from inception_tf import ImagePreprocessing

    keras.utils.set_random_seed(5)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(4, 5, strides=4, activation="relu")(ImagePreprocessing("tf")(inputs))
    return keras.Model(inputs, keras.layers.Dense(classes, activation="softmax")(keras.layers.Flatten()(x)))


def square_input_refusal(user, shape):
    """The whole message (a regex) of `geometry.square_input` refusing `shape` for `user`."""
    import re

    return "^" + re.escape(f"{user} needs a model taking square (batch, size, size, 1 or 3) images of a fixed size. "
                           f"Received a model with input_shape={shape}") + "$"


def classifier_taking(shape):
    """A 3-class softmax classifier taking inputs `(batch, *shape)`: images behind `ImagePreprocessing("tf")` if
    `shape` has three entries, anything else pooled as a sequence. For the input shapes an export refuses."""
    from inception_tf import ImagePreprocessing

    inputs = keras.Input(shape)
    if len(shape) == 3:
        x = keras.layers.GlobalAveragePooling2D()(ImagePreprocessing("tf")(inputs))
    else:  # not images
        x = keras.layers.GlobalAveragePooling1D()(inputs)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))


@pytest.fixture(scope="session")
def small_googlenet():
    """A 32x32, 10-class GoogLeNet with auxiliary heads (random weights), built once."""
    from inception_tf import GoogLeNet

    keras.utils.set_random_seed(5)
    return GoogLeNet(input_shape=(32, 32, 3), classes=10, aux_logits=True)


@pytest.fixture(scope="session")
def exported(small_googlenet, tmp_path_factory):
    """(version directory, class names) of `small_googlenet` exported once."""
    from inception_tf.serving import export

    names = [f"class_{i}" for i in range(10)]
    base = tmp_path_factory.mktemp("saved_models") / "googlenet"
    return export.export_saved_model(small_googlenet, str(base), class_names=names), names
