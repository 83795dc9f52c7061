"""Classifying image files with an ONNX or LiteRT export, in its own runtime (the client side).

These formats hold the network, its normalisation and the top-k, but not the
test-time geometry (no op for a crop of any size) or the class names; the
export records both beside the graph (`inception_tf.serving.formats`): ONNX in
its `metadata_props`, LiteRT in sidecar files. `classify_files` reads that
record, prepares each image with `inception_tf.images.prepare_images` (the
function the SavedModel signatures, `predict` and `evaluate` call) and runs
the file in onnxruntime or the LiteRT interpreter, so an export answers as
the model it came from.

An ONNX file written before exports recorded their geometry is prepared as
that version's clients did (central square, `"square"`).
"""

import json
import os

import numpy as np

from inception_tf.geometry import SQUARE
from inception_tf.serving import formats
from inception_tf.serving.image_files import decode_files, top_classes
from inception_tf.serving.signatures import DEFAULT_TOP_K, IMAGES_INPUT

EXPORT_SUFFIXES = tuple(formats.FORMATS.values())  # (".onnx", ".tflite")


def _onnx_session(path):
    import onnxruntime

    return onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])


def is_export(path):
    """Whether `path` is an ONNX or LiteRT file this package exported (an `images` input), not weights.

    The ONNX model zoo's `googlenet-7.onnx` (input `data_0`) is a weights file
    (`GoogLeNet(weights=...)`); an exported `.onnx` takes `images`.
    """
    path = os.fspath(path)
    if path.endswith(formats.FORMATS["litert"]):
        return True
    if not path.endswith(formats.FORMATS["onnx"]) or not os.path.isfile(path):
        return False
    from onnxruntime.capi import onnxruntime_pybind11_state as errors

    try:
        inputs = _onnx_session(path).get_inputs()
    except (errors.InvalidProtobuf, errors.InvalidGraph, errors.Fail):  # not a model: the weights loader says why
        return False
    return [value.name for value in inputs] == [IMAGES_INPUT]


def _check_entry(entry, where):
    if not isinstance(entry, dict) or not {"geometry", "image_size"} <= set(entry):
        raise ValueError(f"{where} holds no model record (geometry, image_size). Export the model again.")
    return entry  # its geometry is checked where it is applied (prepare_images)


def _onnx_record(session, path):
    """`(geometry, image_size, class names or None)` of an ONNX export."""
    metadata = session.get_modelmeta().custom_metadata_map
    names = metadata[formats.CLASS_NAMES_METADATA].split("\n") if formats.CLASS_NAMES_METADATA in metadata else None
    if formats.MODEL_RECORD_METADATA not in metadata:  # written before exports recorded their geometry
        return SQUARE, int(session.get_inputs()[0].shape[1]), names
    entry = _check_entry(json.loads(metadata[formats.MODEL_RECORD_METADATA]), f"{path!r}'s metadata")
    return entry["geometry"], int(entry["image_size"]), names


def _litert_record(path):
    """`(geometry, image_size, class names or None)` of a LiteRT export, from its sidecar files."""
    record_path = formats.model_record_path(path)
    if not os.path.exists(record_path):
        raise FileNotFoundError(
            f"{record_path!r} is missing: a LiteRT file keeps its test-time geometry in that sidecar, written "
            f"beside it by inception-tf export. Copy it with the .tflite file, or export again."
        )
    with open(record_path) as handle:
        entry = _check_entry(json.load(handle), repr(record_path))
    names_path = formats.class_names_path(path)
    names = None
    if os.path.exists(names_path):
        with open(names_path) as handle:
            names = handle.read().splitlines()
    return entry["geometry"], int(entry["image_size"]), names


def _runner(path):
    """`(run, geometry, image_size, class names)`: `run` maps float32 `(batch, size, size, 3)` to probabilities."""
    if path.endswith(formats.FORMATS["onnx"]):
        session = _onnx_session(path)
        geometry, size, names = _onnx_record(session, path)
        return (lambda images: session.run(["probabilities"], {IMAGES_INPUT: images})[0]), geometry, size, names
    from ai_edge_litert.interpreter import Interpreter

    geometry, size, names = _litert_record(path)
    runner = Interpreter(model_path=path).get_signature_runner()
    return (lambda images: runner(**{IMAGES_INPUT: images})["probabilities"]), geometry, size, names


def classify_images(path, images):
    """Class probabilities of decoded images from an ONNX or LiteRT export, with its recorded geometry.

    Args:
        path: str. An exported `.onnx` or `.tflite` file.
        images: list of uint8 or float arrays `(height, width, 3)`, values in [0, 255], any sizes.

    Returns:
        `(probabilities, class names or None)`: float32 `(len(images), classes)`.
    """
    import tensorflow as tf

    from inception_tf.images import prepare_images

    path = os.fspath(path)
    if not path.endswith(EXPORT_SUFFIXES):
        raise ValueError(f"{path!r} is not an ONNX (.onnx) or LiteRT (.tflite) export.")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No export at {path!r}.")
    run, geometry, size, names = _runner(path)
    batch = tf.stack([prepare_images(image, size, geometry) for image in images]).numpy()
    return np.asarray(run(batch), np.float32), names


def classify_files(path, image_paths, top_k=DEFAULT_TOP_K):
    """Top classes of image files from an ONNX or LiteRT export, prepared as the model records.

    Args:
        path: str. An exported `.onnx` or `.tflite` file.
        image_paths: list of str. Image files (JPEG, PNG, GIF, BMP).
        top_k: int. How many classes per image, at most the model's classes.

    Returns:
        A list of `(path, [(class_name, score), ...])`, one per image; names are
        class indices where the export records no names.

    Raises:
        FileNotFoundError: no such export, image or LiteRT sidecar.
        ValueError: no image files, a file that is not an image, `top_k` above the classes.
    """
    images = decode_files(image_paths)
    probabilities, names = classify_images(path, images)
    return top_classes(image_paths, probabilities, top_k, names)
