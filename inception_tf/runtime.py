"""Process settings for TensorFlow, applied by the entry points that want them.

`import inception_tf` changes nothing; the `inception-tf` command (and a
library user who wants the same) calls `configure()` before TensorFlow starts:

- TensorFlow's best-fit allocator for CPU tensors (`TF_CPU_ALLOCATOR_USE_BFC`),
  which reuses freed buffers instead of faulting fresh pages in for every op
  (GoogLeNet about 19% faster on CPU; benchmarks/RESULTS.md);
- quiet start-up: TensorFlow's C++ start-up lines (oneDNN notes, CUDA probes,
  the `cuInit` error of a CPU-only machine) and Python warnings are hidden
  unless `tensorflow_logs=True` (`--tf-logs`).

TensorFlow 2.21 writes its C++ log lines whatever `TF_CPP_MIN_LOG_LEVEL`
says, and not only at start-up: a multi-worker strategy probes CUDA again when
it starts its server, tf.data warns about partly read caches. The
`inception-tf` command therefore runs inside `native_stderr_hidden()` (unless
`--tf-logs`): C++ writes to the process's stderr go nowhere, Python's
`sys.stderr` (its messages, warnings, tracebacks, progress bars) still reaches it.
A fatal error inside TensorFlow's C++ code then ends the process without its
message: `--tf-logs` shows it.

A value the user has set in the environment always wins.
"""

import contextlib
import os
import sys


def configure(tensorflow_logs=False):
    """Applies the settings above; call before TensorFlow is imported for all of them to apply.

    Args:
        tensorflow_logs: bool. Keep TensorFlow's own log lines. Defaults to False.
    """
    if "tensorflow" not in sys.modules:
        os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")
    if tensorflow_logs:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")
    if "tensorflow" not in sys.modules:
        with _quiet_stderr():
            import tensorflow as tf  # noqa: F401  (its start-up lines go to the redirected stderr)
    import logging

    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    try:
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
    except ImportError:
        pass


@contextlib.contextmanager
def native_stderr_hidden():
    """Inside the block, file descriptor 2 goes to /dev/null and `sys.stderr` writes to a duplicate of it.

    So what C and C++ code writes to stderr (TensorFlow's log lines) is hidden
    while everything Python writes to `sys.stderr` arrives as before, and so
    do logging handlers that hold the stream itself (those made before the block
    write to the duplicate inside it, those made inside it write to the stream
    afterwards). Only where `sys.stderr` is the process's own stream on
    descriptor 2 (a terminal, a pipe, a file); under a replaced stream (pytest's
    capture, a notebook), or where /dev/null cannot be opened, the block changes
    nothing. Everything is restored afterwards, whatever happens inside.
    """
    stream = sys.stderr
    try:
        own = stream is sys.__stderr__ and stream.fileno() == 2
    except (AttributeError, OSError, ValueError):  # a stream without a descriptor
        own = False
    if not own:
        yield
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        yield
        return
    stream.flush()
    python_stderr = os.fdopen(os.dup(2), "w", buffering=1, encoding=stream.encoding, errors=stream.errors)
    os.dup2(devnull, 2)
    os.close(devnull)
    sys.stderr = python_stderr
    _move_handlers(stream, python_stderr)
    try:
        yield
    finally:
        python_stderr.flush()
        os.dup2(python_stderr.fileno(), 2)
        sys.stderr = stream
        _move_handlers(python_stderr, stream)
        python_stderr.close()


def _move_handlers(old, new):
    """Points every logging `StreamHandler` that writes to the stream `old` at `new`."""
    import logging

    loggers = [logging.getLogger()] + [logger for logger in logging.Logger.manager.loggerDict.values()
                                       if isinstance(logger, logging.Logger)]
    for logger in loggers:
        for handler in logger.handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream is old:
                handler.setStream(new)


@contextlib.contextmanager
def _quiet_stderr():
    """Sends file descriptor 2 to /dev/null inside the block (C++ log lines bypass Python's sys.stderr)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (some notebooks): nothing to hide
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
