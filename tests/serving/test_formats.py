"""ONNX and LiteRT exports, each run by its own runtime and compared with Keras.

The reference is the Keras model's own `predict` (main output); the exported
files are read by onnxruntime and the `ai_edge_litert` interpreter, which
share no code with the export.
"""

import importlib.util
import json
import os
import pathlib

import keras
import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
litert = pytest.importorskip("ai_edge_litert.interpreter")

from inception_tf import cli  # noqa: E402
from inception_tf.serving import formats  # noqa: E402
from inception_tf.calibration import Calibration  # noqa: E402
from tests.conftest import classifier_taking, small_classifier, square_input_refusal as refusal  # noqa: E402

NAMES = [f"class {i}" for i in range(10)]
TOLERANCE = 1e-5
CONVOLUTIONS = 57  # GoogLeNet's (Table 1); the banded LRN adds one 1x1 band convolution per LRN layer
LRN_LAYERS = 2  # the stem's


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """(.keras path, the model): a 32x32 10-class GoogLeNet, aux heads, XLA kernels, random weights."""
    from inception_tf import GoogLeNet

    keras.utils.set_random_seed(11)
    model = GoogLeNet(input_shape=(32, 32, 3), classes=10, aux_logits=True, implementation="xla")
    path = tmp_path_factory.mktemp("source") / "tiny.keras"
    model.save(path)
    return str(path), model


@pytest.fixture(scope="module")
def images():
    """float32 (6, 32, 32, 3): random uint8 pixels, plus a black and a white image."""
    pixels = np.random.default_rng(3).integers(0, 256, (4, 32, 32, 3)).astype(np.float32)
    return np.concatenate([pixels, np.zeros((1, 32, 32, 3), np.float32), np.full((1, 32, 32, 3), 255, np.float32)])


@pytest.fixture(scope="module")
def expected(source, images):
    """Keras' main-output probabilities (6, 10) for `images`."""
    return np.asarray(source[1].predict(images, verbose=0)["main"])


def _export(source, tmp_path_factory, format):
    """Exports `source` with the command line, as a user would; returns the output directory."""
    output = tmp_path_factory.mktemp(format)
    names = output / "names.txt"
    names.write_text("\n".join(NAMES) + "\n")
    code = cli.main(["export", source[0], "--format", format, "--output-dir", str(output),
                     "--class-names", str(names)])
    assert code == 0
    return output


@pytest.fixture(scope="module")
def onnx_file(source, tmp_path_factory):
    return str(_export(source, tmp_path_factory, "onnx") / "tiny.onnx")


@pytest.fixture(scope="module")
def litert_file(source, tmp_path_factory):
    return str(_export(source, tmp_path_factory, "litert") / "tiny.tflite")


def _run_onnx(path, images):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    return session, dict(zip(names, session.run(None, {"images": images})))


def _run_litert(path, images):
    interpreter = litert.Interpreter(model_path=path, num_threads=2)
    runner = interpreter.get_signature_runner()
    return interpreter, runner(images=images)


def _check_outputs(outputs, expected):
    probabilities = outputs["probabilities"]
    assert probabilities.shape == expected.shape and probabilities.dtype == np.float32
    difference = np.abs(probabilities - expected).max()
    assert difference <= TOLERANCE, f"largest difference from Keras: {difference:.3g}"
    top5 = np.argsort(-expected, axis=1, kind="stable")[:, :5]
    np.testing.assert_array_equal(outputs["classes"], top5)
    assert outputs["classes"].dtype == np.int32
    np.testing.assert_allclose(outputs["scores"], np.take_along_axis(expected, top5, axis=1), atol=TOLERANCE)


def test_onnxruntime_matches_keras(onnx_file, images, expected):
    session, outputs = _run_onnx(onnx_file, images)
    _check_outputs(outputs, expected)
    (inputs,) = session.get_inputs()
    assert (inputs.name, inputs.type, inputs.shape) == ("images", "tensor(float)", ["batch", 32, 32, 3])
    _, single = _run_onnx(onnx_file, images[:1])  # the batch dimension is dynamic
    _check_outputs(single, expected[:1])


def test_onnx_graph_holds_only_standard_onnx_ops(onnx_file):
    graph = onnx.load(onnx_file)
    onnx.checker.check_model(graph, full_check=True)
    ops = {node.op_type for node in graph.graph.node}
    assert "PartitionedCall" not in ops and "StatefulPartitionedCall" not in ops
    assert {node.domain for node in graph.graph.node} <= {"", "ai.onnx"}, "non-standard op domains"


def test_onnx_graph_holds_the_banded_lrn_and_records_it(onnx_file):
    # onnxruntime runs GoogLeNet with it in 0.56x the time with its own LRN op (benchmarks/RESULTS.md).
    graph = onnx.load(onnx_file)
    ops = [node.op_type for node in graph.graph.node]
    assert "LRN" not in ops
    assert ops.count("Conv") == CONVOLUTIONS + LRN_LAYERS and {"Sqrt", "Reciprocal"} <= set(ops)
    metadata = ort.InferenceSession(onnx_file, providers=["CPUExecutionProvider"]).get_modelmeta()
    assert metadata.custom_metadata_map[formats.LRN_METADATA] == "banded"


def test_onnx_carries_class_names(onnx_file):
    session = ort.InferenceSession(onnx_file, providers=["CPUExecutionProvider"])
    stored = session.get_modelmeta().custom_metadata_map[formats.CLASS_NAMES_METADATA]
    assert stored.split("\n") == NAMES


def test_litert_interpreter_matches_keras(litert_file, images, expected):
    interpreter, outputs = _run_litert(litert_file, images)
    _check_outputs(outputs, expected)
    assert interpreter.get_signature_list()["serving_default"]["inputs"] == ["images"]
    _, single = _run_litert(litert_file, images[:1])
    _check_outputs(single, expected[:1])


def test_float32_litert_holds_the_banded_lrn(litert_file):
    # XNNPACK runs GoogLeNet with it in 0.63x the time with LOCAL_RESPONSE_NORMALIZATION (benchmarks/RESULTS.md).
    interpreter = litert.Interpreter(model_path=litert_file)
    ops = [op["op_name"] for op in interpreter._get_ops_details()]
    assert "LOCAL_RESPONSE_NORMALIZATION" not in ops
    assert ops.count("CONV_2D") == CONVOLUTIONS + LRN_LAYERS and {"SQUARE", "RSQRT", "SQRT"} <= set(ops)
    assert not os.path.exists(formats.quantization_path(litert_file))  # no record: a float32 file has no metadata


def test_litert_class_names_sidecar(litert_file):
    sidecar = os.path.join(os.path.dirname(litert_file), "tiny.class_names.txt")
    with open(sidecar) as handle:
        assert handle.read().splitlines() == NAMES


def test_bad_format_is_named(source, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["export", source[0], "--format", "coreml"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "--format" in error and "'coreml'" in error and "onnx" in error and "litert" in error
    with pytest.raises(ValueError, match=r"format must be one of .*Received: format='coreml'"):
        formats.export_model(source[1], "x.onnx", "coreml")


def test_version_flag_is_refused_outside_savedmodel(source, tmp_path, capsys):
    code = cli.main(["export", source[0], "--format", "onnx", "--version", "2", "--output-dir", str(tmp_path)])
    assert code == 2
    assert "version (--version) applies to format 'savedmodel' only. Received: format='onnx'" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


def test_path_suffix_is_checked(source, tmp_path):
    with pytest.raises(ValueError, match=r"ending in '\.tflite'.*model\.onnx"):
        formats.export_litert(source[1], str(tmp_path / "model.onnx"))


@pytest.mark.parametrize("format", ["onnx", "litert"])
def test_failed_export_leaves_no_file(source, tmp_path, monkeypatch, format):
    """A converter that dies halfway leaves neither a partial file nor a temporary one, and keeps the old file."""
    path = tmp_path / f"model{formats.FORMATS[format]}"
    path.write_bytes(b"previous export")

    def failing_export(self, filepath, format="tf_saved_model", **kwargs):
        with open(filepath, "wb") as handle:
            handle.write(b"half a model")
        raise RuntimeError("converter crashed")

    monkeypatch.setattr(keras.Model, "export", failing_export)
    with pytest.raises(RuntimeError, match="converter crashed"):
        formats.export_model(source[1], str(path), format, class_names=NAMES, overwrite=True)
    assert path.read_bytes() == b"previous export"
    assert sorted(os.listdir(tmp_path)) == [path.name]
    with pytest.raises(FileExistsError, match="overwrite"):
        formats.export_model(source[1], str(path), format)


@pytest.mark.parametrize("format, run", [("onnx", _run_onnx), ("litert", _run_litert)])
def test_top_k_above_the_class_count_lists_every_class(format, run, tmp_path, images):
    model = small_classifier()
    path = formats.export_model(model, str(tmp_path / f"three{formats.FORMATS[format]}"), format, top_k=10)
    _, outputs = run(path, images)
    expected = np.asarray(model.predict(images, verbose=0))
    ranked = np.argsort(-expected, axis=1, kind="stable")
    assert outputs["classes"].shape == outputs["scores"].shape == (len(images), 3)
    np.testing.assert_array_equal(outputs["classes"], ranked)
    np.testing.assert_allclose(outputs["scores"], np.take_along_axis(expected, ranked, axis=1), atol=TOLERANCE)


@pytest.mark.parametrize("format", list(formats.FORMATS))
@pytest.mark.parametrize("top_k", [0, -1, 2.5, True])
def test_top_k_that_is_not_a_positive_integer_is_refused(format, top_k, tmp_path):
    path = str(tmp_path / f"three{formats.FORMATS[format]}")
    with pytest.raises(ValueError, match=rf"^top_k must be a positive integer\. Received: top_k={top_k!r}$"):
        formats.export_model(small_classifier(), path, format, top_k=top_k)
    assert not os.path.exists(path)


def _model_record_of(source):
    """What an export of `source` must record of its inputs, read off the model's ImagePreprocessing layer."""
    layer = source[1].get_layer("preprocessing")
    return {"preprocessing": layer.mode, "geometry": layer.geometry, "image_size": 32}


def test_onnx_metadata_holds_the_documented_entries(onnx_file, source):
    # What clients read: `session.get_modelmeta().custom_metadata_map` (the module's docstring).
    metadata = ort.InferenceSession(onnx_file, providers=["CPUExecutionProvider"]).get_modelmeta().custom_metadata_map
    assert sorted(metadata) == ["class_names", "lrn", "model_record"]  # no quantization entries in a float32 file
    assert json.loads(metadata["model_record"]) == _model_record_of(source)
    assert metadata["class_names"] == "\n".join(NAMES)


def test_litert_sidecars_are_the_documented_files(litert_file, source):
    directory = os.path.dirname(litert_file)
    # names.txt is the test's own input; a float32 file has no tiny.quantization.json.
    assert sorted(os.listdir(directory)) == ["names.txt", "tiny.class_names.txt", "tiny.model_record.json", "tiny.tflite"]
    with open(os.path.join(directory, "tiny.model_record.json")) as handle:
        assert json.load(handle) == {**_model_record_of(source), "lrn": "banded"}


@pytest.mark.parametrize("path", ["runs/a.b/googlenet.tflite", pathlib.Path("runs/a.b/googlenet.tflite")])
def test_sidecar_paths_replace_the_files_extension(path):
    assert formats.class_names_path(path) == "runs/a.b/googlenet.class_names.txt"
    assert formats.model_record_path(path) == "runs/a.b/googlenet.model_record.json"
    assert formats.quantization_path(path) == "runs/a.b/googlenet.quantization.json"


def test_exports_without_class_names_record_none_and_leave_no_stale_ones(tmp_path, capfd):
    model = small_classifier()  # records no class names
    onnx_path = formats.export_onnx(model, str(tmp_path / "three.onnx"))
    # Quiet: Keras' exporter would print "Saved artifact at" the temporary file's path.
    assert capfd.readouterr().out == ""
    metadata = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"]).get_modelmeta().custom_metadata_map
    assert sorted(metadata) == ["lrn", "model_record"]
    path = str(tmp_path / "three.tflite")
    formats.export_litert(model, path, class_names=["a", "b", "c"])
    with open(tmp_path / "three.class_names.txt") as handle:
        assert handle.read() == "a\nb\nc\n"
    formats.export_litert(model, path, overwrite=True)  # names no longer given: the old sidecar must go
    assert capfd.readouterr().out == ""
    assert sorted(os.listdir(tmp_path)) == ["three.model_record.json", "three.onnx", "three.tflite"]


@pytest.mark.parametrize("format", list(formats.FORMATS))
@pytest.mark.parametrize("shape", [(None, 32, 3), (32, None, 3), (32, 32, 4), (32, 32, 2), (32, 3), (32, 24, 3)])
def test_a_model_the_exports_cannot_serve_is_refused_before_anything_is_written(format, shape, tmp_path):
    # A non-square file would record one side as its square input size: its client would feed the wrong shape.
    with pytest.raises(ValueError, match=refusal("An ONNX or LiteRT export", (None, *shape))):
        formats.export_model(classifier_taking(shape), str(tmp_path / f"m{formats.FORMATS[format]}"), format)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("format, run", [("onnx", _run_onnx), ("litert", _run_litert)])
def test_a_grey_model_exports_and_runs(format, run, tmp_path):
    model = classifier_taking((24, 24, 1))
    path = formats.export_model(model, str(tmp_path / f"grey{formats.FORMATS[format]}"), format)
    images = np.random.default_rng(0).integers(0, 256, (2, 24, 24, 1)).astype(np.float32)
    _, outputs = run(path, images)
    np.testing.assert_allclose(outputs["probabilities"], model.predict(images, verbose=0), atol=TOLERANCE)


@pytest.mark.parametrize("format", list(formats.FORMATS))
def test_a_model_without_preprocessing_is_refused_with_what_to_pass(format, tmp_path):
    inputs = keras.Input((32, 32, 3))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(
        keras.layers.GlobalAveragePooling2D()(inputs)))
    with pytest.raises(ValueError, match="has no ImagePreprocessing layer.*include_preprocessing=True"):
        formats.export_model(model, str(tmp_path / f"m{formats.FORMATS[format]}"), format)
    assert os.listdir(tmp_path) == []
    with pytest.raises(ValueError, match="has no ImagePreprocessing layer"):  # the graph alone refuses it too
        formats.serving_model(model)


@pytest.mark.parametrize("quantize, missing", [(None, "tf2onnx"), (None, "onnx"), ("int8", "onnxruntime")])
def test_a_missing_onnx_package_is_named_with_the_extra_to_install(monkeypatch, tmp_path, quantize, missing):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == missing else find_spec(name, *args))
    with pytest.raises(ImportError, match=rf"^The onnx export needs {missing}: pip install 'inception_tf\[onnx\]'$"):
        formats.export_onnx(small_classifier(), str(tmp_path / "m.onnx"), quantize=quantize)
    assert os.listdir(tmp_path) == []


def test_calibration_images_go_in_order_in_batches_of_at_most_calibration_batch():
    count = 2 * formats.CALIBRATION_BATCH + 3
    images = (np.arange(count * 2 * 2 * 3, dtype=np.float32) % 256).reshape(count, 2, 2, 3)
    batches = formats._calibration_batches(Calibration(images, "digits", "train"))
    assert [len(batch) for batch in batches] == [formats.CALIBRATION_BATCH, formats.CALIBRATION_BATCH, 3]
    assert all(batch.dtype == np.float32 for batch in batches)
    np.testing.assert_array_equal(np.concatenate(batches), images)


@pytest.mark.parametrize("low, high", [(0.0, 255.0), (0.0, 0.0), (255.0, 255.0)])
def test_one_calibration_image_with_pixels_anywhere_in_the_range_is_enough(low, high):
    images = np.full((1, 32, 32, 3), low, np.float32)
    images[0, 0, 0] = high
    assert formats.check_quantization("int8", Calibration(images, "digits", "train"), (None, 32, 32, 3)) == "int8"
    assert formats.check_quantization(None, None, (None, 32, 32, 3)) is None


@pytest.mark.parametrize("value", [-0.5, 255.5])
def test_a_calibration_pixel_just_outside_the_range_is_refused(value):
    images = np.full((2, 32, 32, 3), 128.0, np.float32)
    images[1, 3, 4, 2] = value
    with pytest.raises(ValueError, match=r"pixels in \[0, 255\]\. Received values in \[.*\] \(from dataset 'digits'\)"):
        formats.check_quantization("int8", Calibration(images, "digits", "train"), (None, 32, 32, 3))


def test_an_onnx_graph_that_fails_onnxs_checker_is_never_written(tmp_path, monkeypatch):
    set_model_props = onnx.helper.set_model_props

    def set_props_and_break_the_graph(graph, properties):
        set_model_props(graph, properties)
        graph.graph.node.append(onnx.helper.make_node("NoSuchOp", ["images"], ["broken"]))

    monkeypatch.setattr(onnx.helper, "set_model_props", set_props_and_break_the_graph)
    with pytest.raises(onnx.checker.ValidationError, match="NoSuchOp"):
        formats.export_onnx(small_classifier(), str(tmp_path / "three.onnx"))
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("format", list(formats.FORMATS))
def test_an_export_is_quiet_even_where_keras_exporter_prints(format, tmp_path, capfd, monkeypatch):
    # Keras 3.13's LiteRT exporter prints "Saved artifact at <the temporary file>" whatever `verbose` says.
    from keras.src.utils import io_utils

    export = keras.Model.export

    def printing_export(self, filepath, *args, **kwargs):
        result = export(self, filepath, *args, **kwargs)
        io_utils.print_msg(f"Saved artifact at '{filepath}'.")
        return result

    monkeypatch.setattr(keras.Model, "export", printing_export)
    assert keras.config.is_interactive_logging_enabled()
    formats.export_model(small_classifier(), str(tmp_path / f"three{formats.FORMATS[format]}"), format)
    assert capfd.readouterr().out == ""
    assert keras.config.is_interactive_logging_enabled()  # progress bars are back on afterwards


# What the packages an export runs warn of, word for word: Keras' ONNX helper asks numpy >= 2.3 for `np.object`
# (once a process); TensorFlow's int8 calibrator makes a tf.lite.Interpreter, which warns of its deprecation;
# TensorFlow 2.20's converter warns of the input statistics of an int8 LiteRT file.
PACKAGE_WARNINGS = [
    (FutureWarning, "In the future `np.object` will be defined as the corresponding NumPy scalar."),
    (UserWarning, "    Warning: tf.lite.Interpreter is deprecated and is scheduled for deletion in\n"
                  "    TF 2.20. Please use the LiteRT interpreter from the ai_edge_litert package."),
    (UserWarning, "Statistics for quantized inputs were expected, but not specified; continuing anyway."),  # 2.20
]


@pytest.mark.parametrize("format", list(formats.FORMATS))
def test_an_export_passes_on_no_warning_of_the_packages_it_runs(format, tmp_path, recwarn, monkeypatch):
    import warnings

    export = keras.Model.export

    def warning_export(self, filepath, *args, **kwargs):
        for category, message in PACKAGE_WARNINGS:
            warnings.warn(message, category)
        return export(self, filepath, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "export", warning_export)
    formats.export_model(small_classifier(), str(tmp_path / f"three{formats.FORMATS[format]}"), format)
    assert [f"{warning.category.__name__}: {warning.message}" for warning in recwarn] == []
    warnings.warn("a warning of the user's own", UserWarning)  # and the filter is gone afterwards
    assert [str(warning.message) for warning in recwarn] == ["a warning of the user's own"]
