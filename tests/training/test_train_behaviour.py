"""Training behaviour, in process and tiny: loss weights, resumption, the best model, finished runs."""

import csv
import json

import keras
import numpy as np
import pytest
import tensorflow_datasets as tfds

from inception_tf.training import runs, train
from inception_tf.training.train import TrainConfig

pytestmark = pytest.mark.slow  # every test trains GoogLeNet (tens of seconds on 2 cores)


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


class _PredictOneClass(keras.callbacks.Callback):
    """Before each validation, makes the classifier predict `label` for every image (zero kernel, one bias)."""

    def __init__(self, label):
        super().__init__()
        self.label = label

    def on_test_begin(self, logs=None):
        logits = self.model.get_layer("logits")
        kernel, bias = logits.get_weights()
        logits.set_weights([np.zeros_like(kernel), 10.0 * np.eye(len(bias), dtype=bias.dtype)[self.label]])


class _InterruptAfterEpoch(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise _Interrupt()


def _weights(path):
    return keras.models.load_model(path).get_weights()


def test_a_resumed_run_never_replaces_a_better_best_model(tmp_path, tfds_dir):
    # Validation accuracy is made exact: predicting one class for every image scores that class's share of the
    # validation labels. Epoch 1 predicts the most frequent class; after the restart, epoch 2 the least frequent.
    config = tiny(tmp_path, tfds_dir, aux_logits=False)
    labels = np.array([label for _, label in tfds.as_numpy(tfds.load(
        "digits", split=config.validation_split, data_dir=tfds_dir, as_supervised=True))])
    shares = np.bincount(labels, minlength=10) / len(labels)
    frequent, rare = int(np.argmax(shares)), int(np.argmin(shares))
    assert shares[frequent] > shares[rare]

    with pytest.raises(_Interrupt):
        train.train(config, callbacks=[_PredictOneClass(frequent), _InterruptAfterEpoch(0)])
    best_before = _weights(tmp_path / "googlenet_digits" / "best.keras")

    history = train.train(config, callbacks=[_PredictOneClass(rare)])
    accuracies = [float(row["val_accuracy"]) for row in history_rows(history.artifacts["history_csv"])]
    np.testing.assert_allclose(accuracies, [shares[frequent], shares[rare]], atol=1e-6)
    assert history.metrics["resumed_from_epoch"] == 1
    assert history.metrics["best_epoch"] == 1
    assert history.metrics["best_validation_accuracy"] == pytest.approx(shares[frequent], abs=1e-6)
    assert history.metrics["model_weights"] == "best epoch"
    for path in (history.artifacts["best_model"], history.artifacts["model"]):
        for before, after in zip(best_before, _weights(path), strict=True):
            np.testing.assert_array_equal(after, before, err_msg=path)


def test_overwrite_removes_the_finished_run_before_training_starts(tmp_path, tfds_dir):
    old_content = b"the old run's\n"
    run_dir = tmp_path / "googlenet_digits"
    (run_dir / "logs").mkdir(parents=True)
    for name in ("metrics.json", "model.keras", "best.keras", "history.csv", "logs/old.tfevents"):
        (run_dir / name).write_bytes(old_content)

    class InterruptOnFirstBatch(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.found = sorted(str(path.relative_to(run_dir)) for path in run_dir.rglob("*") if path.is_file())
            raise _Interrupt()

    interrupt = InterruptOnFirstBatch()
    with pytest.raises(_Interrupt):
        train.train(tiny(tmp_path, tfds_dir, overwrite=True, aux_logits=False), callbacks=[interrupt])
    old = [name for name in interrupt.found if (run_dir / name).read_bytes() == old_content]
    assert old == [], interrupt.found
    assert not {"metrics.json", "model.keras", "best.keras"} & set(interrupt.found), interrupt.found
    assert not runs.is_finished(str(run_dir))  # the same command, --overwrite or not, now resumes it
