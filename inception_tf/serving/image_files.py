"""Image files in, top classes out: what every way of classifying files shares (TensorFlow's decoder)."""

import os

import numpy as np


def read_image_file(path):
    """The encoded bytes of the image file `path`, checked to decode (the error names the file)."""
    import tensorflow as tf

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


def decode_files(image_paths):
    """uint8 `(height, width, 3)` tensors of image files, one per path, each at its own size.

    Raises:
        ValueError: no paths, or a file that is not an image.
        FileNotFoundError, IsADirectoryError: a path that is not a file.
    """
    import tensorflow as tf

    if not image_paths:
        raise ValueError("No image files given.")
    return [tf.io.decode_image(read_image_file(path), channels=3, expand_animations=False) for path in image_paths]


def check_top_k(top_k, classes):
    """`top_k` if it is at most `classes`; a ValueError saying what to pass otherwise."""
    if top_k > classes:
        raise ValueError(f"top_k={top_k} but the model has {classes} classes. Pass --top-k {classes} or less.")
    return top_k


def top_classes(image_paths, probabilities, top_k, class_names=None):
    """`[(path, [(class name, score), ...]), ...]`: each row's `top_k` classes, highest first, ties by lower index.

    Args:
        image_paths: list of str, one per row.
        probabilities: array `(len(image_paths), classes)`.
        top_k: int. How many classes per image, at most `classes`.
        class_names: list of str or None. Names by class index; None names a class by its index.
    """
    probabilities = np.asarray(probabilities, np.float32)
    check_top_k(top_k, probabilities.shape[1])
    rows = []
    for path, row in zip(image_paths, probabilities):
        top = np.argsort(-row, kind="stable")[:top_k]
        names = [class_names[i] if class_names else str(i) for i in top]
        rows.append((path, list(zip(names, [float(row[i]) for i in top]))))
    return rows
