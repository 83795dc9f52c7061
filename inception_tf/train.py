"""Training with `model.fit` under a `tf.distribute` strategy, resumable after a crash.

`train(TrainConfig(...))` builds and compiles the model inside
`strategy.scope()`, fits it, evaluates the main output on the test split, and
writes into its run directory:

    <output_dir>/<run_name>/
      backup/          BackupAndRestore state (removed when training ends)
      best.keras       the best inference model so far (by validation accuracy)
      model.keras      the final inference model (main output only)
      history.csv      one row per epoch (appended across resumes)
      logs/            TensorBoard logs
      metrics.json     final train/validation/test metrics, epochs, strategy, ...

Every file is written atomically. Under multi-worker training only the chief
writes there; other workers write under `<run_dir>/workers/<task>/`.
"""

import dataclasses
import logging
import math
import os
import time

import keras
import tensorflow as tf

from inception_tf import data, distribute, files
from inception_tf.checks import positive_int
from inception_tf.googlenet import LOSS_WEIGHTS, GoogLeNet, SlideNet, inference_model

logger = logging.getLogger("inception_tf")

MODELS = ("googlenet", "slidenet")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; training was stopped."""


@dataclasses.dataclass
class TrainConfig:
    """Everything a training run needs.

    Attributes:
        model: str. `"googlenet"` or `"slidenet"`.
        dataset: str. A tfds name, `"digits"` (embedded) or `"folder:PATH"`.
        data_dir: str or None. tensorflow-datasets' data directory.
        image_size: int or None. Input height and width; None picks 32 for
            GoogLeNet on digits, 224 for GoogLeNet elsewhere, 28 for SlideNet.
        epochs: int. Epochs to train.
        batch_size: int. Batch size per replica; the global batch is this
            times the number of replicas.
        learning_rate: float or None. None picks the model's recipe: 0.01
            (SGD, momentum 0.9) for GoogLeNet, 1e-4 (Adam) for SlideNet.
        lr_decay_epochs: float or None. GoogLeNet's learning rate is cut by
            `lr_decay_rate` every this many epochs: the paper's 8 by default,
            1 on the small embedded digits (1,293 training images).
        lr_decay_rate: float. Multiplier per decay step. Defaults to 0.96.
        momentum: float. SGD momentum for GoogLeNet. Defaults to 0.9.
        aux_logits: bool. Train GoogLeNet's auxiliary classifiers (loss weight 0.3).
        dropout_rate: float. GoogLeNet's dropout before the classifier.
        ema: bool. Polyak averaging: evaluate and save exponential moving
            averages of the weights.
        augment: bool. The paper's crop and photometric augmentation.
        strategy: str. See `distribute.get_strategy`.
        precision: str. `"float32"`, `"mixed_float16"` (GPUs) or
            `"mixed_bfloat16"` (TPUs, CPUs with AMX).
        jit_compile: bool. Compile the train step with XLA.
        output_dir: str. Parent of the run directory.
        run_name: str or None. Defaults to `<model>_<dataset>`.
        seed: int. Seeds weights, shuffling and augmentation.
        train_split, validation_split, test_split: str. tfds splits.
        steps_per_epoch: int or None. Limit the batches per epoch.
        shuffle: bool. Shuffle the training data every epoch.
        verbose: int. Keras progress output (1 bars, 2 one line per epoch).
    """

    model: str = "googlenet"
    dataset: str = data.DEFAULT_DATASET
    data_dir: str = None
    image_size: int = None
    epochs: int = 12
    batch_size: int = 32
    learning_rate: float = None
    lr_decay_epochs: float = None
    lr_decay_rate: float = 0.96
    momentum: float = 0.9
    aux_logits: bool = True
    dropout_rate: float = 0.4
    ema: bool = False
    augment: bool = False
    strategy: str = "auto"
    precision: str = "float32"
    jit_compile: bool = False
    output_dir: str = "runs"
    run_name: str = None
    seed: int = 0
    train_split: str = "train[:90%]"
    validation_split: str = "train[90%:]"
    test_split: str = "test"
    steps_per_epoch: int = None
    shuffle: bool = True
    verbose: int = 1

    def validate(self):
        """Raises ValueError naming the first bad field."""
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {MODELS}. Received: model={self.model!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}. Received: precision={self.precision!r}")
        if self.strategy not in distribute.STRATEGIES:
            raise ValueError(
                f"strategy must be one of {distribute.STRATEGIES}. Received: strategy={self.strategy!r}"
            )
        positive_int("epochs", self.epochs)
        positive_int("batch_size", self.batch_size)
        for name in ("image_size", "steps_per_epoch"):  # None picks a default
            if getattr(self, name) is not None:
                positive_int(name, getattr(self, name))
        if self.learning_rate is not None and not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            raise ValueError(f"learning_rate must be a positive number. Received: learning_rate={self.learning_rate!r}")
        if self.lr_decay_epochs is not None and not self.lr_decay_epochs > 0:
            raise ValueError(f"lr_decay_epochs must be positive. Received: lr_decay_epochs={self.lr_decay_epochs!r}")
        if self.model == "slidenet" and self.image_size not in (None, 28):
            raise ValueError(f"slidenet takes 28x28 images. Received: image_size={self.image_size}")

    def resolved_image_size(self):
        if self.image_size is not None:
            return self.image_size
        if self.model == "slidenet":
            return 28
        return 32 if self.dataset == "digits" else 224

    def resolved_learning_rate(self):
        if self.learning_rate is not None:
            return self.learning_rate
        return 1e-4 if self.model == "slidenet" else 0.01

    def resolved_lr_decay_epochs(self):
        if self.lr_decay_epochs is not None:
            return self.lr_decay_epochs
        return 1.0 if self.dataset == "digits" else 8.0

    def resolved_run_name(self):
        if self.run_name:
            return self.run_name
        dataset = self.dataset.replace(data.FOLDER_PREFIX, "folder_").replace("/", "_").strip("_")
        return f"{self.model}_{dataset}"


def _build_model(config, num_classes):
    size = config.resolved_image_size()
    if config.model == "slidenet":
        return SlideNet(input_shape=(size, size, 1), classes=num_classes)
    return GoogLeNet(
        input_shape=(size, size, 3), classes=num_classes, aux_logits=config.aux_logits,
        dropout_rate=config.dropout_rate,
    )


def _optimizer(config, steps_per_epoch):
    learning_rate = config.resolved_learning_rate()
    if config.model == "slidenet":
        return keras.optimizers.Adam(learning_rate, use_ema=config.ema)
    schedule = keras.optimizers.schedules.ExponentialDecay(
        learning_rate,
        decay_steps=max(1, round(config.resolved_lr_decay_epochs() * steps_per_epoch)),
        decay_rate=config.lr_decay_rate,
        staircase=True,
    )
    return keras.optimizers.SGD(schedule, momentum=config.momentum, use_ema=config.ema)


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
        self.first_epoch = None
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        if self.first_epoch is None:
            self.first_epoch = epoch

    def on_batch_end(self, batch, logs=None):
        super().on_batch_end(batch, logs)
        if self.model.stop_training and self.diverged_at is None:
            self.diverged_at = (self._epoch + 1, batch + 1, (logs or {}).get("loss"))


class _AtomicBestModel(keras.callbacks.Callback):
    """Saves the inference model to `path` atomically when `monitor` improves."""

    def __init__(self, path, monitor, inference):
        super().__init__()
        self.path, self.monitor, self.inference = path, monitor, inference
        self.best = -math.inf

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None or not value > self.best:
            return
        self.best = value
        with files.atomic_file(self.path) as temporary:
            self.inference.save(temporary)


def _run_dir(config):
    run_dir = os.path.join(config.output_dir, config.resolved_run_name())
    if not distribute.is_chief():
        run_dir = os.path.join(run_dir, "workers", distribute.task_id())
    os.makedirs(run_dir, exist_ok=True)
    return run_dir


def _splits(config, info):
    test_split = config.test_split
    base = test_split.split("[")[0]
    if base not in info.split_sizes:
        logger.warning("Dataset %s has no %r split; testing on %r.", config.dataset, base, config.validation_split)
        test_split = config.validation_split
    return config.train_split, config.validation_split, test_split


def _prefix(logs, prefix):
    return {key[len(prefix):]: float(value) for key, value in logs.items() if key.startswith(prefix)}


def train(config):
    """Trains `config.model` on `config.dataset` and writes the run directory.

    Args:
        config: a `TrainConfig`.

    Returns:
        The `keras.callbacks.History` of `model.fit`, with an `artifacts` dict
        attribute (`run_dir`, `model`, `best_model`, `metrics`, `history_csv`,
        `tensorboard`) and the `metrics` written to `metrics.json`.

    Raises:
        ValueError: a bad configuration value.
        TrainingDiverged: the loss became NaN or infinite.
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
    channels = 1 if config.model == "slidenet" else 3
    common = dict(name=config.dataset, image_size=image_size, batch_size=global_batch,
                  data_dir=config.data_dir, seed=config.seed, channels=channels)
    train_data = data.make_dataset(split=train_split, training=True, augment=config.augment, shuffle=config.shuffle,
                                   flip=config.dataset != "digits", **common)
    validation_data = data.make_dataset(split=validation_split, **common)
    test_data = data.make_dataset(split=test_split, **common)
    steps_per_epoch = config.steps_per_epoch or int(train_data.cardinality())
    if steps_per_epoch < 1:
        raise ValueError(f"Split {train_split!r} of {config.dataset!r} is empty or of unknown size.")

    run_dir = _run_dir(config)
    artifacts = {
        "run_dir": run_dir,
        "model": os.path.join(run_dir, "model.keras"),
        "best_model": os.path.join(run_dir, "best.keras"),
        "metrics": os.path.join(run_dir, "metrics.json"),
        "history_csv": os.path.join(run_dir, "history.csv"),
        "tensorboard": os.path.join(run_dir, "logs"),
    }
    try:
        keras.config.set_dtype_policy(config.precision)
        # Seeded right before building: initial weights then do not depend on
        # what consumed random numbers earlier (preparing a dataset does).
        keras.utils.set_random_seed(config.seed)
        with strategy.scope():
            model = _build_model(config, info.num_classes)
            _compile(model, config, steps_per_epoch)
            inference = inference_model(model)
        main_accuracy = "val_main_accuracy" if isinstance(model.output, dict) else "val_accuracy"
        guard = _DivergenceGuard()
        callbacks = [
            keras.callbacks.BackupAndRestore(os.path.join(run_dir, "backup"), double_checkpoint=True),
            guard,
            _AtomicBestModel(artifacts["best_model"], main_accuracy, inference),
            keras.callbacks.CSVLogger(artifacts["history_csv"], append=True),
            keras.callbacks.TensorBoard(artifacts["tensorboard"]),
        ]
        history = model.fit(
            _with_output_labels(train_data, model),
            validation_data=_with_output_labels(validation_data, model),
            epochs=config.epochs,
            steps_per_epoch=config.steps_per_epoch,
            callbacks=callbacks,
            shuffle=False,  # the dataset shuffles itself, seeded
            verbose=config.verbose,
        )
        if guard.diverged_at is not None:
            epoch, batch, loss = guard.diverged_at
            raise TrainingDiverged(
                f"Training diverged: the loss became {loss} at epoch {epoch}, batch {batch} "
                f"(learning_rate={config.resolved_learning_rate()}). Nothing was saved; "
                f"try a lower learning rate."
            )
        if config.ema:
            model.optimizer.finalize_variable_values(model.trainable_variables)
        with files.atomic_file(artifacts["model"]) as temporary:
            inference.save(temporary)  # uncompiled: an inference model carries no optimizer
        with strategy.scope():
            inference.compile(loss=keras.losses.SparseCategoricalCrossentropy(), metrics=["accuracy"])
        test_metrics = inference.evaluate(test_data, verbose=config.verbose, return_dict=True)
    finally:
        keras.config.set_dtype_policy(previous_policy)

    last = {key: values[-1] for key, values in history.history.items()}
    metrics = {
        "model": config.model,
        "dataset": config.dataset,
        "class_names": list(info.class_names),
        "image_size": image_size,
        "epochs_requested": config.epochs,
        "epochs_run": history.epoch[-1] + 1 if history.epoch else (guard.first_epoch or 0),
        "epochs_run_by_this_process": len(history.epoch),
        "resumed_from_epoch": guard.first_epoch or 0,
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
