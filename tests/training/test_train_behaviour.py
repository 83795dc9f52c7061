"""Training behaviour, in process and tiny: loss weights, resumption, finished runs."""

import csv
import json

import keras
import numpy as np
import pytest

from inception_tf.training import train
from inception_tf.training.train import TrainConfig


def tiny(tmp_path, tfds_dir, **overrides):
    settings = dict(epochs=2, steps_per_epoch=1, batch_size=4, image_size=32, output_dir=str(tmp_path),
                    data_dir=tfds_dir, verbose=0, seed=11)
    settings.update(overrides)
    return TrainConfig(**settings)


def history_rows(path):
    with open(path) as handle:
        return list(csv.DictReader(handle))


class _Interrupt(Exception):
    pass


def test_loss_is_main_plus_three_tenths_of_each_aux(tmp_path, tfds_dir):
    # The paper: "the losses of the auxiliary classifiers were weighted by 0.3".
    history = train.train(tiny(tmp_path, tfds_dir, epochs=1))
    row = history_rows(history.artifacts["history_csv"])[0]
    for prefix in ("", "val_"):
        main, aux1, aux2 = (float(row[f"{prefix}{name}_loss"]) for name in ("main", "aux1", "aux2"))
        assert float(row[f"{prefix}loss"]) == pytest.approx(main + 0.3 * aux1 + 0.3 * aux2, rel=1e-4)


def test_interrupted_run_resumes_at_the_right_epoch_and_finished_runs_are_kept(tmp_path, tfds_dir, monkeypatch):
    class InterruptAfterFirstEpoch(keras.callbacks.TensorBoard):  # the last callback: every file is written
        def on_epoch_end(self, epoch, logs=None):
            super().on_epoch_end(epoch, logs)
            if epoch == 0:
                raise _Interrupt()

    config = tiny(tmp_path, tfds_dir, epochs=3)
    with monkeypatch.context() as patch:
        patch.setattr(keras.callbacks, "TensorBoard", InterruptAfterFirstEpoch)
        with pytest.raises(_Interrupt):
            train.train(config)

    history = train.train(config)
    assert history.metrics["resumed_from_epoch"] == 1
    assert history.metrics["epochs_run_by_this_process"] == 2
    assert [row["epoch"] for row in history_rows(history.artifacts["history_csv"])] == ["0", "1", "2"]

    with pytest.raises(FileExistsError, match=r"finished run .*--overwrite.*--run-name"):
        train.train(config)
    again = train.train(tiny(tmp_path, tfds_dir, epochs=1, overwrite=True))
    assert again.metrics["resumed_from_epoch"] == 0
    assert [row["epoch"] for row in history_rows(again.artifacts["history_csv"])] == ["0"]
    assert json.loads(open(again.artifacts["metrics"]).read())["epochs_requested"] == 1


def test_ema_saves_the_moving_average_of_the_trained_weights(tmp_path, tfds_dir):
    # Polyak averaging (the paper's "Polyak averaging ... to create the final model"): the saved model holds
    # the exponential moving average of the weights along training, not the last weights.
    class RecordWeights(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.steps = []

        def on_train_batch_end(self, batch, logs=None):
            self.steps.append([np.array(v) for v in self.model.trainable_variables])

    recorder = RecordWeights()
    history = train.train(tiny(tmp_path, tfds_dir, epochs=1, steps_per_epoch=4, ema=True, aux_logits=False),
                          callbacks=[recorder])
    momentum = keras.optimizers.SGD(use_ema=True).ema_momentum  # Keras' default, 0.99
    expected = [step.copy() for step in recorder.steps[0]]  # the first step starts the average
    for step in recorder.steps[1:]:
        expected = [momentum * average + (1 - momentum) * value for average, value in zip(expected, step)]
    saved = keras.models.load_model(history.artifacts["model"])
    names = [v.path for v in saved.trainable_variables]
    for name, got, want, last in zip(names, saved.trainable_variables, expected, recorder.steps[-1]):
        np.testing.assert_allclose(np.array(got), want, rtol=1e-5, atol=1e-6, err_msg=name)
    moved = [np.abs(w - l).max() for w, l in zip(expected, recorder.steps[-1])]
    assert max(moved) > 1e-4  # the average differs from the last weights, so the check can tell them apart


def test_the_saved_model_is_the_best_validation_epoch(tmp_path, tfds_dir):
    history = train.train(tiny(tmp_path, tfds_dir, epochs=4, steps_per_epoch=3, aux_logits=False,
                               validation_split="train[90%:]", learning_rate=0.05))
    rows = history_rows(history.artifacts["history_csv"])
    accuracies = [float(row["val_accuracy"]) for row in rows]
    best_epoch = accuracies.index(max(accuracies))  # the first epoch reaching the maximum
    assert history.metrics["best_epoch"] == best_epoch + 1
    assert history.metrics["model_weights"] == "best epoch"
    saved = keras.models.load_model(history.artifacts["model"]).get_weights()
    best = keras.models.load_model(history.artifacts["best_model"]).get_weights()
    for a, b in zip(saved, best):
        np.testing.assert_array_equal(a, b)
    if best_epoch != len(rows) - 1:  # then the last epoch's weights differ from what was saved
        assert history.metrics["validation"]["accuracy"] == pytest.approx(accuracies[-1])
