"""Fine-tuning from pretrained weights: a new classifier on the pretrained network, optionally frozen first.

`pretrained_start(config, num_classes)` builds the model a `TrainConfig`
asks for and copies into it every weight of the pretrained GoogLeNet (e.g.
Caffe's ImageNet weights) whose layer exists in both with the same shapes:
everything but the 1000-class classifier (`logits`) and the auxiliary heads,
which start fresh. The model keeps the pretrained preprocessing. With
`freeze_epochs=N`, `FreezePretrained` trains only the new layers for the first
N epochs, then all of them.
"""

import logging

import keras

from inception_tf.models.googlenet import GoogLeNet
from inception_tf.models.pretrained import IMAGENET_CLASSES
from inception_tf.models.preprocessing import ImagePreprocessing

logger = logging.getLogger("inception_tf")


def _preprocessing_mode(model):
    for layer in model.layers:
        if isinstance(layer, ImagePreprocessing):
            return layer.mode
    return None


def transfer_weights(source, target):
    """Copies every layer's weights from `source` to the `target` layer of the same name and shapes.

    Returns:
        The names of the target layers that received weights; the others keep theirs.
    """
    copied = []
    for layer in target.layers:
        try:
            origin = source.get_layer(layer.name)
        except ValueError:
            continue
        values = origin.get_weights()
        if values and [v.shape for v in values] == [tuple(w.shape) for w in layer.weights]:
            layer.set_weights(values)
            copied.append(layer.name)
    return copied


def pretrained_start(config, num_classes):
    """The model `config` describes, started from `config.weights` with a new `num_classes` classifier.

    Returns:
        `(model, pretrained_layer_names)`.
    """
    size = config.resolved_image_size()
    source = GoogLeNet(input_shape=(size, size, 3), classes=IMAGENET_CLASSES, weights=config.weights)
    options = {} if config.dropout_rate is None else {"dropout_rate": config.dropout_rate}
    model = GoogLeNet(input_shape=(size, size, 3), classes=num_classes, aux_logits=config.aux_logits,
                      preprocessing_mode=_preprocessing_mode(source), **options)
    copied = transfer_weights(source, model)
    new = [layer.name for layer in model.layers if layer.weights and layer.name not in copied]
    logger.info("Started from %s: %d layers pretrained, new: %s", config.weights, len(copied), ", ".join(new))
    return model, copied


class FreezePretrained(keras.callbacks.Callback):
    """Keeps the pretrained layers frozen for the first `epochs` epochs of `fit`, then trains them too.

    The optimizer must be built on every variable before training (see
    `build_optimizer_for_all`), so that unfreezing only adds variables it already
    tracks; the train function is traced again when the trainable set changes.
    A run resumed after the frozen epochs starts unfrozen.
    """

    def __init__(self, layer_names, epochs):
        super().__init__()
        self.layer_names, self.epochs = list(layer_names), int(epochs)
        self.frozen = None

    def set_frozen(self, model, frozen):
        if frozen == self.frozen:
            return False
        for name in self.layer_names:
            model.get_layer(name).trainable = not frozen
        self.frozen = frozen
        return True

    def on_epoch_begin(self, epoch, logs=None):
        if self.set_frozen(self.model, epoch < self.epochs):
            logger.info("Epoch %d: pretrained layers %s", epoch + 1, "frozen" if self.frozen else "trained")
            self.model.make_train_function(force=True)


def build_optimizer_for_all(model):
    """Builds `model.optimizer` on all of `model`'s trainable variables (before any are frozen)."""
    model.optimizer.build(model.trainable_variables)
