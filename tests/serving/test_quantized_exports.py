"""int8 ONNX and LiteRT exports and the bfloat16 SavedModel, each run by its own runtime.

The reference is the float32 Keras model's own `predict`; onnxruntime, the
`ai_edge_litert` interpreter and `tf.saved_model.load` run the files. The
agreement tests use a 32x32 10-class GoogLeNet with Keras' initial weights
(activations in the ranges a trained network keeps); exports of a GoogLeNet
with weights of the ONNX zoo's googlenet-7 layout (built by
tests/models/zoo_onnx.py) and of a run directory go through the command line.
Random zoo-layout weights (He-normal kernels, N(0, 0.5) biases) make
activations grow layer by layer as no trained network's do, so int8's
agreement is not judged on them; the trained digits run's accuracy is in
benchmarks/RESULTS.md.

Bounds, and why:
- int8: activations are quantized per tensor to 256 levels of their
  calibrated range and weights per channel, at some 60 layers; each layer
  adds an error of about half a level (~0.2% of the range), which grows
  to a few percent of the logits' spread at the end. Probabilities are
  within `INT8_PROBABILITY_TOLERANCE` (0.05) of float32's, and top-1 agrees
  on at least `INT8_TOP1_AGREEMENT` (90%) of the images; any image whose
  float32 top-1 leads the second by more than twice the tolerance must agree.
- bfloat16: 8 significant bits (relative rounding 2^-9 = 0.2%) for every
  activation and weight read; probabilities within 0.02 and top-1 agreement
  on at least 95% of the images.
"""

import json
import os
import shutil

import keras
import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
litert = pytest.importorskip("ai_edge_litert.interpreter")

import tensorflow as tf  # noqa: E402
import tensorflow_datasets as tfds  # noqa: E402

from inception_tf import GoogLeNet, ImagePreprocessing, inference_model  # noqa: E402
from inception_tf.serving import export, formats  # noqa: E402
from inception_tf.serving.runs import export_run  # noqa: E402
from tests.conftest import small_classifier  # noqa: E402

SIZE = 32
CLASSES = 10
INT8_PROBABILITY_TOLERANCE = 0.05
INT8_TOP1_AGREEMENT = 0.90
BFLOAT16_PROBABILITY_TOLERANCE = 0.02
BFLOAT16_TOP1_AGREEMENT = 0.95
CALIBRATION_IMAGES = 32
CONVOLUTIONS = 57  # GoogLeNet's (Table 1)
LRN_LAYERS = 2  # the stem's; their banded form adds one 1x1 band convolution each


def _pixels(seed, count, size=SIZE):
    """float32 `(count, size, size, 3)` in [0, 255]: smooth random images (a blurred noise field), not white noise."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, (count, size // 8, size // 8, 3)).astype(np.float32)
    smooth = tf.image.resize(coarse, (size, size), method="bicubic").numpy()
    noise = rng.normal(0, 12, smooth.shape).astype(np.float32)
    return np.clip(smooth + noise, 0, 255)


@pytest.fixture(scope="module")
def model():
    """A 32x32, 10-class GoogLeNet (Keras' initial weights, seeded)."""
    keras.utils.set_random_seed(7)
    return GoogLeNet(input_shape=(SIZE, SIZE, 3), classes=10)


@pytest.fixture(scope="module")
def calibration():
    return formats.Calibration(images=_pixels(1, CALIBRATION_IMAGES), dataset="smooth noise", split="fixed")


@pytest.fixture(scope="module")
def images():
    """float32 (40, 32, 32, 3): images the calibration did not see."""
    return _pixels(2, 40)


@pytest.fixture(scope="module")
def expected(model, images):
    """float32 Keras probabilities (40, 10)."""
    return np.asarray(model.predict(images, verbose=0))


@pytest.fixture(scope="module")
def int8_onnx(model, calibration, tmp_path_factory):
    path = tmp_path_factory.mktemp("onnx") / "tiny_int8.onnx"
    return formats.export_onnx(model, str(path), quantize="int8", calibration=calibration)


@pytest.fixture(scope="module")
def int8_litert(model, calibration, tmp_path_factory):
    path = tmp_path_factory.mktemp("litert") / "tiny_int8.tflite"
    return formats.export_litert(model, str(path), quantize="int8", calibration=calibration)


@pytest.fixture(scope="module")
def bfloat16_saved_model(model, tmp_path_factory):
    base = tmp_path_factory.mktemp("saved_models") / "tiny"
    return export.export_saved_model(model, str(base), precision="bfloat16")


def _run_onnx(path, images):
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return session, dict(zip([o.name for o in session.get_outputs()], session.run(None, {"images": images})))


def _run_litert(path, images):
    interpreter = litert.Interpreter(model_path=path, num_threads=2)
    return interpreter, interpreter.get_signature_runner("serving_default")(images=images)


def _check_agreement(probabilities, expected, tolerance, agreement):
    np.testing.assert_allclose(probabilities, expected, rtol=0, atol=tolerance)
    top1, reference = probabilities.argmax(1), expected.argmax(1)
    # Quantized probabilities can tie: float32's top-1 agrees when it is among the file's highest.
    rows = np.arange(len(reference))
    assert (probabilities[rows, reference] == probabilities.max(1)).mean() >= agreement
    ordered = np.sort(expected, axis=1)
    clear = ordered[:, -1] - ordered[:, -2] > 2 * tolerance  # a lead no error within the tolerance can overturn
    np.testing.assert_array_equal(top1[clear], reference[clear])


def _check_top_k(outputs, probabilities_name="probabilities"):
    """`classes` and `scores` are the top 5 of the file's own probabilities (numpy's argsort as reference)."""
    probabilities = outputs[probabilities_name]
    np.testing.assert_allclose(outputs["scores"], np.sort(probabilities, axis=1)[:, ::-1][:, :5], rtol=0, atol=1e-6)
    np.testing.assert_array_equal(np.take_along_axis(probabilities, outputs["classes"], 1), outputs["scores"])


# --- int8 ONNX ----------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("format", ["onnx", "litert"])
def test_int8_agrees_with_float32_in_its_own_runtime(format, request, images, expected):
    run = {"onnx": _run_onnx, "litert": _run_litert}[format]
    _, outputs = run(request.getfixturevalue(f"int8_{format}"), images)
    _check_agreement(outputs["probabilities"], expected, INT8_PROBABILITY_TOLERANCE, INT8_TOP1_AGREEMENT)
    _check_top_k(outputs)


@pytest.mark.slow
def test_int8_onnx_keeps_the_float_interface(int8_onnx):
    session = ort.InferenceSession(int8_onnx, providers=["CPUExecutionProvider"])
    (given,) = session.get_inputs()
    assert (given.name, given.type, given.shape) == ("images", "tensor(float)", ["batch", SIZE, SIZE, 3])
    outputs = {o.name: (o.type, o.shape) for o in session.get_outputs()}
    assert outputs == {"probabilities": ("tensor(float)", ["batch", CLASSES]),
                       "classes": ("tensor(int32)", ["batch", 5]), "scores": ("tensor(float)", ["batch", 5])}


@pytest.mark.slow
def test_int8_onnx_holds_int8_weights_between_quantize_and_dequantize(int8_onnx):
    graph = onnx.load(int8_onnx).graph
    kinds = {node.op_type for node in graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= kinds
    initializers = {t.name: t for t in graph.initializer}
    convolutions = [node for node in graph.node if node.op_type == "Conv"]
    # GoogLeNet's 57 convolutions and the banded LRN's two band convolutions, none left in float32: with LRN
    # quantized too onnxruntime ran the network in 0.42x the time with its float32 LRN op (benchmarks/RESULTS.md).
    assert "LRN" not in kinds and len(convolutions) == CONVOLUTIONS + LRN_LAYERS
    producers = {output: node for node in graph.node for output in node.output}
    for conv in convolutions:
        weight = producers[conv.input[1]]  # DequantizeLinear(int8 weight, per-channel scales)
        assert weight.op_type == "DequantizeLinear"
        stored = initializers[weight.input[0]]
        assert stored.data_type == onnx.TensorProto.INT8
        assert onnx.numpy_helper.to_array(initializers[weight.input[1]]).size == stored.dims[0]  # per channel
    sizes = {kind: sum(int(np.prod(t.dims)) for t in graph.initializer if t.data_type == kind)
             for kind in (onnx.TensorProto.INT8, onnx.TensorProto.FLOAT)}
    assert sizes[onnx.TensorProto.FLOAT] < 0.01 * sizes[onnx.TensorProto.INT8]  # scales and constants only


@pytest.mark.slow
def test_int8_onnx_keeps_softmax_and_top_k_in_float32(calibration, images, tmp_path):
    """With 200 classes, a quantized softmax would put every probability on a 1/256 grid (most at 0)
    and tie the top-5 scores; in float32 on the dequantized logits a row holds many distinct
    probabilities summing to 1, and the scores are numpy's top 5 of them."""
    keras.utils.set_random_seed(3)
    inputs = keras.Input((SIZE, SIZE, 3))
    pixels = ImagePreprocessing("tf")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(16, 3, activation="relu")(pixels))
    classifier = keras.Model(inputs, keras.layers.Dense(200, activation="softmax")(pooled))
    path = formats.export_onnx(classifier, str(tmp_path / "wide_int8.onnx"), quantize="int8",
                               calibration=calibration)
    graph = onnx.load(path).graph
    producers = {output: node for node in graph.node for output in node.output}
    for node in graph.node:
        if node.op_type in ("Softmax", "TopK"):
            assert producers[node.input[0]].op_type in ("DequantizeLinear", "Softmax")  # float32 in ...
            assert not any(consumer.op_type == "QuantizeLinear" for consumer in graph.node
                           if node.output[0] in consumer.input)          # ... and float32 out
    _, outputs = _run_onnx(path, images)
    probabilities = outputs["probabilities"]
    np.testing.assert_allclose(probabilities.sum(1), 1.0, atol=1e-5)
    # float32 softmax of 8-bit logits: one value per distinct logit level (85 here); a quantized
    # softmax gave 5 per row on this model.
    assert min(len(np.unique(row)) for row in probabilities) > 50
    _check_top_k(outputs)


def test_int8_onnx_records_quantization_and_calibration(int8_onnx, calibration):
    metadata = ort.InferenceSession(int8_onnx, providers=["CPUExecutionProvider"]).get_modelmeta().custom_metadata_map
    assert metadata["quantization"] == "int8"
    assert json.loads(metadata["calibration"]) == {"dataset": "smooth noise", "split": "fixed",
                                                   "images": CALIBRATION_IMAGES, "image_size": [SIZE, SIZE],
                                                   "method": "minmax"}
    assert metadata[formats.LRN_METADATA] == "banded"


# --- int8 LiteRT ----------------------------------------------------------------------


@pytest.mark.slow
def test_int8_litert_keeps_the_float_interface_and_computes_in_int8(int8_litert, images):
    interpreter, outputs = _run_litert(int8_litert, images[:3])
    runner = interpreter.get_signature_runner("serving_default")
    assert interpreter.get_signature_list() == {
        "serving_default": {"inputs": ["images"], "outputs": ["classes", "probabilities", "scores"]}}
    (given,) = runner.get_input_details().values()
    assert given["dtype"] == np.float32 and list(given["shape"]) == [3, SIZE, SIZE, 3]
    assert {name: (value.dtype, value.shape) for name, value in outputs.items()} == {
        "probabilities": (np.float32, (3, CLASSES)), "classes": (np.int32, (3, 5)), "scores": (np.float32, (3, 5))}
    interpreter = _undelegated(int8_litert)  # XNNPACK took over the float32 ops of the one that ran
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    ops = interpreter._get_ops_details()
    computing = [op for op in ops if op["op_name"] not in ("QUANTIZE", "DEQUANTIZE")]
    float32_ops = sorted(op["op_name"] for op in computing if tensors[op["inputs"][0]]["dtype"] == np.float32)
    # LRN's banded form, kept in float32 (XNNPACK ran it quantized in 2.8-3.0x the time of the float32 file,
    # benchmarks/RESULTS.md): per layer the squares, the band convolution, rsqrt, sqrt and two products.
    assert float32_ops == sorted(["SQUARE", "CONV_2D", "RSQRT", "SQRT", "MUL", "MUL"] * LRN_LAYERS)
    assert "LOCAL_RESPONSE_NORMALIZATION" not in {op["op_name"] for op in ops}
    convolutions = [op for op in computing if op["op_name"] == "CONV_2D"]
    assert len(convolutions) == CONVOLUTIONS + LRN_LAYERS
    for conv in convolutions:
        data, weights = (tensors[index] for index in conv["inputs"][:2])
        if data["dtype"] == np.float32:  # a band: Caffe's alpha / 5 within two channels, (out, 1, 1, in)
            band = interpreter.get_tensor(weights["index"])
            channels = np.arange(band.shape[0])
            expected = np.where(np.abs(channels[:, None] - channels[None, :]) <= 2, 1e-4 / 5, 0.0)
            np.testing.assert_allclose(band[:, 0, 0, :], expected, rtol=1e-6)
            continue
        assert data["dtype"] == np.int8 and weights["dtype"] == np.int8
        assert len(weights["quantization_parameters"]["scales"]) == weights["shape"][0]  # per output channel


@pytest.mark.slow
def test_int8_litert_records_quantization_in_its_sidecar(int8_litert):
    with open(formats.quantization_path(int8_litert)) as handle:
        record = json.load(handle)
    assert record == {"quantization": "int8", "calibration": {
        "dataset": "smooth noise", "split": "fixed", "images": CALIBRATION_IMAGES, "image_size": [SIZE, SIZE],
        "method": "minmax"}, "lrn": "banded", "float32_layers": ["lrn1", "lrn2"]}


def _undelegated(path):
    """An interpreter of the LiteRT file at `path` that lists the file's own ops (no XNNPACK delegate), allocated."""
    interpreter = litert.Interpreter(
        model_path=path, experimental_op_resolver_type=litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interpreter.allocate_tensors()
    return interpreter


def _op_input_dtypes(path):
    """`{op name: [first-input dtype of each]}` of the computing ops (not QUANTIZE/DEQUANTIZE) of a LiteRT file."""
    interpreter = _undelegated(path)
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    dtypes = {}
    for op in interpreter._get_ops_details():
        if op["op_name"] not in ("QUANTIZE", "DEQUANTIZE"):
            dtypes.setdefault(op["op_name"], []).append(np.dtype(tensors[op["inputs"][0]]["dtype"]).name)
    return dtypes


def _model_with_a_nested_lrn():
    """images -> conv_a -> block (LRN "norm", then a convolution named "norm_1", whose name begins with the
    LRN's) -> pooling -> softmax."""
    from inception_tf import LocalResponseNormalization

    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(8, 3, activation="relu", name="conv_a")(ImagePreprocessing("tf")(inputs))
    block = keras.Sequential([keras.Input((SIZE - 2, SIZE - 2, 8)), LocalResponseNormalization(name="norm"),
                              keras.layers.Conv2D(8, 3, activation="relu", name="norm_1")], name="block")
    x = keras.layers.GlobalAveragePooling2D()(block(x))
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="out")(x), name="nested")


def test_int8_litert_keeps_a_named_nested_lrn_in_float32_and_quantizes_the_rest(calibration, tmp_path, recwarn):
    model = _model_with_a_nested_lrn()
    path = formats.export_litert(model, str(tmp_path / "nested.tflite"), quantize="int8", calibration=calibration)
    # TensorFlow's calibrator makes a tf.lite.Interpreter, which warns of its deprecation: not the user's concern.
    assert [str(warning.message) for warning in recwarn] == []
    dtypes = _op_input_dtypes(path)
    assert sorted(dtypes["CONV_2D"]) == ["float32", "int8", "int8"]  # the band; conv_a and norm_1
    assert dtypes["SQUARE"] == dtypes["RSQRT"] == ["float32"]
    with open(formats.quantization_path(path)) as handle:
        assert json.load(handle)["float32_layers"] == ["block/norm"]
    images = _pixels(3, 4)
    np.testing.assert_allclose(_run_litert(path, images)[1]["probabilities"], model.predict(images, verbose=0),
                               atol=INT8_PROBABILITY_TOLERANCE)


def test_int8_litert_of_a_model_without_lrn_quantizes_every_op(calibration, tmp_path):
    model = small_classifier()
    path = formats.export_litert(model, str(tmp_path / "plain.tflite"), quantize="int8", calibration=calibration)
    assert "float32" not in {dtype for dtypes in _op_input_dtypes(path).values() for dtype in dtypes}
    with open(formats.quantization_path(path)) as handle:
        assert json.load(handle)["float32_layers"] == []


def test_int8_litert_refuses_to_quantize_lrn_it_cannot_find_and_writes_nothing(calibration, tmp_path, monkeypatch):
    # Traced with TensorFlow's LRN op instead of the banded form: no op in the banded form's scope.
    monkeypatch.setattr(formats, "lrn_form", lambda format, precision="float32": "standard")
    with pytest.raises(RuntimeError, match=r"^The converted LiteRT graph holds no op of LRN's banded form \(name "
                                           r"scope 'banded_lrn'\), so the layers \['block/norm'\] cannot be kept "
                                           r"in float32; export without quantize\.$"):
        formats.export_litert(_model_with_a_nested_lrn(), str(tmp_path / "m.tflite"), quantize="int8",
                              calibration=calibration)
    assert os.listdir(tmp_path) == []


def test_float32_litert_over_an_int8_one_leaves_no_quantization_record(calibration, tmp_path):
    model = small_classifier()  # the sidecar's fate, whatever the network
    int8_litert = formats.export_litert(model, str(tmp_path / "int8.tflite"), quantize="int8", calibration=calibration)
    path = str(tmp_path / "tiny.tflite")
    shutil.copy(int8_litert, path)  # an int8 export and its record where the float32 one goes
    shutil.copy(formats.quantization_path(int8_litert), formats.quantization_path(path))
    assert os.path.exists(formats.quantization_path(path))
    formats.export_litert(model, path, overwrite=True)
    assert not os.path.exists(formats.quantization_path(path))


# --- bfloat16 SavedModel ----------------------------------------------------------------


def _saved_model_nodes(version_dir):
    """Every node of a SavedModel's graph and of its functions, read from `saved_model.pb`."""
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel()
    with open(os.path.join(version_dir, "saved_model.pb"), "rb") as handle:
        saved.ParseFromString(handle.read())
    graph = saved.meta_graphs[0].graph_def
    return list(graph.node) + [node for function in graph.library.function for node in function.node_def]


def _conv2d_dtypes(version_dir):
    """The `T` attribute of every Conv2D op in a SavedModel's graph and functions, counted by dtype name."""
    dtypes = {}
    for node in _saved_model_nodes(version_dir):
        if node.op == "Conv2D":
            name = tf.dtypes.as_dtype(node.attr["T"].type).name
            dtypes[name] = dtypes.get(name, 0) + 1
    return dtypes


def _recorded_lrn_form(version_dir):
    with open(os.path.join(version_dir, "assets", export.LRN_FORM_ASSET)) as handle:
        return handle.read().strip()


@pytest.mark.slow
def test_bfloat16_saved_model_runs_its_convolutions_in_bfloat16(bfloat16_saved_model):
    dtypes = _conv2d_dtypes(bfloat16_saved_model)
    assert set(dtypes) == {"bfloat16"} and dtypes["bfloat16"] >= CONVOLUTIONS


@pytest.mark.slow
def test_bfloat16_saved_model_holds_the_bfloat16_banded_lrn(bfloat16_saved_model):
    # 1178 ms against 1432 ms with TensorFlow's LRN op in float32, batch 32 (benchmarks/RESULTS.md).
    nodes = _saved_model_nodes(bfloat16_saved_model)
    assert not [node.name for node in nodes if node.op == "LRN"]
    # `** -0.75` as rsqrt(s) * sqrt(rsqrt(s)), on bfloat16 (the float32 banded form would cast to float32 first).
    inverse_roots = [tf.dtypes.as_dtype(node.attr["T"].type).name for node in nodes if node.op == "Rsqrt"]
    assert inverse_roots and set(inverse_roots) == {"bfloat16"}
    assert _recorded_lrn_form(bfloat16_saved_model) == "bfloat16_banded"


@pytest.mark.slow
def test_bfloat16_saved_model_agrees_with_float32(bfloat16_saved_model, images, expected):
    loaded = tf.saved_model.load(bfloat16_saved_model)
    outputs = {k: v.numpy() for k, v in loaded.signatures["serving_default"](images=tf.constant(images)).items()}
    _check_agreement(outputs["probabilities"], expected, BFLOAT16_PROBABILITY_TOLERANCE, BFLOAT16_TOP1_AGREEMENT)
    _check_top_k(outputs)


@pytest.mark.slow
def test_bfloat16_saved_model_keeps_signatures_layout_and_warmup(bfloat16_saved_model, model):
    assert os.path.basename(bfloat16_saved_model) == "1"
    assert os.path.isfile(os.path.join(bfloat16_saved_model, "assets.extra", "tf_serving_warmup_requests"))
    loaded = tf.saved_model.load(bfloat16_saved_model)
    assert set(loaded.signatures) == {"serving_default", "predict_images"}
    pixels = loaded.signatures["serving_default"]
    assert {k: (v.dtype, v.shape.as_list()) for k, v in pixels.structured_input_signature[1].items()} == {
        "images": (tf.float32, [None, None, None, 3])}
    assert {k: v.dtype for k, v in pixels.structured_outputs.items()} == {
        "probabilities": tf.float32, "classes": tf.int32, "scores": tf.float32}
    assert {layer.dtype_policy.name for layer in model._flatten_layers(recursive=True)} == {"float32"}  # restored


def test_float32_saved_model_keeps_float32_convolutions(exported):
    assert set(_conv2d_dtypes(exported[0])) == {"float32"}


def test_float32_saved_model_holds_tensorflows_lrn_op(exported):
    lrns = [node for node in _saved_model_nodes(exported[0]) if node.op == "LRN"]
    assert lrns and len(lrns) % LRN_LAYERS == 0  # the stem's two, in each function that runs the model
    assert _recorded_lrn_form(exported[0]) == "standard"


def test_unknown_precision_is_refused(small_googlenet, tmp_path):
    with pytest.raises(ValueError, match=r"precision must be one of \('float32', 'bfloat16'\)"):
        export.export_saved_model(small_googlenet, str(tmp_path / "m"), precision="float16")
    assert not os.path.exists(tmp_path / "m")


@pytest.mark.parametrize("flags, expected", [
    ("flags\t\t: fpu avx2 avx512f avx512_vnni\n", False),
    ("flags\t\t: fpu avx2 avx512f avx512_bf16 avx512_vnni\n", True),
    ("flags\t\t: fpu avx2 amx_tile amx_bf16 amx_int8\n", True),
    ("model name\t: amx_bf16 in a name is not a flag\nflags\t\t: fpu avx2\n", False),
])
def test_cpu_has_bfloat16_reads_the_flags(tmp_path, flags, expected):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\n" + flags)
    assert export.cpu_has_bfloat16(str(cpuinfo)) is expected


def test_cpu_has_bfloat16_without_cpuinfo(tmp_path):
    assert export.cpu_has_bfloat16(str(tmp_path / "missing")) is False


# --- The library refuses -------------------------------------------------------------------


@pytest.mark.parametrize("quantize, images, message", [
    ("int4", np.zeros((2, 32, 32, 3), np.float32), r"quantize must be one of \('int8',\) or None"),
    ("int8", None, r"quantize='int8' needs calibration images"),
    ("int8", np.zeros((2, 16, 16, 3), np.float32), r"shape \(16, 16, 3\) .* do not fit the model's input \(32, 32, 3\)"),
    ("int8", np.zeros((2, 32, 32, 1), np.float32), r"\(32, 32, 1\) .* do not fit"),
    ("int8", np.zeros((0, 32, 32, 3), np.float32), r"count >= 1"),
    ("int8", np.full((2, 32, 32, 3), 300, np.float32), r"pixels in \[0, 255\]. Received values in \[300.0, 300.0\]"),
    (None, np.zeros((2, 32, 32, 3), np.float32), "calibration applies to quantized exports only"),
])
@pytest.mark.parametrize("format", ["onnx", "litert"])
def test_bad_quantization_is_refused_before_anything_is_written(small_googlenet, tmp_path, format, quantize, images,
                                                                message):
    calibration = None if images is None else formats.Calibration(images, "zeros", "train")
    path = tmp_path / f"m{formats.FORMATS[format]}"
    with pytest.raises(ValueError, match=message):
        formats.export_model(small_googlenet, str(path), format, quantize=quantize, calibration=calibration)
    assert os.listdir(tmp_path) == []


# --- The command line ------------------------------------------------------------------------


def _cli(args, run_cli):
    code, out, err = run_cli(*args)
    return code, out, err.strip().splitlines()


# Flags that do not go together, the same options as `export_run` keywords, and what both say.
FLAGS_THAT_DO_NOT_GO_TOGETHER = [
    (["--quantize", "int8", "--calibration", "digits"], {"quantize": "int8", "calibration": "digits"},
     "quantize and calibration (--quantize, --calibration) apply to format 'onnx' or 'litert'; for a SavedModel "
     "use precision 'bfloat16' (--precision bfloat16)."),
    (["--calibration", "digits"], {"calibration": "digits"},
     "quantize and calibration (--quantize, --calibration) apply to format 'onnx' or 'litert'; for a SavedModel "
     "use precision 'bfloat16' (--precision bfloat16)."),
    (["--format", "onnx", "--quantize", "int8"], {"format": "onnx", "quantize": "int8"},
     "quantize 'int8' (--quantize int8) needs calibration (--calibration DATASET): digits, a tfds name, "
     "folder:PATH, or a Calibration."),
    (["--format", "litert", "--calibration", "digits"], {"format": "litert", "calibration": "digits"},
     "calibration (--calibration) applies to quantized exports only; add quantize 'int8' (--quantize int8)."),
    (["--format", "onnx", "--precision", "bfloat16"], {"format": "onnx", "precision": "bfloat16"},
     "precision (--precision) applies to format 'savedmodel' only; for onnx use quantize 'int8' (--quantize int8)."),
    (["--format", "litert", "--version", "2"], {"format": "litert", "version": 2},
     "version (--version) applies to format 'savedmodel' only. Received: format='litert'"),
    (["--data-dir", "tfds"], {"calibration_data_dir": "tfds"},
     "calibration_data_dir (--data-dir) applies to a calibration dataset (--calibration) only: its "
     "tensorflow-datasets directory."),
    (["--format", "onnx", "--quantize", "int8", "--data-dir", "tfds"],
     {"format": "onnx", "quantize": "int8", "calibration_data_dir": "tfds"},
     "calibration_data_dir (--data-dir) applies to a calibration dataset (--calibration) only: its "
     "tensorflow-datasets directory."),
]


@pytest.mark.parametrize("flags, message", [
    *((flags, f"inception-tf export: error: {message}") for flags, _, message in FLAGS_THAT_DO_NOT_GO_TOGETHER),
    (["--format", "onnx", "--quantize", "int8", "--calibration", "digits", "--calibration-images", "0"],
     "inception-tf export: error: argument --calibration-images: expected a positive integer, got '0'"),
    (["--format", "onnx", "--quantize", "int4", "--calibration", "digits"],
     "inception-tf export: error: argument --quantize: invalid choice: 'int4' (choose from "),
    (["--precision", "float16"],
     "inception-tf export: error: argument --precision: invalid choice: 'float16' (choose from "),
])
def test_cli_refuses_flags_that_do_not_go_together(tmp_path, run_cli, flags, message):
    code, out, err = _cli(["export", str(tmp_path / "m.keras"), "--output-dir", str(tmp_path / "out"), *flags], run_cli)
    assert code == 2 and out == ""
    assert err[-1] == message or message.endswith("(choose from ") and err[-1].startswith(message)
    assert not any(line.startswith("Traceback") for line in err)
    assert not os.path.exists(tmp_path / "out")


@pytest.mark.parametrize("options, message", [
    *((options, message) for _, options, message in FLAGS_THAT_DO_NOT_GO_TOGETHER),
    ({"format": "coreml"}, "format (--format) must be one of ('savedmodel', 'onnx', 'litert'). Received: "
                           "format='coreml'"),
])
def test_export_run_refuses_what_the_cli_refuses_before_reading_the_model(tmp_path, options, message):
    with pytest.raises(ValueError) as raised:
        export_run(str(tmp_path / "m.keras"), str(tmp_path / "out"), **options)  # no such file: never read
    assert str(raised.value) == message
    assert not os.path.exists(tmp_path / "out")


@pytest.fixture(scope="module")
def small_keras_file(tmp_path_factory):
    keras.utils.set_random_seed(3)
    path = tmp_path_factory.mktemp("small") / "small.keras"
    GoogLeNet(input_shape=(32, 32, 3), classes=10).save(path)
    return str(path)


@pytest.mark.parametrize("dataset, message", [
    ("folder:/nonexistent/images", "inception-tf export: error: Image folder '/nonexistent/images' does not exist "
                                   "(dataset='folder:/nonexistent/images')."),
    ("no_such_dataset_anywhere", "inception-tf export: error: Unknown dataset 'no_such_dataset_anywhere'"),
])
def test_cli_refuses_a_calibration_dataset_it_cannot_read(small_keras_file, tmp_path, run_cli, dataset, message):
    code, out, err = _cli(["export", small_keras_file, "--format", "onnx", "--output-dir", str(tmp_path),
                           "--quantize", "int8", "--calibration", dataset], run_cli)
    assert code == 2 and err[-1].startswith(message)
    assert os.listdir(tmp_path) == []


def test_cli_refuses_a_calibration_split_the_dataset_lacks(small_keras_file, tmp_path, run_cli):
    code, out, err = _cli(["export", small_keras_file, "--format", "litert", "--output-dir", str(tmp_path),
                           "--quantize", "int8", "--calibration", "digits", "--calibration-split", "validation"],
                          run_cli)
    assert code == 2 and err[-1].startswith("inception-tf export: error: Dataset 'digits' has no split 'validation'")
    assert os.listdir(tmp_path) == []


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A finished run's directory: a 32x32 10-class GoogLeNet (random weights) and its class names."""
    keras.utils.set_random_seed(4)
    directory = tmp_path_factory.mktemp("runs") / "digits_run"
    directory.mkdir()
    inference_model(GoogLeNet(input_shape=(32, 32, 3), classes=10, aux_logits=True)).save(directory / "model.keras")
    (directory / "metrics.json").write_text(json.dumps({"class_names": [f"digit {i}" for i in range(10)]}))
    return str(directory)


@pytest.mark.slow
@pytest.mark.parametrize("format", ["onnx", "litert"])
def test_cli_int8_export_of_a_run_calibrated_on_digits(run_dir, tmp_path, run_cli, format):
    code, out, err = _cli(["export", run_dir, "--format", format, "--output-dir", str(tmp_path), "--quantize", "int8",
                           "--calibration", "digits", "--calibration-images", "24"], run_cli)
    assert code == 0, err
    path = out.strip()
    assert path == str(tmp_path / f"digits_run{formats.FORMATS[format]}")
    if format == "onnx":
        metadata = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).get_modelmeta().custom_metadata_map
        record = {"quantization": metadata["quantization"], "calibration": json.loads(metadata["calibration"]),
                  "lrn": metadata["lrn"]}
        names = metadata["class_names"].split("\n")
    else:
        with open(formats.quantization_path(path)) as handle:
            record = json.load(handle)
        with open(formats.class_names_path(path)) as handle:
            names = handle.read().splitlines()
    assert record == {"quantization": "int8", "calibration": {"dataset": "digits", "split": "train", "images": 24,
                                                              "image_size": [32, 32], "method": "minmax"},
                      "lrn": "banded",
                      **({"float32_layers": ["lrn1", "lrn2"]} if format == "litert" else {})}
    assert names == [f"digit {i}" for i in range(10)]


@pytest.mark.slow
def test_cli_reads_the_calibration_dataset_from_data_dir(small_keras_file, tfds_dir, tmp_path, run_cli, monkeypatch):
    default_dir = tmp_path / "default_tensorflow_datasets"
    monkeypatch.setattr(tfds.core.constants, "DATA_DIR", str(default_dir))  # tfds' directory without a data_dir
    code, out, err = _cli(["export", small_keras_file, "--format", "litert", "--output-dir", str(tmp_path / "out"),
                           "--quantize", "int8", "--calibration", "digits", "--calibration-images", "8",
                           "--data-dir", tfds_dir], run_cli)
    assert code == 0, err
    with open(formats.quantization_path(out.strip().splitlines()[-1])) as handle:
        assert json.load(handle)["calibration"]["images"] == 8
    assert not default_dir.exists()  # the digits were read from --data-dir, not prepared in the default


@pytest.mark.slow
def test_export_run_calibrates_on_the_train_split_by_default(small_keras_file, tfds_dir, tmp_path):
    path = export_run(small_keras_file, str(tmp_path), format="litert", quantize="int8", calibration="digits",
                      calibration_images=8, calibration_data_dir=tfds_dir)
    with open(formats.quantization_path(path)) as handle:
        assert json.load(handle)["calibration"] == {"dataset": "digits", "split": "train", "images": 8,
                                                    "image_size": [32, 32], "method": "minmax"}


@pytest.mark.slow
@pytest.mark.parametrize("has_bfloat16", [False, True])
def test_cli_bfloat16_export_of_a_run_notes_a_cpu_without_bfloat16(run_dir, tmp_path, run_cli, monkeypatch,
                                                                   has_bfloat16):
    monkeypatch.setattr(export, "cpu_has_bfloat16", lambda: has_bfloat16)
    code, out, err = _cli(["export", run_dir, "--precision", "bfloat16", "--output-dir", str(tmp_path)], run_cli)
    assert code == 0, err
    assert out.strip() == str(tmp_path / "digits_run" / "1")
    notes = [line for line in err if line.startswith("inception-tf export: note:")]
    assert notes == ([] if has_bfloat16 else [
        "inception-tf export: note: this CPU has no AVX-512 BF16 or AMX, so the bfloat16 SavedModel runs slower "
        "here than float32; it pays on serving hosts that have them (and on GPUs)."])
    assert set(_conv2d_dtypes(out.strip())) == {"bfloat16"}


@pytest.fixture(scope="module")
def zoo_keras_file(zoo_file, tmp_path_factory):
    """A .keras file of GoogLeNet(input_shape=(64, 64, 3), weights=<a googlenet-7-layout file>): 1000 classes."""
    path = str(tmp_path_factory.mktemp("zoo") / "zoo.keras")
    GoogLeNet(input_shape=(64, 64, 3), weights=zoo_file).save(path)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("flags", [["--format", "onnx", "--quantize", "int8"], ["--format", "litert", "--quantize", "int8"],
                                   ["--precision", "bfloat16"]])
def test_cli_exports_a_zoo_layout_googlenet(zoo_keras_file, tmp_path, run_cli, flags):
    if "--quantize" in flags:
        flags = [*flags, "--calibration", "digits", "--calibration-images", "16"]
    code, out, err = _cli(["export", zoo_keras_file, "--output-dir", str(tmp_path), *flags], run_cli)
    assert code == 0, err
    pixels = _pixels(5, 2, 64)
    if "onnx" in flags:
        probabilities = _run_onnx(out.strip(), pixels)[1]["probabilities"]
    elif "litert" in flags:
        probabilities = _run_litert(out.strip(), pixels)[1]["probabilities"]
    else:
        signature = tf.saved_model.load(out.strip()).signatures["serving_default"]
        probabilities = signature(images=tf.constant(pixels))["probabilities"].numpy()
        assert set(_conv2d_dtypes(out.strip())) == {"bfloat16"}
    assert probabilities.shape == (2, 1000) and probabilities.dtype == np.float32
    assert np.all(np.isfinite(probabilities)) and probabilities.min() >= 0 and probabilities.max() <= 1
