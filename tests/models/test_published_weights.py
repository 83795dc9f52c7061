"""The published weights' records: their fields as the sources publish them, the registry, and the builder reading them.

The expected values are typed here from /work/shared/REFERENCES.md and the sources it names
(the ONNX model zoo's googlenet-7.onnx: URL, sha256, size; Caffe's models/bvlc_googlenet/readme.md:
"top-1 accuracy 68.7% ... top-5 accuracy 88.9% ... on the validation set, using just the center crop";
ILSVRC 2012's validation set has 50,000 images; Caffe's synset_words.txt order).
"""

import dataclasses
import subprocess
import sys

import numpy as np
import pytest

from inception_tf.models import published_weights


def test_imagenet_is_the_zoos_googlenet_7():
    record = published_weights.IMAGENET
    assert record.url == ("https://github.com/onnx/models/raw/main/validated/vision/classification/"
                          "inception_and_googlenet/googlenet/model/googlenet-7.onnx")
    assert record.file_name == "googlenet-7.onnx"
    assert record.sha256 == "5725ccfd90845735ce5897faf7843c3f9b13acda3c4f3bff82cb21c9337c9de8"
    assert record.size == 28_020_232
    assert record.num_classes == 1000
    # The cache name the README gives; the first release's cache (another layout) was googlenet-7.inception_tf.weights.h5.
    assert record.converted_file_name == "googlenet-7.inception_tf-v2.weights.h5"


def test_imagenet_metrics_and_protocol_are_caffes():
    record = published_weights.IMAGENET
    metrics = record.metrics
    assert (metrics.top1, metrics.top5) == (0.687, 0.889)
    assert metrics.dataset == "ILSVRC 2012 validation set" and metrics.images == 50_000 and metrics.crops == 1
    assert metrics.protocol == "a single 224x224 centre crop of each image (Caffe's test-time crop_size 224 from 256)"
    assert metrics.source == "BVLC/caffe models/bvlc_googlenet/readme.md"
    # Caffe's train_val.prototxt: BGR minus the mean pixel; evaluated at 224 after a centre crop.
    assert (record.preprocessing, record.geometry, record.input_size) == ("caffe", "crop", 224)


def test_class_names_are_synset_words_in_output_order():
    names = published_weights.IMAGENET.class_names()
    assert len(names) == 1000 and len(set(names)) > 990  # a few lemmas repeat (crane, maillot)
    assert names[:3] == ("tench", "goldfish", "great_white_shark") and names[999] == "toilet_tissue"


def test_a_record_is_frozen_and_a_wrong_class_list_is_named():
    with pytest.raises(dataclasses.FrozenInstanceError):
        published_weights.IMAGENET.sha256 = "0" * 64
    with pytest.raises(dataclasses.FrozenInstanceError):
        published_weights.IMAGENET.metrics.top1 = 0.9
    short = dataclasses.replace(published_weights.IMAGENET, name="short", categories=lambda: (("n0", "a", "a"),))
    with pytest.raises(ValueError, match="weights 'short' declare 1000 classes; their list has 1"):
        short.class_names()


def test_records_compare_and_print_by_their_declared_fields_not_their_class_list_loader():
    same_classes = dataclasses.replace(published_weights.IMAGENET, categories=published_weights.IMAGENET.categories)
    reloaded = dataclasses.replace(published_weights.IMAGENET, categories=lambda: same_classes.categories())
    assert reloaded == published_weights.IMAGENET and hash(reloaded) == hash(published_weights.IMAGENET)
    assert dataclasses.replace(published_weights.IMAGENET, sha256="0" * 64) != published_weights.IMAGENET
    text = repr(published_weights.IMAGENET)
    assert "categories" not in text and "function" not in text and "top1=0.687" in text


def test_imagenet_resolves_to_one_record_and_an_unknown_name_lists_the_known():
    assert published_weights.resolve("imagenet") is published_weights.IMAGENET
    assert list(published_weights.PUBLISHED) == ["imagenet"]
    with pytest.raises(ValueError, match=r"Unknown published weights 'imagenet21k'; known: 'imagenet'\."):
        published_weights.resolve("imagenet21k")


def test_the_records_and_the_loader_import_without_tensorflow():
    """A fresh interpreter: the records (and `pretrained`, which reads them) load neither Keras nor TensorFlow."""
    code = ("import sys; import inception_tf.models.published_weights, inception_tf.models.pretrained; "
            "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.slow
def test_another_record_is_one_more_entry_and_the_builder_takes_its_preprocessing(zoo_file, tmp_path, monkeypatch):
    """A second record, its converted file in the cache: GoogLeNet loads it and preprocesses as that record says.

    The session's zoo-layout file stands for the second record's source.
    """
    from inception_tf import GoogLeNet
    from inception_tf.models import pretrained

    other = dataclasses.replace(published_weights.IMAGENET, name="other", preprocessing="tf",
                                converted_file_name="other.weights.h5")
    monkeypatch.setitem(published_weights.PUBLISHED, "other", other)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    (tmp_path / "keras_home" / "models").mkdir(parents=True)
    cached = tmp_path / "keras_home" / "models" / "other.weights.h5"
    pretrained.convert_onnx(zoo_file, cached)  # declares "imagenet": not this record's file
    with pytest.raises(ValueError, match=r"other\.weights\.h5 does not declare the weights 'other'; delete it"):
        GoogLeNet(input_shape=(32, 32, 3), weights="other")
    pretrained.convert_onnx(zoo_file, cached, record=other)
    model = GoogLeNet(input_shape=(32, 32, 3), weights="other")
    assert model.get_layer("preprocessing").mode == "tf"
    caffe = GoogLeNet(input_shape=(32, 32, 3), weights=zoo_file)
    assert caffe.get_layer("preprocessing").mode == "caffe"
    np.testing.assert_array_equal(model.get_layer("conv1").kernel.numpy(), caffe.get_layer("conv1").kernel.numpy())
