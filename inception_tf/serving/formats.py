"""ONNX and LiteRT exports, for runtimes other than TF Serving.

`export_onnx(model, "googlenet.onnx")` and `export_litert(model,
"googlenet.tflite")` write one file each, atomically (a `.tmp-...` file
beside it, renamed when complete), through Keras' own exporters
(`model.export(format="onnx")`, tf2onnx on the TensorFlow backend;
`model.export(format="litert")`, the TFLite converter). Both export the
inference graph (main output, no auxiliary heads, dropout off, standard
kernels: no XLA-compiled function reaches the converters; LRN in the form
`signatures.LRN_FORMS` gives each file, the one its runtime runs fastest) with:

- input `images`: float32 `(batch, height, width, channels)` at the model's
  fixed input size, values in [0, 255] (the model carries its own
  normalisation, `ImagePreprocessing`);
- outputs `probabilities` float32 `(batch, classes)`, `classes` int32
  `(batch, k)` (top-k indices) and `scores` float32 `(batch, k)`, the same
  as the SavedModel's `serving_default`.

Not kept, because these formats have no op for them: encoded-image input
(`predict_images`), the in-graph test-time geometry (crop and resize of any
size), the input range checks and the `class_names` output. What the client
needs for them travels beside the graph: in ONNX as the model's
`metadata_props` entries `class_names` (newline-joined) and `model_record`
(JSON: preprocessing, test-time geometry, input size; read with
`session.get_modelmeta().custom_metadata_map`), inside the one file; in
LiteRT as sidecar files `NAME.class_names.txt` (one name a line) and
`NAME.model_record.json`, since the LiteRT interpreter reads no metadata.
`inception_tf.serving.runtimes.classify_files` is that client: it prepares
images with the recorded geometry (`inception_tf.images.prepare_images`) and
runs the file in its runtime.

With `quantize="int8"` and a `Calibration` (images prepared with the
model's test-time geometry), both formats hold an int8 graph behind the same
float interface: ONNX through onnxruntime's static quantization (QDQ
format, per-channel int8 weights, uint8 activations with MinMax ranges from
the calibration images; the softmax and top-k stay float32), LiteRT through
the TFLite converter's integer quantization with those images as the
representative dataset, except the LRN layers' ops, which stay float32
between dequantize and quantize ops (the softmax is int8, so LiteRT's
probabilities come in steps of 1/256). The file records it: ONNX in `metadata_props` (`quantization` = "int8",
`calibration` = a JSON object), LiteRT in a sidecar `NAME.quantization.json`
holding the same two entries and the layers kept in float32 (`float32_layers`).

LRN: every file holds its banded form (a 1x1 `Conv` / `CONV_2D` with a band
matrix over the squares, then square roots). onnxruntime quantizes it with
the rest in int8 files; int8 LiteRT files keep it in float32, where XNNPACK
runs it fast (GoogLeNet at 224: 2.7x the float32 file's speed, against 0.7x
with TensorFlow's op as `LOCAL_RESPONSE_NORMALIZATION` and 0.35x with the band
quantized; benchmarks/RESULTS.md). ONNX records the form in
`metadata_props["lrn"]`, a LiteRT file in its `NAME.model_record.json`
(`"lrn"`; an int8 one in its quantization record too).

Importing this module needs no TensorFlow (`FORMATS`, `EXPORT_FORMATS` and the defaults are read by the CLI).
"""

import contextlib
import json
import os
import tempfile
import warnings

from inception_tf import files
from inception_tf.calibration import Calibration  # noqa: F401  (re-exported)
from inception_tf.checks import positive_int
from inception_tf.geometry import check_class_names, square_input
from inception_tf.serving.signatures import (
    DEFAULT_TOP_K,
    IMAGES_INPUT,
    LRN_METADATA,
    lrn_form,
    model_record_entry,
)

FORMATS = {"onnx": ".onnx", "litert": ".tflite"}  # format -> file extension
SAVEDMODEL = "savedmodel"  # TF Serving's format (`inception_tf.serving.export`), a directory per version
EXPORT_FORMATS = (SAVEDMODEL, *FORMATS)  # what `inception_tf.serving.runs.export_run` writes
CLASS_NAMES_METADATA = "class_names"
CLASS_NAMES_SUFFIX = ".class_names.txt"
MODEL_RECORD_METADATA = "model_record"  # JSON: preprocessing, test-time geometry, input size
MODEL_RECORD_SUFFIX = ".model_record.json"
QUANTIZATIONS = ("int8",)
QUANTIZATION_METADATA = "quantization"
CALIBRATION_METADATA = "calibration"
FLOAT32_LAYERS_METADATA = "float32_layers"  # an int8 LiteRT quantization record: the layers computed in float32
QUANTIZATION_SUFFIX = ".quantization.json"
CALIBRATION_BATCH = 16  # images per calibration call
DEFAULT_CALIBRATION_IMAGES = 128  # images an int8 export calibrates on, by default


_ONNX_REQUIREMENTS = ("tf2onnx", "onnx")  # LiteRT's converter is TensorFlow's own
_ONNX_QUANTIZER_REQUIREMENTS = ("onnxruntime",)  # onnxruntime quantizes ONNX


def _require_onnx(quantize=None):
    """An ImportError naming the extra to install when the ONNX converter (or, to quantize, onnxruntime) is missing."""
    import importlib.util

    needs = _ONNX_REQUIREMENTS + (_ONNX_QUANTIZER_REQUIREMENTS if quantize else ())
    missing = [name for name in needs if importlib.util.find_spec(name) is None]
    if missing:
        raise ImportError(f"The onnx export needs {', '.join(missing)}: pip install 'inception_tf[onnx]'")


def check_quantization(quantize, calibration, input_shape=None):
    """`quantize` checked against `calibration` (and the model's input shape); ValueError naming the problem.

    Args:
        quantize: None (float32) or one of `QUANTIZATIONS`.
        calibration: a `Calibration` (needed with `quantize`, refused without).
        input_shape: tuple `(batch, height, width, channels)` or None. The
            model's input; the calibration images must have its height, width
            and channels.

    Returns:
        `quantize`.
    """
    if quantize is None:
        if calibration is not None:
            raise ValueError("calibration applies to quantized exports only; pass quantize='int8' (--quantize int8).")
        return None
    if quantize not in QUANTIZATIONS:
        raise ValueError(f"quantize must be one of {QUANTIZATIONS} or None. Received: quantize={quantize!r}")
    if not isinstance(calibration, Calibration):
        raise ValueError(f"quantize={quantize!r} needs calibration images: pass calibration=Calibration(...) "
                         f"(--calibration DATASET). Received: calibration={calibration!r}")
    shape = tuple(getattr(calibration.images, "shape", ()))
    if len(shape) != 4 or shape[0] < 1:
        raise ValueError(f"Calibration images must be (count >= 1, height, width, channels). Received shape {shape}")
    if input_shape is not None and shape[1:] != tuple(input_shape[1:]):
        raise ValueError(f"Calibration images of shape {shape[1:]} (height, width, channels) do not fit the "
                         f"model's input {tuple(input_shape[1:])} (from dataset {calibration.dataset!r}).")
    low, high = float(calibration.images.min()), float(calibration.images.max())
    if not 0.0 <= low <= high <= 255.0:
        raise ValueError(f"Calibration images must hold pixels in [0, 255]. Received values in [{low}, {high}] "
                         f"(from dataset {calibration.dataset!r}).")
    return quantize


def _calibration_batches(calibration):
    """float32 `(<= CALIBRATION_BATCH, height, width, channels)` batches of the calibration images."""
    import numpy as np

    images = np.asarray(calibration.images, np.float32)
    return [images[start:start + CALIBRATION_BATCH] for start in range(0, len(images), CALIBRATION_BATCH)]


def quantization_path(path):
    """The sidecar quantization record of a LiteRT export: `x/NAME.tflite` -> `x/NAME.quantization.json`."""
    return os.path.splitext(os.fspath(path))[0] + QUANTIZATION_SUFFIX


def _quantization_record(quantize, calibration):
    return {QUANTIZATION_METADATA: quantize, CALIBRATION_METADATA: calibration.record()}


def class_names_path(path):
    """The sidecar class-names file of a LiteRT export: `x/NAME.tflite` -> `x/NAME.class_names.txt`."""
    return os.path.splitext(os.fspath(path))[0] + CLASS_NAMES_SUFFIX


def model_record_path(path):
    """The sidecar model-record file of a LiteRT export: `x/NAME.tflite` -> `x/NAME.model_record.json`."""
    return os.path.splitext(os.fspath(path))[0] + MODEL_RECORD_SUFFIX


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
        model: a `keras.Model` that starts with `ImagePreprocessing`, mapping
            `(batch, height, width, channels)` images with values in [0, 255]
            to class probabilities. A GoogLeNet with auxiliary heads is
            reduced to its main output. Trace it inside
            `kernels.using_kernels(model, implementation)` (as `export_onnx`
            and `export_litert` do, with `signatures.lrn_form`'s value): with
            `"standard"` TensorFlow's own ops, which the converters map to
            theirs (LRN included), with `"banded"` LRN's banded form.
        top_k: int. How many classes `classes` and `scores` list; above the
            number of classes every class is listed (k = classes), as the
            SavedModel export does, so the default 5 serves a 3-class model.

    Returns:
        A `keras.Model` from float32 `(batch, height, width, channels)` named
        `images` to a dict: `probabilities` float32 `(batch, classes)`,
        `classes` int32 `(batch, k)`, `scores` float32 `(batch, k)`.

    Raises:
        ValueError: the model's input is not square `(batch, size, size, 1
            or 3)` (`inception_tf.geometry.square_input`), it has no `ImagePreprocessing`,
            or `top_k` is not a positive integer.
    """
    import keras

    from inception_tf.models.googlenet import inference_model
    from inception_tf.models.preprocessing import model_record

    top_k = positive_int("top_k", top_k)
    model = inference_model(model)
    image_size, channels = square_input(model.input_shape, "An ONNX or LiteRT export")
    model_record(model)  # refuses a model that records nothing of its inputs
    images = keras.Input((image_size, image_size, channels), dtype="float32", name=IMAGES_INPUT)
    probabilities = keras.ops.cast(model(images, training=False), "float32")
    scores, classes = keras.ops.top_k(probabilities, k=min(top_k, int(probabilities.shape[-1])))
    outputs = {"probabilities": probabilities, "classes": keras.ops.cast(classes, "int32"), "scores": scores}
    return keras.Model(images, outputs, name=f"{model.name}_serving")


def _model_record(model, serving, class_names):
    """`(model_record_entry dict, class names)` an export of `model` records; names default to the model's."""
    from inception_tf.models.googlenet import inference_model
    from inception_tf.models.preprocessing import model_record

    record = model_record(inference_model(model))
    names = record.class_names if class_names is None else class_names
    names = check_class_names(names, int(serving.output["probabilities"].shape[-1]))
    return model_record_entry(record.preprocessing, record.geometry, serving.input_shape[1]), names


def _input_signature(serving):
    import tensorflow as tf

    return [tf.TensorSpec((None, *serving.input_shape[1:]), tf.float32, name=IMAGES_INPUT)]


def _export(model, serving, path, format, precision, **options):
    """Keras' exporter of `format` writes `serving` (built on `model`) to `path`; returns the LRN form it holds.

    Traced with standard ops, LRN in `signatures.lrn_form(format, precision)`'s form; the
    graph is float32 at every precision (an int8 file is quantized afterwards or by the
    converter), so the form returned is `"standard"` or `"banded"`.
    """
    from inception_tf.models.kernels import using_kernels

    implementation = lrn_form(format, precision)  # "standard" or "banded": the form itself, on every machine
    with using_kernels(model, implementation), _keras_messages_off(), warnings.catch_warnings():
        # Not the user's concern: TensorFlow's int8 calibrator runs the model in tf.lite.Interpreter, which warns
        # of its own deprecation; TensorFlow 2.20's converter warns of input statistics a float interface does
        # not need; Keras' ONNX exporter asks numpy >= 2.3 for `np.object` as it is imported.
        warnings.filterwarnings("ignore", message=r"\s*Warning: tf\.lite\.Interpreter is deprecated",
                                category=UserWarning)
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs were expected", category=UserWarning)
        warnings.filterwarnings("ignore", message=r"In the future `np\.object` will be defined", category=FutureWarning)
        serving.export(path, format=format, verbose=False, input_signature=_input_signature(serving), **options)
    return implementation


@contextlib.contextmanager
def _keras_messages_off():
    """Keras' messages go to absl's log (hidden by default) instead of stdout, for the block's duration.

    Keras 3.13's LiteRT exporter prints "Saved artifact at <the temporary file>" whatever `verbose` says.
    """
    import keras

    enabled = keras.config.is_interactive_logging_enabled()
    keras.config.disable_interactive_logging()
    try:
        yield
    finally:
        if enabled:
            keras.config.enable_interactive_logging()


def export_onnx(model, path, class_names=None, top_k=DEFAULT_TOP_K, overwrite=False, opset=None, quantize=None,
                calibration=None):
    """Exports `model`'s inference graph as one ONNX file, atomically.

    Args:
        model: a `keras.Model`, as `serving_model` takes it.
        path: str. The file to write; must end in `.onnx`.
        class_names: list of str or None. One name per class, stored in the
            model's `metadata_props` under `class_names`, newline-joined; None
            takes those the model records (none if it records none). The
            model's preprocessing, test-time geometry and input size go under
            `model_record` (JSON).
        top_k: int. How many classes `classes` and `scores` list, at most every class. Defaults to 5.
        overwrite: bool. Replace an existing file. Defaults to False.
        opset: int or None. The ONNX opset; None takes tf2onnx's default.
        quantize: None (float32) or "int8": onnxruntime's static
            quantization (QDQ, per-channel weights), recorded in
            `metadata_props` (`quantization`, `calibration`). Either way LRN
            is in its banded form, recorded as `metadata_props["lrn"]`.
        calibration: a `Calibration` whose images fit the model's input; needed with `quantize`.

    Returns:
        str. The path written.

    Raises:
        ValueError: bad path suffix, class names, top_k, model input, quantize or calibration.
        FileExistsError: the file exists and `overwrite` is False.
    """
    path = _check_path(path, "onnx")
    _require_onnx(quantize)
    import onnx

    _check_target(path, overwrite)
    serving = serving_model(model, top_k)
    quantize = check_quantization(quantize, calibration, serving.input_shape)
    record, class_names = _model_record(model, serving, class_names)
    with files.atomic_file(path) as temporary:
        lrn = _export(model, serving, temporary, "onnx", quantize or "float32", opset_version=opset)
        graph = onnx.load(temporary)
        for value in list(graph.graph.input) + list(graph.graph.output):
            # tf2onnx names the batch "unk__N"; dim_param and dim_value are one field (a oneof).
            value.type.tensor_type.shape.dim[0].dim_param = "batch"
        properties = {LRN_METADATA: lrn}
        if quantize is not None:
            graph = _quantize_onnx(graph, calibration)
            properties.update({key: value if isinstance(value, str) else json.dumps(value)
                               for key, value in _quantization_record(quantize, calibration).items()})
        properties[MODEL_RECORD_METADATA] = json.dumps(record, sort_keys=True)
        if class_names is not None:
            properties[CLASS_NAMES_METADATA] = "\n".join(class_names)
        onnx.helper.set_model_props(graph, properties)
        onnx.checker.check_model(graph)
        onnx.save(graph, temporary)
    return path


_FLOAT_ONNX_OPS = ("Softmax", "TopK")


def _quantize_onnx(graph, calibration):
    """`graph` (an `onnx.ModelProto` with float32 input `images`) quantized to int8 by onnxruntime.

    Static quantization in QDQ format: int8 weights, per output channel;
    8-bit activations (uint8, whose ranges are the min and max seen on the
    calibration images, run in batches of `CALIBRATION_BATCH`); the softmax
    and top-k run in float32 on the dequantized logits. With uint8
    activations onnxruntime's CPU provider fuses every Conv into
    `QLinearConv` (and pools, concatenations into their NHWC int8 forms);
    with int8 activations it fused 30 of GoogLeNet's 57 and ran the rest in
    float32 (onnxruntime 1.32, benchmarks/RESULTS.md).
    """
    import onnx
    from onnxruntime import quantization

    class Reader(quantization.CalibrationDataReader):
        def __init__(self):
            self.batches = iter(_calibration_batches(calibration))

        def get_next(self):
            batch = next(self.batches, None)
            return None if batch is None else {IMAGES_INPUT: batch}

    with tempfile.TemporaryDirectory(prefix="inception_tf_quantize_") as scratch:
        float_path, prepared_path, int8_path = (os.path.join(scratch, name) for name in
                                                ("float.onnx", "prepared.onnx", "int8.onnx"))
        onnx.save(graph, float_path)
        # Shape inference and onnxruntime's graph fusions first, as onnxruntime's guide asks.
        quantization.quant_pre_process(float_path, prepared_path)
        # The softmax and top-k stay float32: quantized, 1000 probabilities would share 256 levels
        # (most of them 0) and the top-k scores would tie.
        float_nodes = [node.name for node in onnx.load(prepared_path).graph.node if node.op_type in _FLOAT_ONNX_OPS]
        quantization.quantize_static(
            prepared_path, int8_path, Reader(), quant_format=quantization.QuantFormat.QDQ, per_channel=True,
            nodes_to_exclude=float_nodes,
            activation_type=quantization.QuantType.QUInt8, weight_type=quantization.QuantType.QInt8,
            calibrate_method=quantization.CalibrationMethod.MinMax,
        )
        return onnx.load(int8_path)


def export_litert(model, path, class_names=None, top_k=DEFAULT_TOP_K, overwrite=False, quantize=None,
                  calibration=None):
    """Exports `model`'s inference graph as one LiteRT (`.tflite`) file, atomically.

    The graph holds LiteRT builtin ops only (no TensorFlow ops through the
    Flex delegate), so the plain `ai_edge_litert` interpreter runs it; the
    batch dimension is dynamic (the signature runner resizes it).

    Args:
        model: a `keras.Model`, as `serving_model` takes it.
        path: str. The file to write; must end in `.tflite`.
        class_names: list of str or None. One name per class, written (also
            atomically, before the model) to `class_names_path(path)`; None
            takes those the model records. The model's preprocessing,
            test-time geometry and input size go to `model_record_path(path)`.
        top_k: int. How many classes `classes` and `scores` list, at most every class. Defaults to 5.
        overwrite: bool. Replace an existing file. Defaults to False.
        quantize: None (float32) or "int8": the converter's integer
            quantization (int8 softmax: probabilities in steps of 1/256) with the calibration images as representative
            dataset (input and outputs stay float32), recorded in
            `quantization_path(path)` (JSON, with the LRN form under `"lrn"`
            and the layers kept in float32 under `"float32_layers"`). Every
            file holds LRN's banded form; an int8 one computes it in float32
            (`float32_layers`: the `LocalResponseNormalization` layers).
        calibration: a `Calibration` whose images fit the model's input; needed with `quantize`.

    Returns:
        str. The path written.

    Raises:
        ValueError: bad path suffix, class names, top_k, model input, quantize or calibration.
        FileExistsError: the file exists and `overwrite` is False.
    """
    import tensorflow as tf

    path = _check_path(path, "litert")
    _check_target(path, overwrite)
    serving = serving_model(model, top_k)
    quantize = check_quantization(quantize, calibration, serving.input_shape)
    record, class_names = _model_record(model, serving, class_names)
    options = {}
    if quantize is not None:
        def representative_dataset():
            for batch in _calibration_batches(calibration):
                for image in batch:
                    yield {IMAGES_INPUT: image[None]}

        # The converter calibrates; `_quantize_calibrated` quantizes all but the float32 layers.
        options = {"optimizations": [tf.lite.Optimize.DEFAULT], "representative_dataset": representative_dataset,
                   "_experimental_calibrate_only": True}
    # The LRN layers of the graph that is converted; each path starts with the served model itself.
    float32_layers = ["/".join(layer_path[1:]) for layer_path in _lrn_layer_paths(serving)]
    with files.atomic_file(path) as temporary:
        lrn = _export(model, serving, temporary, "litert", quantize or "float32",
                      target_spec={"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]}, **options)
        if quantize is not None:
            _quantize_calibrated(temporary, float32_layers)
        _write_sidecar(model_record_path(path), json.dumps({**record, LRN_METADATA: lrn}, indent=2, sort_keys=True))
        if class_names is not None:
            _write_sidecar(class_names_path(path), "\n".join(class_names) + "\n")
        elif os.path.exists(class_names_path(path)):  # a file without names over one with: no stale names
            os.remove(class_names_path(path))
        if quantize is not None:
            quantized = {**_quantization_record(quantize, calibration), LRN_METADATA: lrn,
                         FLOAT32_LAYERS_METADATA: float32_layers}
            _write_sidecar(quantization_path(path), json.dumps(quantized, indent=2))
        elif os.path.exists(quantization_path(path)):  # a float32 file over an int8 one: no stale record
            os.remove(quantization_path(path))
    return path


def _lrn_layer_paths(model):
    """`[(name, ..., name)]`: for each `LocalResponseNormalization` layer of `model`, in order, the names of
    the nested models leading to it from `model`'s own layers, then its own name."""
    from inception_tf.models.lrn import LocalResponseNormalization

    paths = []

    def walk(layer, prefix):
        for child in layer._flatten_layers(include_self=False, recursive=False):
            if isinstance(child, LocalResponseNormalization):
                paths.append(prefix + (child.name,))
            else:
                walk(child, prefix + (child.name,))

    walk(model, ())
    return paths


def _quantize_calibrated(path, float32_layers):
    """Rewrites the calibrated LiteRT file at `path` with int8 ops, except those of LRN's banded form.

    The banded form's ops are traced inside the name scope `lrn.BANDED_SCOPE`
    (whatever the layer is called and however deep it sits), which their outputs'
    names keep; they stay float32 between dequantize and quantize ops. The input
    and outputs stay float32.

    Args:
        path: str. The calibrated file, rewritten in place.
        float32_layers: list of str. The LRN layers the file must hold (for the message).

    Raises:
        RuntimeError: LRN layers, but no op in the banded form's scope.
    """
    from ai_edge_litert.interpreter import Interpreter
    from tensorflow.lite.python import convert

    from inception_tf.models import lrn

    with open(path, "rb") as handle:
        calibrated = handle.read()
    interpreter = Interpreter(model_content=calibrated)
    tensor_names = {tensor["index"]: tensor["name"] for tensor in interpreter.get_tensor_details()}
    outputs = [tensor_names[index] for op in interpreter._get_ops_details() for index in op["outputs"]]
    kept = [output for output in outputs if f"/{lrn.BANDED_SCOPE}/" in output]
    if float32_layers and not kept:
        raise RuntimeError(f"The converted LiteRT graph holds no op of LRN's banded form (name scope "
                           f"{lrn.BANDED_SCOPE!r}), so the layers {float32_layers} cannot be kept in float32; "
                           f"export without quantize.")
    quantized = convert.mlir_quantize(calibrated, denylisted_nodes=kept)
    with open(path, "wb") as handle:
        handle.write(quantized)


def _write_sidecar(path, text):
    with files.atomic_file(path) as temporary:
        with open(temporary, "w") as handle:
            handle.write(text)


def export_model(model, path, format, **kwargs):
    """Exports `model` in `format` (a key of `FORMATS`) to the file `path`.

    Raises:
        ValueError: an unknown format, naming it and the known ones.
    """
    exporters = {"onnx": export_onnx, "litert": export_litert}
    if format not in exporters:
        raise ValueError(f"format must be one of {tuple(FORMATS)}. Received: format={format!r}")
    return exporters[format](model, path, **kwargs)
