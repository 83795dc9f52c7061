"""Classifying image files, whichever way the model comes: `classify(model, image_paths)`.

Every source prepares images with the test-time geometry the model records
(`inception_tf.geometry`, applied by `inception_tf.images.prepare_images`)
and names classes with the names it records, so the same model gives the
same answer as a `.keras` file, a run directory, a weights file, a SavedModel
(its signatures apply the geometry in the graph) or an ONNX/LiteRT export
(`inception_tf.serving.runtimes`, which applies it client-side).
"""


from inception_tf.geometry import square_input
from inception_tf.runs import is_keras_source, load_keras_source
from inception_tf.serving.image_files import check_top_k, decode_files, read_image_file, top_classes
from inception_tf.serving.signatures import BYTES_SIGNATURE, DEFAULT_TOP_K, resolve_version_dir


def predict_files(model_dir, image_paths, version=None, top_k=DEFAULT_TOP_K):
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
    import tensorflow as tf

    if not image_paths:
        raise ValueError("No image files given.")
    encoded = [read_image_file(path) for path in image_paths]
    model_path = resolve_version_dir(model_dir, version)
    loaded = tf.saved_model.load(model_path)
    signature = loaded.signatures[BYTES_SIGNATURE]
    exported_k = signature.structured_outputs["scores"].shape[1]  # (batch, k)
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


def keras_probabilities(model, images):
    """float32 `(len(images), classes)` of a Keras model on decoded images, prepared as the model records.

    Args:
        model: a `keras.Model` starting with `ImagePreprocessing` (a GoogLeNet
            with auxiliary heads answers with its main output).
        images: list of uint8 or float `(height, width, channels)` tensors, values in [0, 255], any sizes.

    Raises:
        ValueError: a model without `ImagePreprocessing`, or without a square input.
    """
    import tensorflow as tf

    from inception_tf.images import prepare_images
    from inception_tf.models.googlenet import inference_model
    from inception_tf.models.preprocessing import model_record

    model = inference_model(model)
    record = model_record(model)
    size, channels = square_input(model.input_shape, "predict")
    batch = tf.stack([prepare_images(image, size, record.geometry, channels) for image in images])
    return tf.cast(model.predict_on_batch(batch), tf.float32).numpy()


def predict_keras(model, image_paths, top_k=DEFAULT_TOP_K):
    """Top classes of image files from a Keras model, prepared with the geometry the model records.

    Args:
        model: a `keras.Model` taking `(batch, size, size, 3)` RGB pixels in [0, 255],
            starting with `ImagePreprocessing` (which records its geometry and class names).
        image_paths: list of str. Image files (JPEG, PNG, GIF, BMP).
        top_k: int. How many classes per image, at most the model's classes.

    Returns:
        A list of `(path, [(class_name, score), ...])`, one per image; a class
        is named by its index where the model records no names.
    """
    from inception_tf.models.googlenet import inference_model
    from inception_tf.models.preprocessing import model_record

    model = inference_model(model)
    names = model_record(model).class_names
    check_top_k(top_k, int(model.output_shape[1]))  # (batch, classes)
    return top_classes(image_paths, keras_probabilities(model, decode_files(image_paths)), top_k, names)


def classify(model, image_paths, top_k=DEFAULT_TOP_K, version=None):
    """Top classes of image files from `model`, whichever way it is given.

    Args:
        model: str. `imagenet`, a weights file (`.onnx` of the zoo's layout,
            `.weights.h5`), a `.keras` file, a run directory, an ONNX or
            LiteRT export, or a SavedModel base path or version directory.
        image_paths: list of str. Image files (JPEG, PNG, GIF, BMP).
        top_k: int. How many classes per image.
        version: int or None. The SavedModel version (None: the highest); only for SavedModels.

    Returns:
        A list of `(path, [(class_name, score), ...])`, one per image.
    """
    from inception_tf.serving import runtimes

    if runtimes.is_export(model) or is_keras_source(model):
        if version is not None:
            raise ValueError(f"version applies to SavedModels only; {model!r} is not one.")
        if runtimes.is_export(model):
            return runtimes.classify_files(model, image_paths, top_k=top_k)
        return predict_keras(load_keras_source(model), image_paths, top_k=top_k)
    return predict_files(model, image_paths, version=version, top_k=top_k)
