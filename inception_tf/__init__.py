"""inception_tf: the Inception module and GoogLeNet for Keras 3 / TensorFlow 2."""

__version__ = "0.1.0"

from inception_tf import costs, slide
from inception_tf.layers import InceptionModule, LocalResponseNormalization

__all__ = [
    "InceptionModule",
    "LocalResponseNormalization",
    "costs",
    "slide",
    "__version__",
]
