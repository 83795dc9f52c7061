"""ImageNet weights from the ONNX zoo's GoogLeNet: conversion checked against onnxruntime.

The ONNX files are built here (`zoo_onnx.py`) in the zoo's layout with random weights;
onnxruntime runs them as the reference. No test downloads anything: the download path
runs against a file:// URL.
"""

import dataclasses
import hashlib
import os

import keras
import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from inception_tf import GoogLeNet  # noqa: E402
from inception_tf.models import pretrained, published_weights, weights  # noqa: E402
from tests.models import zoo_onnx  # noqa: E402


@pytest.fixture(scope="module")
def zoo_weights(zoo_files):
    return zoo_files()[0]  # the weights of the shared `zoo_file`


@pytest.fixture(scope="module")
def zoo_model(zoo_file):
    return onnx.load(zoo_file)


@pytest.fixture(scope="module")
def small_shapes():
    """The layer shapes of a 1000-class GoogLeNet at 32x32, which `weights.onnx_weights` checks against."""
    return weights.model_shapes(GoogLeNet(input_shape=(32, 32, 3)))


def images(height, width):
    """Two RGB images in [0, 255]: noise, and a smooth colour pattern."""
    rng = np.random.default_rng(7)
    noise = rng.uniform(0, 255, (height, width, 3))
    rows, cols = np.meshgrid(np.linspace(0, 1, height), np.linspace(0, 1, width), indexing="ij")
    pattern = np.stack([255 * rows, 255 * (1 - cols), 127.5 * (1 + np.sin(12 * rows * cols))], axis=-1)
    return np.stack([noise, pattern]).astype(np.float32)


def run_onnxruntime(path, rgb):
    """(probabilities, logits) from onnxruntime, one image at a time (the zoo's batch is 1)."""
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    outputs = [session.run(["prob_0", "loss3/classifier_1"], {"data_0": zoo_onnx.caffe_input(rgb[i : i + 1])})
               for i in range(len(rgb))]
    return np.concatenate([o[0] for o in outputs]), np.concatenate([o[1] for o in outputs])


def save(model_proto, path):
    onnx.save(model_proto, str(path))
    return str(path)


def mutated(model_proto, change):
    copy = onnx.ModelProto()
    copy.CopyFrom(model_proto)
    change(copy.graph)
    return copy


def test_caffe_names_cover_every_zoo_tensor():
    names = weights.caffe_layer_names()
    assert len(names) == 3 + 9 * 6 + 1
    assert set(names.values()) == set(zoo_onnx.conv_shapes()) | {"loss3/classifier"}
    assert names["inception_4c/branch_5x5_reduce"] == "inception_4c/5x5_reduce"
    assert names["inception_5b/branch_pool_proj"] == "inception_5b/pool_proj"
    assert names["conv2_reduce"] == "conv2/3x3_reduce" and names["logits"] == "loss3/classifier"


def test_declared_shapes_are_the_built_models_and_the_zoo_files(small_shapes):
    declared = weights.declared_shapes(1000)
    assert declared == small_shapes
    for caffe_name, (out, into, height, width) in zoo_onnx.conv_shapes().items():
        (path,) = [p for p, name in weights.caffe_layer_names().items() if name == caffe_name]
        assert declared[path] == ((height, width, into, out), (out,))
    assert declared["logits"] == ((1024, 1000), (1000,)) and weights.declared_shapes(7)["logits"] == ((1024, 7), (7,))


def test_matches_onnxruntime_at_224(zoo_file, capsys):
    rgb = images(224, 224)
    probabilities, logits = run_onnxruntime(zoo_file, rgb)
    model = GoogLeNet(weights=zoo_file)
    assert model.get_layer("preprocessing").mode == "caffe"
    got = np.asarray(model(rgb))
    got_logits = np.asarray(keras.Model(model.input, model.get_layer("logits").output)(rgb))
    top5 = np.argsort(-probabilities, axis=1)[:, :5]
    gaps = np.diff(np.sort(probabilities, axis=1)[:, ::-1][:, :6], axis=1)
    assert np.all(np.abs(gaps) > 1e-4)  # the reference top-5 is well separated
    assert len({tuple(row) for row in top5}) == 2
    np.testing.assert_array_equal(np.argsort(-got, axis=1)[:, :5], top5)
    np.testing.assert_allclose(got, probabilities, rtol=0, atol=1e-5)
    np.testing.assert_allclose(got_logits, logits, rtol=0, atol=1e-4)
    with capsys.disabled():
        print(f"\n  vs onnxruntime at 224: max |dp| {np.abs(got - probabilities).max():.2e}, "
              f"max |dlogit| {np.abs(got_logits - logits).max():.2e} (logit std {logits.std():.2f})")


def test_ceil_mode_layout_gives_the_same_weights_and_function(zoo_files, zoo_file, small_shapes):
    _, ceil_file = zoo_files(layout="ceil_mode")  # the weights of `zoo_file`, in the opset 11 layout
    rgb = images(224, 224)[:1]
    np.testing.assert_array_equal(run_onnxruntime(ceil_file, rgb)[0], run_onnxruntime(zoo_file, rgb)[0])
    reference = weights.onnx_weights(small_shapes, zoo_file)
    for path, (kernel, bias) in weights.onnx_weights(small_shapes, ceil_file).items():
        np.testing.assert_array_equal(kernel, reference[path][0])
        np.testing.assert_array_equal(bias, reference[path][1])


def test_odd_input_size_matches_onnxruntime_ceil_mode(zoo_files):
    """At 99x75 only Caffe's geometry (conv1 pad 3, ceil-mode pools) reproduces onnxruntime's."""
    _, path = zoo_files(layout="ceil_mode", spatial=None)
    rgb = images(99, 75)
    probabilities, logits = run_onnxruntime(path, rgb)
    model = GoogLeNet(input_shape=(99, 75, 3), weights=path)
    got_logits = np.asarray(keras.Model(model.input, model.get_layer("logits").output)(rgb))
    np.testing.assert_allclose(got_logits, logits, rtol=0, atol=1e-4)
    np.testing.assert_allclose(np.asarray(model(rgb)), probabilities, rtol=0, atol=1e-5)


def test_channels_first_and_transposed_classifier(zoo_model, zoo_file, small_shapes, tmp_path):
    def store_untransposed(graph):
        (gemm,) = [node for node in graph.node if node.op_type == "Gemm"]
        for attribute in gemm.attribute:
            if attribute.name == "transB":
                attribute.i = 0
        (tensor,) = [t for t in graph.initializer if t.name == "loss3/classifier_w_0"]
        tensor.CopyFrom(onnx.numpy_helper.from_array(onnx.numpy_helper.to_array(tensor).T.copy(), tensor.name))

    untransposed = save(mutated(zoo_model, store_untransposed), tmp_path / "untransposed.onnx")
    np.testing.assert_array_equal(weights.onnx_weights(small_shapes, untransposed)["logits"][0],
                                  weights.onnx_weights(small_shapes, zoo_file)["logits"][0])
    nhwc = GoogLeNet(input_shape=(48, 48, 3), weights=zoo_file)
    nchw = GoogLeNet(input_shape=(3, 48, 48), data_format="channels_first", weights=untransposed)
    rgb = images(48, 48)
    np.testing.assert_allclose(nchw(np.transpose(rgb, (0, 3, 1, 2))), nhwc(rgb), rtol=1e-5, atol=1e-6)


def test_download_verify_convert_and_cache(zoo_file, monkeypatch, tmp_path, capsys):
    with open(zoo_file, "rb") as handle:
        digest = hashlib.sha256(handle.read()).hexdigest()
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    record = dataclasses.replace(published_weights.IMAGENET, url=f"file://{zoo_file}", sha256=digest)
    monkeypatch.setitem(published_weights.PUBLISHED, "imagenet", record)
    cache = tmp_path / "keras_home" / "models"
    previous_cache = cache / "googlenet-7.inception_tf.weights.h5"  # the previous version's cache file name
    cache.mkdir(parents=True)
    previous_cache.write_bytes(b"written by the previous version")  # never read again
    rgb = images(40, 40)
    model = GoogLeNet(input_shape=(40, 40, 3), weights="imagenet")
    converted = cache / "googlenet-7.inception_tf-v2.weights.h5"
    assert (cache / "googlenet-7.onnx").read_bytes() == open(zoo_file, "rb").read()
    np.testing.assert_array_equal(model(rgb), GoogLeNet(input_shape=(40, 40, 3), weights=zoo_file)(rgb))
    written = converted.stat().st_mtime_ns

    def no_conversion(*args, **kwargs):
        raise AssertionError("converted again")

    monkeypatch.setattr(weights, "onnx_weights", no_conversion)
    (cache / "googlenet-7.onnx").unlink()  # the cache alone suffices: no download either
    again = GoogLeNet(input_shape=(40, 40, 3), weights="imagenet")
    np.testing.assert_array_equal(again(rgb), model(rgb))
    assert converted.stat().st_mtime_ns == written
    with_file = GoogLeNet(input_shape=(40, 40, 3), weights=str(converted))  # the .weights.h5 path
    assert with_file.get_layer("preprocessing").mode == "caffe"
    np.testing.assert_array_equal(with_file(rgb), model(rgb))
    with capsys.disabled():
        print(f"\n  converted weights file: {converted.stat().st_size:,} bytes")


def test_wrong_hash_is_refused(zoo_file, tmp_path):
    record = dataclasses.replace(published_weights.IMAGENET, url=f"file://{zoo_file}", sha256="0" * 64)
    with pytest.raises(ValueError, match="refused and removed"):
        pretrained.fetch_onnx(record, cache_dir=str(tmp_path))
    assert not (tmp_path / "models" / "googlenet-7.onnx").exists()
    (tmp_path / "models" / "googlenet-7.onnx").write_bytes(b"partial")
    with pytest.raises(ValueError, match=r"googlenet-7\.onnx has sha256 .* 7 bytes.*Delete it"):
        pretrained.fetch_onnx(dataclasses.replace(record, sha256=published_weights.IMAGENET.sha256),
                              cache_dir=str(tmp_path))


def test_no_network_and_no_file_says_where_to_put_it(tmp_path):
    origin = f"file://{tmp_path}/nowhere/googlenet-7.onnx"
    target = os.path.join(str(tmp_path), "models", "googlenet-7.onnx")
    with pytest.raises(OSError, match="Could not download") as error:
        pretrained.fetch_onnx(dataclasses.replace(published_weights.IMAGENET, url=origin), cache_dir=str(tmp_path))
    assert origin in str(error.value) and target in str(error.value)


def test_truncated_and_foreign_files(zoo_file, small_shapes, tmp_path):
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(open(zoo_file, "rb").read()[:100_000])
    with pytest.raises(ValueError, match=r"truncated\.onnx.*not a readable ONNX model"):
        weights.onnx_weights(small_shapes, truncated)
    relu = onnx.helper.make_graph(
        [onnx.helper.make_node("Relu", ["x"], ["y"])], "other",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 3])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 3])])
    foreign = save(onnx.helper.make_model(relu), tmp_path / "foreign.onnx")
    with pytest.raises(ValueError, match=r"foreign\.onnx.*no input named 'data_0' \(its inputs: \['x'\]\)"):
        weights.onnx_weights(small_shapes, foreign)
    with pytest.raises(FileNotFoundError, match="missing.onnx"):
        weights.onnx_weights(small_shapes, tmp_path / "missing.onnx")
    with pytest.raises(ValueError, match=r"output_path must end in '.weights.h5'. Received: .*x\.h5"):
        pretrained.convert_onnx(zoo_file, tmp_path / "x.h5")


def _set(op_type, index, name, value):
    def change(graph):
        node = [n for n in graph.node if n.op_type == op_type][index]
        (attribute,) = [a for a in node.attribute if a.name == name]
        attribute.CopyFrom(onnx.helper.make_attribute(name, value))
    return change


def _replace(name, shape):
    def change(graph):
        (tensor,) = [t for t in graph.initializer if t.name == name]
        tensor.CopyFrom(onnx.numpy_helper.from_array(np.zeros(shape, np.float32), name))
    return change


def _drop(name):
    def change(graph):
        (tensor,) = [t for t in graph.initializer if t.name == name]
        graph.initializer.remove(tensor)
    return change


def _add_convs(count):
    """`count` Convs (1x1, 512 -> 128) the model has no layer for, named loss1/conv0, loss1/conv1, ..."""
    def change(graph):
        for index in range(count):
            name = f"loss1/conv{index}"
            graph.initializer.extend([
                onnx.numpy_helper.from_array(np.zeros((128, 512, 1, 1), np.float32), f"{name}_w_0"),
                onnx.numpy_helper.from_array(np.zeros(128, np.float32), f"{name}_b_0")])
            graph.node.append(onnx.helper.make_node(
                "Conv", ["inception_4a/output_1", f"{name}_w_0", f"{name}_b_0"], [f"{name}_1"], kernel_shape=[1, 1]))
    return change


def _read_first_by_identity(name):
    """A graph whose first node reading `name` is an Identity, not the Conv or Gemm of its layer."""
    def change(graph):
        nodes = [onnx.helper.make_node("Identity", [name], [f"{name}_copy"])] + list(graph.node)
        del graph.node[:]
        graph.node.extend(nodes)
    return change


def _add_aux_conv(graph):
    """A Conv the model has no layer for, as a file with Caffe's auxiliary heads would have."""
    graph.initializer.extend([onnx.numpy_helper.from_array(np.zeros((128, 512, 1, 1), np.float32), "loss1/conv_w_0"),
                              onnx.numpy_helper.from_array(np.zeros(128, np.float32), "loss1/conv_b_0")])
    graph.node.append(onnx.helper.make_node("Conv", ["inception_4a/output_1", "loss1/conv_w_0", "loss1/conv_b_0"],
                                            ["loss1/conv_1"], kernel_shape=[1, 1]))


@pytest.mark.parametrize("change,message", [
    (_replace("inception_4c/5x5_w_0", (64, 24, 3, 3)),
     r"'inception_4c/5x5_w_0' has shape \(64, 24, 3, 3\) \(ONNX\), \(3, 3, 24, 64\) in our layout, "
     r"but our layer 'inception_4c/branch_5x5' needs a kernel of shape \(5, 5, 24, 64\)"),
    (_replace("loss3/classifier_b_0", (1001,)),
     r"'loss3/classifier_b_0' has shape \(1001,\).*'logits' needs a bias of shape \(1000,\)"),
    (_drop("inception_3a/pool_proj_b_0"),
     r"no initializer 'inception_3a/pool_proj_b_0' for our layer 'inception_3a/branch_pool_proj' \(bias\)\.$"),
    (_add_aux_conv, r"Conv weights with no layer here: \['loss1/conv_w_0'\]"),
    (_add_convs(5), r"Conv weights with no layer here: \['loss1/conv0_w_0', .*'loss1/conv4_w_0'\]\.$"),
    (_add_convs(6), r"Conv weights with no layer here: \['loss1/conv0_w_0', .*'loss1/conv4_w_0'\] \.\.\.\.$"),
    (_read_first_by_identity("inception_3a/1x1_w_0"), r"'inception_3a/1x1_w_0' is not the weight of a Conv node\.$"),
    (_read_first_by_identity("loss3/classifier_w_0"), r"'loss3/classifier_w_0' is not the weight of a Gemm node\.$"),
    (_drop("loss3/classifier_w_0"), r"no initializer 'loss3/classifier_w_0' for our layer 'logits' \(kernel\)\.$"),
    (_set("Conv", 0, "pads", [2, 2, 3, 3]), r"Conv 'conv1/7x7_s2' \(our layer 'conv1'\) has pads \[2, 2, 3, 3\] \(expected \[3, 3, 3, 3\]\)"),
    (_set("LRN", 1, "alpha", 2e-5), r"LRN 'conv2/norm2_1' has alpha 2e-05 \(expected 0.0001\)"),
    (_set("MaxPool", 0, "pads", [1, 1, 1, 1]), r"MaxPool 'pool1/3x3_s2_1'.*pads \[1, 1, 1, 1\]\) maps 112x112 to \[56, 56\]"),
    (_set("MaxPool", 1, "pads", [0, 0, 0, 0]), r"maps 56x56 to \[27, 27\]; Caffe's ceil-mode 3x3/2 pool gives 28x28"),
    (_set("MaxPool", 0, "pads", [0, 0, 0, 0]),
     r"MaxPool 'pool1/3x3_s2_1' \(kernel \[3, 3\], strides \[2, 2\], pads \[0, 0, 0, 0\]\) maps 112x112 to \[55, 55\]; "
     r"Caffe's ceil-mode 3x3/2 pool gives 56x56\.$"),
])
def test_mismatches_are_named(zoo_model, small_shapes, tmp_path, change, message):
    path = save(mutated(zoo_model, change), tmp_path / "changed.onnx")
    with pytest.raises(ValueError, match=r"changed\.onnx.*" + message):
        weights.onnx_weights(small_shapes, path)


def test_aux_heads_keep_their_initialisation_with_a_warning(zoo_file, recwarn):
    model = GoogLeNet(input_shape=(64, 64, 3), weights=zoo_file, aux_logits=True)
    messages = [str(w.message) for w in recwarn if issubclass(w.category, UserWarning)]
    assert sum("aux1 and aux2 keep their random initialisation" in m for m in messages) == 1
    conv = model.get_layer("inception_4a").sublayer("branch_5x5")
    expected = np.transpose(onnx.numpy_helper.to_array(
        [t for t in onnx.load(zoo_file).graph.initializer if t.name == "inception_4a/5x5_w_0"][0]), (2, 3, 1, 0))
    np.testing.assert_array_equal(conv.kernel.numpy(), expected)


# Each file differs from the published layout in one attribute; the expected values are Caffe's
# (REFERENCES.md: conv1 stride 2, every other conv stride 1, LRN local_size 5, pool5 7x7/1) and
# ONNX's defaults (strides, dilations, group 1; auto_pad NOTSET; Gemm alpha = beta = 1, transA = transB = 0).
@pytest.mark.parametrize("changes,message", [
    ({"conv2/3x3_1": {"strides": [2, 2]}}, r"Conv 'conv2/3x3' \(our layer 'conv2'\) has strides \[2, 2\] \(expected \[1, 1\]\)"),
    ({"conv1/7x7_s2_1": {"strides": zoo_onnx.REMOVE}}, r"Conv 'conv1/7x7_s2' .*strides \[1, 1\] \(expected \[2, 2\]\)"),
    ({"inception_3a/1x1_1": {"strides": [1, 2]}}, r"'inception_3a/1x1' \(our layer 'inception_3a/branch_1x1'\) has strides"),
    ({"inception_3a/3x3_1": {"group": 2}}, r"Conv 'inception_3a/3x3' .* has group 2 \(expected 1\)\.$"),
    ({"inception_3b/3x3_1": {"strides": [2, 2], "group": 4}},
     r"Conv 'inception_3b/3x3' .* has strides \[2, 2\] \(expected \[1, 1\]\), group 4 \(expected 1\)\.$"),
    ({"inception_4b/5x5_1": {"dilations": [2, 2]}}, r"Conv 'inception_4b/5x5' .* has dilations \[2, 2\] \(expected \[1, 1\]\)\.$"),
    ({"inception_5a/1x1_1": {"auto_pad": "SAME_UPPER"}}, r"Conv 'inception_5a/1x1' .* has auto_pad SAME_UPPER \(expected NOTSET\)"),
    ({"conv2/3x3_1": {"pads": zoo_onnx.REMOVE}}, r"Conv 'conv2/3x3' .* has pads \[0, 0, 0, 0\] \(expected \[1, 1, 1, 1\]\)"),
    ({"pool1/norm1_1": {"size": 3}}, r"LRN 'pool1/norm1_1' has size 3 \(expected 5\)\.$"),
    ({"conv2/norm2_1": {"beta": 0.5}}, r"LRN 'conv2/norm2_1' has beta 0.5 \(expected 0.75\)\.$"),
    ({"conv2/norm2_1": {"bias": 2.0}}, r"LRN 'conv2/norm2_1' has bias 2 \(expected 1\)\.$"),
    ({"loss3/classifier_1": {"transA": 1}}, r"Gemm 'loss3/classifier_1' \(loss3/classifier\) has transA 1 \(expected 0\)\.$"),
    ({"loss3/classifier_1": {"alpha": 0.5}}, r"Gemm 'loss3/classifier_1' .* has alpha 0.5 \(expected 1\)\.$"),
    ({"loss3/classifier_1": {"beta": 2.0}}, r"Gemm 'loss3/classifier_1' .* has beta 2 \(expected 1\)\.$"),
    ({"loss3/classifier_1": {"transB": zoo_onnx.REMOVE}},
     r"Gemm 'loss3/classifier_1' \(loss3/classifier\) has transB 0 \(absent: ONNX default\) with a \(1000, 1024\)"),
    ({"loss3/classifier_1": {"transB": 0}}, r"has transB 0 with a \(1000, 1024\) weight.*\(1024, 1000\)"),
    ({"pool5/7x7_s1_1": {"kernel_shape": [5, 5]}},
     r"AveragePool 'pool5/7x7_s1_1' \(pool5/7x7_s1\) has kernel_shape \[5, 5\] \(expected \[7, 7\]\)\.$"),
    ({"pool5/7x7_s1_1": {"pads": [1, 1, 1, 1]}}, r"AveragePool 'pool5/7x7_s1_1' .* has pads \[1, 1, 1, 1\]"),
    ({"pool5/7x7_s1_1": {"strides": [2, 2]}}, r"AveragePool 'pool5/7x7_s1_1' .* has strides \[2, 2\] \(expected \[1, 1\]\)\.$"),
])
def test_attributes_unlike_caffes_are_refused_by_name(zoo_weights, small_shapes, tmp_path, changes, message):
    path = save(zoo_onnx.build(zoo_weights, "opset7", changes=changes), tmp_path / "changed.onnx")
    with pytest.raises(ValueError, match=r"changed\.onnx.*" + message):
        weights.onnx_weights(small_shapes, path)


def test_attributes_left_at_onnx_defaults_are_accepted(zoo_weights, zoo_file, small_shapes, tmp_path):
    """Caffe's values equal to ONNX's defaults may be left out, or written out, without changing the weights."""
    defaults = {"strides": zoo_onnx.REMOVE, "dilations": zoo_onnx.REMOVE, "group": zoo_onnx.REMOVE}
    changes = {"conv2/3x3_reduce_1": {**defaults, "pads": zoo_onnx.REMOVE}, "inception_4e/5x5_1": defaults,
               "inception_3b/1x1_1": {"auto_pad": "NOTSET"}, "inception_3a/pool_1": {"strides": zoo_onnx.REMOVE},
               "pool1/norm1_1": {"alpha": zoo_onnx.REMOVE, "beta": zoo_onnx.REMOVE, "bias": zoo_onnx.REMOVE},
               "loss3/classifier_1": {"alpha": 1.0, "beta": 1.0, "transA": 0},
               "pool5/7x7_s1_1": {"strides": zoo_onnx.REMOVE, "pads": zoo_onnx.REMOVE}}
    path = save(zoo_onnx.build(zoo_weights, "opset7", changes=changes), tmp_path / "defaults.onnx")
    reference = weights.onnx_weights(small_shapes, zoo_file)
    for layer_path, (kernel, bias) in weights.onnx_weights(small_shapes, path).items():
        np.testing.assert_array_equal(kernel, reference[layer_path][0])
        np.testing.assert_array_equal(bias, reference[layer_path][1])


def test_pool_paddings_left_at_onnx_defaults_are_accepted(zoo_weights, zoo_file, small_shapes, tmp_path):
    """Opset 11's ceil-mode pools need no padding, so `pads` may be left out (ONNX's default: none)."""
    changes = {f"{name}/3x3_s2_1": {"pads": zoo_onnx.REMOVE} for name in ("pool1", "pool2", "pool3", "pool4")}
    path = save(zoo_onnx.build(zoo_weights, "ceil_mode", changes=changes), tmp_path / "defaults.onnx")
    reference = weights.onnx_weights(small_shapes, zoo_file)
    for layer_path, (kernel, bias) in weights.onnx_weights(small_shapes, path).items():
        np.testing.assert_array_equal(kernel, reference[layer_path][0])
        np.testing.assert_array_equal(bias, reference[layer_path][1])


def test_assigning_arrays_checks_every_layer_first():
    model = GoogLeNet(input_shape=(32, 32, 3), include_top=False)
    conv1 = model.get_layer("conv1")
    before = conv1.kernel.numpy().copy()
    arrays = {"conv1": [np.ones((7, 7, 3, 64), np.float32), np.ones(64, np.float32)],
              "inception_3a/branch_5x5": [np.ones((3, 3, 16, 32), np.float32), np.zeros(32, np.float32)]}
    with pytest.raises(ValueError, match=r"^weights: layer 'inception_3a/branch_5x5' needs a kernel of shape "
                                         r"\(5, 5, 16, 32\); the array for it has shape \(3, 3, 16, 32\)\.$"):
        weights.assign_weights(model, arrays)
    np.testing.assert_array_equal(conv1.kernel.numpy(), before)  # nothing assigned
    with pytest.raises(ValueError, match=r"^weights: arrays for layer 'logits', which googlenet does not have\.$"):
        weights.assign_weights(model, {"logits": [np.zeros((1024, 1000)), np.zeros(1000)]})
    with pytest.raises(ValueError, match=r"^x\.h5: layer 'conv1' needs a bias of shape \(64,\)"):
        weights.assign_weights(model, {"conv1": [np.ones((7, 7, 3, 64)), np.ones(65)]}, source="x.h5")
    weights.assign_weights(model, {"conv1": arrays["conv1"]})
    np.testing.assert_array_equal(conv1.kernel.numpy(), np.ones((7, 7, 3, 64), np.float32))
    np.testing.assert_array_equal(conv1.bias.numpy(), np.ones(64, np.float32))


def test_layer_shapes_read_as_kernel_and_bias():
    shapes = weights.declared_shapes(1000)["conv1"]
    assert repr(shapes) == "LayerShapes(kernel=(7, 7, 3, 64), bias=(64,))"


@pytest.mark.parametrize("dims", [[1, 224, 224, 3], [1, 3, 224], [1, 3, 112, 224], [1, 3, 224, 112], [1, 1, 224, 224]])
def test_an_input_other_than_nchw_224_is_refused(zoo_model, small_shapes, tmp_path, dims):
    def reshape(graph):
        (value,) = [v for v in graph.input if v.name == "data_0"]
        value.CopyFrom(onnx.helper.make_tensor_value_info("data_0", onnx.TensorProto.FLOAT, dims))

    path = save(mutated(zoo_model, reshape), tmp_path / "changed.onnx")
    shape = str(tuple(dims)).replace("(", r"\(").replace(")", r"\)")
    with pytest.raises(ValueError, match=rf"input 'data_0' has shape {shape}; expected \(N, 3, 224, 224\) \(NCHW\)"):
        weights.onnx_weights(small_shapes, path)
