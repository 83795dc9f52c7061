"""One table of what each model needs: builder, input, and training recipe.

`RECIPES` drives training (`TrainConfig` defaults), the cost report, the
command line's choices and the benchmark, in place of per-model branches.
The optimizer is described as data; `inception_tf.training` turns it into
Keras objects. Nothing here imports Keras until a model is built.
"""

import dataclasses

from inception_tf.models.architecture import GOOGLENET_IMAGE_SIZE, SLIDENET_IMAGE_SIZE


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A model and how it is trained.

    Attributes:
        name: str. The name used by `TrainConfig.model` and `--model`.
        builder: callable `(input_shape, classes, aux_logits, dropout_rate,
            weights) -> keras.Model`.
        image_size: int. Default input height and width.
        fixed_image_size: bool. Whether the model takes only `image_size`.
        channels: int. Input channels (3 for RGB, 1 for grey).
        optimizer: str. `"sgd"` (with `momentum`) or `"adam"`.
        learning_rate: float. The initial learning rate.
        momentum: float. SGD momentum.
        lr_decay_rate: float or None. Multiplier of the learning rate every
            `lr_decay_epochs`; None keeps it constant.
        lr_decay_epochs: float. Epochs between learning-rate cuts.
        has_aux_heads: bool. Whether the model can train auxiliary classifiers.
        source: str. Where the recipe comes from.
    """

    name: str
    builder: object
    image_size: int
    fixed_image_size: bool
    channels: int
    optimizer: str
    learning_rate: float
    momentum: float = 0.0
    lr_decay_rate: float = None
    lr_decay_epochs: float = 8.0
    has_aux_heads: bool = False
    source: str = ""

    def build(self, image_size=None, classes=1000, aux_logits=False, dropout_rate=None, weights=None):
        """The Keras model for this recipe: `(B, size, size, channels)` pixels in [0, 255] -> probabilities."""
        size = image_size or self.image_size
        if self.fixed_image_size and size != self.image_size:
            raise ValueError(
                f"{self.name} takes {self.image_size}x{self.image_size} images. Received: image_size={size}"
            )
        return self.builder(input_shape=(size, size, self.channels), classes=classes,
                            aux_logits=aux_logits and self.has_aux_heads, dropout_rate=dropout_rate, weights=weights)


def _googlenet(input_shape, classes, aux_logits, dropout_rate, weights):
    from inception_tf.models.googlenet import GoogLeNet

    options = {} if dropout_rate is None else {"dropout_rate": dropout_rate}
    return GoogLeNet(input_shape=input_shape, classes=classes, aux_logits=aux_logits, weights=weights, **options)


def _slidenet(input_shape, classes, aux_logits, dropout_rate, weights):
    if weights is not None:
        raise ValueError(f"slidenet has no pretrained weights. Received: weights={weights!r}")
    from inception_tf.models.googlenet import SlideNet

    return SlideNet(input_shape=input_shape, classes=classes)


RECIPES = {
    "googlenet": Recipe(
        name="googlenet", builder=_googlenet, image_size=GOOGLENET_IMAGE_SIZE, fixed_image_size=False, channels=3,
        optimizer="sgd", learning_rate=0.01, momentum=0.9, lr_decay_rate=0.96, lr_decay_epochs=8.0,
        has_aux_heads=True,
        source="Szegedy et al. 2014, Section 6: SGD, momentum 0.9, learning rate cut 4% every 8 epochs",
    ),
    "slidenet": Recipe(
        name="slidenet", builder=_slidenet, image_size=SLIDENET_IMAGE_SIZE, fixed_image_size=True, channels=1,
        optimizer="adam", learning_rate=1e-4,
        source="T. Mulc 2016 (the slide's code): Adam, learning rate 1e-4",
    ),
}
MODELS = tuple(RECIPES)
# What `inception-tf costs` counts (slide 11's 28x28x192 example, or a model) and `plot` draws
# (`inception_tf.models.report`, `inception_tf.models.plot`), named here so the CLI offers them without Keras.
SLIDE_EXAMPLE = "slide11"
COST_REPORTS = (SLIDE_EXAMPLE, *MODELS)
DIAGRAMS = ("module", "googlenet")


def get_recipe(name):
    """The `Recipe` named `name`; a ValueError listing the choices otherwise."""
    if name not in RECIPES:
        raise ValueError(f"model must be one of {MODELS}. Received: model={name!r}")
    return RECIPES[name]
