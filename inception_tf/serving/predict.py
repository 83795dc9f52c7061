"""Classifying image files with an exported SavedModel, without a server."""

import os

import tensorflow as tf

from inception_tf.serving.signatures import BYTES_SIGNATURE, resolve_version_dir


def _read(path):
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
        top_k: int. How many classes to list per image (at most the exported k).

    Returns:
        A list of `(path, [(class_name, score), ...])`, one per image.

    Raises:
        FileNotFoundError: no SavedModel, or a missing image file.
        ValueError: a file that is not an image.
    """
    if not image_paths:
        raise ValueError("No image files given.")
    encoded = [_read(path) for path in image_paths]
    loaded = tf.saved_model.load(resolve_version_dir(model_dir, version))
    outputs = loaded.signatures[BYTES_SIGNATURE](image_bytes=tf.constant(encoded))
    scores = outputs["scores"].numpy()
    if "class_names" in outputs:
        names = [[name.decode() for name in row] for row in outputs["class_names"].numpy()]
    else:
        names = [[str(index) for index in row] for row in outputs["classes"].numpy()]
    return [
        (path, list(zip(row_names[:top_k], [float(s) for s in row_scores[:top_k]])))
        for path, row_names, row_scores in zip(image_paths, names, scores)
    ]
