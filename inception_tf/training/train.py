"""Training with `model.fit` under a `tf.distribute` strategy, resumable after a crash.

`train(TrainConfig(...))` builds and compiles the model from its recipe
(`inception_tf.models.recipes`) inside `strategy.scope()`, fits it,
evaluates the main output on the test split, and writes the run directory
described in `inception_tf.training.runs`. Every file is written atomically.
"""

import dataclasses
import logging
import math
import time

import keras
import tensorflow as tf

from inception_tf import files
from inception_tf.models.googlenet import LOSS_WEIGHTS, inference_model
from inception_tf.models.preprocessing import set_model_record
from inception_tf.training import data, distribute, finetune, runs
from inception_tf.training.config import PRECISIONS, TrainConfig  # noqa: F401  (public here too)

logger = logging.getLogger("inception_tf")


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; training was stopped."""


def _build_model(config, num_classes):
    """`(model, callbacks)`: the recipe's model, or one started from `config.weights` (then maybe frozen first)."""
    if config.weights is None:
        model = config.recipe().build(
            image_size=config.resolved_image_size(), classes=num_classes, aux_logits=config.aux_logits,
            dropout_rate=config.dropout_rate,
        )
        return model, []
    model, pretrained_layers = finetune.pretrained_start(config, num_classes)
    if not config.freeze_epochs:
        return model, []
    return model, [finetune.FreezePretrained(pretrained_layers, config.freeze_epochs)]


def _optimizer(config, steps_per_epoch):
    """The recipe's optimizer, with `config`'s overrides."""
    recipe = config.recipe()
    learning_rate = config.resolved_learning_rate()
    decay_rate = config._default("lr_decay_rate")
    if decay_rate is not None:
        learning_rate = keras.optimizers.schedules.ExponentialDecay(
            learning_rate,
            decay_steps=max(1, round(config.resolved_lr_decay_epochs() * steps_per_epoch)),
            decay_rate=decay_rate,
            staircase=True,
        )
    if recipe.optimizer == "adam":
        return keras.optimizers.Adam(learning_rate, use_ema=config.ema)
    return keras.optimizers.SGD(learning_rate, momentum=config._default("momentum"), use_ema=config.ema)


def _compile(model, config, steps_per_epoch):
    loss = keras.losses.SparseCategoricalCrossentropy()
    if isinstance(model.output, dict):
        losses = {name: loss for name in model.output}
        metrics = {"main": ["accuracy"]}
        loss_weights = {name: LOSS_WEIGHTS[name] for name in model.output}
    else:
        losses, metrics, loss_weights = loss, ["accuracy"], None
    model.compile(
        optimizer=_optimizer(config, steps_per_epoch), loss=losses, loss_weights=loss_weights,
        metrics=metrics, jit_compile=config.jit_compile,
    )


def _with_output_labels(dataset, model):
    """Repeats each label for every named output of a multi-output model."""
    if not isinstance(model.output, dict):
        return dataset
    names = list(model.output)
    return dataset.map(lambda x, y: (x, {name: y for name in names}))


class _DivergenceGuard(keras.callbacks.TerminateOnNaN):
    """TerminateOnNaN that remembers where the loss stopped being finite."""

    def __init__(self):
        super().__init__()
        self.diverged_at = None
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_batch_end(self, batch, logs=None):
        super().on_batch_end(batch, logs)
        if self.model.stop_training and self.diverged_at is None:
            self.diverged_at = (self._epoch + 1, batch + 1, (logs or {}).get("loss"))


class _AtomicBestModel(keras.callbacks.Callback):
    """Saves the inference model to `path` atomically when `monitor` improves.

    A resumed run starts from the best value in the history of the epochs
    already run, so it never replaces a better model saved before the restart.
    """

    def __init__(self, path, monitor, inference, history_csv):
        super().__init__()
        self.path, self.monitor, self.inference, self.history_csv = path, monitor, inference, history_csv
        self.best, self.best_epoch = -math.inf, None

    def on_train_begin(self, logs=None):
        for epoch, value in runs.history_values(self.history_csv, self.monitor):
            if value > self.best:
                self.best, self.best_epoch = value, epoch

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None or not value > self.best:
            return
        self.best, self.best_epoch = value, epoch
        with files.atomic_file(self.path) as temporary:
            self.inference.save(temporary)


class _ResumeNotice(keras.callbacks.Callback):
    """After BackupAndRestore has restored a run: says where it resumes, and drops later history rows."""

    def __init__(self, artifacts, epochs):
        super().__init__()
        self.artifacts, self.epochs = artifacts, epochs
        self.completed = None  # set as training begins: the epochs a previous process completed

    def on_train_begin(self, logs=None):
        completed = self.completed = runs.completed_epochs(self.artifacts["backup"])
        if completed:
            logger.info("Resuming from epoch %d of %d (%d completed; state in %s)",
                        completed + 1, self.epochs, completed, self.artifacts["backup"])
        runs.truncate_history(self.artifacts["history_csv"], completed)


def _splits(config, info):
    test_split = config.test_split
    base = test_split.split("[")[0]
    if base not in info.split_sizes:
        logger.warning("Dataset %s has no %r split; testing on %r.", config.dataset, base, config.validation_split)
        test_split = config.validation_split
    return config.train_split, config.validation_split, test_split


def _prefix(logs, prefix):
    return {key[len(prefix):]: float(value) for key, value in logs.items() if key.startswith(prefix)}


def train(config, callbacks=()):
    """Trains `config.model` on `config.dataset` and writes the run directory.

    Args:
        config: a `TrainConfig`.
        callbacks: more `keras.callbacks.Callback`s for `model.fit`, run after the run directory's own.

    Returns:
        The `keras.callbacks.History` of `model.fit`, with an `artifacts` dict
        attribute (`run_dir`, `model`, `best_model`, `metrics`, `history_csv`,
        `tensorboard`) and the `metrics` written to `metrics.json`.

    Raises:
        ValueError: a bad configuration value.
        TrainingDiverged: the loss became NaN or infinite.
        distribute.WorkerLost: under multi-worker training, a worker died; rerunning resumes.
    """
    config.validate()
    started = time.perf_counter()
    previous_policy = keras.config.dtype_policy()
    strategy = distribute.get_strategy(config.strategy)
    replicas = strategy.num_replicas_in_sync
    global_batch = config.batch_size * replicas
    image_size = config.resolved_image_size()
    info = data.dataset_info(config.dataset, config.data_dir)
    train_split, validation_split, test_split = _splits(config, info)
    channels = config.recipe().channels
    common = dict(name=config.dataset, image_size=image_size, batch_size=global_batch,
                  data_dir=config.data_dir, seed=config.seed, channels=channels)
    train_data = data.make_dataset(split=train_split, training=True, augment=config.augment, shuffle=config.shuffle,
                                   flip=config.dataset != "digits", **common)
    validation_data = data.make_dataset(split=validation_split, **common)
    test_data = data.make_dataset(split=test_split, **common)
    steps_per_epoch = config.steps_per_epoch or int(train_data.cardinality())
    if steps_per_epoch < 1:
        raise ValueError(f"Split {train_split!r} of {config.dataset!r} is empty or of unknown size.")

    artifacts = runs.artifacts(runs.prepare(config.output_dir, config.resolved_run_name(), config.overwrite))
    try:
        keras.config.set_dtype_policy(config.precision)
        # Seeded right before building: initial weights then do not depend on
        # what consumed random numbers earlier (preparing a dataset does).
        keras.utils.set_random_seed(config.seed)
        with strategy.scope():
            model, model_callbacks = _build_model(config, info.num_classes)
            _compile(model, config, steps_per_epoch)
            if model_callbacks:  # freezing: the optimizer tracks every variable before any is frozen
                finetune.build_optimizer_for_all(model)
                for callback in model_callbacks:
                    callback.set_frozen(model, True)
            # What the model's users need beyond its graph: the pipeline's test-time geometry, the class names.
            set_model_record(model, geometry=data.TEST_GEOMETRY, class_names=info.class_names)
            inference = inference_model(model)
        main_accuracy = "val_main_accuracy" if isinstance(model.output, dict) else "val_accuracy"
        guard = _DivergenceGuard()
        best = _AtomicBestModel(artifacts["best_model"], main_accuracy, inference, artifacts["history_csv"])
        resume = _ResumeNotice(artifacts, config.epochs)
        run_callbacks = [
            keras.callbacks.BackupAndRestore(artifacts["backup"], double_checkpoint=True),
            resume,  # after the restore, before CSVLogger opens the history
            guard,
            best,
            keras.callbacks.CSVLogger(artifacts["history_csv"], append=True),
            keras.callbacks.TensorBoard(artifacts["tensorboard"]),
            *model_callbacks,
            *callbacks,
        ]
        with distribute.worker_loss_reported(strategy, artifacts["backup"]):
            history = model.fit(
                _with_output_labels(train_data, model),
                validation_data=_with_output_labels(validation_data, model),
                epochs=config.epochs,
                steps_per_epoch=config.steps_per_epoch,
                callbacks=run_callbacks,
                shuffle=False,  # the dataset shuffles itself, seeded
                verbose=config.resolved_verbose(),
            )
        if guard.diverged_at is not None:
            epoch, batch, loss = guard.diverged_at
            raise TrainingDiverged(
                f"Training diverged: the loss became {loss} at epoch {epoch}, batch {batch} "
                f"(learning_rate={config.resolved_learning_rate()}). Nothing was saved; "
                f"try a lower learning rate."
            )
        if config.ema:
            # Keras' fit already did this (keras/src/backend/tensorflow/trainer.py); repeating it copies the same averages
            model.optimizer.finalize_variable_values(model.trainable_variables)  # pragma: no mutate
        restored_best = config.restore_best and not config.ema and best.best_epoch is not None
        if restored_best:  # the epoch with the best validation accuracy, from its saved model
            inference.set_weights(runs.load_model(artifacts["best_model"]).get_weights())
        with files.atomic_file(artifacts["model"]) as temporary:
            inference.save(temporary)  # uncompiled: an inference model carries no optimizer
        with strategy.scope():
            inference.compile(loss=keras.losses.SparseCategoricalCrossentropy(), metrics=["accuracy"])
        with distribute.worker_loss_reported(strategy, artifacts["backup"]):  # its metrics are all-reduced too
            test_metrics = inference.evaluate(test_data, verbose=config.resolved_verbose(), return_dict=True)
    finally:
        keras.config.set_dtype_policy(previous_policy)

    last = {key: values[-1] for key, values in history.history.items()}
    metrics = {
        "model": config.model,
        "dataset": config.dataset,
        "class_names": list(info.class_names),
        "image_size": image_size,
        "epochs_requested": config.epochs,
        # A run stopped after its last epoch's backup resumes with no epoch left: it ran what the backup completed.
        "epochs_run": history.epoch[-1] + 1 if history.epoch else resume.completed,
        "epochs_run_by_this_process": len(history.epoch),
        "resumed_from_epoch": resume.completed,
        "best_epoch": None if best.best_epoch is None else best.best_epoch + 1,
        "best_validation_accuracy": None if best.best_epoch is None else float(best.best),
        "model_weights": "best epoch" if restored_best else ("moving average" if config.ema else "last epoch"),
        "train": _prefix({k: v for k, v in last.items() if not k.startswith("val_")}, ""),
        "validation": _prefix(last, "val_"),
        "test": {key: float(value) for key, value in test_metrics.items()},
        "strategy": type(strategy).__name__,
        "replicas": replicas,
        "global_batch_size": global_batch,
        "precision": config.precision,
        "jit_compile": config.jit_compile,
        "seed": config.seed,
        "wall_time_s": round(time.perf_counter() - started, 2),
        "config": dataclasses.asdict(config),
    }
    files.write_json(artifacts["metrics"], metrics)
    history.artifacts = artifacts
    history.metrics = metrics
    return history
