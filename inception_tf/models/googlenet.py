"""GoogLeNet (Szegedy et al. 2014, Table 1) and the slide source's two-module network.

Both are Keras functional models built from `InceptionModule`. GoogLeNet is
written once, as a table (`INCEPTION_SPEC`, in `architecture.py`, re-exported
here), and built by looping over it.

Unlike torchvision's `googlenet` and TF-Slim's `inception_v1`, which put a
3x3 convolution in the "5x5" branch and batch normalization after every
convolution, this is the paper's network: real 5x5 convolutions, local
response normalization in the stem, no batch normalization.
"""

import keras

from inception_tf.checks import positive_int
from inception_tf.models.architecture import (  # noqa: F401  (re-exported: GoogLeNet's table, read here)
    AUX_CLASSIFIER_AFTER,
    AUX_LOSS_WEIGHT,
    GOOGLENET_IMAGE_SIZE,
    INCEPTION_SPEC,
    LOSS_WEIGHTS,
    MAX_POOL_AFTER,
    MIN_INPUT_SIZE,
    SLIDENET_IMAGE_SIZE,
    SLIDENET_SPEC,
    InceptionSpec,
)
from inception_tf.models.inception_module import InceptionModule
from inception_tf.models.initializers import TruncatedNormal
from inception_tf.models.kernels import check_implementation
from inception_tf.models.layout import (
    MinimumSizeCheck,
    compute_data_format,
    spatial_dims,
    standardize_data_format,
)
from inception_tf.models import pretrained
from inception_tf.models.lrn import LocalResponseNormalization
from inception_tf.models.padding import ConstantPadding2D
from inception_tf.models.pooling import MaxPooling2D
from inception_tf.models.preprocessing import ImagePreprocessing

DEFAULT_INPUT_SIZE = GOOGLENET_IMAGE_SIZE


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}. Received: {name}={value!r}")


def _input_shape(input_shape, data_format, require_static):
    """Validates `input_shape` (batchless, 3D) and fills the 224x224x3 default."""
    if input_shape is None:
        size = DEFAULT_INPUT_SIZE
        return (size, size, 3) if data_format == "channels_last" else (3, size, size)
    input_shape = tuple(input_shape)
    if len(input_shape) != 3:
        raise ValueError(
            "input_shape must be (height, width, channels) or, for channels_first, "
            f"(channels, height, width). Received: input_shape={input_shape}"
        )
    spatial = input_shape[:2] if data_format == "channels_last" else input_shape[1:]
    channels = input_shape[2] if data_format == "channels_last" else input_shape[0]
    if channels is None:
        raise ValueError(f"input_shape needs a known channel count. Received: input_shape={input_shape}")
    for size in spatial:
        if size is None:
            if require_static:
                raise ValueError(
                    "input_shape needs a fixed height and width with aux_logits=True "
                    f"(the auxiliary heads flatten a feature map). Received: input_shape={input_shape}"
                )
        elif size < MIN_INPUT_SIZE:
            raise ValueError(
                f"input_shape must be at least {MIN_INPUT_SIZE}x{MIN_INPUT_SIZE}. "
                f"Received: input_shape={input_shape}"
            )
    return input_shape


def _inputs(input_tensor, input_shape, name="images"):
    if input_tensor is None:
        return keras.Input(shape=input_shape, name=name)
    if not keras.utils.is_keras_tensor(input_tensor):
        return keras.Input(tensor=input_tensor, shape=input_shape, name=name)
    return input_tensor


def _conv(filters, kernel_size, name, data_format, kernel_initializer, strides=1, padding="same"):
    return keras.layers.Conv2D(
        filters, kernel_size, strides=strides, padding=padding, activation="relu",
        data_format=data_format, kernel_initializer=kernel_initializer, name=name,
    )


def _max_pool(x, name, data_format, implementation):
    """Caffe's ceil-mode 3x3/2 max pool: `(B, H, W, C) -> (B, ceil((H - 3) / 2) + 1, ..., C)`.

    Keras' SAME pooling is exactly that at even sizes (no padding before, one
    row and column after), and is used there: at 224x224 every pool input is
    even (112, 56, 28, 14), so the graph is the plain one. At odd or unknown
    sizes (where SAME would pad the top) one row and column that never win the
    max go at the bottom and right, then a VALID pool (`padding.py`). Table 1's
    sizes follow: 112 -> 56 -> 28 -> 14 -> 7.
    """
    sizes = spatial_dims(x.shape, data_format)
    if all(size is not None and size % 2 == 0 for size in sizes):
        return MaxPooling2D(3, strides=2, padding="same", data_format=data_format, implementation=implementation,
                            name=name)(x)
    x = ConstantPadding2D(((0, 1), (0, 1)), data_format=data_format, name=f"{name}_pad")(x)
    return MaxPooling2D(3, strides=2, padding="valid", data_format=data_format, implementation=implementation,
                        name=name)(x)


def _lrn(name, data_format, implementation):
    return LocalResponseNormalization(data_format=data_format, implementation=implementation, name=name)


def _stem(x, lrn, data_format, kernel_initializer, implementation):
    """Table 1's first rows: (B, 224, 224, 3) -> (B, 28, 28, 192)."""
    # Caffe pads conv1 by 3 on every side; Keras' SAME would pad 2 before and 3 after at 224.
    x = keras.layers.ZeroPadding2D(3, data_format=data_format, name="conv1_pad")(x)      # (B, 230, 230, 3)
    x = _conv(64, 7, "conv1", data_format, kernel_initializer, strides=2, padding="valid")(x)  # (B, 112, 112, 64)
    x = _max_pool(x, "pool1", data_format, implementation)          # (B, 56, 56, 64)
    if lrn:
        x = _lrn("lrn1", data_format, implementation)(x)
    x = _conv(64, 1, "conv2_reduce", data_format, kernel_initializer)(x)     # (B, 56, 56, 64)
    x = _conv(192, 3, "conv2", data_format, kernel_initializer)(x)           # (B, 56, 56, 192)
    if lrn:
        x = _lrn("lrn2", data_format, implementation)(x)
    return _max_pool(x, "pool2", data_format, implementation)       # (B, 28, 28, 192)


def _auxiliary_classifier(x, name, classes, classifier_activation, data_format):
    """The paper's auxiliary head: (B, 14, 14, C) -> (B, classes).

    Average pool 5x5/3 (4x4 at a 224x224 input), 1x1 conv 128 + ReLU, FC 1024
    + ReLU, dropout 70%, linear, softmax. Where the map is smaller than 5x5
    (inputs under ~96x96) the pool covers the whole map instead.
    """
    pool_size = tuple(min(5, int(size)) for size in spatial_dims(x.shape, data_format))
    x = keras.layers.AveragePooling2D(
        pool_size, strides=3, padding="valid", data_format=data_format, name=f"{name}_avg_pool"
    )(x)                                                            # (B, 4, 4, C)
    x = keras.layers.Conv2D(128, 1, activation="relu", data_format=data_format, name=f"{name}_conv")(x)
    x = keras.layers.Flatten(data_format=data_format, name=f"{name}_flatten")(x)
    x = keras.layers.Dense(1024, activation="relu", name=f"{name}_fc")(x)
    x = keras.layers.Dropout(0.7, name=f"{name}_dropout")(x)
    x = keras.layers.Dense(classes, name=f"{name}_logits")(x)
    return keras.layers.Activation(classifier_activation, dtype="float32", name=name)(x)


def GoogLeNet(
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    aux_logits=False,
    dropout_rate=0.4,
    lrn=True,
    relu="corrected",
    data_format=None,
    kernel_initializer="he_normal",
    include_preprocessing=True,
    preprocessing_mode=None,
    implementation="auto",
    name="googlenet",
):
    """GoogLeNet, the network of "Going Deeper with Convolutions" (Szegedy et al. 2014).

    Preprocessing (`ImagePreprocessing`: RGB in [0, 255] to [-1, 1], or to
    Caffe's mean-subtracted BGR with ImageNet weights), stem (7x7/2 conv 64, 3x3/2 max pool, LRN, 1x1 conv 64, 3x3 conv 192, LRN,
    3x3/2 max pool), nine Inception modules 3a-5b with Table 1's filter counts
    and 3x3/2 max pools after 3b and 4e, then global average pooling, dropout,
    a linear layer and softmax. Layers are named as in the paper: `preprocessing`,
    `conv1_pad`, `conv1`, `pool1_pad`, `pool1`, `lrn1`, `conv2_reduce`, `conv2`,
    `lrn2`, `pool2_pad`, `pool2`, `inception_3a` ... `inception_5b`, `pool3_pad`,
    `pool3`, `pool4_pad`, `pool4`, `avg_pool`, `dropout`, `logits`, `predictions`.

    The geometry is Caffe's `bvlc_googlenet` at every input size: conv1 pads 3
    on every side (`floor((H - 1) / 2) + 1` rows out), and the four 3x3/2 max
    pools round up (`ceil((H - 3) / 2) + 1`), so its ImageNet weights compute
    the same function here. At 224x224 the sizes are Table 1's: 112, 56, 28,
    14, 7.

    Args:
        include_top: bool. Whether to end in the classifier. Defaults to True.
        weights: None (random initialisation); the name of published
            weights (`inception_tf.models.published_weights.PUBLISHED`):
            `"imagenet"`, Caffe's bvlc_googlenet ImageNet weights (68.7% top-1,
            88.9% top-5; the ONNX zoo's `googlenet-7.onnx`, downloaded once to
            `~/.keras/models/` and converted once); the path of that `.onnx`
            file or of a `.weights.h5` file from `inception-tf convert`; or a
            file saved with `model.save_weights`. ImageNet weights fit any
            input size and make the preprocessing Caffe's
            (`ImagePreprocessing("caffe")`), recording the weights' test-time
            geometry (`"crop"`) and the ImageNet class names in that layer
            (`inception_tf.models.preprocessing.model_record`); with `classes` other than 1000 or
            `include_top=False` every layer but the classifier (`logits`) is
            loaded, which starts fresh (fine-tuning). Defaults to None.
        input_tensor: optional Keras tensor to use as the model's input.
        input_shape: tuple. `(height, width, 3)` (or channels first), at least
            32x32. Defaults to `(224, 224, 3)`.
        pooling: None, `"avg"` or `"max"`: the pooling of the last feature map
            when `include_top=False`. Defaults to None (the 4D feature map).
        classes: int. Number of classes. Defaults to 1000.
        classifier_activation: str or callable, applied to the logits (in
            float32 under mixed precision); None returns logits. Defaults to
            `"softmax"`.
        aux_logits: bool. Whether to add the two auxiliary classifiers after
            4a and 4d. The model then has a dict of three outputs, `main`,
            `aux1` and `aux2`, in training and inference alike; train it with
            `LOSS_WEIGHTS` and evaluate or export `inference_model(model)`.
            Defaults to False.
        dropout_rate: float. Dropout before the last linear layer. Defaults to 0.4.
        lrn: bool. Whether to apply local response normalization in the stem.
            Defaults to True.
        relu: str. ReLU placement inside the modules, `"corrected"` or
            `"as_written"` (the same function). Defaults to `"corrected"`.
        data_format: str or None. `"channels_last"` or `"channels_first"`.
            Defaults to `keras.config.image_data_format()`.
        kernel_initializer: initializer of every convolution kernel in the
            stem and the modules. Defaults to `"he_normal"` (He et al. 2015,
            which keeps activations from shrinking through 22 ReLU layers
            without batch normalization; the paper predates it and Caffe's
            model used Xavier).
        include_preprocessing: bool. Whether the model starts with an
            `ImagePreprocessing` layer, so that it takes RGB images with values
            in [0, 255]; False for a model fed already-normalised inputs.
            Defaults to True.
        preprocessing_mode: str or None. The `ImagePreprocessing` mode,
            `"tf"` or `"caffe"`; None picks `"caffe"` with ImageNet weights and
            `"tf"` otherwise. A model fine-tuned from ImageNet weights keeps
            `"caffe"`. Defaults to None.
        implementation: str. `"auto"`, `"standard"`, `"banded"` or `"xla"`:
            the kernels of the LRN and max-pool layers
            (`inception_tf.models.kernels`; `"banded"`: LRN's band-convolution
            form, the pools' standard kernels). Defaults to `"auto"`.
        name: str. The model's name. Defaults to `"googlenet"`.

    Returns:
        A `keras.Model` mapping `(batch_size, height, width, 3)` RGB images
        (values in [0, 255]; normalised with `include_preprocessing=False`) to
        `(batch_size, classes)` probabilities, or to a dict of three such
        tensors with `aux_logits=True`; with `include_top=False`, to the
        `(batch_size, height / 32, width / 32, 1024)` feature map or its pooled
        `(batch_size, 1024)` vector.

    Examples:

    >>> import inception_tf
    >>> model = inception_tf.GoogLeNet(input_shape=(64, 64, 3), classes=10)
    >>> model.output_shape
    (None, 10)
    """
    weights_source = pretrained.resolve(weights)
    _check_choice("pooling", pooling, (None, "avg", "max"))
    _check_choice("relu", relu, ("corrected", "as_written"))
    classes = positive_int("classes", classes)
    skipped = pretrained.classifier_skip(weights_source, include_top, classes)  # a new classifier starts fresh
    if classes < 2 and classifier_activation in ("softmax", keras.activations.softmax):
        raise ValueError(
            "classes must be >= 2 with classifier_activation='softmax' (a softmax over one class is always 1.0); "
            "for a binary classifier use classes=1 with classifier_activation='sigmoid' or None. "
            f"Received: classes={classes}, classifier_activation={classifier_activation!r}"
        )
    if not 0 <= dropout_rate < 1:
        raise ValueError(f"dropout_rate must be in [0, 1). Received: dropout_rate={dropout_rate!r}")
    if aux_logits and not include_top:
        raise ValueError("aux_logits=True needs include_top=True: the auxiliary heads are classifiers.")
    check_implementation(implementation)
    data_format = standardize_data_format(data_format)
    input_shape = _input_shape(input_shape, data_format, require_static=aux_logits)

    inputs = _inputs(input_tensor, input_shape)
    layout = compute_data_format(data_format)
    x = inputs
    if None in (input_shape[:2] if data_format == "channels_last" else input_shape[1:]):
        x = MinimumSizeCheck(MIN_INPUT_SIZE, data_format=data_format, name="size_check")(x)  # sizes known at call
    if include_preprocessing:
        mode = preprocessing_mode or pretrained.preprocessing_mode(weights_source)
        geometry, class_names = pretrained.test_time(weights_source, include_top, classes)
        x = ImagePreprocessing(mode, geometry=geometry, class_names=class_names, data_format=data_format,
                               name="preprocessing")(x)
    if layout != data_format:
        # TensorFlow has no NCHW convolution on CPU: compute in NHWC.
        x = keras.layers.Permute((2, 3, 1), name="to_channels_last")(x)

    x = _stem(x, lrn, layout, kernel_initializer, implementation)
    aux_outputs = {}
    for spec in INCEPTION_SPEC:
        filters = spec._asdict()
        module_name = filters.pop("name")
        x = InceptionModule(**filters, relu=relu, data_format=layout, kernel_initializer=kernel_initializer,
                            implementation=implementation, name=f"inception_{module_name}")(x)
        for aux_name, after in AUX_CLASSIFIER_AFTER.items():
            if aux_logits and spec.name == after:
                aux_outputs[aux_name] = _auxiliary_classifier(x, aux_name, classes, classifier_activation, layout)
        if spec.name in MAX_POOL_AFTER:
            x = _max_pool(x, f"pool{spec.name[0]}", layout, implementation)  # (B, 14, 14, 480), (B, 7, 7, 832)

    if include_top:
        x = keras.layers.GlobalAveragePooling2D(data_format=layout, name="avg_pool")(x)  # (B, 1024)
        x = keras.layers.Dropout(dropout_rate, name="dropout")(x)
        x = keras.layers.Dense(classes, name="logits")(x)
        x = keras.layers.Activation(classifier_activation, dtype="float32", name="predictions")(x)
    elif pooling == "avg":
        x = keras.layers.GlobalAveragePooling2D(data_format=layout, name="avg_pool")(x)
    elif pooling == "max":
        x = keras.layers.GlobalMaxPooling2D(data_format=layout, name="max_pool")(x)
    elif layout != data_format:
        x = keras.layers.Permute((3, 1, 2), name="to_channels_first")(x)

    outputs = {"main": x, **aux_outputs} if aux_logits else x
    model_inputs = keras.utils.get_source_inputs(input_tensor) if input_tensor is not None else inputs
    model = keras.Model(model_inputs, outputs, name=name)
    pretrained.load(model, weights_source, skip=skipped, aux_logits=aux_logits)
    return model


def inference_model(model):
    """The main-output model of a GoogLeNet built with `aux_logits=True`.

    It shares every weight with `model` (no copy), so it always reflects the
    latest training; use it to evaluate, predict and export.

    Args:
        model: a model from `GoogLeNet(aux_logits=True)`, or any single-output model.

    Returns:
        A `keras.Model` from the same input to the `(batch_size, classes)` main output.
    """
    outputs = model.output
    if not isinstance(outputs, dict):
        return model
    if "main" not in outputs:
        raise ValueError(f"Model '{model.name}' has no 'main' output. Its outputs: {sorted(outputs)}")
    return keras.Model(model.input, outputs["main"], name=f"{model.name}_inference")


def SlideNet(
    input_shape=(SLIDENET_IMAGE_SIZE, SLIDENET_IMAGE_SIZE, 1),
    classes=10,
    classifier_activation="softmax",
    relu="as_written",
    name="slidenet",
):
    """The slide code's source network: T. Mulc's 2016 two-module MNIST classifier.

    28x28x1 input in [0, 255] -> [-1, 1] -> Inception module 1 (32 filters per branch, 16 per 1x1
    reduction) -> module 2 (64 per branch, 16 per reduction) -> flatten
    (28 * 28 * 256 values) -> FC 700 + ReLU -> dropout 0.5 -> FC 10 -> softmax.
    The modules keep the slide's ReLU placement; every weight is drawn from a
    truncated normal with stddev 0.1, the 5x5 and FC biases are 0.1, as in the
    source. The modules are named `inception_1` and `inception_2`, so their
    variables map onto the slide's `W_conv1_...` and `W_conv2_...` through
    `InceptionModule.slide_weights(module=1 or 2)`.

    Args:
        input_shape: tuple. `(height, width, channels)`. Defaults to `(28, 28, 1)`.
        classes: int. Number of classes. Defaults to 10.
        classifier_activation: str, callable or None. Defaults to `"softmax"`.
        relu: str. ReLU placement in the modules. Defaults to `"as_written"`.
        name: str. The model's name. Defaults to `"slidenet"`.

    Returns:
        A `keras.Model` from `(batch_size, 28, 28, 1)` to `(batch_size, classes)`.
    """
    input_shape = tuple(input_shape)
    if len(input_shape) != 3 or any(size is None for size in input_shape):
        raise ValueError(
            f"input_shape must be a fixed (height, width, channels). Received: input_shape={input_shape}"
        )
    slide_init = {"kernel_initializer": "slide", "bias_initializer": "slide"}
    fc_init = {
        "kernel_initializer": TruncatedNormal(stddev=0.1),
        "bias_initializer": keras.initializers.Constant(0.1),
    }
    inputs = keras.Input(shape=input_shape, name="images")
    x = ImagePreprocessing("tf", data_format="channels_last", name="preprocessing")(inputs)
    for spec in SLIDENET_SPEC:
        filters = spec._asdict()
        module_name = filters.pop("name")
        x = InceptionModule(**filters, relu=relu, data_format="channels_last",
                            name=f"inception_{module_name}", **slide_init)(x)  # (B, 28, 28, 128), (B, 28, 28, 256)
    x = keras.layers.Flatten(name="flatten")(x)                            # (B, 200704)
    x = keras.layers.Dense(700, activation="relu", name="fc1", **fc_init)(x)
    x = keras.layers.Dropout(0.5, name="dropout")(x)
    x = keras.layers.Dense(classes, name="logits", **fc_init)(x)
    outputs = keras.layers.Activation(classifier_activation, dtype="float32", name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)
