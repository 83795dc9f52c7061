"""The converted weights file (arrays by layer path), loading as assignment into the one model, and what is refused.

Expected values come from outside the code under test: the ONNX file's own initializers read
with `onnx.numpy_helper` (transposed OIHW -> HWIO, the classifier's (1000, 1024) transposed),
h5py reading the written file directly, onnxruntime running the zoo-layout file.
"""

import dataclasses
import hashlib
import shutil

import h5py
import keras
import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import numpy_helper  # noqa: E402

from inception_tf import GoogLeNet  # noqa: E402
from inception_tf.models import pretrained, published_weights  # noqa: E402
from tests.models import weights_files, zoo_onnx  # noqa: E402

# Our layer path for each Caffe layer of bvlc_googlenet (REFERENCES.md's names; ours from the README's layer list).
STEM = {"conv1/7x7_s2": "conv1", "conv2/3x3_reduce": "conv2_reduce", "conv2/3x3": "conv2"}


def our_path(caffe_name):
    if caffe_name in STEM:
        return STEM[caffe_name]
    module, branch = caffe_name.split("/")
    return f"{module}/branch_{branch}"


@pytest.fixture(scope="module")
def zoo_file(zoo_files):
    """The session's zoo-layout file with a wider classifier, whose probabilities spread (as tests/test_cli_convert.py's)."""
    return zoo_files(seed=8, classifier_std=0.05)[1]


@pytest.fixture(scope="module")
def onnx_arrays(zoo_file):
    """Our layer path -> {"kernel", "bias"} in our layout, read from the ONNX file's initializers."""
    initializers = {t.name: numpy_helper.to_array(t) for t in onnx.load(zoo_file).graph.initializer}
    arrays = {our_path(name): {"kernel": np.transpose(initializers[f"{name}_w_0"], (2, 3, 1, 0)),
                               "bias": initializers[f"{name}_b_0"]} for name in zoo_onnx.conv_shapes()}
    arrays["logits"] = {"kernel": initializers["loss3/classifier_w_0"].T, "bias": initializers["loss3/classifier_b_0"]}
    return arrays


@pytest.fixture(scope="module")
def converted(zoo_file, tmp_path_factory):
    return pretrained.convert_onnx(zoo_file, tmp_path_factory.mktemp("converted") / "googlenet.weights.h5")


def test_the_file_holds_the_onnx_arrays_by_layer_path(zoo_file, onnx_arrays, converted):
    with h5py.File(converted, "r") as handle:
        names = []
        handle.visititems(lambda name, item: names.append(name) if isinstance(item, h5py.Dataset) else None)
        assert sorted(names) == sorted(f"{path}/{weight}" for path in onnx_arrays for weight in ("kernel", "bias"))
        assert len(names) == 2 * (3 + 9 * 6 + 1)
        for path, values in onnx_arrays.items():
            for weight, value in values.items():
                np.testing.assert_array_equal(handle[f"{path}/{weight}"][()], value)
        assert handle["logits/kernel"].shape == (1024, 1000) and handle["conv1/kernel"].shape == (7, 7, 3, 64)
        attributes = dict(handle.attrs)
    assert attributes["inception_tf.format"] == "layer_arrays" and attributes["inception_tf.format_version"] == 2
    assert attributes["inception_tf.weights"] == "imagenet"
    assert attributes["inception_tf.source_sha256"] == hashlib.sha256(open(zoo_file, "rb").read()).hexdigest()


def test_the_converted_file_computes_onnxruntimes_function(zoo_file, converted):
    rgb = np.random.default_rng(3).uniform(0, 255, (2, 224, 224, 3)).astype(np.float32)
    session = ort.InferenceSession(zoo_file, providers=["CPUExecutionProvider"])
    expected = np.concatenate([session.run(["prob_0"], {"data_0": zoo_onnx.caffe_input(rgb[i:i + 1])})[0]
                               for i in range(2)])
    model = GoogLeNet(weights=converted)
    assert model.get_layer("preprocessing").mode == "caffe"
    np.testing.assert_allclose(np.asarray(model(rgb)), expected, rtol=0, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("source", ["converted", "onnx", "imagenet"])
def test_loading_builds_no_second_model(source, zoo_file, converted, onnx_arrays, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    (tmp_path / "models").mkdir()
    shutil.copy(zoo_file, tmp_path / "models" / "googlenet-7.onnx")
    digest = hashlib.sha256(open(zoo_file, "rb").read()).hexdigest()
    monkeypatch.setitem(published_weights.PUBLISHED, "imagenet",
                        dataclasses.replace(published_weights.IMAGENET, sha256=digest))
    counter = weights_files.Conv2DCount(monkeypatch)
    GoogLeNet(input_shape=(32, 32, 3))
    one_model = counter.count
    assert one_model == 3 + 9 * 6
    weights = {"converted": converted, "onnx": zoo_file, "imagenet": "imagenet"}[source]
    model = GoogLeNet(input_shape=(32, 32, 3), weights=weights)  # "imagenet" converts into the cache first
    assert counter.count == 2 * one_model
    np.testing.assert_array_equal(model.get_layer("inception_5b").sublayer("branch_5x5").kernel.numpy(),
                                  onnx_arrays["inception_5b/branch_5x5"]["kernel"])
    np.testing.assert_array_equal(model.get_layer("logits").kernel.numpy(), onnx_arrays["logits"]["kernel"])


def test_converting_builds_no_model(zoo_file, tmp_path, monkeypatch):
    counter = weights_files.Conv2DCount(monkeypatch)
    pretrained.convert_onnx(zoo_file, tmp_path / "out.weights.h5")
    assert counter.count == 0


@pytest.mark.slow
@pytest.mark.parametrize("source", ["converted", "onnx"])
def test_a_new_classifier_keeps_its_initialisation_and_every_other_layer_is_loaded(
        source, zoo_file, converted, onnx_arrays):
    weights = converted if source == "converted" else zoo_file
    keras.utils.set_random_seed(21)
    fresh = GoogLeNet(input_shape=(32, 32, 3), classes=7)
    keras.utils.set_random_seed(21)
    model = GoogLeNet(input_shape=(32, 32, 3), classes=7, weights=weights)
    assert model.get_layer("preprocessing").mode == "caffe"  # the pretrained input convention stays
    for path, values in onnx_arrays.items():
        if path == "logits":
            continue
        module, _, sublayer = path.partition("/")
        layer = model.get_layer(module).sublayer(sublayer) if sublayer else model.get_layer(module)
        np.testing.assert_array_equal(layer.kernel.numpy(), values["kernel"])
        np.testing.assert_array_equal(layer.bias.numpy(), values["bias"])
    assert model.get_layer("logits").kernel.shape == (1024, 7)
    for new, initial in zip(model.get_layer("logits").weights, fresh.get_layer("logits").weights):
        np.testing.assert_array_equal(new.numpy(), initial.numpy())
    assert not np.array_equal(model.get_layer("conv1").kernel.numpy(), fresh.get_layer("conv1").kernel.numpy())
    features = GoogLeNet(input_shape=(32, 32, 3), include_top=False, pooling="avg", weights=weights)
    np.testing.assert_array_equal(features.get_layer("conv2").kernel.numpy(), onnx_arrays["conv2"]["kernel"])


def test_a_file_of_the_previous_version_is_refused_saying_to_convert_again(tmp_path):
    path = weights_files.previous_version_file(tmp_path / "googlenet_imagenet.weights.h5")
    with pytest.raises(ValueError, match=r"googlenet_imagenet\.weights\.h5 was converted by a previous version of "
                                         r"inception_tf .* inception-tf convert googlenet-7\.onnx --output"):
        GoogLeNet(input_shape=(32, 32, 3), weights=path)


def _changed(converted, tmp_path, change):
    path = tmp_path / "changed.weights.h5"
    shutil.copy(converted, path)
    with h5py.File(path, "a") as handle:
        change(handle)
    return str(path)


def _reshape(name, shape):
    def change(handle):
        del handle[name]
        handle.create_dataset(name, data=np.zeros(shape, np.float32))
    return change


def _delete(name):
    def change(handle):
        del handle[name]
    return change


def _add(name, shape):
    def change(handle):
        handle.create_dataset(name, data=np.zeros(shape, np.float32))
    return change


def _attribute(name, value):
    def change(handle):
        handle.attrs[name] = value
    return change


@pytest.mark.parametrize("change,classes,message", [
    (_reshape("inception_4c/branch_5x5/kernel", (3, 3, 24, 64)), 1000,
     r"layer 'inception_4c/branch_5x5' needs a kernel of shape \(5, 5, 24, 64\); the array for it has shape "
     r"\(3, 3, 24, 64\)"),
    (_reshape("conv2/bias", (190,)), 7, r"layer 'conv2' needs a bias of shape \(192,\); the array for it has shape \(190,\)"),
    (_reshape("logits/kernel", (1024, 999)), 1000, r"layer 'logits' needs a kernel of shape \(1024, 1000\)"),
    (_delete("inception_3a/branch_pool_proj/bias"), 7, r"no bias for layer 'inception_3a/branch_pool_proj'"),
    (_delete("conv1"), 1000, r"no kernel or bias for layer 'conv1'"),
    (_add("aux1_conv/kernel", (1, 1, 512, 128)), 1000, r"arrays for no layer of GoogLeNet: \['aux1_conv/kernel'\]"),
    (_attribute("inception_tf.format_version", 3), 1000,
     r"declares inception_tf.format='layer_arrays' version 3; this version of inception_tf reads 'layer_arrays' "
     r"version 2\. Convert the ONNX file again"),
    (_attribute("inception_tf.weights", "imagenet21k"), 1000, r"Unknown published weights 'imagenet21k'; known: 'imagenet'"),
])
def test_a_file_that_does_not_fit_is_refused_by_layer(converted, tmp_path, change, classes, message):
    path = _changed(converted, tmp_path, change)
    with pytest.raises(ValueError, match=message):
        GoogLeNet(input_shape=(32, 32, 3), classes=classes, weights=path)


def test_a_skipped_classifier_is_not_read(converted, tmp_path):
    """Fine-tuning needs no classifier in the file: one of another shape is neither read nor refused."""
    path = _changed(converted, tmp_path, _reshape("logits/kernel", (1024, 999)))
    model = GoogLeNet(input_shape=(32, 32, 3), classes=7, weights=path)
    with h5py.File(converted, "r") as handle:
        np.testing.assert_array_equal(model.get_layer("conv1").kernel.numpy(), handle["conv1/kernel"][()])


def test_what_weights_names(zoo_file, converted, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "imagenet").write_bytes(b"a file named like the record")
    assert pretrained.resolve("imagenet") == pretrained.WeightsSource("published", None, published_weights.IMAGENET)
    assert pretrained.resolve(zoo_file).kind == "onnx" and pretrained.resolve(converted).kind == "converted"
    assert pretrained.resolve(converted).record is published_weights.IMAGENET
    (tmp_path / "mine").write_bytes(b"")  # an existing file without a dot is a path, not a record name
    assert pretrained.resolve("mine") == pretrained.WeightsSource("keras", "mine")
    with pytest.raises(ValueError, match=r"Unknown published weights 'imagenet21k'; known: 'imagenet'"):
        pretrained.resolve("imagenet21k")
    with pytest.raises(FileNotFoundError, match=r"weights file 'imagenet\.h5' does not exist"):
        pretrained.resolve("imagenet.h5")


def test_a_source_is_frozen_and_preprocesses_as_its_record_says():
    source = pretrained.resolve("imagenet")
    assert source.preprocessing == "caffe"
    with pytest.raises(dataclasses.FrozenInstanceError):
        source.kind = "keras"
    # A Keras weights file has no record: the models' own default, `x / 127.5 - 1` (ImagePreprocessing "tf").
    assert pretrained.WeightsSource("keras", "model.weights.h5").preprocessing == "tf"
    assert pretrained.preprocessing_mode(None) == "tf" and pretrained.preprocessing_mode(source) == "caffe"


def test_the_cache_is_keras_own(monkeypatch, tmp_path):
    # keras.utils.get_file's cache: $KERAS_HOME, else ~/.keras.
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    assert pretrained.keras_home() == str(tmp_path / "keras_home")
    monkeypatch.delenv("KERAS_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert pretrained.keras_home() == str(tmp_path / ".keras")


def test_weights_of_another_type_are_refused_listing_every_record(monkeypatch):
    other = dataclasses.replace(published_weights.IMAGENET, name="other")
    monkeypatch.setitem(published_weights.PUBLISHED, "other", other)
    with pytest.raises(ValueError, match=r"^weights must be None, 'imagenet', 'other', or the path of a \.onnx or "
                                         r"weights file\. Received: weights=3$"):
        pretrained.resolve(3)


def test_unknown_arrays_are_named_five_at_most(converted, tmp_path):
    names = [f"extra_{i}/kernel" for i in range(6)]

    def add(count):
        def change(handle):
            for name in names[:count]:
                handle.create_dataset(name, data=np.zeros((1,), np.float32))
        return change

    listed = ", ".join(repr(name) for name in names[:5])
    path = _changed(converted, tmp_path, add(5))
    with pytest.raises(ValueError, match=rf": arrays for no layer of GoogLeNet: \[{listed}\]\.$"):
        pretrained.read_layer_arrays(path)
    path = _changed(converted, tmp_path, add(6))
    with pytest.raises(ValueError, match=rf": arrays for no layer of GoogLeNet: \[{listed}\] \.\.\.\.$"):
        pretrained.read_layer_arrays(path)


def test_converting_replaces_an_existing_file_unless_told_not_to(zoo_file, tmp_path):
    output = tmp_path / "out.weights.h5"
    output.write_bytes(b"an older file")
    assert pretrained.convert_onnx(zoo_file, output) == str(output)  # replaced by default
    assert pretrained.resolve(str(output)).kind == "converted"
    with pytest.raises(FileExistsError, match=r"out\.weights\.h5 already exists; pass overwrite=True"):
        pretrained.convert_onnx(zoo_file, output, overwrite=False)
    fresh = tmp_path / "fresh.weights.h5"
    assert pretrained.convert_onnx(zoo_file, fresh, overwrite=False) == str(fresh)


def test_a_cached_file_that_declares_no_record_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    (tmp_path / "models").mkdir()
    cached = tmp_path / "models" / published_weights.IMAGENET.converted_file_name
    with h5py.File(cached, "w") as handle:  # an HDF5 file that declares nothing: a Keras weights file
        handle.create_dataset("layers/dense/vars/0", data=np.zeros((1,), np.float32))
    with pytest.raises(ValueError, match=r"does not declare the weights 'imagenet'; delete it to convert them again"):
        GoogLeNet(input_shape=(32, 32, 3), weights="imagenet")


def test_the_auxiliary_heads_warning_points_at_the_callers_line_and_only_when_asked(converted, recwarn):
    GoogLeNet(input_shape=(32, 32, 3), weights=converted, aux_logits=True)
    (warning,) = [w for w in recwarn if issubclass(w.category, UserWarning)]
    assert str(warning.message).startswith("Caffe's ImageNet weights have no auxiliary classifiers")
    assert warning.filename == __file__  # the user's GoogLeNet(...) call, not the package's code
    recwarn.clear()
    model = GoogLeNet(input_shape=(32, 32, 3))
    pretrained.load(model, pretrained.resolve(converted))  # aux_logits left out: nothing to warn of
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]


def test_an_array_of_the_published_weights_that_does_not_fit_names_the_record(converted, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    (tmp_path / "keras_home" / "models").mkdir(parents=True)
    changed = _changed(converted, tmp_path, _reshape("logits/kernel", (1024, 999)))
    shutil.copy(changed, tmp_path / "keras_home" / "models" / published_weights.IMAGENET.converted_file_name)
    with pytest.raises(ValueError, match=r"^imagenet: layer 'logits' needs a kernel of shape \(1024, 1000\)"):
        GoogLeNet(input_shape=(32, 32, 3), weights="imagenet")


def test_the_source_file_is_fetched_into_a_cache_that_does_not_exist_yet(zoo_file, tmp_path):
    with open(zoo_file, "rb") as handle:
        digest = hashlib.sha256(handle.read()).hexdigest()
    record = dataclasses.replace(published_weights.IMAGENET, url=f"file://{zoo_file}", sha256=digest)
    cache_dir = tmp_path / "fresh_keras_home"  # neither it nor models/ exists: get_file would fall back to /tmp
    path = pretrained.fetch_onnx(record, cache_dir=str(cache_dir))
    assert path == str(cache_dir / "models" / "googlenet-7.onnx")
    assert (cache_dir / "models" / "googlenet-7.onnx").read_bytes() == open(zoo_file, "rb").read()
