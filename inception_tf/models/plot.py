"""Diagrams of the module and of GoogLeNet with `keras.utils.plot_model`.

Needs `pydot` (the `plot` extra) and Graphviz's `dot` program
(`apt-get install graphviz`; present on Colab).
"""

import shutil

import keras

from inception_tf.models import topology
from inception_tf.models.googlenet import INCEPTION_SPEC, GoogLeNet
from inception_tf.models.inception_module import InceptionModule
from inception_tf.models.recipes import DIAGRAMS


def module_graph(module, input_shape):
    """A functional view of an `InceptionModule`'s branches, made of its own sublayers.

    `plot_model` draws a subclassed layer as one box; this model wires the
    module's Conv2D, MaxPooling2D, Concatenate (and ReLU) sublayers as its
    `call` does, so the diagram shows the four branches.

    Args:
        module: an `InceptionModule` (channels_last).
        input_shape: tuple. Batchless input shape, e.g. `(28, 28, 192)`.
    """
    inputs = keras.Input(input_shape, name="previous_layer")
    if not module.built:
        module.build((None,) + tuple(input_shape))
    branches = module.wire(inputs)
    outputs = module.concat([branches[name] for name in topology.CONCATENATED])
    if module.output_relu is not None:
        outputs = module.output_relu(outputs)
    return keras.Model(inputs, outputs, name=module.name)


def diagram_model(name):
    """The model drawn for `name`: `"module"` (GoogLeNet's 3a on 28x28x192) or `"googlenet"`."""
    if name == "module":
        filters = INCEPTION_SPEC[0]._asdict()
        name = f"inception_{filters.pop('name')}"
        module = InceptionModule(**filters, relu="corrected", data_format="channels_last", name=name)
        return module_graph(module, (28, 28, 192))
    if name == "googlenet":
        return GoogLeNet(aux_logits=True)
    raise ValueError(f"name must be one of {DIAGRAMS}. Received: name={name!r}")


def plot(name, path, dpi=72):
    """Renders the diagram `name` to `path` (PNG, SVG or PDF by extension); returns `path`.

    The module is drawn branch by branch (`module_graph`); GoogLeNet layer by layer.

    Raises:
        RuntimeError: pydot or Graphviz is missing.
        ValueError: an unknown name or file extension.
    """
    try:
        import pydot  # noqa: F401
    except ImportError:
        raise RuntimeError("Plotting needs pydot: pip install 'inception_tf[plot]'.") from None
    if shutil.which("dot") is None:
        raise RuntimeError("Plotting needs Graphviz's dot program: apt-get install graphviz.")
    path = str(path)
    extension = path.rsplit(".", 1)[-1].lower() if "." in path else ""
    if extension not in ("png", "svg", "pdf"):
        raise ValueError(f"The output must end in .png, .svg or .pdf. Received: {path!r}")
    graph = keras.utils.model_to_dot(
        diagram_model(name), show_shapes=True, show_layer_names=True,
        dpi=dpi,
    )
    graph.write(path, format=extension)
    return path
