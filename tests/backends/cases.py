"""What the backend tests compute on every Keras backend, shared by both sides.

`test_backends.py` (TensorFlow, in the pytest process) and `worker.py` (JAX or
PyTorch, in a subprocess) build the same models from this module, load the
same weights into them by variable path and run them on the same inputs, so
their outputs can be compared array by array.

Importing this module imports Keras, so the worker hides TensorFlow first.
Inputs are drawn channels last, `(batch_size, height, width, channels)`, and
transposed to `(batch_size, channels, height, width)` for channels_first.
"""

import importlib

import keras
import numpy as np

import inception_tf
from inception_tf.models.initializers import TruncatedNormal

BACKENDS = ("jax", "torch")
DATA_FORMATS = ("channels_last", "channels_first")
CLASSES = 10
MODULE_FILTERS = (4, 3, 5, 2, 3, 2)  # 1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj
# SlideNet's first module: the slide helpers use its shapes, so JAX compiles their random draws once.
SLIDE_FILTERS = (32, 16, 32, 16, 32, 32)

# Case name -> its channels-last input shape, batch first.
CASES = {
    "module_as_written": (2, 11, 13, 6),
    "module_corrected": (2, 11, 13, 6),
    "lrn": (2, 6, 7, 9),
    "lrn_power": (2, 5, 4, 7),
    "pool": (2, 9, 10, 4),
    "googlenet_aux": (2, 32, 32, 3),
    "googlenet": (2, 32, 32, 3),
    "slidenet": (2, 4, 4, 1),  # SlideNet is channels last only; 4x4 keeps its dense layer small
}
# Models saved as `.keras` files on one backend and loaded on the others.
SAVED_CASES = (
    ("googlenet_aux", "channels_last"), ("googlenet_aux", "channels_first"), ("slidenet", "channels_last"),
)
FIT_CASE = ("googlenet_aux", "channels_last")
FIT_EXAMPLES = 8
FIT_EPOCHS = 5  # one batch of FIT_EXAMPLES per epoch: five optimizer steps

# The slide's variable-name suffixes in its order (slide 12), written out independently of the package.
SLIDE_SUFFIXES = ("1x1_1", "1x1_2", "3x3", "1x1_3", "5x5", "1x1_4")
SLIDE_SEED = 7
# Enough values that Keras' own truncated normal on PyTorch (four tries per value, about one value
# in 230,000 left beyond the bound) would show one outside it nearly always (1 - e^-9).
TRUNCATION_DRAWS = 2**21


def formats(case):
    """The data formats `case` is computed in."""
    return ("channels_last",) if case == "slidenet" else DATA_FORMATS


def key(*parts):
    """One npz key from its parts, e.g. `key("pool", "channels_first", "out")`."""
    return "|".join(parts)


def to_format(x, data_format):
    """A channels-last array `(B, H, W, C)` in `data_format`."""
    return x if data_format == "channels_last" else np.ascontiguousarray(np.transpose(x, (0, 3, 1, 2)))


def batchless_shape(case, data_format):
    """The input shape of `case` without its batch dimension, in `data_format`."""
    _, height, width, channels = CASES[case]
    return (height, width, channels) if data_format == "channels_last" else (channels, height, width)


def draw_inputs(seed=1409):
    """{case: channels-last float32 input}; LRN inputs are scaled up so the normalisation matters."""
    rng = np.random.default_rng(seed)
    inputs = {}
    for case, shape in CASES.items():
        x = rng.uniform(-1.0, 1.0, shape)
        inputs[case] = (x * (4.0 if case.startswith("lrn") else 1.0)).astype(np.float32)
    return inputs


def _layer(case, data_format):
    if case.startswith("module"):
        relu = case[len("module_"):]
        return inception_tf.InceptionModule(*MODULE_FILTERS, relu=relu, data_format=data_format,
                                            kernel_initializer="zeros", name=case)
    if case == "lrn":
        return inception_tf.LocalResponseNormalization(depth_radius=2, bias=1.0, alpha=1e-2, beta=0.75,
                                                       data_format=data_format, name=case)
    if case == "lrn_power":  # beta other than 0.75 takes the power path
        return inception_tf.LocalResponseNormalization(depth_radius=1, bias=2.0, alpha=5e-2, beta=0.6,
                                                       data_format=data_format, name=case)
    if case == "pool":
        return inception_tf.MaxPooling2D(3, strides=2, padding="same", data_format=data_format, name=case)
    raise ValueError(f"case must be one of {sorted(CASES)}. Received: case={case!r}")


def build(case, data_format):
    """A `keras.Model` computing `case` in `data_format`; its weights are to be loaded.

    Kernels start at zero (on JAX each random initializer compiles per shape,
    which would dominate the run); `load_weights` sets every weight.
    """
    shape = batchless_shape(case, data_format)
    if case.startswith("googlenet"):
        return inception_tf.GoogLeNet(input_shape=shape, classes=CLASSES, aux_logits=case == "googlenet_aux",
                                      classifier_activation=None, data_format=data_format,
                                      kernel_initializer="zeros", name=case)
    if case == "slidenet":
        if data_format != "channels_last":
            raise ValueError(f"slidenet is channels_last only. Received: data_format={data_format!r}")
        return inception_tf.SlideNet(input_shape=shape, classes=CLASSES, classifier_activation=None)
    inputs = keras.Input(shape, name="inputs")
    return keras.Model(inputs, _layer(case, data_format)(inputs), name=case)


def draw_weights(model, case, seed):
    """{key(case, path): array} for every weight of `model`: He-scaled kernels, small random biases."""
    rng = np.random.default_rng(seed)
    weights = {}
    for variable in model.weights:
        shape = tuple(variable.shape)
        std = np.sqrt(2.0 / np.prod(shape[:-1])) if len(shape) > 1 else 0.05
        weights[key(case, variable.path)] = rng.normal(0.0, std, shape).astype(np.float32)
    return weights


def load_weights(model, weights, case):
    """Assigns `weights[key(case, path)]` to every weight; the paths must match exactly."""
    prefix = key(case, "")
    expected = {name[len(prefix):] for name in weights if name.startswith(prefix)}
    paths = {variable.path for variable in model.weights}
    if paths != expected:
        raise ValueError(
            f"Weight paths of {case} differ from the saved ones: only in the model "
            f"{sorted(paths - expected)}, only in the file {sorted(expected - paths)}"
        )
    for variable in model.weights:
        value = weights[key(case, variable.path)]
        if tuple(value.shape) != tuple(variable.shape):
            raise ValueError(f"{variable.path} has shape {tuple(variable.shape)}; the file has {value.shape}")
        variable.assign(value)


def predict(model, x):
    """{output name: array}: `"out"` for one output, `main`/`aux1`/`aux2` for GoogLeNet's heads."""
    y = model.predict(x, batch_size=len(x), verbose=0)
    if isinstance(y, dict):
        return {name: np.asarray(value) for name, value in y.items()}
    return {"out": np.asarray(y)}


def fit_data(seed=2014):
    """(images (FIT_EXAMPLES, 32, 32, 3) in [0, 1], integer labels (FIT_EXAMPLES,))."""
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1, (FIT_EXAMPLES, 32, 32, 3)).astype(np.float32), rng.integers(0, CLASSES, FIT_EXAMPLES)


def fit(model, images, labels):
    """Trains `model` (GoogLeNet with auxiliary heads) for FIT_EPOCHS steps.

    Returns:
        {"before|<head>": logits before, "after|<head>": logits after (each
        `(FIT_EXAMPLES, CLASSES)`), "change|<path>": the largest absolute change
        of each trainable weight (a scalar)}.
    """
    keras.utils.set_random_seed(3)
    start = {variable.path: np.array(variable) for variable in model.trainable_weights}
    result = {key("before", name): value for name, value in predict(model, images).items()}
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss={head: loss for head in model.output},
                  loss_weights=inception_tf.LOSS_WEIGHTS)
    model.fit(images, {head: labels for head in model.output}, batch_size=FIT_EXAMPLES,
              epochs=FIT_EPOCHS, shuffle=False, verbose=0)
    result.update({key("after", name): value for name, value in predict(model, images).items()})
    for variable in model.trainable_weights:
        result[key("change", variable.path)] = np.abs(np.array(variable) - start[variable.path]).max()
    return result


def model_costs(model):
    """(parameters, multiply-adds) of `model` by `inception_tf.costs`, as an int64 array."""
    return np.array(inception_tf.costs.total(inception_tf.costs.model_costs(model)), dtype=np.int64)


def slide_module():
    """The slide's reference module (its ops need TensorFlow; its names, shapes and draws do not)."""
    return importlib.import_module("inception_tf.models.slide")


def slide_helpers(x):
    """The slide helpers without the reference ops, on the current backend.

    Args:
        x: `(batch_size, height, width, in_channels)` channels-last input.

    Returns:
        {"initial|<name>": slide_initial_weights(seed=SLIDE_SEED) arrays,
         "shape|<name>": slide_variable_shapes as int arrays,
         "drawn|<name>": weights of an InceptionModule built with the "slide"
         initializers, by `slide_weights()`,
         "truncation": `[max |value|, std]` of TRUNCATION_DRAWS values of the
         package's TruncatedNormal(stddev=0.1) on this backend,
         "loaded": the module's output on `x` after `load_slide_weights` of the
         initial weights, `(batch_size, height, width, sum of branch filters)`},
        and the names `slide_variable_names(2)` as a separate tuple.
    """
    slide = slide_module()
    names = tuple(slide.slide_variable_names(2))
    in_channels = x.shape[-1]
    result = {key("shape", name): np.array(shape) for name, shape in
              slide.slide_variable_shapes(in_channels, *SLIDE_FILTERS).items()}
    initial = slide.slide_initial_weights(in_channels, *SLIDE_FILTERS, seed=SLIDE_SEED)
    result.update({key("initial", name): np.asarray(value) for name, value in initial.items()})
    drawn = inception_tf.InceptionModule(*SLIDE_FILTERS, kernel_initializer="slide", bias_initializer="slide")
    drawn.build((None,) + x.shape[1:])
    result.update({key("drawn", name): np.asarray(value) for name, value in drawn.slide_weights().items()})
    many = np.asarray(TruncatedNormal(stddev=0.1)((TRUNCATION_DRAWS,)))
    result["truncation"] = np.array([np.abs(many).max(), many.std()])
    loaded = inception_tf.InceptionModule(*SLIDE_FILTERS, data_format="channels_last", kernel_initializer="zeros")
    loaded.build((None,) + x.shape[1:])
    loaded.load_slide_weights(initial)
    result["loaded"] = keras.ops.convert_to_numpy(loaded(x))
    return result, names
