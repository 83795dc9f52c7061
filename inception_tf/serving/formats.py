"""ONNX and LiteRT exports, for runtimes other than TF Serving.

`export_onnx(model, "googlenet.onnx")` and `export_litert(model,
"googlenet.tflite")` write one file each, atomically (a `.tmp-...` file
beside it, renamed when complete), through Keras' own exporters
(`model.export(format="onnx")`, tf2onnx on the TensorFlow backend;
`model.export(format="litert")`, the TFLite converter). Both export the
inference graph (main output, no auxiliary heads, dropout off, standard
kernels: no XLA-compiled function reaches the converters) with:

- input `images`: float32 `(batch, height, width, channels)` at the model's
  fixed input size, values in [0, 255] (the model carries its own
  normalisation, `ImagePreprocessing`);
- outputs `probabilities` float32 `(batch, classes)`, `classes` int32
  `(batch, k)` (top-k indices) and `scores` float32 `(batch, k)`, the same
  as the SavedModel's `serving_default`.

Not kept, because these formats have no op for them: encoded-image input
(`predict_images`), the in-graph central crop and resize of any size, the
input range checks and the `class_names` output. Class names travel beside
the graph: in ONNX as the model's `metadata_props` entry `class_names`
(newline-joined, read with `session.get_modelmeta().custom_metadata_map`),
inside the one file; in LiteRT as a sidecar text file `NAME.class_names.txt`
(one name a line), since the LiteRT interpreter reads no metadata.

Importing this module needs no TensorFlow (`FORMATS` is read by the CLI).
"""

import os

from inception_tf import files
from inception_tf.checks import positive_int
from inception_tf.serving.signatures import DEFAULT_TOP_K, IMAGES_INPUT, check_class_names

FORMATS = {"onnx": ".onnx", "litert": ".tflite"}  # format -> file extension
CLASS_NAMES_METADATA = "class_names"
CLASS_NAMES_SUFFIX = ".class_names.txt"


_REQUIREMENTS = {"onnx": ("tf2onnx", "onnx"), "litert": ()}


def _require(format):
    """An ImportError naming the extra to install when `format`'s converter is missing."""
    import importlib.util

    missing = [name for name in _REQUIREMENTS[format] if importlib.util.find_spec(name) is None]
    if missing:
        raise ImportError(
            f"The {format} export needs {', '.join(missing)}: pip install 'inception_tf[{format}]'"
        )


def class_names_path(path):
    """The sidecar class-names file of a LiteRT export: `x/NAME.tflite` -> `x/NAME.class_names.txt`."""
    return os.path.splitext(os.fspath(path))[0] + CLASS_NAMES_SUFFIX


def _check_path(path, format):
    path = os.fspath(path)
    extension = FORMATS[format]
    if not path.endswith(extension):
        raise ValueError(f"A {format} export needs a path ending in {extension!r}. Received: path={path!r}")
    return path


def _check_target(path, overwrite):
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path} is a directory; give a file path.")
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True (--overwrite) to replace it.")


def serving_model(model, top_k=DEFAULT_TOP_K):
    """The exported graph as a Keras model: pixels in, probabilities and top-k out.

    Args:
        model: a `keras.Model` mapping `(batch, height, width, channels)`
            images to class probabilities: values in [0, 255] for a model with
            `ImagePreprocessing`, in [-1, 1] for one saved without (the graph
            then scales [0, 255] to [-1, 1] itself). A GoogLeNet with auxiliary
            heads is reduced to its main output. Trace it inside
            `kernels.using_kernels(model, "standard")` (as `export_onnx` and
            `export_litert` do) for TensorFlow's own ops, which the converters
            map to theirs (LRN included).
        top_k: int. How many classes `classes` and `scores` list; above the
            number of classes every class is listed (k = classes), as the
            SavedModel export does, so the default 5 serves a 3-class model.

    Returns:
        A `keras.Model` from float32 `(batch, height, width, channels)` named
        `images` to a dict: `probabilities` float32 `(batch, classes)`,
        `classes` int32 `(batch, k)`, `scores` float32 `(batch, k)`.

    Raises:
        ValueError: the model's input is not `(batch, height, width, 1 or 3)`
            with fixed height and width, or `top_k` is not a positive integer.
    """
    import keras

    from inception_tf.models.googlenet import inference_model
    from inception_tf.models.preprocessing import has_preprocessing

    top_k = positive_int("top_k", top_k)
    model = inference_model(model)
    shape = tuple(model.input_shape)
    if len(shape) != 4 or shape[1] is None or shape[2] is None or shape[3] not in (1, 3):
        raise ValueError(
            "ONNX and LiteRT exports need a model taking (batch, height, width, 1 or 3) images with a "
            f"fixed height and width. Received a model with input_shape={shape}"
        )
    images = keras.Input(shape[1:], dtype="float32", name=IMAGES_INPUT)
    pixels = images if has_preprocessing(model) else images / 127.5 - 1.0
    probabilities = keras.ops.cast(model(pixels, training=False), "float32")
    scores, classes = keras.ops.top_k(probabilities, k=min(top_k, int(probabilities.shape[-1])))
    outputs = {"probabilities": probabilities, "classes": keras.ops.cast(classes, "int32"), "scores": scores}
    return keras.Model(images, outputs, name=f"{model.name}_serving")


def _input_signature(serving):
    import tensorflow as tf

    return [tf.TensorSpec((None, *serving.input_shape[1:]), tf.float32, name=IMAGES_INPUT)]


def _export(model, serving, path, format, **options):
    """Keras' exporter of `format` writes `serving` (built on `model`) to `path`, traced with TensorFlow's own ops."""
    from inception_tf.models.kernels import using_kernels

    with using_kernels(model, "standard"):
        serving.export(path, format=format, verbose=False, input_signature=_input_signature(serving), **options)


def export_onnx(model, path, class_names=None, top_k=DEFAULT_TOP_K, overwrite=False, opset=None):
    """Exports `model`'s inference graph as one ONNX file, atomically.

    Args:
        model: a `keras.Model`, as `serving_model` takes it.
        path: str. The file to write; must end in `.onnx`.
        class_names: list of str or None. One name per class, stored in the
            model's `metadata_props` under `class_names`, newline-joined.
        top_k: int. How many classes `classes` and `scores` list, at most every class. Defaults to 5.
        overwrite: bool. Replace an existing file. Defaults to False.
        opset: int or None. The ONNX opset; None takes tf2onnx's default.

    Returns:
        str. The path written.

    Raises:
        ValueError: bad path suffix, class names, top_k or model input.
        FileExistsError: the file exists and `overwrite` is False.
    """
    path = _check_path(path, "onnx")
    _require("onnx")
    import onnx

    _check_target(path, overwrite)
    serving = serving_model(model, top_k)
    class_names = check_class_names(class_names, int(serving.output["probabilities"].shape[-1]))
    with files.atomic_file(path) as temporary:
        _export(model, serving, temporary, "onnx", opset_version=opset)
        graph = onnx.load(temporary)
        for value in list(graph.graph.input) + list(graph.graph.output):
            dimension = value.type.tensor_type.shape.dim[0]  # tf2onnx names the batch "unk__N"
            dimension.ClearField("dim_value")
            dimension.dim_param = "batch"
        if class_names is not None:
            onnx.helper.set_model_props(graph, {CLASS_NAMES_METADATA: "\n".join(class_names)})
        onnx.checker.check_model(graph)
        onnx.save(graph, temporary)
    return path


def export_litert(model, path, class_names=None, top_k=DEFAULT_TOP_K, overwrite=False):
    """Exports `model`'s inference graph as one LiteRT (`.tflite`) file, atomically.

    The graph holds LiteRT builtin ops only (no TensorFlow ops through the
    Flex delegate), so the plain `ai_edge_litert` interpreter runs it; the
    batch dimension is dynamic (the signature runner resizes it).

    Args:
        model: a `keras.Model`, as `serving_model` takes it.
        path: str. The file to write; must end in `.tflite`.
        class_names: list of str or None. One name per class, written (also
            atomically, before the model) to `class_names_path(path)`.
        top_k: int. How many classes `classes` and `scores` list, at most every class. Defaults to 5.
        overwrite: bool. Replace an existing file. Defaults to False.

    Returns:
        str. The path written.

    Raises:
        ValueError: bad path suffix, class names, top_k or model input.
        FileExistsError: the file exists and `overwrite` is False.
    """
    import tensorflow as tf

    path = _check_path(path, "litert")
    _check_target(path, overwrite)
    serving = serving_model(model, top_k)
    class_names = check_class_names(class_names, int(serving.output["probabilities"].shape[-1]))
    with files.atomic_file(path) as temporary:
        _export(model, serving, temporary, "litert",
                target_spec={"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]})
        if class_names is not None:
            with files.atomic_file(class_names_path(path)) as names:
                with open(names, "w") as handle:
                    handle.write("\n".join(class_names) + "\n")
    return path


def export_model(model, path, format, **kwargs):
    """Exports `model` in `format` (a key of `FORMATS`) to the file `path`.

    Raises:
        ValueError: an unknown format, naming it and the known ones.
    """
    exporters = {"onnx": export_onnx, "litert": export_litert}
    if format not in exporters:
        raise ValueError(f"format must be one of {tuple(FORMATS)}. Received: format={format!r}")
    return exporters[format](model, path, **kwargs)
