"""Weight initializers that draw the same distribution on every Keras backend."""

import math

import keras

_BOUND = 2.0  # standard deviations, as `tf.truncated_normal` truncates


def _standard_normal_cdf(x):
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


@keras.saving.register_keras_serializable(package="inception_tf")
class TruncatedNormal(keras.initializers.TruncatedNormal):
    """A normal truncated at two standard deviations, exactly, on every backend.

    The distribution of `keras.initializers.TruncatedNormal` (and of the
    slide's `tf.truncated_normal`): values beyond `mean +- 2 * stddev` are never
    drawn, so the result has standard deviation about `0.88 * stddev`. Keras'
    own initializer keeps that bound on TensorFlow and JAX only: its PyTorch
    backend draws four normals per value and keeps the first inside the bound,
    so about one value in 230,000 lies outside it. This one inverts the normal
    CDF of a uniform draw over the bound's probability range (`keras.random`,
    `keras.ops.erfinv`), the same on every backend, and so keeps the bound
    everywhere.

    Args:
        mean: float. Mean of the normal before truncation. Defaults to 0.
        stddev: float. Standard deviation of the normal before truncation.
            Defaults to 0.05, as Keras'.
        seed: int, `keras.random.SeedGenerator` or None, as Keras' initializers
            take it.

    Example:

    >>> import numpy as np
    >>> values = np.asarray(TruncatedNormal(stddev=0.1, seed=0)((256, 256)))
    >>> bool(np.abs(values).max() <= 0.2)
    True
    """

    def __call__(self, shape, dtype=None):
        """Draws a tensor of `shape` in `dtype` (float32 draws, then cast)."""
        lower, upper = _standard_normal_cdf(-_BOUND), _standard_normal_cdf(_BOUND)
        uniform = keras.random.uniform(shape, minval=lower, maxval=upper, dtype="float32", seed=self.seed)
        standard = math.sqrt(2.0) * keras.ops.erfinv(2.0 * uniform - 1.0)
        # float32 rounding at the ends of the range can land a hair beyond the bound.
        standard = keras.ops.clip(standard, -_BOUND, _BOUND)
        return keras.ops.cast(self.mean + self.stddev * standard, dtype or keras.config.floatx())
