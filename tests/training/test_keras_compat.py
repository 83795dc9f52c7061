"""The Keras multi-worker fix, in process: what the two repaired trainer functions do under a
collective multi-worker strategy (keras-team/keras#20585), and that everything else reaches Keras
unchanged. The two-process run itself is in test_distribute.py."""

import contextlib

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras.src.backend.tensorflow import trainer as tf_trainer
from tensorflow.python.distribute.values import PerReplica

from inception_tf.training import keras_compat


class CollectiveStrategy:
    """Stands in for a MultiWorkerMirroredStrategy in multi-worker mode; records its reductions and scopes."""

    def __init__(self):
        self.reduced = []
        self.in_scope = False

    @contextlib.contextmanager
    def scope(self):
        self.in_scope = True
        try:
            yield
        finally:
            self.in_scope = False

    def experimental_local_results(self, value):
        return value.values

    def reduce(self, reduction, value, axis):
        self.reduced.append((reduction, value, axis))
        return ("reduced", reduction)


class OtherStrategy(CollectiveStrategy):
    """Any strategy that is not a collective multi-worker one."""


class Model:
    """What the repaired build reads of a Keras model: its strategy and `_symbolic_build`."""

    def __init__(self, strategy):
        self._distribute_strategy = strategy
        self.built_with = []

    def _symbolic_build(self, data_batch=None):
        self.built_with.append((data_batch, self._distribute_strategy.in_scope))


@pytest.fixture
def unfixed_keras(monkeypatch):
    """Keras' trainer module as it was before the fix, with recording stand-ins for the two functions the fix
    wraps; the collective test sees only `CollectiveStrategy`. Everything is restored after the test."""
    calls = {"build": [], "reduce": []}

    def keras_build(self, iterator=None, data_batch=None):
        calls["build"].append((self, iterator, data_batch))

    def keras_reduce(values, strategy, reduction):
        calls["reduce"].append((values, strategy, reduction))
        return "keras"

    monkeypatch.setattr(keras, "__version__", "3.15.1")
    monkeypatch.setattr(tf_trainer.TensorFlowTrainer, "_maybe_symbolic_build", keras_build)
    monkeypatch.setattr(tf_trainer, "reduce_per_replica", keras_reduce)
    monkeypatch.setattr(tf_trainer, "_collective_all_reduce_multi_worker",
                        lambda strategy: type(strategy) is CollectiveStrategy)
    # Present (so it is removed again afterwards), then absent: the state of a Keras never fixed.
    monkeypatch.setattr(tf_trainer, "_inception_tf_multi_worker_patch", False, raising=False)
    monkeypatch.delattr(tf_trainer, "_inception_tf_multi_worker_patch")
    calls["keras_build"], calls["keras_reduce"] = keras_build, keras_reduce
    return calls


def test_the_fix_replaces_both_trainer_functions_once(unfixed_keras):
    keras_compat.patch_keras_multi_worker()
    build = tf_trainer.TensorFlowTrainer._maybe_symbolic_build
    reduce = tf_trainer.reduce_per_replica
    assert build is not unfixed_keras["keras_build"] and reduce is not unfixed_keras["keras_reduce"]
    keras_compat.patch_keras_multi_worker()  # a second call changes nothing: no fix wrapped in a fix
    assert tf_trainer.TensorFlowTrainer._maybe_symbolic_build is build
    assert tf_trainer.reduce_per_replica is reduce


def test_an_untested_keras_is_refused_with_the_trainer_untouched(unfixed_keras, monkeypatch):
    monkeypatch.setattr(keras, "__version__", "3.16.0")
    with pytest.raises(ValueError, match="this is Keras 3.16.0"):
        keras_compat.patch_keras_multi_worker()
    assert tf_trainer.TensorFlowTrainer._maybe_symbolic_build is unfixed_keras["keras_build"]
    assert tf_trainer.reduce_per_replica is unfixed_keras["keras_reduce"]


def test_multi_worker_build_reads_the_first_local_replicas_batch(unfixed_keras):
    keras_compat.patch_keras_multi_worker()
    strategy = CollectiveStrategy()
    images = (tf.fill((2, 4), 1.0), tf.fill((2, 4), 2.0))
    labels = (tf.constant([0, 1]), tf.constant([2, 3]))
    weights = np.ones(2, "float32")  # not distributed: passed as it is
    batches = iter([(PerReplica(images), PerReplica(labels), weights), "never read"])
    model = Model(strategy)
    tf_trainer.TensorFlowTrainer._maybe_symbolic_build(model, iterator=[(0, 4, batches)])
    assert len(model.built_with) == 1 and unfixed_keras["build"] == []
    (built_images, built_labels, built_weights), in_scope = model.built_with[0]
    np.testing.assert_array_equal(built_images, np.ones((2, 4)))
    np.testing.assert_array_equal(built_labels, [0, 1])
    assert built_weights is weights
    assert in_scope  # built inside strategy.scope(), as Keras builds
    assert strategy.reduced == []  # the batch is never all-reduced (CollectiveAllReduce refuses PerReplica)
    assert next(batches) == "never read"  # one batch taken from the iterator


@pytest.mark.parametrize("case", ["no strategy", "no iterator", "other strategy"])
def test_build_outside_a_multi_worker_strategy_is_keras_own(unfixed_keras, case):
    keras_compat.patch_keras_multi_worker()
    strategy = {"no strategy": None, "no iterator": CollectiveStrategy(), "other strategy": OtherStrategy()}[case]
    iterator = None if case == "no iterator" else [(0, 1, iter(["batch"]))]
    model = Model(strategy)
    tf_trainer.TensorFlowTrainer._maybe_symbolic_build(model, iterator=iterator, data_batch="given")
    assert unfixed_keras["build"] == [(model, iterator, "given")]
    assert model.built_with == []


@pytest.mark.parametrize("reduction", ["auto", "mean"])
def test_multi_worker_scalar_logs_are_averaged_over_all_replicas(unfixed_keras, reduction):
    keras_compat.patch_keras_multi_worker()
    strategy = CollectiveStrategy()
    loss = PerReplica((tf.constant(0.5),))  # one replica per worker: one local result
    already_reduced = tf.constant(2.0)
    per_example = PerReplica((tf.constant([1.0, 2.0]),))
    logs = {"loss": loss, "reduced": already_reduced, "per_example": per_example}
    result = tf_trainer.reduce_per_replica(logs, strategy, reduction)
    # Rank-0 values: reduced over all replicas with axis=None (Keras' axis=0 fails on a scalar).
    reduced = [(reduction, id(value), axis) for reduction, value, axis in strategy.reduced]
    assert reduced == [("MEAN", id(loss), None), ("MEAN", id(already_reduced), None)]
    assert result == {"loss": ("reduced", "MEAN"), "reduced": ("reduced", "MEAN"), "per_example": "keras"}
    # Anything of higher rank is Keras' own reduction, one value at a time.
    assert unfixed_keras["reduce"] == [(per_example, strategy, reduction)]


@pytest.mark.parametrize("reduction, strategy", [
    ("first", CollectiveStrategy()), ("sum", CollectiveStrategy()), ("auto", OtherStrategy()), ("mean", None),
])
def test_other_reductions_and_strategies_are_keras_own(unfixed_keras, reduction, strategy):
    keras_compat.patch_keras_multi_worker()
    logs = {"loss": PerReplica((tf.constant(0.5),))}
    assert tf_trainer.reduce_per_replica(logs, strategy, reduction) == "keras"
    assert unfixed_keras["reduce"] == [(logs, strategy, reduction)]  # the whole structure, once
