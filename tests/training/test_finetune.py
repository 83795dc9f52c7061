"""Fine-tuning from pretrained weights: what is copied, what is new, and freezing the pretrained layers."""

import keras
import numpy as np
import pytest

pytest.importorskip("onnx")  # the zoo-layout ONNX file

from inception_tf.training import finetune, train  # noqa: E402
from inception_tf.training.config import TrainConfig  # noqa: E402
from tests.models.weights_files import Conv2DCount  # noqa: E402


class RecordWeights(keras.callbacks.Callback):
    """The model's layer weights before training and at the end of each epoch."""

    def __init__(self, names):
        super().__init__()
        self.names, self.snapshots = names, []

    def snapshot(self):
        self.snapshots.append({name: [np.array(w) for w in self.model.get_layer(name).weights]
                               for name in self.names})

    def on_train_begin(self, logs=None):
        self.snapshot()

    def on_epoch_end(self, epoch, logs=None):
        self.snapshot()


@pytest.mark.slow
def test_finetuning_starts_from_the_file_with_a_new_head_and_freezes_first(zoo_files, tfds_dir, tmp_path):
    caffe, path = zoo_files()  # the session's zoo-layout file: Caffe-named OIHW weights, and its path
    recorder = RecordWeights(["conv1", "inception_4e", "logits"])
    config = TrainConfig(weights=path, freeze_epochs=1, epochs=2, steps_per_epoch=2, batch_size=4,
                         aux_logits=False, output_dir=str(tmp_path), data_dir=tfds_dir, verbose=0, seed=1)
    history = train.train(config, callbacks=[recorder])
    start, after_frozen, after_all = recorder.snapshots
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
