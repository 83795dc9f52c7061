"""SavedModel export: TF Serving's layout, signatures, equality with Keras, bad input."""

import base64
import json
import os
import re
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow.python.framework import op_def_registry

import inception_tf
from inception_tf.serving import export
from inception_tf.images import resize_image
from inception_tf.serving.runs import export_run
from tests.conftest import classifier_taking, small_classifier, square_input_refusal as refusal

# A 1x1 GIF (the smallest valid GIF89a file).
GIF_1X1 = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def bmp_bytes(pixels):
    """An uncompressed 24-bit BMP file of `pixels` (H, W, 3) uint8."""
    height, width, _ = pixels.shape
    row = (width * 3 + 3) // 4 * 4
    body = b"".join(pixels[y, :, ::-1].tobytes().ljust(row, b"\0") for y in range(height - 1, -1, -1))
    header = b"BM" + (54 + len(body)).to_bytes(4, "little") + b"\0\0\0\0" + (54).to_bytes(4, "little")
    info = (40).to_bytes(4, "little") + width.to_bytes(4, "little") + height.to_bytes(4, "little")
    info += (1).to_bytes(2, "little") + (24).to_bytes(2, "little") + b"\0" * 24
    return header + info + body


@pytest.fixture(scope="module")
def loaded(exported):
    return tf.saved_model.load(exported[0])


@pytest.fixture
def pixels(rng):
    return rng.integers(0, 256, (3, 32, 32, 3)).astype(np.float32)


def keras_probabilities(model, images):
    """The Keras model's own answer on [0, 255] pixels (it carries its preprocessing)."""
    return np.asarray(inception_tf.inference_model(model)(images))


def test_tf_serving_layout(exported):
    path, names = exported
    assert os.path.basename(path) == "1"
    assert {"saved_model.pb", "variables", "assets", "assets.extra"} <= set(os.listdir(path))
    with open(os.path.join(path, "assets", "class_names.txt")) as handle:
        assert handle.read().splitlines() == names
    assert not [n for n in os.listdir(os.path.dirname(path)) if n.startswith(".tmp-")]


def test_warmup_requests_are_prediction_logs(exported):
    from tensorflow_serving.apis import prediction_log_pb2

    records = list(tf.data.TFRecordDataset(os.path.join(exported[0], export.WARMUP_FILE)))
    logs = [prediction_log_pb2.PredictionLog.FromString(r.numpy()) for r in records]
    assert [log.predict_log.request.model_spec.signature_name for log in logs] == [
        "serving_default", "predict_images"]
    assert list(logs[0].predict_log.request.inputs) == ["images"]
    assert tf.make_ndarray(logs[0].predict_log.request.inputs["images"]).shape == (1, 32, 32, 3)
    assert list(logs[1].predict_log.request.inputs) == ["image_bytes"]


def test_versions_increase_and_are_never_overwritten_unless_asked(tmp_path):
    model, base = small_classifier(), str(tmp_path / "m")  # versions, whatever the network
    assert export.export_saved_model(model, base, warmup=False).endswith("/1")
    assert export.export_saved_model(model, base, warmup=False).endswith("/2")
    with pytest.raises(FileExistsError, match="already exists"):
        export.export_saved_model(model, base, version=1)
    assert export.export_saved_model(model, base, version=1, overwrite=True, warmup=False).endswith("/1")
    assert export.version_dirs(base) == [1, 2]


def test_a_failed_export_leaves_nothing_behind(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise OSError("disk full")

    # Fails after the SavedModel is written, while the warm-up file is being added.
    monkeypatch.setattr(export, "_warmup_records", fail)
    with pytest.raises(OSError, match="disk full"):
        export.export_saved_model(small_classifier(), str(tmp_path / "m"))
    assert os.listdir(tmp_path / "m") == []


def test_inference_graph_only(loaded, small_googlenet):
    inference = inception_tf.inference_model(small_googlenet)
    assert len(loaded.trainable_variables) == len(inference.trainable_weights) < len(small_googlenet.weights)
    assert not [v.name for v in loaded.variables if v.name.startswith("aux")]
    outputs = loaded.signatures["serving_default"].structured_outputs
    assert set(outputs) == {"probabilities", "classes", "scores", "class_names"}
    assert outputs["probabilities"].shape.as_list() == [None, 10]
    assert outputs["classes"].shape.as_list() == [None, 5]


def test_serving_default_equals_keras(loaded, small_googlenet, pixels, exported):
    out = loaded.signatures["serving_default"](images=tf.constant(pixels))
    expected = keras_probabilities(small_googlenet, pixels)
    np.testing.assert_allclose(out["probabilities"], expected, atol=1e-5)
    top = np.argsort(-expected, axis=1)[:, :5]
    np.testing.assert_array_equal(out["classes"], top)
    np.testing.assert_allclose(out["scores"], np.take_along_axis(expected, top, 1), atol=1e-5)
    names = exported[1]
    assert out["class_names"].numpy()[0, 0].decode() == names[top[0, 0]]


def test_serving_default_resizes_other_sizes(loaded, small_googlenet, rng):
    big = rng.integers(0, 256, (2, 64, 48, 3)).astype(np.float32)
    out = loaded.signatures["serving_default"](images=tf.constant(big))
    expected = keras_probabilities(small_googlenet, resize_image(big, 32))
    np.testing.assert_allclose(out["probabilities"], expected, atol=1e-5)


def test_predict_images_decodes_every_format(loaded, small_googlenet, pixels):
    as_uint8 = pixels.astype(np.uint8)
    encoded = [tf.io.encode_png(as_uint8[0]).numpy(), bmp_bytes(as_uint8[1]),
               tf.io.encode_jpeg(as_uint8[2], quality=100).numpy(), GIF_1X1]
    out = loaded.signatures["predict_images"](image_bytes=tf.constant(encoded))
    expected = keras_probabilities(small_googlenet, pixels[:2])
    np.testing.assert_allclose(out["probabilities"][:2], expected, atol=1e-5)  # PNG and BMP are lossless
    jpeg = tf.io.decode_jpeg(encoded[2]).numpy().astype(np.float32)[None]
    np.testing.assert_allclose(out["probabilities"][2:3], keras_probabilities(small_googlenet, jpeg), atol=1e-5)
    gif = tf.io.decode_gif(GIF_1X1).numpy()[0].astype(np.float32)[None]
    np.testing.assert_allclose(out["probabilities"][3:], keras_probabilities(small_googlenet,
                               resize_image(gif, 32)), atol=1e-5)


def saved_graph(path):
    proto = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as handle:
        proto.ParseFromString(handle.read())
    return proto.meta_graphs[0].graph_def


def all_op_types(path):
    graph = saved_graph(path)
    ops = {node.op for node in graph.node}
    for function in graph.library.function:
        ops |= {node.op for node in function.node_def}
    return ops - {function.signature.name for function in graph.library.function}


def test_only_standard_ops(exported):
    ops = all_op_types(exported[0])
    assert {"Conv2D", "DecodeImage", "TopKV2", "LookupTableFindV2"} <= ops
    assert not ops & {"PyFunc", "PyFuncStateless", "EagerPyFunc", "NumpyFunction"}
    unregistered = {op for op in ops if op_def_registry.get(op) is None}
    assert not unregistered


def test_no_xla_clusters_so_serving_needs_no_jit(exported):
    # The model's LRN runs XLA-compiled in training; TF Serving has XLA off by default.
    graph = saved_graph(exported[0])
    assert "LRN" in all_op_types(exported[0])
    nodes = list(graph.node) + [node for function in graph.library.function for node in function.node_def]
    compiled = [node.name for node in nodes if node.attr["_XlaMustCompile"].b]
    functions = [f.signature.name for f in graph.library.function if f.attr["_XlaMustCompile"].b]
    assert not compiled and not functions


def saved_model_cli(*args):
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    return subprocess.run([cli, *args], capture_output=True, text=True, timeout=300)


@pytest.mark.slow  # saved_model_cli starts TensorFlow in a process of its own
def test_saved_model_cli_show_lists_named_signatures(exported):
    result = saved_model_cli("show", "--dir", exported[0], "--all")
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "signature_def['serving_default']" in out and "signature_def['predict_images']" in out
    assert "inputs['images']" in out and "inputs['image_bytes']" in out
    for name in ("probabilities", "classes", "scores", "class_names"):
        assert f"outputs['{name}']" in out
    assert "keras_tensor" not in out and "output_0" not in out


@pytest.mark.slow  # saved_model_cli starts TensorFlow in a process of its own
def test_saved_model_cli_run_equals_keras(exported, small_googlenet, pixels, tmp_path):
    np.save(tmp_path / "images.npy", pixels)
    result = saved_model_cli("run", "--dir", exported[0], "--tag_set", "serve", "--signature_def",
                             "serving_default", "--inputs", f"images={tmp_path / 'images.npy'}",
                             "--outdir", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr[-2000:]
    probabilities = np.load(tmp_path / "out" / "probabilities.npy")
    np.testing.assert_allclose(probabilities, keras_probabilities(small_googlenet, pixels), atol=1e-5)


@pytest.mark.parametrize(
    "signature,value,message",
    [
        ("predict_images", [b"not an image"], "Unknown image file format|decode"),
        ("predict_images", [b""], "Unknown image file format|empty|decode"),
        ("predict_images", [], "image_bytes: the batch is empty"),
        ("serving_default", np.zeros((0, 32, 32, 3), np.float32), "images: the batch is empty"),
        ("serving_default", np.full((1, 32, 32, 3), 300.0, np.float32), r"values must be in \[0, 255\]"),
    ],
)
def test_bad_input_is_an_invalid_argument(loaded, signature, value, message):
    key = "image_bytes" if signature == "predict_images" else "images"
    tensor = tf.constant(value, dtype=tf.string if key == "image_bytes" else tf.float32)
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        loaded.signatures[signature](**{key: tensor})


@pytest.mark.parametrize(
    "value",
    [np.zeros((1, 32, 32, 3), np.int32), np.zeros((32, 32, 3), np.float32), np.zeros((1, 32, 32, 4), np.float32)],
    ids=["int32", "rank 3", "4 channels"],
)
def test_wrong_dtype_rank_or_channels_are_rejected(loaded, value):
    with pytest.raises((TypeError, ValueError, tf.errors.InvalidArgumentError)):
        loaded.signatures["serving_default"](images=tf.constant(value))


@pytest.mark.slow  # saved_model_cli starts TensorFlow in a process of its own
def test_saved_model_cli_rejects_wrong_channels(exported, tmp_path):
    np.save(tmp_path / "bad.npy", np.zeros((1, 32, 32, 4), np.float32))
    result = saved_model_cli("run", "--dir", exported[0], "--tag_set", "serve", "--signature_def",
                             "serving_default", "--inputs", f"images={tmp_path / 'bad.npy'}")
    assert result.returncode != 0
    # saved_model_cli feeds a session, which checks the placeholder's shape before the graph runs.
    assert ("Cannot feed value of shape (1, 32, 32, 4) for Tensor serving_default_images:0, "
            "which has shape (None, None, None, 3)") in result.stderr


@pytest.mark.parametrize(
    "kwargs,error,message",
    [({"version": 0}, ValueError, "version must be a positive integer"),
     ({"version": "v1"}, ValueError, "version must be"),
     ({"class_names": ["a", "b"]}, ValueError, "class_names has 2 names but the model has 10"),
     ({"top_k": 0}, ValueError, "top_k must be a positive integer")],
)
def test_bad_export_arguments(small_googlenet, tmp_path, kwargs, error, message):
    with pytest.raises(error, match=message):
        export.export_saved_model(small_googlenet, str(tmp_path / "m"), **kwargs)


# --- CLI: export and predict --------------------------------------------------------


def test_cli_export_from_a_run_directory_and_predict(small_googlenet, tmp_path, pixels, run_cli):
    run_dir = tmp_path / "runs" / "digits_lr0.01"
    run_dir.mkdir(parents=True)
    inception_tf.inference_model(small_googlenet).save(run_dir / "model.keras")
    (run_dir / "metrics.json").write_text(json.dumps({"class_names": list("abcdefghij")}))
    result = run_cli("export", str(run_dir), "--output-dir", str(tmp_path / "saved"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == str(tmp_path / "saved" / "digits_lr0.01" / "1")

    image = tmp_path / "image.png"
    image.write_bytes(tf.io.encode_png(pixels[0].astype(np.uint8)).numpy())
    result = run_cli("predict", "--model", str(tmp_path / "saved" / "digits_lr0.01"), str(image))
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    expected = keras_probabilities(small_googlenet, pixels[:1])[0]
    best = int(np.argmax(expected))
    assert lines[0] == str(image) and len(lines) == 6
    assert lines[1].split() == ["1.", "abcdefghij"[best], f"{expected[best]:.4f}"]


def test_export_run_writes_a_savedmodel_named_after_the_keras_file_by_default(small_googlenet, tmp_path):
    source = tmp_path / "tiny.v2.keras"
    inception_tf.inference_model(small_googlenet).save(source)
    version_dir = export_run(str(source), str(tmp_path / "saved"))
    assert version_dir == str(tmp_path / "saved" / "tiny.v2" / "1")
    assert os.path.exists(os.path.join(version_dir, "saved_model.pb"))
    assert "serving_default" in tf.saved_model.load(version_dir).signatures


def test_cli_predict_bad_inputs(exported, tmp_path, run_cli):
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    base = os.path.dirname(exported[0])
    for args, message in [
        ((str(text),), f"'{text}' is not a JPEG, PNG, GIF or BMP image."),
        ((str(tmp_path / "missing.png"),), "does not exist"),
    ]:
        result = run_cli("predict", "--model", base, *args)
        assert result.returncode == 2
        assert message in result.stderr.strip().splitlines()[-1]
    image = tmp_path / "grey.png"
    image.write_bytes(tf.io.encode_png(np.full((8, 8, 3), 128, np.uint8)).numpy())
    result = run_cli("predict", "--model", str(tmp_path / "nothing"), str(image))
    assert result.returncode == 2
    assert "No SavedModel version under" in result.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize("banded_pays_off", [True, False])
def test_a_model_keras_cannot_rebuild_exports_with_tensorflows_lrn(tmp_path, monkeypatch, banded_pays_off):
    # A Lambda layer cannot be deserialized safely, so the exporter switches kernels in place, not by a copy.
    import keras

    from inception_tf.models import kernels

    monkeypatch.setattr(kernels, "banded_lrn_pays_off", lambda: banded_pays_off)
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Lambda(lambda t: t / 255.0)(inception_tf.ImagePreprocessing("tf")(inputs))
    lrn = inception_tf.LocalResponseNormalization()
    x = lrn(keras.layers.Conv2D(8, 3, padding="same")(x))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(keras.layers.GlobalAveragePooling2D()(x)))
    path = export.export_saved_model(model, str(tmp_path / "lambda"), warmup=False)
    assert "LRN" in all_op_types(path) and lrn.implementation == "auto"
    images = np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 3)).astype(np.float32)
    served = tf.saved_model.load(path).signatures["serving_default"](images=tf.constant(images))
    np.testing.assert_allclose(served["probabilities"], model(images), rtol=1e-5, atol=1e-6)


# --- What an export states and refuses, on a small network (seconds) ---------------------------------------


@pytest.fixture(scope="module")
def small_export(tmp_path_factory):
    """(version directory, stdout and stderr of the export, temporary directory it used) of `small_classifier()`
    (no class names) exported with the defaults."""
    import tempfile

    scratch = tmp_path_factory.mktemp("scratch")
    base = tmp_path_factory.mktemp("small") / "m"
    previous, tempfile.tempdir = tempfile.tempdir, str(scratch)
    try:
        import io
        from contextlib import redirect_stderr, redirect_stdout

        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            path = export.export_saved_model(small_classifier(), str(base))
    finally:
        tempfile.tempdir = previous
    return path, out.getvalue(), scratch


def test_an_export_without_class_names_states_its_inputs_and_lrn_form(small_export):
    path, printed, scratch = small_export
    with open(os.path.join(path, "assets", "model_record.json")) as handle:
        assert json.load(handle) == {"preprocessing": "tf", "geometry": "square", "image_size": 32}
    with open(os.path.join(path, "assets", "lrn_form.txt")) as handle:
        assert handle.read() == "standard\n"  # float32 SavedModel: TensorFlow's LRN op
    assert not os.path.exists(os.path.join(path, "assets", "class_names.txt"))
    outputs = tf.saved_model.load(path).signatures["serving_default"].structured_outputs
    assert set(outputs) == {"probabilities", "classes", "scores"}
    assert outputs["classes"].shape.as_list() == [None, 3]  # top 5 of 3 classes: all three
    assert printed == ""  # the archive is written quietly
    # The staging directory is removed (TensorFlow's autograph leaves its generated sources there).
    assert [name for name in os.listdir(scratch) if not name.startswith("__autograph_generated")] == []


def test_warmup_requests_hold_one_grey_image_per_signature(small_export):
    from tensorflow_serving.apis import prediction_log_pb2

    records = list(tf.data.TFRecordDataset(os.path.join(small_export[0], export.WARMUP_FILE)))
    inputs = [prediction_log_pb2.PredictionLog.FromString(r.numpy()).predict_log.request.inputs for r in records]
    np.testing.assert_array_equal(tf.make_ndarray(inputs[0]["images"]), np.full((1, 32, 32, 3), 128.0))
    encoded = tf.make_ndarray(inputs[1]["image_bytes"])
    assert encoded.shape == (1,)
    np.testing.assert_array_equal(tf.io.decode_png(encoded[0]).numpy(), np.full((32, 32, 3), 128))


@pytest.mark.parametrize("value, accepted", [(0.0, True), (255.0, True), (-0.5, False), (255.5, False)])
def test_pixels_must_lie_in_0_to_255(small_export, value, accepted):
    served = tf.saved_model.load(small_export[0]).signatures["serving_default"]
    images = tf.fill((1, 32, 32, 3), value)
    if accepted:
        assert served(images=images)["probabilities"].shape == (1, 3)
    else:
        # The assert's message is its first datum, in brackets: "assertion failed: [images: ...] [...]".
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"failed: \[images: values must be in \[0, 255\]\] "):
            served(images=images)


def _fed_past_the_signature(path, signature, key, value):
    """Runs `signature` of the SavedModel at `path` on `value` as TF Serving feeds it: the graph's input
    replaced by a tensor of any shape (a loaded signature and a Python session check the shape first)."""
    graph = tf.Graph()
    with tf.compat.v1.Session(graph=graph) as session:
        meta = tf.compat.v1.saved_model.loader.load(session, ["serve"], path)
        inputs, outputs = meta.signature_def[signature].inputs, meta.signature_def[signature].outputs
        with graph.as_default():
            fed = tf.compat.v1.placeholder(tf.as_dtype(inputs[key].dtype), shape=None)
            (probabilities,) = tf.graph_util.import_graph_def(
                meta.graph_def, input_map={inputs[key].name: fed}, return_elements=[outputs["probabilities"].name],
                name="fed")
        return session.run(probabilities, {fed: value})


@pytest.mark.parametrize("signature, key, value, expected", [
    ("serving_default", "images", np.zeros((1, 32, 32, 4), np.float32), "(batch, height, width, 3)"),
    ("serving_default", "images", np.zeros((32, 32, 3), np.float32), "(batch, height, width, 3)"),
    ("serving_default", "images", np.zeros((1, 1, 32, 32, 3), np.float32), "(batch, height, width, 3)"),
    ("predict_images", "image_bytes", np.array(b"x", object), "(batch,)"),
    ("predict_images", "image_bytes", np.array([[b"x"]], object), "(batch,)"),
], ids=["4_channels", "rank_3", "rank_5", "bytes_rank_0", "bytes_rank_2"])
def test_a_shape_fed_past_the_signature_is_refused_by_the_graph(small_export, signature, key, value, expected):
    shape = " ".join(str(size) for size in value.shape)
    with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(
            f"assertion failed: [{key}: expected shape {expected}, received shape] [{shape}]")):
        _fed_past_the_signature(small_export[0], signature, key, value)
    good = np.full((2, 32, 32, 3), 128.0, np.float32) if key == "images" else np.array(
        [tf.io.encode_png(np.full((8, 8, 3), 128, np.uint8)).numpy()] * 2, object)
    assert _fed_past_the_signature(small_export[0], signature, key, good).shape == (2, 3)


@pytest.mark.parametrize("shape", [(None, 32, 3), (32, None, 3), (32, 32, 4), (32, 3), (32, 24, 3)])
def test_a_model_export_cannot_serve_is_refused_before_anything_is_written(tmp_path, shape):
    with pytest.raises(ValueError, match=refusal("export_saved_model", (None, *shape))):
        export.export_saved_model(classifier_taking(shape), str(tmp_path / "m"))
    assert not os.path.exists(tmp_path / "m")


def test_an_unknown_precision_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ValueError, match=r"precision must be one of \('float32', 'bfloat16'\). "
                                         r"Received: precision='float16'"):
        export.export_saved_model(small_classifier(), str(tmp_path / "m"), precision="float16")
    assert not os.path.exists(tmp_path / "m")


def test_a_grey_model_serves_rgb_photos_turned_grey(tmp_path):
    model = classifier_taking((24, 24, 1))
    loaded = tf.saved_model.load(export.export_saved_model(model, str(tmp_path / "grey")))
    # RGB photos of one grey level each are that grey level (ITU-R 601 weights sum to 1).
    levels = np.array([30, 200], np.uint8)
    photos = np.broadcast_to(levels[:, None, None, None], (2, 24, 24, 3))
    expected = model.predict(np.broadcast_to(levels[:, None, None, None], (2, 24, 24, 1)).astype(np.float32),
                             verbose=0)
    served = loaded.signatures["serving_default"](images=tf.constant(photos, tf.float32))
    np.testing.assert_allclose(served["probabilities"].numpy(), expected, atol=1e-5)
    encoded = [tf.io.encode_png(photo).numpy() for photo in photos]
    from_bytes = loaded.signatures["predict_images"](image_bytes=tf.constant(encoded))
    np.testing.assert_allclose(from_bytes["probabilities"].numpy(), expected, atol=1e-5)


def _nested_model():
    """Input -> ImagePreprocessing -> conv -> a nested block (conv, relu) -> pooling -> softmax output."""
    inputs = keras.Input((8, 8, 3))
    x = inception_tf.ImagePreprocessing("tf", name="preprocessing")(inputs)
    x = keras.layers.Conv2D(4, 3, name="conv")(x)
    block = keras.Sequential([keras.Input((6, 6, 4)), keras.layers.Conv2D(4, 3, name="inner_conv"),
                              keras.layers.ReLU(name="inner_relu")], name="block")
    x = keras.layers.GlobalAveragePooling2D(name="pool")(block(x))
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="output")(x), name="nested")


def _policies(model):
    block = model.get_layer("block")
    layers = {"model": model, "input": model.layers[0], "block": block,
              "inner_conv": block.get_layer("inner_conv"), "inner_relu": block.get_layer("inner_relu"),
              **{name: model.get_layer(name) for name in ("preprocessing", "conv", "pool", "output")}}
    return {name: layer.dtype_policy.name for name, layer in layers.items()}


def test_bfloat16_computation_leaves_the_input_preprocessing_and_outputs_in_float32():
    model = _nested_model()
    float32 = _policies(model)
    assert set(float32.values()) == {"float32"}
    with export.computing_in(model, "bfloat16") as computing:
        assert computing is model
        assert _policies(model) == {**float32, "block": "mixed_bfloat16", "inner_conv": "mixed_bfloat16",
                                    "inner_relu": "mixed_bfloat16", "conv": "mixed_bfloat16",
                                    "pool": "mixed_bfloat16"}
        assert model(np.zeros((1, 8, 8, 3), "float32")).dtype == "float32"
    assert _policies(model) == float32
    with export.computing_in(model, "float32") as computing:
        assert computing is model and _policies(model) == float32
    with pytest.raises(RuntimeError, match="inside"):
        with export.computing_in(model, "bfloat16"):
            raise RuntimeError("inside")
    assert _policies(model) == float32  # restored whatever happens in the block
    with pytest.raises(ValueError, match=r"precision must be one of \('float32', 'bfloat16'\). "
                                         r"Received: precision='float16'"):
        with export.computing_in(model, "float16"):
            pass


def test_the_bfloat16_check_reads_proc_cpuinfo_by_default(monkeypatch):
    # The flags are read once a process (a cache), so the file the check names is recorded, not opened.
    read = []
    monkeypatch.setattr(export, "cpu_flags", lambda path: read.append(path) or frozenset({"avx512_bf16"}))
    assert export.cpu_has_bfloat16() is True
    assert read == ["/proc/cpuinfo"]


def test_signatures_declare_the_inputs_tf_serving_clients_read(small_export):
    """TF Serving's metadata API and saved_model_cli report these declared dtypes and shapes (-1: any size)."""
    graph = tf.Graph()
    with tf.compat.v1.Session(graph=graph) as session:
        signatures = tf.compat.v1.saved_model.loader.load(session, ["serve"], small_export[0]).signature_def
    declared = {(name, key): (tf.as_dtype(tensor.dtype).name, [dim.size for dim in tensor.tensor_shape.dim])
                for name in ("serving_default", "predict_images") for key, tensor in signatures[name].inputs.items()}
    assert declared == {("serving_default", "images"): ("float32", [-1, -1, -1, 3]),
                        ("predict_images", "image_bytes"): ("string", [-1])}
