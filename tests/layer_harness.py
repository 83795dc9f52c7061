"""One test of what every Keras layer of the package must do, in the spirit of keras-hub's `run_layer_test`.

`run_layer_test(layer_class, init_kwargs, input_shape, tmp_path)` checks, for each data format the
layer takes (both, where its config holds `data_format`):

- the output shape is `compute_output_shape(input_shape)` (and `expected_output_shape` when given);
- `get_config()` names every constructor argument, and `from_config(get_config())` has the same
  config and, with the same weights, the same outputs (bit for bit);
- a `.keras` file of a model holding the layer loads as the same class with the same outputs;
- under `mixed_float16` and `mixed_bfloat16` (as the layer's `dtype` and as the global policy) the
  output has the compute dtype, the variables stay float32, and the outputs are within
  `DTYPE_TOLERANCES` of float32's (with the same weights);
- the `channels_first` layer computes the `channels_last` one's outputs, transposed.

The expectations come from Keras' contracts and from the float32 layer, never from a second
output of the code under test.
"""

import inspect

import keras
import numpy as np

# |mixed - float32| <= tolerance * (1 + |float32|), elementwise: float16 keeps 11 significant bits
# and bfloat16 8, over the few roundings of a layer's chain of ops.
DTYPE_TOLERANCES = {"mixed_float16": 2e-2, "mixed_bfloat16": 1e-1}


def run_layer_test(layer_class, init_kwargs, input_shape, tmp_path, expected_output_shape=None,
                   input_range=(-1.0, 1.0), seed=0, policies=DTYPE_TOLERANCES):
    """Runs every check above on `layer_class(**init_kwargs)`.

    Args:
        layer_class: a Keras layer class.
        init_kwargs: dict. Constructor arguments (without `data_format`, which the harness sets).
        input_shape: tuple. `(batch_size, height, width, channels)`: the channels_last input.
        tmp_path: pathlib.Path. Where the `.keras` files go.
        expected_output_shape: tuple or None. The channels_last output shape, from outside the layer.
        input_range: (low, high). The inputs are uniform in it.
        seed: int. Seeds the inputs and the initial weights.
        policies: dict. Mixed policy -> tolerance to check. Defaults to `DTYPE_TOLERANCES`.
    """
    x = np.random.default_rng(seed).uniform(*input_range, input_shape).astype(np.float32)
    keras.utils.set_random_seed(seed)
    reference = layer_class(**init_kwargs)
    formats = ["channels_last", "channels_first"] if "data_format" in reference.get_config() else [None]
    outputs = {}
    for data_format in formats:
        kwargs = dict(init_kwargs) if data_format is None else {**init_kwargs, "data_format": data_format}
        inputs = _to_format(x, data_format)
        layer, output = _built(layer_class, kwargs, inputs)
        _check_output_shape(layer, inputs, output, _to_format_shape(expected_output_shape, data_format))
        _check_config_round_trip(layer_class, layer, inputs, output)
        _check_keras_file_round_trip(layer_class, kwargs, layer, inputs, output, tmp_path / f"{data_format}.keras")
        for policy, tolerance in policies.items():
            _check_dtype_policy(layer_class, kwargs, layer, inputs, output, policy, tolerance)
        outputs[data_format] = (layer, np.asarray(output))
    if len(formats) == 2:
        _check_formats_agree(layer_class, init_kwargs, outputs, x)


def _to_format(x, data_format):
    """(B, H, W, C) -> the layout of `data_format`."""
    return np.ascontiguousarray(np.transpose(x, (0, 3, 1, 2))) if data_format == "channels_first" else x


def _to_format_shape(shape, data_format):
    if shape is None or data_format != "channels_first":
        return shape
    return (shape[0], shape[3], shape[1], shape[2])


def _built(layer_class, kwargs, inputs):
    """(layer, its output on `inputs`): the layer built by its first call."""
    layer = layer_class(**kwargs)
    return layer, layer(inputs)


def _check_output_shape(layer, inputs, output, expected):
    computed = tuple(layer.compute_output_shape(inputs.shape))
    assert tuple(output.shape) == computed, f"{layer.name}: output {tuple(output.shape)}, compute_output_shape {computed}"
    if expected is not None:
        assert computed == tuple(expected), f"{layer.name}: output shape {computed}, expected {tuple(expected)}"


def _constructor_arguments(layer_class):
    """The names of `layer_class.__init__`'s own arguments (not `*args`, `**kwargs`)."""
    parameters = list(inspect.signature(layer_class.__init__).parameters.values())[1:]
    return [p.name for p in parameters if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def _check_config_round_trip(layer_class, layer, inputs, output):
    config = layer.get_config()
    missing = [name for name in _constructor_arguments(layer_class) if name not in config]
    assert not missing, f"{layer_class.__name__}.get_config() lacks constructor arguments {missing}"
    clone = layer_class.from_config(config)
    assert clone.get_config() == config
    clone.build(inputs.shape)
    clone.set_weights(layer.get_weights())
    np.testing.assert_array_equal(clone(inputs), output)


def _check_keras_file_round_trip(layer_class, kwargs, layer, inputs, output, path):
    model_input = keras.Input(inputs.shape[1:])
    held = layer_class(**kwargs, name="held")
    model = keras.Model(model_input, held(model_input))
    held.set_weights(layer.get_weights())
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded.get_layer("held")) is layer_class
    assert loaded.get_layer("held").get_config() == held.get_config()
    np.testing.assert_array_equal(loaded(inputs), output)


def _check_dtype_policy(layer_class, kwargs, layer, inputs, output, policy, tolerance):
    """The policy given as the layer's `dtype`, and as Keras' global policy when the layer is made."""
    for way in ("dtype", "global"):
        if way == "dtype":
            mixed = layer_class(**kwargs, dtype=policy)
        else:
            keras.config.set_dtype_policy(policy)
            try:
                mixed = layer_class(**kwargs)
            finally:
                keras.config.set_dtype_policy("float32")
        mixed.build(inputs.shape)
        mixed.set_weights(layer.get_weights())
        result = mixed(inputs)
        compute_dtype = keras.DTypePolicy(policy).compute_dtype
        assert keras.backend.standardize_dtype(result.dtype) == compute_dtype, (policy, way, result.dtype)
        assert all(v.dtype == "float32" for v in mixed.weights), (policy, way)  # variables stay float32
        np.testing.assert_allclose(np.asarray(result, np.float32), np.asarray(output, np.float32), rtol=tolerance,
                                   atol=tolerance, err_msg=f"{layer_class.__name__} under {policy} ({way})")


def _check_formats_agree(layer_class, init_kwargs, outputs, x):
    (last, last_output), (first, _) = outputs["channels_last"], outputs["channels_first"]
    first.set_weights(last.get_weights())
    got = np.transpose(np.asarray(first(_to_format(x, "channels_first"))), (0, 2, 3, 1))
    scale = max(1.0, float(np.abs(last_output).max()))
    np.testing.assert_allclose(got, last_output, rtol=1e-5, atol=1e-5 * scale,
                               err_msg=f"{layer_class.__name__}: channels_first differs from channels_last")
