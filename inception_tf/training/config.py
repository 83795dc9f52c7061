"""`TrainConfig`: everything a training run needs, with the recipe's defaults.

Imports neither TensorFlow nor Keras, so the command line builds its `train`
flags from these fields without starting TensorFlow.
"""

import dataclasses
import math
import numbers
import sys

from inception_tf.checks import positive_int
from inception_tf.datasets.names import DEFAULT_DATASET, FOLDER_PREFIX  # noqa: F401  (re-exported)
from inception_tf.models.recipes import MODELS, get_recipe

STRATEGIES = ("auto", "default", "one_device", "mirrored", "multi_worker", "tpu")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
# Datasets whose size calls for other defaults than the recipe's.
DATASET_DEFAULTS = {
    # 1,437 training images of 8x8 pixels: 32x32 inputs, and the learning rate
    # cut every epoch rather than every 8.
    "digits": {"image_size": 32, "lr_decay_epochs": 1.0},
}


def _is_number(value):
    """Whether `value` is a real number (an int or float, not a bool)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _field(default, *, help, **metadata):
    return dataclasses.field(default=default, metadata={"help": help, **metadata})


@dataclasses.dataclass
class TrainConfig:
    """Everything a training run needs; the `train` command's flags are made from these fields.

    A field left None takes the model's recipe (`inception_tf.models.recipes`)
    or the dataset's default (`DATASET_DEFAULTS`): see the `resolved_*` methods.
    Constructing one checks every field (`validate`): a bad value raises a ValueError naming it.
    """

    model: str = _field("googlenet", help="the model's recipe", choices=MODELS)
    dataset: str = _field(DEFAULT_DATASET, help="tfds name, 'digits' (embedded) or 'folder:PATH'")
    data_dir: str = _field(None, help="tensorflow-datasets data directory")
    image_size: int = _field(None, help="input height and width (default: the recipe's, 32 on digits)")
    epochs: int = _field(12, help="epochs to train")
    batch_size: int = _field(32, help="per replica; the global batch is this times the replicas")
    learning_rate: float = _field(None, help="initial learning rate (default: the recipe's)")
    lr_decay_epochs: float = _field(None, help="epochs between learning-rate cuts (default: the recipe's, 1 on digits)")
    lr_decay_rate: float = _field(None, help="learning-rate multiplier per cut (default: the recipe's)")
    momentum: float = _field(None, help="SGD momentum (default: the recipe's)")
    weights: str = _field(None, help="start from pretrained weights: 'imagenet', or a .onnx / .weights.h5 file "
                                     "(GoogLeNet; the classifier is new, sized for the dataset)")
    freeze_epochs: int = _field(0, help="with --weights: train only the new classifier for the first N epochs")
    aux_logits: bool = _field(True, help="train GoogLeNet's auxiliary classifiers (loss weight 0.3)")
    dropout_rate: float = _field(None, help="dropout before the classifier (default: the model's)")
    ema: bool = _field(False, help="Polyak (exponential moving) averaging of the weights")
    restore_best: bool = _field(True, help="save and export the weights of the epoch with the best validation "
                                           "accuracy, not the last epoch's (with --ema: the average)")
    augment: bool = _field(False, help="the paper's crop and colour augmentation")
    strategy: str = _field("auto", help="tf.distribute strategy", choices=STRATEGIES)
    precision: str = _field("float32", help="dtype policy (mixed_bfloat16 pays on CPUs with AVX-512 BF16 or AMX, "
                                            "and GPUs/TPUs)", choices=PRECISIONS)
    jit_compile: bool = _field(False, help="compile the train step with XLA (for GPUs and TPUs; on a CPU its "
                                           "float32 convolutions are slower than oneDNN's and its bfloat16 ones run "
                                           "at float32 speed)")
    output_dir: str = _field("runs", help="parent of the run directory")
    run_name: str = _field(None, help="run directory name (default: MODEL_DATASET)")
    overwrite: bool = _field(False, help="train a finished run again from scratch (its files are replaced)")
    seed: int = _field(0, help="seeds weights, shuffling and augmentation")
    train_split: str = _field("train[:90%]", help="tfds split to train on")
    validation_split: str = _field("train[90%:]", help="tfds split to validate on")
    test_split: str = _field("test", help="tfds split to test on")
    steps_per_epoch: int = _field(None, help="limit the batches per epoch")
    shuffle: bool = _field(True, help="shuffle the training data every epoch")
    verbose: int = _field(None, help="0 silent, 1 progress bars, 2 one line per epoch (default: 1 in a terminal, "
                                    "2 when output goes to a file or pipe)", choices=(0, 1, 2))

    def __post_init__(self):
        self.validate()

    def recipe(self):
        """The model's `Recipe`."""
        return get_recipe(self.model)

    def validate(self):
        """Raises ValueError naming the first bad field."""
        recipe = get_recipe(self.model)
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}. Received: precision={self.precision!r}")
        if self.strategy not in STRATEGIES:
            raise ValueError(
                f"strategy must be one of {STRATEGIES}. Received: strategy={self.strategy!r}"
            )
        positive_int("epochs", self.epochs)
        positive_int("batch_size", self.batch_size)
        if self.freeze_epochs and self.weights is None:
            raise ValueError(f"freeze_epochs needs weights (a pretrained start). Received: freeze_epochs="
                             f"{self.freeze_epochs}, weights=None")
        if isinstance(self.freeze_epochs, bool) or not isinstance(self.freeze_epochs, int) or self.freeze_epochs < 0:
            raise ValueError(f"freeze_epochs must be a non-negative integer. Received: freeze_epochs={self.freeze_epochs!r}")
        if self.weights is not None and not recipe.has_aux_heads:
            raise ValueError(f"{self.model} has no pretrained weights. Received: weights={self.weights!r}")
        for name in ("image_size", "steps_per_epoch"):  # None picks a default
            if getattr(self, name) is not None:
                positive_int(name, getattr(self, name))
        for name in ("learning_rate", "lr_decay_epochs", "lr_decay_rate"):
            value = getattr(self, name)
            if value is not None and not (_is_number(value) and value > 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a positive number. Received: {name}={value!r}")
        for name in ("momentum", "dropout_rate"):  # None picks the recipe's
            value = getattr(self, name)
            if value is not None and not (_is_number(value) and 0 <= value < 1):
                raise ValueError(f"{name} must be a number in [0, 1). Received: {name}={value!r}")
        if recipe.fixed_image_size and self.image_size not in (None, recipe.image_size):
            raise ValueError(
                f"{self.model} takes {recipe.image_size}x{recipe.image_size} images. "
                f"Received: image_size={self.image_size}"
            )

    def _default(self, name):
        value = getattr(self, name)
        if value is not None:
            return value
        dataset_default = DATASET_DEFAULTS.get(self.dataset, {}).get(name)
        if dataset_default is not None and not self.recipe().fixed_image_size:
            return dataset_default
        return getattr(self.recipe(), name)

    def resolved_image_size(self):
        return self._default("image_size")

    def resolved_learning_rate(self):
        return self._default("learning_rate")

    def resolved_lr_decay_epochs(self):
        return self._default("lr_decay_epochs")

    def resolved_verbose(self, stream=None):
        """`verbose`, or 1 when `stream` (stdout) is a terminal and 2 otherwise (no progress bars in logs)."""
        if self.verbose is not None:
            return self.verbose
        stream = stream or sys.stdout
        return 1 if hasattr(stream, "isatty") and stream.isatty() else 2

    def resolved_run_name(self):
        if self.run_name:
            return self.run_name
        dataset = self.dataset.replace(FOLDER_PREFIX, "folder_").replace("/", "_").strip("_")
        return f"{self.model}_{dataset}"
