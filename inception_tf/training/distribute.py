"""Choosing a `tf.distribute` strategy, and making Keras 3's multi-worker path work.

`get_strategy("auto")` picks, in this order: MultiWorkerMirroredStrategy when
`TF_CONFIG` names several workers; TPUStrategy when a TPU is attached (Colab,
Cloud TPU VMs); MirroredStrategy over several GPUs; the one GPU; else the
default strategy on the CPU. It logs its choice.
"""

import contextlib
import json
import logging
import os
import re

import tensorflow as tf

from inception_tf.training import keras_compat
from inception_tf.training.config import STRATEGIES

logger = logging.getLogger("inception_tf")

# What a collective op raises under MultiWorkerMirroredStrategy when a peer dies: Unavailable
# (connection reset, or TensorFlow's health check aborting the collectives), and, depending on
# where the op was, Internal, DeadlineExceeded, Cancelled, Aborted or FailedPrecondition (a peer
# that restarted).
_COLLECTIVE_FAILURES = (
    tf.errors.UnavailableError, tf.errors.InternalError, tf.errors.DeadlineExceededError,
    tf.errors.CancelledError, tf.errors.AbortedError, tf.errors.FailedPreconditionError,
)
_COLLECTIVE_MESSAGE = re.compile(r"collective|check alive", re.IGNORECASE)
_PEER = re.compile(r"/job:\w+/replica:\d+/task:\d+")


class WorkerLost(RuntimeError):
    """A multi-worker cluster lost a worker mid-training; `str()` is one line saying how to resume."""


def _lost_worker_message(error, resume_from):
    peer = _PEER.search(str(error))
    which = f"a worker ({peer.group(0)})" if peer else "a worker"
    return (
        f"The training cluster lost {which}: its collective operations failed "
        f"({type(error).__name__}). Rerun the same command on every worker to resume from the last "
        f"completed epoch (state in {resume_from})."
    )


@contextlib.contextmanager
def worker_loss_reported(strategy, resume_from):
    """Inside it, a collective op failing under a multi-worker strategy raises `WorkerLost`.

    Args:
        strategy: the `tf.distribute.Strategy` training runs under; under any
            other than `MultiWorkerMirroredStrategy` errors pass unchanged.
        resume_from: str. Where the run's resumable state is (named in the message).

    Raises:
        WorkerLost: from the TensorFlow error (kept as `__cause__`).
    """
    try:
        yield
    except _COLLECTIVE_FAILURES as error:
        multi_worker = isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
        if not multi_worker or not _COLLECTIVE_MESSAGE.search(str(error)):
            raise
        raise WorkerLost(_lost_worker_message(error, resume_from)) from error


def tf_config():
    """The parsed `TF_CONFIG` environment variable, or {} when unset."""
    raw = os.environ.get("TF_CONFIG", "")
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG is not valid JSON: {error}") from None


def _num_workers(config):
    cluster = config.get("cluster", {})
    return len(cluster.get("worker", [])) + len(cluster.get("chief", []))


def _tpu_resolver():
    """A connected TPU cluster resolver, or None where no TPU is attached."""
    if not (os.environ.get("TPU_NAME") or os.environ.get("COLAB_TPU_ADDR") or os.path.exists("/dev/accel0")
            or os.path.exists("/dev/vfio/0")):
        return None
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return resolver
    except (ValueError, tf.errors.OpError, RuntimeError) as error:
        logger.warning("A TPU seemed attached but could not be initialised: %s", error)
        return None


def _auto_choice():
    if _num_workers(tf_config()) > 1:
        return "multi_worker", None
    resolver = _tpu_resolver()
    if resolver is not None:
        return "tpu", resolver
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return "mirrored", None
    if len(gpus) == 1:
        return "one_device", None
    return "default", None


def get_strategy(name="auto"):
    """A `tf.distribute.Strategy` by name.

    Args:
        name: str. One of `"auto"`, `"default"` (no distribution: the CPU or
            the first GPU), `"one_device"` (the first GPU, else the CPU),
            `"mirrored"` (all local GPUs, or all logical CPUs where there is
            no GPU), `"multi_worker"` (MultiWorkerMirroredStrategy from
            `TF_CONFIG`) or `"tpu"`.

    Returns:
        The strategy. Its `num_replicas_in_sync` times the per-replica batch
        size is the global batch size.

    Raises:
        ValueError: an unknown name, or `"tpu"` without a TPU.
    """
    if name not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}. Received: strategy={name!r}")
    resolver = None
    chosen = name
    if name == "auto":
        chosen, resolver = _auto_choice()
    strategy = _make(chosen, resolver)
    logger.info(
        "Strategy: %s (%s requested), %d replica(s) in sync",
        type(strategy).__name__, name, strategy.num_replicas_in_sync,
    )
    return strategy


def _make(name, resolver):
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "one_device":
        device = "/gpu:0" if tf.config.list_logical_devices("GPU") else "/cpu:0"
        return tf.distribute.OneDeviceStrategy(device)
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
        return tf.distribute.MirroredStrategy(devices)
    if name == "multi_worker":
        if not tf_config():
            raise ValueError("strategy='multi_worker' needs the TF_CONFIG environment variable.")
        keras_compat.patch_keras_multi_worker()
        return tf.distribute.MultiWorkerMirroredStrategy()
    resolver = resolver or _tpu_resolver()
    if resolver is None:
        raise ValueError("strategy='tpu' but no TPU is attached (no TPU_NAME, COLAB_TPU_ADDR or TPU device).")
    return tf.distribute.TPUStrategy(resolver)


def is_chief():
    """Whether this process is the chief: single-process, the chief task, or worker 0 without one."""
    config = tf_config()
    task = config.get("task", {})
    if not task:
        return True
    if task.get("type") == "chief":
        return True
    has_chief = bool(config.get("cluster", {}).get("chief"))
    return task.get("type") == "worker" and task.get("index", 0) == 0 and not has_chief


def task_id():
    """A name for this process's task: `"chief"`, `"worker_1"`, ... (`"chief"` when single-process)."""
    if is_chief():
        return "chief"
    task = tf_config().get("task", {})
    return f"{task.get('type', 'worker')}_{task.get('index', 0)}"
