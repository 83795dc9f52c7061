"""Fine-tuning from pretrained weights: a new classifier on the pretrained network, optionally frozen first.

`pretrained_start(config, num_classes)` builds the one model a `TrainConfig`
asks for and assigns to it every pretrained array (e.g. Caffe's ImageNet
weights) but the classifier's (`logits`): the convolutions come from the
weights, the classifier for `num_classes` and the auxiliary heads start fresh.
The model keeps the pretrained preprocessing. With `freeze_epochs=N`,
`FreezePretrained` trains only the new layers for the first N epochs, then all
of them.
"""

import logging

import keras

from inception_tf.models import pretrained
from inception_tf.models.googlenet import GoogLeNet

logger = logging.getLogger("inception_tf")


def pretrained_start(config, num_classes):
    """The model `config` describes, started from `config.weights` with a new `num_classes` classifier.

    Returns:
        `(model, pretrained_layer_names)`: the names of the model's layers that received
        pretrained arrays (`conv1`, ..., `inception_5b`), in network order.

    Raises:
        ValueError: `config.weights` cannot start a fine-tuning run (a Keras weights file,
            which loads whole), or its arrays do not fit the model (the message names the layer).
    """
    size = config.resolved_image_size()
    source = pretrained.resolve(config.weights)
    options = {} if config.dropout_rate is None else {"dropout_rate": config.dropout_rate}
    model = GoogLeNet(input_shape=(size, size, 3), classes=num_classes, aux_logits=config.aux_logits,
                      preprocessing_mode=pretrained.preprocessing_mode(source), **options)
    loaded = pretrained.load(model, source, skip=(pretrained.CLASSIFIER,), aux_logits=config.aux_logits)
    names = {path.partition("/")[0] for path in loaded}
    copied = [layer.name for layer in model.layers if layer.name in names]
    new = [layer.name for layer in model.layers if layer.weights and layer.name not in names]
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
