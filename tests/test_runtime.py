"""Process settings: set before TensorFlow starts, only where the user has not set them, and TensorFlow's
start-up lines hidden from the terminal while Python's own stderr keeps working."""

import importlib.abc
import io
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


NATIVE_LINE = b"E0000 00:00:1 cuda_platform.cc:52] failed call to cuInit\n"


def test_native_stderr_hidden_drops_cpp_lines_and_keeps_python_stderr(capfd, monkeypatch):
    monkeypatch.setattr(sys, "stderr", sys.__stderr__)  # the process's own stream, as in a terminal
    capfd.readouterr()
    with runtime.native_stderr_hidden():
        os.write(2, NATIVE_LINE)
        print("inception-tf train: error: one line", file=sys.stderr)
    os.write(2, b"native after\n")
    print("python after", file=sys.stderr, flush=True)
    assert capfd.readouterr().err == "inception-tf train: error: one line\nnative after\npython after\n"
    assert sys.stderr is sys.__stderr__


def test_native_stderr_hidden_restores_both_when_the_block_raises(capfd, monkeypatch):
    monkeypatch.setattr(sys, "stderr", sys.__stderr__)
    capfd.readouterr()
    with pytest.raises(KeyboardInterrupt):
        with runtime.native_stderr_hidden():
            raise KeyboardInterrupt
    os.write(2, b"native after\n")
    assert sys.stderr is sys.__stderr__
    assert capfd.readouterr().err == "native after\n"


def test_native_stderr_hidden_changes_nothing_under_a_replaced_stream(capfd, monkeypatch):
    import io

    replaced = io.StringIO()  # pytest's capture, a notebook's stream
    monkeypatch.setattr(sys, "stderr", replaced)
    with runtime.native_stderr_hidden():
        assert sys.stderr is replaced
        os.write(2, NATIVE_LINE)
    assert capfd.readouterr().err == NATIVE_LINE.decode()


class _StreamOnDescriptor2(io.StringIO):
    """A stream that reports descriptor 2 without being the process's own stream (ipykernel's OutStream does)."""

    def fileno(self):
        return 2


class _NoDescriptor(io.StringIO):
    """A process stream whose descriptor cannot be asked for (some embedding hosts)."""

    def fileno(self):
        raise io.UnsupportedOperation("fileno")


@pytest.mark.parametrize("stream_on_2", [False, True])
def test_a_replaced_stream_even_on_descriptor_2_is_left_alone(capfd, monkeypatch, stream_on_2):
    replaced = _StreamOnDescriptor2() if stream_on_2 else _NoDescriptor()
    monkeypatch.setattr(sys, "stderr", replaced)
    if not stream_on_2:
        monkeypatch.setattr(sys, "__stderr__", replaced)  # the process's own, without a descriptor
    with runtime.native_stderr_hidden():
        assert sys.stderr is replaced
        os.write(2, NATIVE_LINE)
    assert capfd.readouterr().err == NATIVE_LINE.decode()


def test_text_written_before_the_block_is_flushed_out_first(capfd, monkeypatch):
    monkeypatch.setattr(sys, "stderr", sys.__stderr__)
    capfd.readouterr()
    stream = sys.stderr
    stream.write("before ")  # no newline: still in the stream's buffer
    with runtime.native_stderr_hidden():
        stream.write("through a stream held from before: to descriptor 2, hidden\n")
        stream.flush()
    assert capfd.readouterr().err == "before "


def test_python_lines_arrive_as_they_are_written_inside_the_block(capfd, monkeypatch):
    monkeypatch.setattr(sys, "stderr", sys.__stderr__)
    capfd.readouterr()
    with runtime.native_stderr_hidden():
        sys.stderr.write("epoch 1\n")  # a progress line: seen now, not when the command ends
        assert capfd.readouterr().err == "epoch 1\n"


def test_the_block_leaves_no_descriptor_open(monkeypatch):
    monkeypatch.setattr(sys, "stderr", sys.__stderr__)
    before = sorted(os.listdir("/proc/self/fd"))
    with runtime.native_stderr_hidden():
        pass
    assert sorted(os.listdir("/proc/self/fd")) == before


def test_the_command_line_runs_its_command_inside_it_unless_tf_logs(monkeypatch):
    import contextlib

    from inception_tf import cli

    inside, seen, configured = [False], [], []

    @contextlib.contextmanager
    def recording():
        inside[0] = True
        yield
        inside[0] = False

    monkeypatch.setattr(runtime, "configure", lambda tensorflow_logs=False: configured.append(tensorflow_logs))
    monkeypatch.setattr(runtime, "native_stderr_hidden", recording)
    monkeypatch.setattr(cli, "_costs", lambda args: seen.append(inside[0]) or 0)
    assert cli.main(["costs"]) == 0 and cli.main(["--tf-logs", "costs"]) == 0
    assert seen == [True, False] and configured == [False, True]
    monkeypatch.setattr(sys, "argv", ["inception-tf", "costs"])  # no argv: the process's own
    assert cli.main() == 0 and seen == [True, False, True]


def test_logging_handlers_holding_the_stream_keep_reaching_it(capfd, monkeypatch):
    # TensorFlow's logger keeps a StreamHandler of the sys.stderr of its first use.
    monkeypatch.setattr(sys, "stderr", sys.__stderr__)
    before = logging.getLogger("tests.runtime.before")
    made_before = logging.StreamHandler(sys.stderr)
    before.addHandler(made_before)
    inside_logger = logging.getLogger("tests.runtime.inside")
    for logger in (before, inside_logger):  # the root's handlers (pytest's, in some processes) stay out of it
        monkeypatch.setattr(logger, "propagate", False)
    capfd.readouterr()
    try:
        with runtime.native_stderr_hidden():
            before.error("logged inside, by a handler made before")
            made_inside = logging.StreamHandler(sys.stderr)
            inside_logger.addHandler(made_inside)
        inside_logger.error("logged after, by a handler made inside")
        assert made_before.stream is sys.__stderr__ and made_inside.stream is sys.__stderr__
        assert capfd.readouterr().err == ("logged inside, by a handler made before\n"
                                          "logged after, by a handler made inside\n")
    finally:
        before.removeHandler(made_before)
        inside_logger.handlers.clear()


def test_without_dev_null_the_block_changes_nothing(capfd, monkeypatch):
    monkeypatch.setattr(sys, "stderr", sys.__stderr__)
    open_file = os.open

    def no_dev_null(path, *args, **kwargs):
        if path == os.devnull:
            raise PermissionError(13, "Permission denied", path)
        return open_file(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", no_dev_null)
    before = sorted(os.listdir("/proc/self/fd"))
    with runtime.native_stderr_hidden():
        assert sys.stderr is sys.__stderr__
        os.write(2, NATIVE_LINE)
    assert capfd.readouterr().err == NATIVE_LINE.decode()
    assert sorted(os.listdir("/proc/self/fd")) == before
