"""The package's TruncatedNormal: the bound, the distribution, seeds, dtypes, saving.

The expectations come from the normal distribution's formulas (`math.erf`),
not from the initializer: the CDF of a standard normal truncated at +-2 is
`(Phi(x) - Phi(-2)) / (Phi(2) - Phi(-2))`, its standard deviation
`sqrt(1 - 2 * 2 * phi(2) / (Phi(2) - Phi(-2)))` (about 0.8796). On PyTorch,
tests/backends checks the bound and the spread where Keras' own initializer
misses them.
"""

import math

import keras
import numpy as np
import pytest

from inception_tf.models.initializers import TruncatedNormal


def _phi(x):
    return math.exp(-x * x / 2) / math.sqrt(2 * math.pi)


def _cdf(x):
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


_MASS = _cdf(2) - _cdf(-2)
TWO_SIGMA_TRUNCATED_STD = math.sqrt(1 - 2 * 2 * _phi(2) / _MASS)
DRAWS = 2**20


def _truncated_cdf(x):
    """CDF of the standard normal truncated at +-2, at each of `x` (numpy array)."""
    return (np.vectorize(_cdf)(x) - _cdf(-2)) / _MASS


def test_the_standard_deviation_of_the_reference_formula():
    # The constant keras-team/keras#8048 quotes for a normal truncated at two standard deviations.
    assert TWO_SIGMA_TRUNCATED_STD == pytest.approx(0.87962566103423978, abs=1e-12)


@pytest.mark.parametrize("mean, stddev", [(0.0, 0.1), (0.5, 0.02), (-3.0, 2.0)])
def test_draws_stay_within_two_standard_deviations_of_the_mean(mean, stddev):
    values = np.asarray(TruncatedNormal(mean=mean, stddev=stddev, seed=1)((DRAWS,)), np.float64)
    standard = (values - mean) / stddev
    assert np.abs(standard).max() <= 2 + 1e-5
    # Both ends are reached: the draws fill the bound, not a narrower range.
    assert standard.min() < -1.99 and standard.max() > 1.99
    assert values.mean() == pytest.approx(mean, abs=5 * stddev / math.sqrt(DRAWS))
    assert values.std() == pytest.approx(stddev * TWO_SIGMA_TRUNCATED_STD, rel=3e-3)


def test_draws_follow_the_truncated_normal_distribution():
    values = np.sort(np.asarray(TruncatedNormal(stddev=1.0, seed=2)((2**16,)), np.float64))
    empirical = np.arange(1, values.size + 1) / values.size
    kolmogorov_smirnov = np.abs(empirical - _truncated_cdf(values)).max()
    # The 0.1% critical value of the one-sample test is 1.95 / sqrt(n).
    assert kolmogorov_smirnov < 1.95 / math.sqrt(values.size), kolmogorov_smirnov
    # A plain normal clipped at +-2 would put 2.3% on each bound; a truncated one puts nothing there.
    assert np.mean(np.abs(values) > 1.999) < 1e-3


def test_a_seed_repeats_the_draws_and_another_seed_changes_them():
    first, again = (np.asarray(TruncatedNormal(stddev=0.1, seed=3)((64, 64))) for _ in range(2))
    other = np.asarray(TruncatedNormal(stddev=0.1, seed=4)((64, 64)))
    np.testing.assert_array_equal(first, again)
    assert np.mean(first == other) < 0.01
    assert np.unique(first).size > first.size // 2  # drawn, not a constant or a short cycle


def test_unseeded_initializers_draw_differently():
    first, second = (np.asarray(TruncatedNormal(stddev=0.1)((32, 32))) for _ in range(2))
    assert np.mean(first == second) < 0.01


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16", "float64"])
def test_draws_in_the_dtype_asked_for(dtype):
    values = TruncatedNormal(stddev=0.1, seed=5)((8, 8), dtype=dtype)
    assert keras.backend.standardize_dtype(values.dtype) == dtype
    assert np.abs(np.asarray(keras.ops.cast(values, "float32"))).max() <= 0.2 + 1e-3


def test_without_a_dtype_draws_in_floatx(monkeypatch):
    monkeypatch.setattr(keras.config, "floatx", lambda: "float16")
    values = TruncatedNormal(stddev=0.1, seed=6)((4,))
    assert keras.backend.standardize_dtype(values.dtype) == "float16"


def test_the_config_and_a_saved_layer_keep_the_class_and_its_arguments(tmp_path):
    initializer = TruncatedNormal(mean=0.25, stddev=0.5, seed=9)
    # The name `.keras` files record, under the package's prefix as for its layers: files depend on it.
    assert keras.saving.get_registered_name(TruncatedNormal) == "inception_tf>TruncatedNormal"
    assert initializer.get_config() == {"mean": 0.25, "stddev": 0.5, "seed": 9}
    restored = keras.initializers.deserialize(keras.initializers.serialize(initializer))
    assert type(restored) is TruncatedNormal
    np.testing.assert_array_equal(np.asarray(restored((16,))), np.asarray(initializer((16,))))

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, kernel_initializer=initializer)])
    model.save(tmp_path / "dense.keras")
    loaded = keras.models.load_model(tmp_path / "dense.keras")
    kernel_initializer = loaded.layers[0].kernel_initializer
    assert type(kernel_initializer) is TruncatedNormal
    assert (kernel_initializer.mean, kernel_initializer.stddev) == (0.25, 0.5)


def test_the_slide_initializer_and_slidenets_classifier_use_it():
    import inception_tf

    module = inception_tf.InceptionModule(4, 2, 4, 2, 4, 4, kernel_initializer="slide", bias_initializer="slide")
    module.build((None, 8, 8, 3))
    kinds = {name: (type(conv.kernel_initializer), type(conv.bias_initializer))
             for name, conv in module.convs.items()}
    assert {kernel for kernel, _ in kinds.values()} == {TruncatedNormal}
    assert kinds["branch_5x5"][1] is keras.initializers.Constant
    slidenet = inception_tf.SlideNet()
    for name in ("fc1", "logits"):
        assert type(slidenet.get_layer(name).kernel_initializer) is TruncatedNormal
