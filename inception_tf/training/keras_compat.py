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
The fix is applied only to the Keras versions that the two-process test
(tests/training/test_distribute.py) was run on, only changes behaviour under a
multi-worker collective strategy, and that test checks that both workers end
with identical weights. Any other Keras is refused for multi-worker training
before `fit` starts, with a message naming it and the tested versions.
"""

import keras
import tensorflow as tf

# (major, minor) of the Keras releases the two-process test passed on:
# 3.13.2 (Colab's, with TensorFlow 2.20), 3.14.1 and 3.15.1 (with TensorFlow 2.21).
MULTI_WORKER_TESTED_KERAS = ((3, 13), (3, 14), (3, 15))


def _keras_version():
    return tuple(int(part) for part in keras.__version__.split(".")[:2])


def keras_multi_worker_tested():
    """Whether this Keras is one whose multi-worker path the fix was tested on."""
    return _keras_version() in MULTI_WORKER_TESTED_KERAS


def _tested_versions_text():
    return ", ".join(f"{major}.{minor}" for major, minor in MULTI_WORKER_TESTED_KERAS)


def _tested_requirement():
    (low_major, low_minor), (high_major, high_minor) = MULTI_WORKER_TESTED_KERAS[0], MULTI_WORKER_TESTED_KERAS[-1]
    return f"keras>={low_major}.{low_minor},<{high_major}.{high_minor + 1}"


def patch_keras_multi_worker():
    """Applies the multi-worker fix above (idempotent).

    Raises ValueError, before any training, on a Keras the fix was not tested on.
    """
    if not keras_multi_worker_tested():
        raise ValueError(
            f"multi-worker training is tested on Keras {_tested_versions_text()} only "
            f"(inception_tf.training.keras_compat repairs keras-team/keras#20585 there); "
            f"this is Keras {keras.__version__}. Install a tested Keras "
            f'(pip install "{_tested_requirement()}") or train on one worker.'
        )
    from keras.src.backend.tensorflow import trainer as tf_trainer

    if getattr(tf_trainer, "_inception_tf_multi_worker_patch", False):
        return
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
