"""Shared fixtures: a quiet TensorFlow, a fresh dtype policy, seeded randomness."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _float32_policy():
    """Every test starts and ends under the float32 policy."""
    keras.config.set_dtype_policy("float32")
    yield
    keras.config.set_dtype_policy("float32")


@pytest.fixture
def rng():
    return np.random.default_rng(1409_4842)




@pytest.fixture(scope="session")
def small_googlenet():
    """A 32x32, 10-class GoogLeNet with auxiliary heads (random weights), built once."""
    from inception_tf import GoogLeNet

    keras.utils.set_random_seed(5)
    return GoogLeNet(input_shape=(32, 32, 3), classes=10, aux_logits=True)


@pytest.fixture(scope="session")
def exported(small_googlenet, tmp_path_factory):
    """(version directory, class names) of `small_googlenet` exported once."""
    from inception_tf import export

    names = [f"class_{i}" for i in range(10)]
    base = tmp_path_factory.mktemp("saved_models") / "googlenet"
    return export.export_saved_model(small_googlenet, str(base), class_names=names), names
