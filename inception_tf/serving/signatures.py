"""The exports' contract shared by exporters and clients: names, version directories, LRN forms.

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
DEFAULT_EXPORT_DIR = "saved_models"  # where exports go by default: saved_models/NAME/VERSION, saved_models/NAME.onnx
PRECISIONS = ("float32", "bfloat16")  # what a SavedModel's layers compute in, behind float32 signatures
DEFAULT_PRECISION = PRECISIONS[0]
LRN_FORM_ASSET = "lrn_form.txt"  # a SavedModel's asset naming the LRN form it holds
LRN_METADATA = "lrn"  # the same, as an ONNX file's metadata_props key and a LiteRT quantization record's entry

# The `implementation` each export's LRN layers are traced with: the form its own runtime runs fastest.
# benchmarks/RESULTS.md, 2 threads, ms per batch with TensorFlow's op -> with the banded form, first on an
# AMX Xeon, then on an AVX-512 BF16 EPYC without AMX. "banded" is the band convolution in standard ops (in
# bfloat16 under a bfloat16 precision), "standard" TensorFlow's LRN op, which the converters map to ONNX's
# `LRN` and LiteRT's `LOCAL_RESPONSE_NORMALIZATION`.
LRN_FORMS = {  # (format, precision or quantization) -> implementation
    ("savedmodel", "float32"): "standard",  # batch 32: 3516 -> 2984 (under load), 1197 -> 1630: no steady gain
    ("savedmodel", "bfloat16"): "banded",   # batch 32: 1432 -> 1178, 791 -> 628
    ("onnx", "float32"): "banded",          # onnxruntime, batch 8: 600 -> 337; batch 32: 1991 -> 1336
    ("onnx", "int8"): "banded",             # the band convolution quantized with the rest: 485 -> 202; 1430 -> 561
    ("litert", "float32"): "banded",        # XNNPACK, batch 8: 2361 -> 1477; batch 32: 1910 -> 1113
    ("litert", "int8"): "banded",           # kept float32 (formats), EPYC only: batch 1 28.6 -> 6.8; 32: 894 -> 231
}


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


def lrn_form(format, precision="float32"):
    """The `implementation` an export of `format` at `precision` traces its LRN layers with (`LRN_FORMS`).

    Args:
        format: str. `"savedmodel"`, `"onnx"` or `"litert"`.
        precision: str. `"float32"`, or the export's lower precision:
            `"bfloat16"` (SavedModel) or `"int8"` (ONNX, LiteRT).

    Returns:
        str. `"standard"` or `"banded"`.

    Raises:
        ValueError: no export of that format at that precision.
    """
    if (format, precision) not in LRN_FORMS:
        raise ValueError(f"No {format} export at precision {precision!r}; known: {sorted(LRN_FORMS)}. "
                         f"Received: format={format!r}, precision={precision!r}")
    return LRN_FORMS[format, precision]
