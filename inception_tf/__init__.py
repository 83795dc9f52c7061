"""inception_tf: the Inception module and GoogLeNet for Keras 3 / TensorFlow 2.

The package's parts (README's "Layout" gives the order in which they import each other):

- `inception_tf.models`: the layers (`InceptionModule`,
  `LocalResponseNormalization`, `MaxPooling2D`, `ImagePreprocessing`), the
  models (`GoogLeNet`, `SlideNet`), the slide's reference code, costs,
  reports and diagrams. They need only Keras, so they run on the TensorFlow,
  JAX and PyTorch backends.
- `inception_tf.datasets`: the raw examples of tensorflow-datasets names, the
  embedded `digits` and image folders, and int8 calibration images.
- three peer wings, none importing another: `inception_tf.training`
  (tf.data pipelines, `tf.distribute` strategies, `train(TrainConfig(...))`);
  `inception_tf.serving` (SavedModel, ONNX and LiteRT export, `predict` from
  every source, REST/gRPC request builders for TF Serving, which need no
  TensorFlow); `inception_tf.evaluation` (the model's own protocol and the
  paper's 1, 10 and 144 crops).
- `inception_tf.imagenet`: the 1000 ImageNet classes and `decode_predictions`
  (numpy only), for `GoogLeNet(weights="imagenet")`.

Importing the package sets no environment variables and imports neither
Keras nor TensorFlow: each public name loads its module on first use.
"""

import importlib

from inception_tf.models import register_layers

__version__ = "0.2.0"
# Public names -> the module that defines them, imported on first use: the
# package imports nothing heavy (Keras starts its backend, TensorFlow takes
# seconds), so `inception-tf --help` and the serving clients stay fast.
_PUBLIC = {
    "GoogLeNet": "inception_tf.models.googlenet",
    "SlideNet": "inception_tf.models.googlenet",
    "INCEPTION_SPEC": "inception_tf.models.googlenet",
    "LOSS_WEIGHTS": "inception_tf.models.googlenet",
    "inference_model": "inception_tf.models.googlenet",
    "InceptionModule": "inception_tf.models.inception_module",
    "LocalResponseNormalization": "inception_tf.models.lrn",
    "MaxPooling2D": "inception_tf.models.pooling",
    "ImagePreprocessing": "inception_tf.models.preprocessing",
    "model_record": "inception_tf.models.preprocessing",
    "set_model_record": "inception_tf.models.preprocessing",
    "prepare_images": "inception_tf.images",
    "TrainConfig": "inception_tf.training.config",
    "TrainingDiverged": "inception_tf.training.train",
    "train": "inception_tf.training.train",
    "get_strategy": "inception_tf.training.distribute",
    "export_saved_model": "inception_tf.serving.export",
    "decode_predictions": "inception_tf.imagenet",
}
# Public names that are modules themselves (`inception_tf.costs.model_costs(model)`).
_PUBLIC_MODULES = {
    "costs": "inception_tf.models.costs",
    "slide": "inception_tf.models.slide",
}

__all__ = ["__version__", "register_layers", *_PUBLIC, *_PUBLIC_MODULES]


def __getattr__(name):
    source = _PUBLIC.get(name) or _PUBLIC_MODULES.get(name)
    if source is None:
        raise AttributeError(f"module 'inception_tf' has no attribute {name!r}")
    if source.startswith("inception_tf.models."):
        register_layers()
    module = importlib.import_module(source)
    # `train` is a function of the module `training.train`: only the names of modules are modules.
    value = module if name in _PUBLIC_MODULES else getattr(module, name)
    globals()[name] = value
    return value
