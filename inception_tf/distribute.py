"""Choosing a `tf.distribute` strategy, and making Keras 3's multi-worker path work.

`get_strategy("auto")` picks, in this order: MultiWorkerMirroredStrategy when
`TF_CONFIG` names several workers; TPUStrategy when a TPU is attached (Colab,
Cloud TPU VMs); MirroredStrategy over several GPUs; the one GPU; else the
default strategy on the CPU. It logs its choice.
"""

import json
import logging
import os

import keras
import tensorflow as tf

logger = logging.getLogger("inception_tf")

STRATEGIES = ("auto", "default", "one_device", "mirrored", "multi_worker", "tpu")


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
        patch_keras_multi_worker()
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


# --- Keras 3 multi-worker fix --------------------------------------------------
# Keras 3 (through 3.15.1) fails under MultiWorkerMirroredStrategy in two places
# of keras/src/backend/tensorflow/trainer.py (keras-team/keras#20585,
# tensorflow/tensorflow#72388):
#   (a) `_maybe_symbolic_build` reduces the whole first (x, y) batch of
#       PerReplica values with `strategy.reduce("MEAN", ..., axis=None)`, which
#       CollectiveAllReduceStrategy rejects ("unsupported type PerReplica");
#       the build needs only shapes, so the first local replica's batch serves.
#   (b) `reduce_per_replica` reduces scalar logs with `axis=0`, which fails
#       ("Invalid reduction dimension 0 for input with 0 dimensions"); rank-0
#       values are reduced with `axis=None`.
# The fix is applied only to Keras versions known to need it, only changes
# behaviour under a multi-worker collective strategy, and a two-process test
# checks that both workers end with identical weights.
_PATCHED_KERAS_VERSIONS = ((3, 0), (3, 15))


def _keras_version():
    return tuple(int(part) for part in keras.__version__.split(".")[:2])


def keras_multi_worker_needs_patch():
    """Whether this Keras version is one whose multi-worker path the patch repairs."""
    low, high = _PATCHED_KERAS_VERSIONS
    return low <= _keras_version() <= high


def patch_keras_multi_worker():
    """Applies the multi-worker fix above (idempotent); returns whether it is in place."""
    from keras.src.backend.tensorflow import trainer as tf_trainer

    if not keras_multi_worker_needs_patch():
        return False
    if getattr(tf_trainer, "_inception_tf_multi_worker_patch", False):
        return True
    original_build = tf_trainer.TensorFlowTrainer._maybe_symbolic_build
    original_reduce = tf_trainer.reduce_per_replica
    is_multi_worker = tf_trainer._collective_all_reduce_multi_worker

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        strategy = self._distribute_strategy
        if strategy is None or iterator is None or not is_multi_worker(strategy):
            return original_build(self, iterator=iterator, data_batch=data_batch)
        for _, _, it in iterator:
            batch = next(it)
            data_batch = tf.nest.map_structure(
                lambda v: strategy.experimental_local_results(v)[0]
                if isinstance(v, tf.distribute.DistributedValues) else v,
                batch,
            )
            break
        with strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and is_multi_worker(strategy):
            def reduce_one(value):
                local = value
                if tf_trainer._is_per_replica_instance(value):
                    local = strategy.experimental_local_results(value)[0]
                if isinstance(local, tf.Tensor) and local.shape.rank == 0:
                    return strategy.reduce("MEAN", value, axis=None)
                return original_reduce(value, strategy, reduction)

            return tf.nest.map_structure(reduce_one, values)
        return original_reduce(values, strategy, reduction)

    tf_trainer.TensorFlowTrainer._maybe_symbolic_build = _maybe_symbolic_build
    tf_trainer.reduce_per_replica = reduce_per_replica
    tf_trainer._inception_tf_multi_worker_patch = True
    return True
