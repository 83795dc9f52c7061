"""The models wing: layers, GoogLeNet, SlideNet, preprocessing, costs and reports.

Needs only Keras (any backend); nothing here imports training, serving or the CLI.
"""

import importlib

# Importing these registers every layer for `.keras` loading.
LAYER_MODULES = (
    "inception_tf.models.layout",
    "inception_tf.models.inception_module",
    "inception_tf.models.initializers",
    "inception_tf.models.lrn",
    "inception_tf.models.padding",
    "inception_tf.models.pooling",
    "inception_tf.models.preprocessing",
)


def register_layers():
    """Imports (and so registers with Keras) every layer of the package.

    `keras.models.load_model` finds our layers only once they are imported:
    using any public name (`inception_tf.GoogLeNet`, ...) does it, and so does
    this function, for a script that only loads `.keras` files.
    """
    for module in LAYER_MODULES:
        importlib.import_module(module)
