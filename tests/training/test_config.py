"""TrainConfig: the defaults the README gives, the recipe's and the dataset's defaults, and what it refuses.

No TensorFlow: a config is checked when it is made. The expected defaults are the README's
("Training", and the first command: GoogLeNet with its auxiliary classifiers on the embedded
digits at 32x32 for 12 epochs, the paper's learning rate cut 4% every 8 epochs, every epoch on digits).
"""

import io
import math

import keras
import pytest

from inception_tf.training import config as config_module
from inception_tf.training.config import TrainConfig


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_the_defaults_are_the_readmes():
    config = TrainConfig()
    assert (config.model, config.dataset, config.epochs, config.aux_logits) == ("googlenet", "digits", 12, True)
    assert (config.resolved_image_size(), config.resolved_lr_decay_epochs()) == (32, 1.0)
    assert (config.resolved_learning_rate(), config.recipe().momentum, config.recipe().lr_decay_rate) == (
        0.01, 0.9, 0.96)
    assert config.restore_best and not config.ema and not config.augment and not config.overwrite
    assert (config.strategy, config.precision, config.jit_compile) == ("auto", "float32", False)
    assert (config.output_dir, config.resolved_run_name()) == ("runs", "googlenet_digits")
    assert (config.batch_size, config.seed, config.shuffle, config.freeze_epochs) == (32, 0, True, 0)
    assert (config.train_split, config.validation_split, config.test_split) == ("train[:90%]", "train[90%:]", "test")


def test_another_dataset_takes_the_papers_recipe_and_explicit_values_win():
    config = TrainConfig(dataset="cifar10")
    assert (config.resolved_image_size(), config.resolved_lr_decay_epochs()) == (224, 8.0)
    assert config.resolved_run_name() == "googlenet_cifar10"
    explicit = TrainConfig(image_size=96, learning_rate=0.05, lr_decay_epochs=2.0, run_name="lr0.05")
    assert (explicit.resolved_image_size(), explicit.resolved_learning_rate(), explicit.resolved_lr_decay_epochs(),
            explicit.resolved_run_name()) == (96, 0.05, 2.0, "lr0.05")


def test_slidenet_keeps_its_28x28_inputs_and_its_adam_rate_on_digits():
    config = TrainConfig(model="slidenet")  # the slide source's MNIST network: Adam, 1e-4
    assert (config.resolved_image_size(), config.resolved_learning_rate()) == (28, 1e-4)
    assert TrainConfig(model="slidenet", image_size=28).resolved_image_size() == 28
    with pytest.raises(ValueError, match=r"slidenet takes 28x28 images\. Received: image_size=32"):
        TrainConfig(model="slidenet", image_size=32)


@pytest.mark.parametrize("dataset, run_name", [
    ("folder:/data/flowers", "googlenet_folder__data_flowers"),   # one directory name: separators become "_"
    ("folder:/data/flowers/", "googlenet_folder__data_flowers"),
    ("imagenette/320px", "googlenet_imagenette_320px"),
    ("folder:/photos/BOX/", "googlenet_folder__photos_BOX"),  # only the underscores at the ends go
])
def test_the_run_name_is_model_and_dataset_as_one_directory_name(dataset, run_name):
    assert TrainConfig(dataset=dataset).resolved_run_name() == run_name


def test_verbose_is_progress_bars_in_a_terminal_and_one_line_per_epoch_in_a_file(monkeypatch):
    config = TrainConfig()
    assert config.resolved_verbose(_Terminal()) == 1
    assert config.resolved_verbose(io.StringIO()) == 2
    assert config.resolved_verbose(object()) == 2  # a stream that cannot say
    monkeypatch.setattr("sys.stdout", _Terminal())
    assert config.resolved_verbose() == 1  # stdout, when no stream is given
    for verbose in (0, 1, 2):
        assert TrainConfig(verbose=verbose).resolved_verbose(_Terminal()) == verbose


def test_the_choices_are_the_strategies_and_keras_dtype_policies():
    assert config_module.STRATEGIES == ("auto", "default", "one_device", "mirrored", "multi_worker", "tpu")
    for precision in config_module.PRECISIONS:
        assert keras.DTypePolicy(precision).name == precision
        assert TrainConfig(precision=precision).precision == precision
    assert set(config_module.PRECISIONS) == {"float32", "mixed_float16", "mixed_bfloat16"}
    for strategy in config_module.STRATEGIES:
        assert TrainConfig(strategy=strategy).strategy == strategy


@pytest.mark.parametrize("field", ["learning_rate", "lr_decay_epochs", "lr_decay_rate"])
@pytest.mark.parametrize("value", [0, 0.0, -1e-3, math.inf, math.nan, True, "0.1"])
def test_rates_must_be_positive_finite_numbers(field, value):
    with pytest.raises(ValueError, match=rf"^{field} must be a positive number\. Received: {field}="):
        TrainConfig(**{field: value})


@pytest.mark.parametrize("field", ["learning_rate", "lr_decay_epochs", "lr_decay_rate"])
@pytest.mark.parametrize("value", [1e-9, 1, 2.5, None])
def test_positive_rates_are_kept(field, value):
    assert getattr(TrainConfig(**{field: value}), field) == value


@pytest.mark.parametrize("field", ["epochs", "batch_size", "image_size", "steps_per_epoch"])
@pytest.mark.parametrize("value", [0, -2, 1.5, True])
def test_counts_must_be_positive_integers(field, value):
    with pytest.raises(ValueError, match=rf"^{field} must be a positive integer"):
        TrainConfig(**{field: value})


@pytest.mark.parametrize("field", ["image_size", "steps_per_epoch"])
def test_counts_left_none_take_a_default_and_one_is_kept(field):
    assert getattr(TrainConfig(**{field: None}), field) is None
    assert getattr(TrainConfig(**{field: 1}), field) == 1


def test_freezing_needs_pretrained_weights_and_a_count_of_epochs():
    assert TrainConfig(weights="imagenet", freeze_epochs=2).freeze_epochs == 2
    assert TrainConfig(weights="imagenet").freeze_epochs == 0
    with pytest.raises(ValueError, match=r"freeze_epochs needs weights .* Received: freeze_epochs=1, weights=None"):
        TrainConfig(freeze_epochs=1)
    for value in (-1, True, 1.0):
        with pytest.raises(ValueError, match=rf"freeze_epochs must be a non-negative integer\. Received: "
                                             rf"freeze_epochs={value!r}"):
            TrainConfig(weights="imagenet", freeze_epochs=value)


def test_only_googlenet_takes_pretrained_weights():
    assert TrainConfig(weights="googlenet-7.onnx").weights == "googlenet-7.onnx"
    with pytest.raises(ValueError, match=r"slidenet has no pretrained weights\. Received: weights='imagenet'"):
        TrainConfig(model="slidenet", weights="imagenet")


def test_a_config_changed_after_it_was_made_is_checked_again_by_validate():
    config = TrainConfig()
    config.precision = "float16"
    with pytest.raises(ValueError, match=r"precision must be one of .* Received: precision='float16'"):
        config.validate()


@pytest.mark.parametrize(
    "field,value,message",
    [("model", "resnet", "model must be one of"), ("precision", "float16", "precision must be one of"),
     ("strategy", "gpu", "strategy must be one of"), ("epochs", 0, "epochs must be a positive integer"),
     ("batch_size", -1, "batch_size must be"), ("learning_rate", -0.1, "learning_rate must be"),
     ("learning_rate", float("nan"), "learning_rate must be"), ("image_size", 0, "image_size must be"),
     ("lr_decay_epochs", 0, "lr_decay_epochs must be a positive number")],
)
def test_bad_config_values_are_named(field, value, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**{field: value}).validate()


@pytest.mark.parametrize("field", ["momentum", "dropout_rate"])
@pytest.mark.parametrize("value", [1, 1.0, 1.5, -0.01, float("nan"), float("inf"), "0.5", True])
def test_fractions_outside_0_to_1_are_refused_when_the_config_is_made(field, value):
    with pytest.raises(ValueError, match=rf"^{field} must be a number in \[0, 1\)\. Received: {field}="):
        TrainConfig(**{field: value})


@pytest.mark.parametrize("field", ["momentum", "dropout_rate"])
@pytest.mark.parametrize("value", [0, 0.0, 0.5, 0.999, None])
def test_fractions_in_0_to_1_are_kept(field, value):
    assert getattr(TrainConfig(**{field: value}), field) == value
