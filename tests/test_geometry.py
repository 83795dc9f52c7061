"""The one definition of a model input that every way in prepares photos for (`geometry.square_input`)."""

import numpy as np
import pytest

from inception_tf import geometry
from tests.conftest import classifier_taking, square_input_refusal as refusal

REFUSED_SHAPES = [
    (None, 32, 24, 3),    # not square
    (None, 24, 32, 3),
    (None, None, None, 3),  # no fixed size
    (None, None, 32, 3),
    (None, 32, None, 3),
    (None, 32, 32, None),  # unknown channels
    (None, 32, 32, 2),     # neither grey nor RGB
    (None, 32, 32, 4),
    (None, 32, 32, 0),
    (None, 0, 0, 3),       # no pixels
    (None, 32, 3),         # not images
    (None, 32, 32, 32, 3),
]


@pytest.mark.parametrize("shape, expected", [((None, 32, 32, 3), (32, 3)), ((None, 224, 224, 1), (224, 1)),
                                             ((7, 1, 1, 3), (1, 3))])
def test_square_grey_or_rgb_images_give_their_size_and_channels(shape, expected):
    size, channels = geometry.square_input(shape, "predict")
    assert (size, channels) == expected
    assert type(size) is int and type(channels) is int


def test_sizes_given_as_numpy_integers_come_back_as_python_ints():
    size, channels = geometry.square_input([None, np.int64(24), np.int64(24), np.int64(3)], "x")
    assert (size, channels) == (24, 3) and type(size) is int and type(channels) is int


@pytest.mark.parametrize("shape", REFUSED_SHAPES)
@pytest.mark.parametrize("user", ["evaluate", "export_saved_model"])
def test_any_other_input_is_refused_naming_who_asks_and_the_shape(shape, user):
    with pytest.raises(ValueError, match=refusal(user, shape)):
        geometry.square_input(shape, user)


@pytest.mark.parametrize("shape", [(32, 24, 3), (32, 32, 4)])
def test_predict_and_evaluate_refuse_what_they_cannot_prepare_before_any_work(shape):
    from inception_tf.evaluation import evaluate
    from inception_tf.serving import predict

    model = classifier_taking(shape)
    image = np.zeros((40, 40, 3), np.uint8)
    with pytest.raises(ValueError, match=refusal("predict", (None, *shape))):
        predict.keras_probabilities(model, [image])
    with pytest.raises(ValueError, match=refusal("evaluate", (None, *shape))):
        evaluate.evaluate_protocol(model, iter([]), crops=1, progress=False)
