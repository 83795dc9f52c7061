"""inception_tf: the Inception module and GoogLeNet for Keras 3 / TensorFlow 2."""

import os

# TensorFlow's C++ start-up log (CUDA probes on CPU machines, CPU feature notes)
# buries useful output; a value the user has set wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"

from inception_tf import costs, slide
from inception_tf.googlenet import (
    INCEPTION_SPEC,
    LOSS_WEIGHTS,
    GoogLeNet,
    SlideNet,
    inference_model,
)
from inception_tf.layers import InceptionModule, LocalResponseNormalization

__all__ = [
    "GoogLeNet",
    "INCEPTION_SPEC",
    "LOSS_WEIGHTS",
    "SlideNet",
    "inference_model",
    "InceptionModule",
    "LocalResponseNormalization",
    "costs",
    "slide",
    "__version__",
]
