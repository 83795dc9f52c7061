"""Training: run directories, resumption after SIGKILL, divergence, the default CLI run."""

import csv
import dataclasses
import json
import math
import os
import re
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from inception_tf.models import recipes
from inception_tf.models.preprocessing import model_record
from inception_tf.training import train
from inception_tf.training.train import TrainConfig
from tests.training.test_train_behaviour import _Interrupt, _InterruptAfterEpoch


def quick(tmp_path, tfds_dir, **overrides):
    settings = dict(epochs=2, steps_per_epoch=2, batch_size=8, output_dir=str(tmp_path), data_dir=tfds_dir,
                    verbose=0)
    settings.update(overrides)
    return TrainConfig(**settings)


def read_history(path):
    with open(path) as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
def test_run_directory_holds_every_artifact(tmp_path, tfds_dir):
    history = train.train(quick(tmp_path, tfds_dir))
    artifacts = history.artifacts
    assert artifacts["run_dir"] == str(tmp_path / "googlenet_digits")
    metrics = json.loads(open(artifacts["metrics"]).read())
    assert metrics == history.metrics
    assert metrics["epochs_run"] == 2 and metrics["resumed_from_epoch"] == 0
    assert metrics["strategy"] == "_DefaultDistributionStrategy" and metrics["replicas"] == 1
    assert metrics["precision"] == "float32" and metrics["image_size"] == 32
    assert set(metrics["test"]) == {"accuracy", "loss"} and set(metrics["validation"]) >= {"main_accuracy"}
    assert metrics["class_names"] == list("0123456789")
    assert [row["epoch"] for row in read_history(artifacts["history_csv"])] == ["0", "1"]
    assert os.listdir(artifacts["tensorboard"])
    assert not os.path.exists(os.path.join(artifacts["run_dir"], "backup"))  # removed when training ends
    assert not [name for name in os.listdir(artifacts["run_dir"]) if name.startswith(".tmp-")]
    model = keras.models.load_model(artifacts["model"])
    assert model.output_shape == (None, 10)  # the inference model: main output only
    # What training records for the model's users: its pipeline's test geometry and the dataset's names.
    assert model_record(model) == ("tf", "square", list("0123456789"))
    best = keras.models.load_model(artifacts["best_model"])
    assert best.output_shape == (None, 10)


@pytest.mark.slow
def test_mixed_bfloat16_and_ema(tmp_path, tfds_dir):
    history = train.train(quick(tmp_path, tfds_dir, precision="mixed_bfloat16", ema=True, epochs=1,
                                aux_logits=False))
    assert history.metrics["precision"] == "mixed_bfloat16"
    assert math.isfinite(history.metrics["test"]["loss"])
    assert keras.config.dtype_policy().name == "float32"  # restored afterwards


@pytest.mark.slow
def test_slidenet_trains_with_its_source_recipe(tmp_path, tfds_dir):
    # 140 million weights: a few examples per split keep the run short.
    history = train.train(quick(tmp_path, tfds_dir, model="slidenet", epochs=1, train_split="train[:16]",
                                validation_split="train[16:24]", test_split="test[:8]"))
    model = keras.models.load_model(history.artifacts["model"])
    assert model.input_shape == (None, 28, 28, 1)
    assert history.metrics["config"]["model"] == "slidenet"


@pytest.mark.slow
def test_sigkill_mid_training_resumes_from_the_last_backup(tmp_path, tfds_dir, run_cli):
    args = ["train", "--epochs", "5", "--steps-per-epoch", "6", "--batch-size", "8", "--output-dir", str(tmp_path),
            "--data-dir", tfds_dir, "--verbose", "2", "--export-dir", ""]
    history_csv = tmp_path / "googlenet_digits" / "history.csv"
    # SIGKILL ends a process: the run it kills is one of its own; the same command resumes here.
    process = subprocess.Popen([sys.executable, "-m", "inception_tf.cli", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    while time.time() < deadline and process.poll() is None:
        if history_csv.exists() and len(read_history(history_csv)) >= 2:
            break
        time.sleep(0.2)
    assert process.poll() is None, "training ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_after = len(read_history(history_csv))
    assert killed_after >= 2 and not (tmp_path / "googlenet_digits" / "metrics.json").exists()

    resumed = run_cli(*args)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert re.search(r"^Resuming from epoch (\d+) of 5 \((\d+) completed", resumed.stderr, re.M), resumed.stderr[-2000:]
    metrics = json.loads((tmp_path / "googlenet_digits" / "metrics.json").read_text())
    assert metrics["resumed_from_epoch"] >= 2  # not from epoch 0
    assert metrics["epochs_run"] == 5
    assert metrics["epochs_run_by_this_process"] == 5 - metrics["resumed_from_epoch"]
    epochs = [int(row["epoch"]) for row in read_history(history_csv)]
    # The epochs before the kill, then the rest; an interrupted epoch is redone from its first batch.
    assert epochs[-1] == 4 and epochs[epochs.index(metrics["resumed_from_epoch"]) - 1] == metrics["resumed_from_epoch"] - 1
    assert epochs.count(0) == 1


@pytest.mark.slow
def test_default_cli_run_reaches_95_percent_on_digits(tmp_path, run_cli):
    start = time.perf_counter()
    result = run_cli("train", "--output-dir", tmp_path / "runs", "--export-dir", tmp_path / "saved", "--verbose", "2")
    elapsed = time.perf_counter() - start
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((tmp_path / "runs" / "googlenet_digits" / "metrics.json").read_text())
    assert metrics["model"] == "googlenet" and metrics["dataset"] == "digits"
    assert metrics["config"]["aux_logits"] and metrics["image_size"] == 32
    assert metrics["test"]["accuracy"] >= 0.95, metrics["test"]
    assert "test accuracy" in result.stdout
    assert str(tmp_path / "runs" / "googlenet_digits" / "model.keras") in result.stdout
    exported = tmp_path / "saved" / "googlenet_digits" / "1"
    assert f"SavedModel:       {exported}" in result.stdout
    assert (exported / "saved_model.pb").exists() and (exported / "assets" / "class_names.txt").exists()
    assert "Strategy:" in result.stderr
    print(f"\n  default run: test accuracy {metrics['test']['accuracy']:.4f} in {elapsed:.0f} s")
    # The model's own protocol (evaluate without --crops) is the run's test accuracy.
    evaluated = run_cli("evaluate", "--model", tmp_path / "runs" / "googlenet_digits", "--dataset", "digits")
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    lines = evaluated.stdout.splitlines()
    report = json.loads("\n".join(lines[lines.index("{"):]))["model"]
    assert report["geometry"] == "square"
    assert abs(report["top1_accuracy"] - metrics["test"]["accuracy"]) <= 0.003, (report, metrics["test"])


@pytest.mark.parametrize(
    "args,message",
    [(["--epochs", "0"], "expected a positive integer"), (["--learning-rate", "abc"], "expected a positive number"),
     (["--strategy", "gpu"], "invalid choice"), (["--precision", "fp8"], "invalid choice")],
)
def test_bad_flags_exit_nonzero_with_one_line(args, message, run_cli):
    result = run_cli("train", *args)
    assert result.returncode == 2
    assert message in result.stderr.strip().splitlines()[-1]


@pytest.mark.slow
def test_diverging_run_stops_with_one_line_and_keeps_no_model(tmp_path, tfds_dir, run_cli):
    result = run_cli("train", "--learning-rate", "1e12", "--epochs", "3", "--steps-per-epoch", "4", "--batch-size", "8",
                     "--no-aux", "--output-dir", tmp_path, "--data-dir", tfds_dir, "--verbose", "0")
    assert result.returncode == 3
    assert re.fullmatch(r"inception-tf train: error: Training diverged: the loss became .* at epoch 1, batch \d.*",
                        result.stderr.strip().splitlines()[-1]), result.stderr[-2000:]
    assert not os.path.exists(tmp_path / "googlenet_digits" / "model.keras")


# --- In process, on a three-layer network with GoogLeNet's outputs (seconds, not minutes) -----------------


def _three_layer_googlenet(input_shape, classes, aux_logits, dropout_rate, weights):
    """GoogLeNet's interface on three small layers: pixels in [0, 255] -> `main` (a layer named `logits`),
    and with `aux_logits` the `aux1` and `aux2` outputs as well."""
    from inception_tf import ImagePreprocessing

    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(4, 3, strides=2, activation="relu", name="conv")(ImagePreprocessing("tf")(inputs))
    x = keras.layers.GlobalAveragePooling2D()(x)
    main = keras.layers.Dense(classes, activation="softmax", name="logits")(x)
    if not aux_logits:
        return keras.Model(inputs, main, name="googlenet")
    outputs = {"main": main}
    for name in ("aux1", "aux2"):
        outputs[name] = keras.layers.Dense(classes, activation="softmax", name=name)(x)
    return keras.Model(inputs, outputs, name="googlenet")


@pytest.fixture
def three_layers(monkeypatch):
    """`googlenet`'s recipe (SGD, its learning rate and decay) building `_three_layer_googlenet`."""
    recipe = recipes.RECIPES["googlenet"]
    monkeypatch.setitem(recipes.RECIPES, "googlenet", dataclasses.replace(recipe, builder=_three_layer_googlenet))


def small(tmp_path, tfds_dir, **overrides):
    settings = dict(epochs=2, steps_per_epoch=2, batch_size=8, output_dir=str(tmp_path), data_dir=tfds_dir,
                    verbose=0, seed=3)
    settings.update(overrides)
    return TrainConfig(**settings)


def digits_test_split(tfds_dir):
    """The digits test split as the models take it: 8x8 greys bilinearly resized to 32x32 RGB, and the labels."""
    examples = tfds.as_numpy(tfds.load("digits", split="test", data_dir=tfds_dir, as_supervised=True))
    images, labels = zip(*examples)
    resized = tf.image.resize(np.stack(images).astype("float32"), (32, 32), method="bilinear").numpy()
    return np.repeat(resized, 3, axis=-1), np.array(labels)


class LastWeights(keras.callbacks.Callback):
    """The trained model's weights after every batch, and at the end of training."""

    def __init__(self):
        super().__init__()
        self.initial, self.steps, self.final = None, [], None

    def on_train_begin(self, logs=None):
        self.initial = [np.array(w) for w in self.model.get_weights()]

    def on_train_batch_end(self, batch, logs=None):
        self.steps.append([np.array(v) for v in self.model.trainable_variables])

    def on_train_end(self, logs=None):
        self.final = [np.array(w) for w in self.model.get_weights()]


def test_a_run_records_what_it_trained_and_tests(tmp_path, tfds_dir, three_layers):
    config = small(tmp_path, tfds_dir)
    recorder = LastWeights()
    keras.utils.set_random_seed(1)  # whatever came before, the run seeds its weights with config.seed
    started = time.perf_counter()
    history = train.train(config, callbacks=[recorder])
    elapsed = time.perf_counter() - started
    keras.utils.set_random_seed(3)
    for trained_from, seeded in zip(recorder.initial, _three_layer_googlenet((32, 32, 3), 10, True, None, None)
                                    .get_weights(), strict=True):
        np.testing.assert_array_equal(trained_from, seeded)
    artifacts, metrics = history.artifacts, history.metrics
    assert json.loads(open(artifacts["metrics"]).read()) == metrics
    rows = read_history(artifacts["history_csv"])
    assert [row["epoch"] for row in rows] == ["0", "1"]
    accuracies = [float(row["val_main_accuracy"]) for row in rows]
    last = {key: float(value) for key, value in rows[-1].items() if key != "epoch"}
    assert {key: metrics[key] for key in ("model", "dataset", "class_names", "image_size", "epochs_requested",
                                          "epochs_run", "epochs_run_by_this_process", "resumed_from_epoch",
                                          "best_epoch", "model_weights", "strategy", "replicas",
                                          "global_batch_size", "precision", "jit_compile", "seed")} == {
        "model": "googlenet", "dataset": "digits", "class_names": list("0123456789"), "image_size": 32,
        "epochs_requested": 2, "epochs_run": 2, "epochs_run_by_this_process": 2, "resumed_from_epoch": 0,
        "best_epoch": accuracies.index(max(accuracies)) + 1, "model_weights": "best epoch",
        "strategy": "_DefaultDistributionStrategy", "replicas": 1, "global_batch_size": 8,
        "precision": "float32", "jit_compile": False, "seed": 3,
    }
    assert metrics["best_validation_accuracy"] == pytest.approx(max(accuracies))
    assert metrics["train"] == pytest.approx({k: v for k, v in last.items() if not k.startswith("val_")})
    assert metrics["validation"] == pytest.approx({k[4:]: v for k, v in last.items() if k.startswith("val_")})
    assert {"loss", "main_loss", "aux1_loss", "aux2_loss", "main_accuracy"} <= set(metrics["train"])
    assert metrics["config"] == dataclasses.asdict(config)
    assert 0 < metrics["wall_time_s"] <= elapsed and round(metrics["wall_time_s"], 2) == metrics["wall_time_s"]
    # The test split, scored here with numpy on the saved inference model.
    model = keras.models.load_model(artifacts["model"])
    assert model.output_shape == (None, 10)
    assert model_record(model) == ("tf", "square", list("0123456789"))
    images, labels = digits_test_split(tfds_dir)
    probabilities = np.asarray(model(images))
    assert set(metrics["test"]) == {"accuracy", "loss"}
    assert metrics["test"]["accuracy"] == pytest.approx(np.mean(probabilities.argmax(axis=1) == labels), abs=1e-6)
    cross_entropy = -np.log(probabilities[np.arange(len(labels)), labels]).mean()
    assert metrics["test"]["loss"] == pytest.approx(cross_entropy, rel=1e-4)
    assert keras.models.load_model(artifacts["best_model"]).output_shape == (None, 10)
    assert os.listdir(artifacts["tensorboard"])
    assert not os.path.exists(os.path.join(artifacts["run_dir"], "backup"))


def test_mixed_precision_trains_under_its_policy_and_restores_the_previous_one(tmp_path, tfds_dir, three_layers):
    history = train.train(small(tmp_path, tfds_dir, epochs=1, steps_per_epoch=1, aux_logits=False,
                                precision="mixed_bfloat16"))
    assert keras.config.dtype_policy().name == "float32"
    model = keras.models.load_model(history.artifacts["model"])
    assert model.get_layer("conv").dtype_policy.name == "mixed_bfloat16"
    assert history.metrics["precision"] == "mixed_bfloat16"


def test_ema_saves_the_moving_average(tmp_path, tfds_dir, three_layers):
    recorder = LastWeights()
    history = train.train(small(tmp_path, tfds_dir, epochs=1, steps_per_epoch=4, ema=True, aux_logits=False),
                          callbacks=[recorder])
    assert history.metrics["model_weights"] == "moving average"
    momentum = keras.optimizers.SGD(use_ema=True).ema_momentum  # Keras' default, 0.99
    expected = recorder.steps[0]  # the first step starts the average
    for step in recorder.steps[1:]:
        expected = [momentum * average + (1 - momentum) * value for average, value in zip(expected, step)]
    saved = keras.models.load_model(history.artifacts["model"]).trainable_variables
    for got, want in zip(saved, expected, strict=True):
        np.testing.assert_allclose(np.array(got), want, rtol=1e-5, atol=1e-6)
    assert max(np.abs(w - l).max() for w, l in zip(expected, recorder.steps[-1])) > 1e-4  # it can tell


class _PredictOneClass(keras.callbacks.Callback):
    """Before each validation, makes the classifier predict `labels[epoch]` for every image."""

    def __init__(self, labels):
        super().__init__()
        self.labels, self.epoch = labels, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_test_begin(self, logs=None):
        logits = self.model.get_layer("logits")
        kernel, bias = logits.get_weights()
        logits.set_weights([np.zeros_like(kernel), 10.0 * np.eye(len(bias), dtype=bias.dtype)[self.labels[self.epoch]]])


@pytest.mark.parametrize("restore_best", [True, False])
def test_the_best_epoch_is_saved_unless_the_last_is_asked_for(tmp_path, tfds_dir, three_layers, restore_best):
    # Validation accuracy made exact: predicting one class scores that class's share of the validation labels.
    config = small(tmp_path, tfds_dir, aux_logits=False, restore_best=restore_best)
    labels = np.array([label for _, label in tfds.as_numpy(tfds.load(
        "digits", split=config.validation_split, data_dir=tfds_dir, as_supervised=True))])
    shares = np.bincount(labels, minlength=10) / len(labels)
    frequent, rare = int(np.argmax(shares)), int(np.argmin(shares))
    recorder = LastWeights()
    history = train.train(config, callbacks=[_PredictOneClass([frequent, rare]), recorder])
    assert history.metrics["best_epoch"] == 1
    assert history.metrics["best_validation_accuracy"] == pytest.approx(shares[frequent], abs=1e-6)
    assert history.metrics["model_weights"] == ("best epoch" if restore_best else "last epoch")
    saved = keras.models.load_model(history.artifacts["model"]).get_weights()
    best = keras.models.load_model(history.artifacts["best_model"]).get_weights()
    for got, best_weights, last_weights in zip(saved, best, recorder.final, strict=True):
        np.testing.assert_array_equal(got, best_weights if restore_best else last_weights)
    assert np.argmax(saved[-1]) == (frequent if restore_best else rare)  # the classifier's bias tells them apart


def test_an_interrupted_run_resumes_where_its_backup_stopped(tmp_path, tfds_dir, three_layers, caplog):
    config = small(tmp_path, tfds_dir, epochs=3, aux_logits=False)
    with pytest.raises(_Interrupt):
        train.train(config, callbacks=[_InterruptAfterEpoch(1)])
    run_dir = tmp_path / "googlenet_digits"
    backup = run_dir / "backup"
    # Two copies of the backup state: a crash while one is written leaves the other.
    assert {"training_metadata.json", "training_metadata.json.bkp"} <= set(os.listdir(backup))
    with open(run_dir / "history.csv", "a") as handle:  # a row written after the last backup: trained again
        handle.write("2," + ",".join(["0.5"] * (len(read_history(run_dir / "history.csv")[0]) - 1)) + "\n")
    caplog.set_level("INFO", logger="inception_tf")
    history = train.train(config)
    assert f"Resuming from epoch 3 of 3 (2 completed; state in {backup})" in caplog.messages
    assert [row["epoch"] for row in read_history(history.artifacts["history_csv"])] == ["0", "1", "2"]
    assert history.metrics["resumed_from_epoch"] == 2
    assert history.metrics["epochs_run"] == 3 and history.metrics["epochs_run_by_this_process"] == 1


def test_a_diverging_run_raises_and_saves_no_model(tmp_path, tfds_dir, three_layers):
    with pytest.raises(train.TrainingDiverged, match=r"the loss became (nan|inf) at epoch 1, batch \d+ "
                                                     r"\(learning_rate=1e\+30\)"):
        train.train(small(tmp_path, tfds_dir, learning_rate=1e30, steps_per_epoch=4, aux_logits=False))
    assert not os.path.exists(tmp_path / "googlenet_digits" / "model.keras")


def test_the_pipelines_are_made_from_the_config(tmp_path, tfds_dir, three_layers, monkeypatch, recwarn):
    made = []
    make_dataset = train.data.make_dataset

    def recording(**kwargs):
        made.append(kwargs)
        return make_dataset(**kwargs)

    monkeypatch.setattr(train.data, "make_dataset", recording)
    train.train(small(tmp_path, tfds_dir, epochs=1, steps_per_epoch=1, augment=True, shuffle=False,
                      aux_logits=False, test_split="test[:50%]"))
    common = dict(name="digits", image_size=32, batch_size=8, data_dir=tfds_dir, seed=3, channels=3)
    assert made == [
        dict(split="train[:90%]", training=True, augment=True, shuffle=False, flip=False, **common),  # digits: no flips
        dict(split="train[90%:]", **common),
        dict(split="test[:50%]", **common),
    ]
    # The datasets shuffle themselves, seeded: fit is not asked to (Keras would warn that it ignores it).
    assert not [str(w.message) for w in recwarn if "shuffle" in str(w.message)]


def test_without_steps_per_epoch_an_epoch_is_the_whole_training_split(tmp_path, tfds_dir, three_layers):
    recorder = LastWeights()
    train.train(small(tmp_path, tfds_dir, epochs=1, steps_per_epoch=None, batch_size=256, aux_logits=False),
                callbacks=[recorder])
    assert len(recorder.steps) == math.ceil(1293 / 256)  # train[:90%] of 1,437 digits


def test_a_config_changed_after_construction_is_checked_again(tmp_path, tfds_dir):
    config = small(tmp_path, tfds_dir)
    config.epochs = 0
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        train.train(config)
    assert not os.path.exists(tmp_path / "googlenet_digits")


# --- The pieces train() is made of ---------------------------------------------------------------------------


def rate_at_steps(optimizer, steps):
    """The learning rate `optimizer` applies at each of `steps` (its iteration count set to each)."""
    rates = []
    for step in steps:
        optimizer.iterations.assign(step)
        rates.append(float(optimizer.learning_rate))
    return rates


def test_googlenets_learning_rate_is_cut_4_percent_per_cut_on_a_staircase():
    # The paper's SGD: momentum 0.9, learning rate x0.96 every 8 epochs; on digits, every epoch.
    for dataset, epochs_per_cut in (("digits", 1), ("cifar10", 8)):
        optimizer = train._optimizer(TrainConfig(dataset=dataset), steps_per_epoch=10)
        assert isinstance(optimizer, keras.optimizers.SGD) and not optimizer.use_ema
        assert optimizer.momentum == pytest.approx(0.9)
        cut = 10 * epochs_per_cut
        assert rate_at_steps(optimizer, (0, cut - 1, cut, 2 * cut - 1, 2 * cut)) == pytest.approx([0.01, 0.01, 0.0096, 0.0096, 0.009216])


def test_learning_rate_overrides_and_the_shortest_cut():
    config = TrainConfig(learning_rate=0.5, lr_decay_rate=0.5, lr_decay_epochs=0.1, momentum=0.2, ema=True)
    optimizer = train._optimizer(config, steps_per_epoch=3)  # 0.1 epoch of 3 steps: a cut every step, not never
    assert optimizer.momentum == pytest.approx(0.2) and optimizer.use_ema
    assert rate_at_steps(optimizer, (0, 1, 2)) == pytest.approx([0.5, 0.25, 0.125])


def test_slidenet_trains_with_adam_at_a_constant_rate():
    optimizer = train._optimizer(TrainConfig(model="slidenet"), steps_per_epoch=10)
    assert isinstance(optimizer, keras.optimizers.Adam)
    assert float(optimizer.learning_rate) == pytest.approx(1e-4)


def test_auxiliary_losses_weigh_three_tenths_and_only_the_main_output_is_scored():
    # The paper: "the losses of the auxiliary classifiers were weighted by 0.3".
    keras.utils.set_random_seed(0)
    model = _three_layer_googlenet((16, 16, 3), 4, True, None, None)
    train._compile(model, TrainConfig(), steps_per_epoch=1)
    assert model.jit_compile is False
    images = np.random.default_rng(0).uniform(0, 255, (6, 16, 16, 3)).astype("float32")
    labels = np.array([0, 1, 2, 3, 0, 1])
    logs = model.evaluate(images, {name: labels for name in ("main", "aux1", "aux2")}, verbose=0, return_dict=True)
    assert set(logs) == {"loss", "main_loss", "aux1_loss", "aux2_loss", "main_accuracy"}
    assert logs["loss"] == pytest.approx(logs["main_loss"] + 0.3 * logs["aux1_loss"] + 0.3 * logs["aux2_loss"],
                                         rel=1e-5)
    predicted = np.asarray(model(images)["main"])
    assert logs["main_accuracy"] == pytest.approx(np.mean(predicted.argmax(axis=1) == labels))
    single = _three_layer_googlenet((16, 16, 3), 4, False, None, None)
    train._compile(single, TrainConfig(), steps_per_epoch=1)
    assert set(single.evaluate(images, labels, verbose=0, return_dict=True)) == {"loss", "accuracy"}
    train._compile(single, TrainConfig(jit_compile=True), steps_per_epoch=1)
    assert single.jit_compile is True


def test_every_named_output_is_trained_on_the_same_label():
    dataset = tf.data.Dataset.from_tensor_slices((np.zeros((2, 16, 16, 3), "float32"), np.array([4, 7])))
    (image, labels), = train._with_output_labels(dataset.take(1), _three_layer_googlenet((16, 16, 3), 10, True,
                                                                                          None, None))
    assert {name: int(label) for name, label in labels.items()} == {"main": 4, "aux1": 4, "aux2": 4}
    single = _three_layer_googlenet((16, 16, 3), 10, False, None, None)
    assert train._with_output_labels(dataset, single) is dataset


def test_a_missing_test_split_falls_back_to_validation(caplog):
    class Info:
        split_sizes = {"train": 10, "test": 5}

    config = TrainConfig(test_split="test[:50%]")
    assert train._splits(config, Info) == ("train[:90%]", "train[90%:]", "test[:50%]")
    Info.split_sizes = {"train": 10}
    caplog.set_level("WARNING", logger="inception_tf")
    assert train._splits(config, Info) == ("train[:90%]", "train[90%:]", "train[90%:]")
    assert caplog.messages == ["Dataset digits has no 'test' split; testing on 'train[90%:]'."]


def test_the_divergence_guard_stops_at_the_first_non_finite_loss():
    guard = train._DivergenceGuard()
    guard.set_model(_three_layer_googlenet((16, 16, 3), 2, False, None, None))
    guard.model.stop_training = False
    guard.on_batch_end(0, {"loss": math.nan})  # before any epoch began: the first epoch
    assert guard.diverged_at[:2] == (1, 1) and math.isnan(guard.diverged_at[2])

    guard = train._DivergenceGuard()
    guard.set_model(_three_layer_googlenet((16, 16, 3), 2, False, None, None))
    guard.model.stop_training = False
    guard.on_epoch_begin(2)
    guard.on_batch_end(0, {"loss": 1.5})
    assert guard.diverged_at is None and not guard.model.stop_training
    guard.on_epoch_begin(3)
    guard.on_batch_end(4, {"loss": math.inf})
    guard.on_batch_end(5, {"loss": math.nan})  # still stopping: the first place is kept
    assert guard.diverged_at == (4, 5, math.inf) and guard.model.stop_training


def test_the_best_model_is_saved_only_when_validation_accuracy_improves(tmp_path):
    from tests.conftest import small_classifier

    history, path = tmp_path / "history.csv", tmp_path / "best.keras"
    history.write_text("epoch,val_accuracy\n0,0.5\n1,0.7\n2,0.7\n")  # two epochs reach 0.7: the first counts
    best = train._AtomicBestModel(str(path), "val_accuracy", small_classifier(), str(history))
    best.on_train_begin()
    assert (best.best, best.best_epoch) == (0.7, 1)
    best.on_epoch_end(3, {"val_accuracy": 0.7})  # no better
    best.on_epoch_end(3, {"loss": 0.1})  # no validation this epoch
    best.on_epoch_end(3, None)
    assert not path.exists() and best.best_epoch == 1
    best.on_epoch_end(4, {"val_accuracy": 0.75})
    assert path.exists() and (best.best, best.best_epoch) == (0.75, 4)
    assert keras.models.load_model(path).output_shape == (None, 3)

    fresh = train._AtomicBestModel(str(tmp_path / "first.keras"), "val_accuracy", small_classifier(),
                                   str(tmp_path / "none.csv"))
    fresh.on_train_begin()
    fresh.on_epoch_end(0, {"val_accuracy": 0.0})  # any first value is the best so far
    assert fresh.best_epoch == 0 and (tmp_path / "first.keras").exists()


def test_the_run_directorys_callbacks_start_as_keras_callbacks_do():
    from tests.conftest import small_classifier

    fresh = keras.callbacks.Callback()  # Keras' own: no model and no parameters before fit sets them
    for callback in (train._DivergenceGuard(), train._AtomicBestModel("best.keras", "val_accuracy", small_classifier(),
                                                                      "history.csv"),
                     train._ResumeNotice({}, 3)):
        assert (callback.model, callback.params) == (fresh.model, fresh.params) == (None, None)


def test_a_run_interrupted_after_its_last_epoch_reports_every_epoch(tmp_path, tfds_dir, three_layers):
    # Stopped after the last epoch's backup, before training ended: the rerun has no epoch left to train.
    config = small(tmp_path, tfds_dir, epochs=2, aux_logits=False)
    with pytest.raises(_Interrupt):
        train.train(config, callbacks=[_InterruptAfterEpoch(1)])
    history = train.train(config)
    assert history.metrics["epochs_run"] == 2
    assert history.metrics["epochs_run_by_this_process"] == 0
    assert history.metrics["resumed_from_epoch"] == 2
