"""Keras 3 multi-worker fix: `model.fit` under MultiWorkerMirroredStrategy.

Keras 3 (through 3.15.1) fails under MultiWorkerMirroredStrategy in two places
of keras/src/backend/tensorflow/trainer.py (keras-team/keras#20585,
tensorflow/tensorflow#72388):
  (a) `_maybe_symbolic_build` reduces the whole first (x, y) batch of
      PerReplica values with `strategy.reduce("MEAN", ..., axis=None)`, which
      CollectiveAllReduceStrategy rejects ("unsupported type PerReplica");
      the build needs only shapes, so the first local replica's batch serves.
  (b) `reduce_per_replica` reduces scalar logs with `axis=0`, which fails
      ("Invalid reduction dimension 0 for input with 0 dimensions"); rank-0
      values are reduced with `axis=None`.
The fix is applied only to Keras versions known to need it, only changes
behaviour under a multi-worker collective strategy, and a two-process test
checks that both workers end with identical weights.
"""

import keras
import tensorflow as tf

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
