"""Fine-tuning from pretrained weights: what is copied, what is new, and freezing the pretrained layers."""

import logging

import h5py
import keras
import numpy as np
import pytest

pytest.importorskip("onnx")  # the zoo-layout ONNX file

from inception_tf.models import pretrained  # noqa: E402
from inception_tf.training import finetune, train  # noqa: E402
from inception_tf.training.config import TrainConfig  # noqa: E402
from tests.models.weights_files import Conv2DCount  # noqa: E402


class LayerSnapshots(keras.callbacks.Callback):
    """Layer weights before training and at the end of each epoch, and which layers each epoch trains.

    Args:
        names: the layers to record, or None for every layer of the model.
    """

    def __init__(self, names=None):
        super().__init__()
        self.names, self.snapshots, self.trainable = names, [], []

    def layers(self):
        return self.model.layers if self.names is None else [self.model.get_layer(name) for name in self.names]

    def snapshot(self):
        self.snapshots.append({layer.name: [np.array(w) for w in layer.weights] for layer in self.layers()})

    def on_train_begin(self, logs=None):
        self.snapshot()

    def on_epoch_begin(self, epoch, logs=None):  # after the run's own callbacks, which freeze and unfreeze
        self.trainable.append({layer.name: layer.trainable for layer in self.layers()})

    def on_epoch_end(self, epoch, logs=None):
        self.snapshot()


@pytest.mark.slow
def test_finetuning_starts_from_the_file_with_a_new_head_and_freezes_first(zoo_files, tfds_dir, tmp_path,
                                                                           monkeypatch):
    caffe, path = zoo_files()  # the session's zoo-layout file: Caffe-named OIHW weights, and its path
    recorder = LayerSnapshots(["conv1", "inception_4e", "logits"])
    config = TrainConfig(weights=path, freeze_epochs=1, epochs=2, steps_per_epoch=2, batch_size=4,
                         aux_logits=False, output_dir=str(tmp_path), data_dir=tfds_dir, verbose=0, seed=1)
    retraced = []  # the epochs at whose start the train function was traced again
    make_train_function = keras.Model.make_train_function

    def recording_make_train_function(self, force=False):
        if force:
            retraced.append(len(recorder.trainable))
        return make_train_function(self, force=force)

    monkeypatch.setattr(keras.Model, "make_train_function", recording_make_train_function)
    history = train.train(config, callbacks=[recorder])
    # Frozen before fit traces the train step: GoogLeNet's step is traced again only when epoch 2 unfreezes.
    assert retraced == [1]
    start, after_frozen, after_all = recorder.snapshots
    # The frozen layers are marked so (what `model.summary()` shows), not only left unchanged.
    assert recorder.trainable == [{"conv1": False, "inception_4e": False, "logits": True},
                                  {"conv1": True, "inception_4e": True, "logits": True}]
    # The pretrained kernels, from the file itself (Caffe's OIHW -> Keras' HWIO), not from our converter.
    np.testing.assert_array_equal(start["conv1"][0], np.transpose(caffe["conv1/7x7_s2_w_0"], (2, 3, 1, 0)))
    np.testing.assert_array_equal(start["conv1"][1], caffe["conv1/7x7_s2_b_0"])
    assert start["logits"][0].shape == (1024, 10)  # the digits' ten classes: a new classifier
    # Epoch 1: only the new classifier moves; epoch 2: everything trains.
    for name in ("conv1", "inception_4e"):
        for before, after in zip(start[name], after_frozen[name]):
            np.testing.assert_array_equal(before, after)
        assert any(np.abs(a - b).max() > 0 for a, b in zip(after_frozen[name], after_all[name]))
    assert np.abs(start["logits"][0] - after_frozen["logits"][0]).max() > 0
    saved = keras.models.load_model(history.artifacts["model"])
    assert saved.get_layer("preprocessing").mode == "caffe"  # the pretrained network's input convention


def test_freeze_epochs_without_weights_is_named():
    with pytest.raises(ValueError, match="freeze_epochs needs weights"):
        TrainConfig(freeze_epochs=2).validate()
    with pytest.raises(ValueError, match="slidenet has no pretrained weights"):
        TrainConfig(model="slidenet", weights="imagenet").validate()


def test_the_pretrained_start_is_one_model_with_every_array_but_the_classifier(zoo_files, monkeypatch, recwarn):
    caffe, path = zoo_files()
    counter = Conv2DCount(monkeypatch)
    config = TrainConfig(weights=path, aux_logits=True, image_size=96)
    model, pretrained_layers = finetune.pretrained_start(config, num_classes=1000)
    assert counter.count == 3 + 9 * 6 + 2  # one GoogLeNet: the stem, nine modules of six, two auxiliary heads
    assert pretrained_layers == ["conv1", "conv2_reduce", "conv2"] + [
        f"inception_{name}" for name in ("3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b")]
    conv = model.get_layer("inception_4e").sublayer("branch_3x3_reduce")
    np.testing.assert_array_equal(conv.kernel.numpy(), np.transpose(caffe["inception_4e/3x3_reduce_w_0"], (2, 3, 1, 0)))
    # A 1000-class dataset still gets a new classifier: the file's is not copied.
    assert model.get_layer("logits").kernel.shape == (1024, 1000)
    assert not np.allclose(model.get_layer("logits").kernel.numpy(), caffe["loss3/classifier_w_0"].T)
    assert not np.allclose(model.get_layer("logits").bias.numpy(), caffe["loss3/classifier_b_0"])
    assert model.get_layer("preprocessing").mode == "caffe"
    assert sum("aux1 and aux2 keep their random initialisation" in str(w.message) for w in recwarn) == 1


def test_a_keras_weights_file_cannot_start_fine_tuning(tmp_path):
    from inception_tf import GoogLeNet

    path = str(tmp_path / "whole.weights.h5")
    GoogLeNet(input_shape=(32, 32, 3), classes=3).save_weights(path)
    with pytest.raises(ValueError, match=r"whole\.weights\.h5 is a Keras weights file \(model\.save_weights\), "
                                         r"which loads whole: it cannot leave out \['logits'\]"):
        finetune.pretrained_start(TrainConfig(weights=path, aux_logits=False, image_size=32), num_classes=3)


@pytest.fixture(scope="module")
def converted_file(zoo_file, tmp_path_factory):
    """A converted weights file (`.weights.h5`, arrays by layer path) of the session's zoo-layout file."""
    return pretrained.convert_onnx(zoo_file, tmp_path_factory.mktemp("converted") / "googlenet.weights.h5")


def file_arrays(path):
    """Layer path -> {"kernel": ..., "bias": ...}, read from the HDF5 file itself."""
    arrays = {}
    with h5py.File(path, "r") as handle:
        def visit(name, item):
            if isinstance(item, h5py.Dataset):
                layer_path, _, weight = name.rpartition("/")
                arrays.setdefault(layer_path, {})[weight] = item[()]
        handle.visititems(visit)
    return arrays


def model_layer(model, layer_path):
    """The layer at `layer_path`: a top-level layer (`conv1`) or an Inception module's branch (`inception_3a/...`)."""
    top, _, branch = layer_path.partition("/")
    return model.get_layer(top).sublayer(branch) if branch else model.get_layer(top)


def test_every_array_of_the_file_but_the_classifiers_is_in_the_model_it_trains(converted_file, caplog):
    arrays = file_arrays(converted_file)
    assert len(arrays) == 3 + 9 * 6 + 1  # the stem, nine modules of six convolutions, the classifier
    config = TrainConfig(weights=converted_file, aux_logits=True, image_size=64, dropout_rate=0.25)
    with caplog.at_level(logging.INFO, logger="inception_tf"), pytest.warns(UserWarning, match="aux1 and aux2 keep"):
        model, pretrained_layers = finetune.pretrained_start(config, num_classes=7)
    for layer_path, values in arrays.items():
        if layer_path == "logits":
            continue
        layer = model_layer(model, layer_path)
        np.testing.assert_array_equal(layer.kernel.numpy(), values["kernel"], err_msg=layer_path)
        np.testing.assert_array_equal(layer.bias.numpy(), values["bias"], err_msg=layer_path)
    assert model.get_layer("logits").kernel.shape == (1024, 7)  # a new classifier for the 7 classes
    assert pretrained_layers == ["conv1", "conv2_reduce", "conv2"] + [
        f"inception_{name}" for name in ("3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b")]
    assert model.get_layer("dropout").rate == 0.25  # the config's dropout, not the model's default
    new = "aux1_conv, aux2_conv, aux1_fc, aux2_fc, aux1_logits, aux2_logits, logits"  # in network order
    assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records if r.getMessage().startswith("Started")] == [
        ("inception_tf", logging.INFO, f"Started from {converted_file}: 12 layers pretrained, new: {new}")]


def test_without_a_dropout_rate_fine_tuning_keeps_the_papers_forty_percent(converted_file):
    config = TrainConfig(weights=converted_file, aux_logits=False, image_size=64)
    model, _ = finetune.pretrained_start(config, num_classes=3)
    assert model.get_layer("dropout").rate == 0.4  # the paper's Table 1: dropout (40%) before the classifier


def small_pretrained_model():
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="pretrained"),
                              keras.layers.Dense(2, name="new")])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    finetune.build_optimizer_for_all(model)
    return model


def moved(before, after, name):
    return any(np.abs(a - b).max() > 0 for a, b in zip(before[name], after[name], strict=True))


def fit(model, callbacks, epochs, initial_epoch=0):
    x = np.random.default_rng(0).normal(size=(8, 4))
    y = np.random.default_rng(1).normal(size=(8, 2))
    model.fit(x, y, batch_size=4, epochs=epochs, initial_epoch=initial_epoch, verbose=0, callbacks=callbacks)


def freeze_messages(records):
    return [(r.name, r.getMessage()) for r in records if "pretrained layers" in r.getMessage()]


def test_freezing_trains_only_the_new_layers_for_the_first_epochs_then_every_layer(caplog):
    model, snapshots = small_pretrained_model(), LayerSnapshots()
    freeze = finetune.FreezePretrained(["pretrained"], epochs=2)
    assert freeze.model is None  # a Keras callback: it has no model until `fit` gives it one
    with caplog.at_level(logging.INFO, logger="inception_tf"):
        fit(model, [freeze, snapshots], epochs=4)
    start, epoch1, epoch2, epoch3, epoch4 = snapshots.snapshots
    for before, after in ((start, epoch1), (epoch1, epoch2)):  # the frozen epochs
        assert not moved(before, after, "pretrained") and moved(before, after, "new")
    for before, after in ((epoch2, epoch3), (epoch3, epoch4)):
        assert moved(before, after, "pretrained") and moved(before, after, "new")
    assert freeze_messages(caplog.records) == [  # said when it changes, with the epoch counted from 1
        ("inception_tf", "Epoch 1: pretrained layers frozen"), ("inception_tf", "Epoch 3: pretrained layers trained")]


def test_a_run_resumed_after_the_frozen_epochs_trains_every_layer(caplog):
    model, snapshots = small_pretrained_model(), LayerSnapshots()
    with caplog.at_level(logging.INFO, logger="inception_tf"):
        fit(model, [finetune.FreezePretrained(["pretrained"], epochs=2), snapshots], epochs=3, initial_epoch=2)
    start, epoch3 = snapshots.snapshots
    assert moved(start, epoch3, "pretrained") and moved(start, epoch3, "new")
    assert freeze_messages(caplog.records) == [("inception_tf", "Epoch 3: pretrained layers trained")]
