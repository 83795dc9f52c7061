"""inception_tf: the Inception module and GoogLeNet for Keras 3 / TensorFlow 2.

Importing the package also registers the embedded `digits` dataset with
tensorflow-datasets, so `tfds.load("digits")` works offline.
"""

import os

# TensorFlow's C++ start-up log (CUDA probes on CPU machines, CPU feature notes)
# buries useful output; a value the user has set wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"

from inception_tf import costs, digits, slide  # noqa: E402  (digits registers the tfds builder)
from inception_tf.distribute import get_strategy  # noqa: E402
from inception_tf.export import export_saved_model  # noqa: E402
from inception_tf.googlenet import (  # noqa: E402
    INCEPTION_SPEC,
    LOSS_WEIGHTS,
    GoogLeNet,
    SlideNet,
    inference_model,
)
from inception_tf.layers import InceptionModule, LocalResponseNormalization  # noqa: E402
from inception_tf.train import TrainConfig, TrainingDiverged  # noqa: E402

__all__ = [
    "GoogLeNet",
    "INCEPTION_SPEC",
    "LOSS_WEIGHTS",
    "SlideNet",
    "inference_model",
    "InceptionModule",
    "LocalResponseNormalization",
    "TrainConfig",
    "TrainingDiverged",
    "export_saved_model",
    "get_strategy",
    "costs",
    "slide",
    "__version__",
]
