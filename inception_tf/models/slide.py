"""The slide's Inception-module code, transliterated to TensorFlow 2 line for line.

This module is the *reference* that `inception_tf.InceptionModule` is tested
against. Slide 12 of the deck ("Inception Architecture", G. Olafsen) shows the
code of T. Mulc's 2016 post "Inception Modules: Explained and Implemented":

    conv1_1x1_1 = conv2d_s1(x,W_conv1_1x1_1)+b_conv1_1x1_1
    conv1_1x1_2 = tf.nn.relu(conv2d_s1(x,W_conv1_1x1_2)+b_conv1_1x1_2)
    conv1_1x1_3 = tf.nn.relu(conv2d_s1(x,W_conv1_1x1_3)+b_conv1_1x1_3)
    conv1_3x3 = conv2d_s1(conv1_1x1_2,W_conv1_3x3)+b_conv1_3x3
    conv1_5x5 = conv2d_s1(conv1_1x1_3,W_conv1_5x5)+b_conv1_5x5
    maxpool1 = max_pool_3x3_s1(x)
    conv1_1x1_4 = conv2d_s1(maxpool1,W_conv1_1x1_4)+b_conv1_1x1_4
    inception1 = tf.nn.relu(tf.concat(3,[conv1_1x1_1,conv1_3x3,conv1_5x5,conv1_1x1_4]))

Only what TensorFlow 2 forces is changed, each with a comment. Tensors are
NHWC `(batch_size, height, width, channels)`, kernels HWIO
`(kernel_h, kernel_w, in_channels, out_channels)`, as on the slide.

Only the slide's ops (`conv2d_s1`, `max_pool_3x3_s1`, `inception_module`)
import TensorFlow; the names, shapes and initial weights need numpy alone, so
`InceptionModule`'s slide initializer and weight mapping work on every backend.
"""

import numpy as np

from inception_tf.checks import positive_int
from inception_tf.models.topology import CONVOLUTIONS, SLIDE_CONSTANT_BIASES

# The slide's 6 convolutions, by the suffix of their variable names, with the
# role each plays in the paper's vocabulary.
SLIDE_CONVOLUTIONS = tuple((node.slide_suffix, node.name) for node in CONVOLUTIONS)


def conv2d_s1(x, W):
    """A stride-1, SAME-padded convolution: (B, H, W, C) -> (B, H, W, W.shape[3])."""
    import tensorflow as tf

    return tf.nn.conv2d(x, W, strides=[1, 1, 1, 1], padding="SAME")


def max_pool_3x3_s1(x):
    """A 3x3, stride-1, SAME-padded max pool: (B, H, W, C) -> (B, H, W, C)."""
    import tensorflow as tf

    return tf.nn.max_pool(x, ksize=[1, 3, 3, 1], strides=[1, 1, 1, 1], padding="SAME")


def slide_variable_names(module=1):
    """The 12 variable names of slide module `module`, weights then biases.

    Args:
        module: int. The module number in the names (`conv1_...`, `conv2_...`).

    Returns:
        A tuple of 12 strings such as `"W_conv1_1x1_1"`, `"b_conv1_5x5"`.
    """
    _check_module(module)
    weights = tuple(f"W_conv{module}_{suffix}" for suffix, _ in SLIDE_CONVOLUTIONS)
    biases = tuple(f"b_conv{module}_{suffix}" for suffix, _ in SLIDE_CONVOLUTIONS)
    return weights + biases


def slide_variable_shapes(
    in_channels,
    filters_1x1,
    filters_3x3_reduce,
    filters_3x3,
    filters_5x5_reduce,
    filters_5x5,
    filters_pool_proj,
    module=1,
):
    """The HWIO kernel and bias shapes of every slide variable.

    Returns:
        A dict from variable name to shape tuple, e.g.
        `{"W_conv1_3x3": (3, 3, filters_3x3_reduce, filters_3x3), ...}`.
    """
    kernels = {
        "1x1_1": (1, 1, in_channels, filters_1x1),
        "1x1_2": (1, 1, in_channels, filters_3x3_reduce),
        "3x3": (3, 3, filters_3x3_reduce, filters_3x3),
        "1x1_3": (1, 1, in_channels, filters_5x5_reduce),
        "5x5": (5, 5, filters_5x5_reduce, filters_5x5),
        "1x1_4": (1, 1, in_channels, filters_pool_proj),
    }
    _check_module(module)
    shapes = {}
    for suffix, shape in kernels.items():
        shapes[f"W_conv{module}_{suffix}"] = shape
        shapes[f"b_conv{module}_{suffix}"] = (shape[-1],)
    return shapes


def slide_initial_weights(in_channels, *filters, module=1, seed=None):
    """Fresh slide variables drawn with the source's initialisers.

    Weights are truncated normal with stddev 0.1 (values beyond two standard
    deviations redrawn, as `tf.truncated_normal` does); biases too, except the
    5x5 bias, which is the constant 0.1 (the source's `bias_variable`). Drawn
    with numpy, so the same seed gives the same weights on every backend.

    Args:
        in_channels: int. Channels of the module's input.
        *filters: the six filter counts, in the paper's order.
        module: int. The module number in the variable names.
        seed: int or None. Seed of the draws.

    Returns:
        A dict from variable name to float32 numpy array.
    """
    shapes = slide_variable_shapes(in_channels, *filters, module=module)
    rng = np.random.default_rng(seed)
    weights = {}
    for name, shape in shapes.items():
        if name.startswith("b_") and name.endswith(SLIDE_CONSTANT_BIASES):
            weights[name] = np.full(shape, 0.1, dtype=np.float32)
        else:
            weights[name] = _truncated_normal(rng, shape, stddev=0.1)
    return weights


def _truncated_normal(rng, shape, stddev):
    """float32 normal draws of `shape`, those beyond two standard deviations redrawn."""
    values = rng.standard_normal(shape)
    outside = np.abs(values) > 2.0
    while outside.any():
        values[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(values) > 2.0
    return (values * stddev).astype(np.float32)


def inception_module(x, weights, module=1):
    """The slide's Inception module, as written on slide 12.

    ReLU follows only the two 1x1 reductions and the concatenation.

    Args:
        x: float tensor `(batch_size, height, width, in_channels)`.
        weights: mapping from the slide's variable names (see
            `slide_variable_names(module)`) to HWIO kernels and biases.
        module: int. Which module's names to read (`conv1_...`, `conv2_...`).

    Returns:
        Tensor `(batch_size, height, width, filters_1x1 + filters_3x3 +
        filters_5x5 + filters_pool_proj)`.
    """
    missing = [name for name in slide_variable_names(module) if name not in weights]
    if missing:
        raise KeyError(f"weights is missing the slide variables {missing}")
    import tensorflow as tf

    def W(suffix):
        return tf.convert_to_tensor(weights[f"W_conv{module}_{suffix}"], dtype=x.dtype)

    def b(suffix):
        return tf.convert_to_tensor(weights[f"b_conv{module}_{suffix}"], dtype=x.dtype)

    conv_1x1_1 = conv2d_s1(x, W("1x1_1")) + b("1x1_1")
    conv_1x1_2 = tf.nn.relu(conv2d_s1(x, W("1x1_2")) + b("1x1_2"))
    conv_1x1_3 = tf.nn.relu(conv2d_s1(x, W("1x1_3")) + b("1x1_3"))
    conv_3x3 = conv2d_s1(conv_1x1_2, W("3x3")) + b("3x3")
    conv_5x5 = conv2d_s1(conv_1x1_3, W("5x5")) + b("5x5")
    maxpool = max_pool_3x3_s1(x)
    conv_1x1_4 = conv2d_s1(maxpool, W("1x1_4")) + b("1x1_4")
    # concatenate all the feature maps and apply relu
    # TF2: tf.concat(3, [...]) became tf.concat([...], axis=3) in TF 1.0
    # (values first, axis second); the TF 0.x call raises in TF 2.
    return tf.nn.relu(tf.concat([conv_1x1_1, conv_3x3, conv_5x5, conv_1x1_4], axis=3))


def _check_module(module):
    positive_int("module", module)
