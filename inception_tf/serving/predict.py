"""Classifying image files with an exported SavedModel, without a server."""

import os

import tensorflow as tf

from inception_tf.runs import is_keras_source  # noqa: F401  (re-exported: what a --model string names)
from inception_tf.serving.signatures import BYTES_SIGNATURE, resolve_version_dir


def _read(path):
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path!r} is a directory, not an image file; pass the image files themselves.")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Image file {path!r} does not exist.")
    with open(path, "rb") as handle:
        encoded = handle.read()
    # Check each file alone, so an error names the file, not the batch.
    try:
        tf.io.decode_image(encoded, channels=3, expand_animations=False)
    except (tf.errors.InvalidArgumentError, ValueError):
        raise ValueError(f"{path!r} is not a JPEG, PNG, GIF or BMP image.") from None
    return encoded


def predict_files(model_dir, image_paths, version=None, top_k=5):
    """Top classes of image files, from the SavedModel's `predict_images` signature.

    Args:
        model_dir: str. A model base path (`saved_models/NAME`) or a version directory.
        image_paths: list of str. Image files (JPEG, PNG, GIF, BMP).
        version: int or None. The version to load; None loads the highest.
        top_k: int. How many classes to list per image, at most the exported k
            (the second dimension of the signature's `scores` output).

    Returns:
        A list of `(path, [(class_name, score), ...])`, one per image.

    Raises:
        FileNotFoundError: no SavedModel, or a missing image file.
        IsADirectoryError: an image path that is a directory.
        ValueError: a file that is not an image; `top_k` above the exported k.
    """
    if not image_paths:
        raise ValueError("No image files given.")
    encoded = [_read(path) for path in image_paths]
    model_path = resolve_version_dir(model_dir, version)
    loaded = tf.saved_model.load(model_path)
    signature = loaded.signatures[BYTES_SIGNATURE]
    exported_k = signature.structured_outputs["scores"].shape[-1]
    if exported_k is not None and top_k > exported_k:
        # Listing fewer classes than asked without a word would read as an answer.
        raise ValueError(
            f"top_k={top_k} but the SavedModel at {model_path!r} lists at most {exported_k} classes "
            f"(its scores output has shape (batch, {exported_k})). Pass --top-k {exported_k} or less, "
            "or export again with a larger --top-k (at most the number of classes)."
        )
    outputs = signature(image_bytes=tf.constant(encoded))
    scores = outputs["scores"].numpy()
    if "class_names" in outputs:
        names = [[name.decode() for name in row] for row in outputs["class_names"].numpy()]
    else:
        names = [[str(index) for index in row] for row in outputs["classes"].numpy()]
    return [
        (path, list(zip(row_names[:top_k], [float(s) for s in row_scores[:top_k]])))
        for path, row_names, row_scores in zip(image_paths, names, scores)
    ]


def load_keras_source(model):
    """`(keras.Model, class names)` for `is_keras_source(model)`: ImageNet names for the pretrained network."""
    from inception_tf import runs

    if model == "imagenet" or str(model).endswith((".onnx", ".weights.h5")):
        from inception_tf.imagenet import imagenet_classes
        from inception_tf.models.googlenet import GoogLeNet

        return GoogLeNet(weights=model), [name for _, name, _ in imagenet_classes()]
    names = runs.class_names(model) if os.path.isdir(model) else None
    return runs.load_model(model), names


def predict_keras(model, image_paths, top_k=5, class_names=None):
    """Top classes of image files from a Keras model, with the paper's single centre crop.

    Each image's shorter side is resized to 256/224 of the model's input size
    and its centre cropped (`inception_tf.evaluation.crops`, `crops=1`); the
    model carries its own normalisation.

    Args:
        model: a `keras.Model` taking `(batch, size, size, 3)` RGB pixels in [0, 255].
        image_paths: list of str. Image files (JPEG, PNG, GIF, BMP).
        top_k: int. How many classes per image, at most the model's classes.
        class_names: list of str or None. Names by class index; None prints the index.

    Returns:
        A list of `(path, [(class_name, score), ...])`, one per image.
    """
    from inception_tf.evaluation.crops import make_crops
    from inception_tf.models.googlenet import inference_model

    if not image_paths:
        raise ValueError("No image files given.")
    model = inference_model(model)
    classes = int(model.output_shape[-1])
    if top_k > classes:
        raise ValueError(f"top_k={top_k} but the model has {classes} classes. Pass --top-k {classes} or less.")
    size = int(model.input_shape[1])
    encoded = [_read(path) for path in image_paths]
    crops = [make_crops(tf.io.decode_image(data, channels=3, expand_animations=False), size, 1) for data in encoded]
    probabilities = tf.cast(model.predict_on_batch(tf.concat(crops, axis=0)), tf.float32).numpy()
    rows = []
    for path, row in zip(image_paths, probabilities):
        top = row.argsort()[::-1][:top_k]
        names = [class_names[i] if class_names else str(i) for i in top]
        rows.append((path, list(zip(names, [float(row[i]) for i in top]))))
    return rows
