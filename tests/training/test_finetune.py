"""Fine-tuning from pretrained weights: what is copied, what is new, and freezing the pretrained layers."""

import keras
import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from inception_tf.training import train  # noqa: E402
from inception_tf.training.config import TrainConfig  # noqa: E402


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
    caffe, path = zoo_files()  # Caffe-named OIHW weights, and the zoo-layout file holding them
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
