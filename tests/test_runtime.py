"""Process settings: set before TensorFlow starts, only where the user has not set them, and TensorFlow's
start-up lines hidden from the terminal while Python's own stderr keeps working."""

import importlib.abc
import importlib.machinery
import logging
import os
import sys

import pytest

from inception_tf import runtime

SETTINGS = ("TF_CPU_ALLOCATOR_USE_BFC", "TF_CPP_MIN_LOG_LEVEL", "ABSL_MIN_LOG_LEVEL")


@pytest.fixture
def environment(monkeypatch):
    """None of the settings in the environment; the process's logging levels restored afterwards."""
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    logger = logging.getLogger("tensorflow")
    monkeypatch.setattr(logger, "level", logger.level)
    absl_logging = pytest.importorskip("absl.logging")
    verbosity = absl_logging.get_verbosity()
    yield
    absl_logging.set_verbosity(verbosity)


class _StartingTensorFlow(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Stands in for `tensorflow` not yet imported: importing it writes a C++-style start-up line
    to file descriptor 2, a Python warning to `sys.stderr`, and records the settings it started with."""

    def __init__(self):
        self.started_with = None

    def find_spec(self, name, path=None, target=None):
        return importlib.machinery.ModuleSpec(name, self) if name == "tensorflow" else None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        self.started_with = {name: os.environ.get(name) for name in SETTINGS}
        os.write(2, b"I0000 cuda_dnn.cc: start-up line\n")
        sys.stderr.write("UserWarning: start-up warning\n")
        sys.stderr.flush()


@pytest.fixture
def unstarted_tensorflow(monkeypatch):
    """`tensorflow` absent from sys.modules, its import served by `_StartingTensorFlow` (the real module
    is put back afterwards)."""
    starting = _StartingTensorFlow()
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    monkeypatch.setattr(sys, "meta_path", [starting] + sys.meta_path)
    yield starting
    sys.modules.pop("tensorflow", None)


def open_descriptors():
    return set(os.listdir("/proc/self/fd"))


def test_configure_before_tensorflow_starts_it_with_the_allocator_and_quiet_log_levels(environment,
                                                                                        unstarted_tensorflow):
    runtime.configure()
    assert unstarted_tensorflow.started_with == {"TF_CPU_ALLOCATOR_USE_BFC": "true", "TF_CPP_MIN_LOG_LEVEL": "3",
                                                 "ABSL_MIN_LOG_LEVEL": "3"}
    assert logging.getLogger("tensorflow").level == logging.ERROR
    import absl.logging

    assert absl.logging.get_verbosity() == absl.logging.ERROR


def test_tensorflow_start_up_lines_are_hidden_and_stderr_works_afterwards(environment, unstarted_tensorflow, capfd,
                                                                          monkeypatch):
    before = open_descriptors()
    buffered = open(2, "w", closefd=False)  # block-buffered, as a redirected stderr is
    monkeypatch.setattr(sys, "stderr", buffered)
    sys.stderr.write("written before configure, not yet flushed")
    runtime.configure()
    buffered.flush()
    os.write(2, b"written after configure\n")
    err = capfd.readouterr().err
    assert "start-up line" not in err and "start-up warning" not in err
    assert "written before configure, not yet flushed" in err
    assert "written after configure" in err
    assert open_descriptors() <= before


def test_configure_after_tensorflow_started_leaves_the_allocator_unset(environment):
    import tensorflow  # noqa: F401

    runtime.configure()
    # Too late for the allocator: setting it now would only mislead child processes and readers.
    assert "TF_CPU_ALLOCATOR_USE_BFC" not in os.environ
    assert (os.environ["TF_CPP_MIN_LOG_LEVEL"], os.environ["ABSL_MIN_LOG_LEVEL"]) == ("3", "3")
    assert logging.getLogger("tensorflow").level == logging.ERROR


def test_values_the_user_set_win(environment, unstarted_tensorflow, monkeypatch):
    user = {"TF_CPU_ALLOCATOR_USE_BFC": "false", "TF_CPP_MIN_LOG_LEVEL": "1", "ABSL_MIN_LOG_LEVEL": "0"}
    for name, value in user.items():
        monkeypatch.setenv(name, value)
    runtime.configure()
    assert unstarted_tensorflow.started_with == user
    assert {name: os.environ[name] for name in SETTINGS} == user


def test_tensorflow_logs_keep_the_log_levels_and_leave_tensorflow_unimported(environment, unstarted_tensorflow,
                                                                             capfd):
    level = logging.getLogger("tensorflow").level
    runtime.configure(tensorflow_logs=True)
    assert os.environ["TF_CPU_ALLOCATOR_USE_BFC"] == "true"
    assert "TF_CPP_MIN_LOG_LEVEL" not in os.environ and "ABSL_MIN_LOG_LEVEL" not in os.environ
    assert unstarted_tensorflow.started_with is None
    assert logging.getLogger("tensorflow").level == level
