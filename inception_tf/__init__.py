"""inception_tf: the Inception module and GoogLeNet for Keras 3 / TensorFlow 2.

Importing the package also registers the embedded `digits` dataset with
tensorflow-datasets, so `tfds.load("digits")` works offline.

The layers and models (`InceptionModule`, `LocalResponseNormalization`,
`GoogLeNet`, `SlideNet`, `costs`) need only Keras, so they also import on a
machine with Keras on the JAX or PyTorch backend and no TensorFlow; training,
export and the slide's reference need TensorFlow.
"""

import importlib.util
import os
import sys

# TensorFlow's C++ start-up log (CUDA probes on CPU machines, CPU feature notes)
# buries useful output; a value the user has set wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# TensorFlow's best-fit allocator for CPU tensors reuses freed buffers instead of
# returning them to the OS and faulting fresh pages in for every op: GoogLeNet
# runs about 19% faster on CPU (benchmarks/RESULTS.md). Read once, when
# TensorFlow starts; a value the user has set wins.
if "tensorflow" not in sys.modules:
    os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")

__version__ = "0.1.0"

from inception_tf import costs  # noqa: E402
from inception_tf.googlenet import (  # noqa: E402
    INCEPTION_SPEC,
    LOSS_WEIGHTS,
    GoogLeNet,
    SlideNet,
    inference_model,
)
from inception_tf.layers import InceptionModule, LocalResponseNormalization  # noqa: E402
from inception_tf.pooling import MaxPooling2D  # noqa: E402

__all__ = [
    "GoogLeNet",
    "INCEPTION_SPEC",
    "LOSS_WEIGHTS",
    "SlideNet",
    "inference_model",
    "InceptionModule",
    "LocalResponseNormalization",
    "MaxPooling2D",
    "costs",
    "__version__",
]

if importlib.util.find_spec("tensorflow") is not None:
    from inception_tf import digits, slide  # noqa: E402,F401  (digits registers the tfds builder)
    from inception_tf.distribute import get_strategy  # noqa: E402
    from inception_tf.export import export_saved_model  # noqa: E402
    from inception_tf.train import TrainConfig, TrainingDiverged  # noqa: E402

    __all__ += ["TrainConfig", "TrainingDiverged", "export_saved_model", "get_strategy", "slide"]
