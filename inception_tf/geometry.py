"""Test-time geometry: how an image of any shape becomes a model's square input (no TensorFlow).

A model records its geometry with its preprocessing (`ImagePreprocessing`), so
every way in (`predict`, `evaluate` without `--crops`, the SavedModel
signatures, the ONNX and LiteRT client) prepares an image the way the model
was trained or its weights were evaluated:

- `"square"`: the largest central square, resized to the input side
  (bilinear). What this package's training pipelines do to every image, so a
  model trained here answers at test time as it did on its test split.
- `"crop"`: the paper's single centre crop (Szegedy et al. 2014, Section 7;
  Caffe's test phase): the shorter side resized to `256 / 224` of the input
  side (rounded half up), then the central input-side square. How Caffe's
  bvlc_googlenet weights were evaluated (68.7% top-1).

Examples:

>>> from inception_tf.geometry import check_geometry, default_geometry
>>> default_geometry("tf"), default_geometry("caffe")
('square', 'crop')
>>> check_geometry("crop")
'crop'
"""

SQUARE, CROP = "square", "crop"
GEOMETRIES = (SQUARE, CROP)
# The paper's test-time protocols (`inception_tf.crops`): crops per image, and the shorter-side lengths
# for a 224x224 model (one scale for 1 and 10 crops, four for 144).
CROP_COUNTS = (1, 10, 144)
PAPER_IMAGE_SIZE = 224
PAPER_SCALES = (256, 288, 320, 352)
MODEL_PROTOCOL = "model"  # evaluation's name for one input per image, prepared by the model's own geometry
# How evaluation runs and reports these protocols (`inception_tf.evaluation.evaluate`): crops per model call for
# 1 and 10 crops (whole images per call; an image's 144 crops are one call), and what it prints, the JSON results
# or rows like the paper's Table 3.
EVALUATION_BATCH_SIZE = 144
EVALUATION_REPORTS = ("json", "table3")
# What a preprocessing mode implies when a model (or a file from an earlier version) names no geometry:
# "tf" models are trained here on central squares; "caffe" is the input convention of Caffe's weights.
_DEFAULT_BY_MODE = {"tf": SQUARE, "caffe": CROP}


def check_geometry(geometry):
    """`geometry` if it is one of `GEOMETRIES`; a ValueError naming it otherwise."""
    if geometry not in GEOMETRIES:
        raise ValueError(f"geometry must be one of {GEOMETRIES}. Received: geometry={geometry!r}")
    return geometry


def default_geometry(mode):
    """The geometry a preprocessing `mode` (`"tf"` or `"caffe"`) implies when none is recorded."""
    if mode not in _DEFAULT_BY_MODE:
        raise ValueError(f"mode must be one of {tuple(_DEFAULT_BY_MODE)}. Received: mode={mode!r}")
    return _DEFAULT_BY_MODE[mode]


def square_input(input_shape, user):
    """`(size, channels)` of a model input every way in can prepare photos for.

    That is square channels-last images, `(batch, size, size, 1 or 3)`: grey or
    RGB, one fixed side (what `inception_tf.images.prepare_images` makes and
    exports record as their `image_size`). `predict`, `evaluate`, the
    SavedModel, ONNX and LiteRT exports and int8 calibration all take this
    definition.

    Args:
        input_shape: tuple. A model's `input_shape`, batch first.
        user: str. Who asks (`"evaluate"`, `"export_saved_model"`, ...), for the message.

    Raises:
        ValueError: any other shape, naming `user` and the shape.

    Examples:

    >>> square_input((None, 224, 224, 3), "predict")
    (224, 3)
    >>> square_input((None, 224, 160, 3), "predict")
    Traceback (most recent call last):
    ...
    ValueError: predict needs a model taking square (batch, size, size, 1 or 3) images of a fixed size. Received a model with input_shape=(None, 224, 160, 3)
    """
    shape = tuple(input_shape)
    size = shape[1] if len(shape) == 4 else None
    if size is None or shape[2] != size or size < 1 or shape[3] not in (1, 3):
        raise ValueError(f"{user} needs a model taking square (batch, size, size, 1 or 3) images of a fixed size. "
                         f"Received a model with input_shape={shape}")
    return int(size), int(shape[3])


def check_class_names(class_names, classes=None):
    """`class_names` as a list of str (None stays None); a ValueError naming the problem otherwise.

    Args:
        class_names: sequence of str or None. One name per class, by index.
        classes: int or None. The number of classes they must name.
    """
    if class_names is None:
        return None
    if isinstance(class_names, str):
        raise ValueError(f"class_names must be a sequence of names, not one string. Received: {class_names!r}")
    names = [str(name) for name in class_names]
    if any("\n" in name for name in names):
        raise ValueError("class_names must not contain newlines.")
    if classes is not None and len(names) != classes:
        raise ValueError(f"class_names has {len(names)} names but the model has {classes} classes.")
    return names
