"""Helpers of the weights tests that need no ONNX: a previous version's converted file, and a layer counter."""

import h5py
import keras

from inception_tf import GoogLeNet


def previous_version_file(path):
    """A converted file as the previous version wrote it: `model.save_weights` of its 1000-class GoogLeNet
    without preprocessing (named `googlenet_imagenet`), then a root attribute naming the preprocessing."""
    GoogLeNet(input_shape=(None, None, 3), include_preprocessing=False, data_format="channels_last",
              implementation="standard", name="googlenet_imagenet").save_weights(str(path))
    with h5py.File(path, "a") as handle:
        handle.attrs["inception_tf.preprocessing"] = "caffe"
    return str(path)


class Conv2DCount:
    """Counts `keras.layers.Conv2D` constructions: 57 per GoogLeNet without auxiliary heads, 59 with."""

    def __init__(self, monkeypatch):
        self.count, original = 0, keras.layers.Conv2D.__init__

        def counted(layer, *args, **kwargs):
            self.count += 1
            original(layer, *args, **kwargs)

        monkeypatch.setattr(keras.layers.Conv2D, "__init__", counted)
