"""The SavedModel contract shared by exports and clients: names and version directories.

Needs no TensorFlow, so REST and gRPC clients can import it anywhere.
"""

import os
import re

SERVING_SIGNATURE = "serving_default"   # input `images`: float32 (batch, height, width, 3) in [0, 255]
BYTES_SIGNATURE = "predict_images"      # input `image_bytes`: string (batch,) of encoded images
IMAGES_INPUT = "images"
BYTES_INPUT = "image_bytes"
CLASS_NAMES_ASSET = "class_names.txt"
MODEL_RECORD_ASSET = "model_record.json"  # preprocessing, test-time geometry, input size
WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
DEFAULT_TOP_K = 5
PRECISIONS = ("float32", "bfloat16")  # what a SavedModel's layers compute in, behind float32 signatures


def _integer_names(base_dir):
    """The entries of `base_dir` named by an integer (TF Serving's version names), by name."""
    if not os.path.isdir(base_dir):
        return []
    return [name for name in os.listdir(base_dir) if re.fullmatch(r"\d+", name)]


def version_dirs(base_dir):
    """Integer-named version directories under `base_dir`, as ints, ascending."""
    return sorted(int(name) for name in _integer_names(base_dir) if os.path.isdir(os.path.join(base_dir, name)))


def next_version(base_dir):
    """One more than the highest integer-named entry (a version, or a file in its way), or 1.

    Gaps stay gaps (next to 1 and 3 comes 4) and other names (`latest`, `.tmp-*`) do not count.
    """
    return max((int(name) for name in _integer_names(base_dir)), default=0) + 1


def resolve_version_dir(model_dir, version=None):
    """The SavedModel directory for `model_dir` (a base path or a version directory).

    Args:
        model_dir: str. A TF Serving base path, or a SavedModel directory.
        version: int or None. None picks the highest version, as TF Serving does.

    Raises:
        FileNotFoundError: no SavedModel there.
    """
    if version is None and os.path.exists(os.path.join(model_dir, "saved_model.pb")):
        return model_dir
    versions = version_dirs(model_dir)
    if version is None:
        if not versions:
            raise FileNotFoundError(f"No SavedModel version under {model_dir!r} (no integer-named directory).")
        version = versions[-1]
    path = os.path.join(model_dir, str(version))
    if not os.path.exists(os.path.join(path, "saved_model.pb")):
        raise FileNotFoundError(f"No SavedModel at {path!r}. Versions there: {versions}")
    return path


def model_record_entry(preprocessing, geometry, image_size):
    """What an export states of the model's inputs (`assets/model_record.json`, ONNX metadata, a LiteRT sidecar).

    Args:
        preprocessing: str. The `ImagePreprocessing` mode inside the graph (`"tf"`, `"caffe"`).
        geometry: str. The test-time geometry clients apply (`inception_tf.geometry`).
        image_size: int. The square input side.

    Returns:
        A JSON-ready dict with those three keys.
    """
    return {"preprocessing": preprocessing, "geometry": geometry, "image_size": int(image_size)}

