"""`GoogLeNet(weights=...)`: ImageNet weights downloaded, verified, converted once and cached.

`weights="imagenet"` fetches the ONNX model zoo's `googlenet-7.onnx` (Caffe's
bvlc_googlenet: 68.7% top-1 / 88.9% top-5 on the ILSVRC 2012 validation set,
centre crop) with `keras.utils.get_file` into `~/.keras/models/`, checks its
SHA-256, converts it once (`weights.onnx_weights`) to a `.weights.h5` file
beside it, and later calls load that file. The model then preprocesses the
way Caffe trained it (`ImagePreprocessing("caffe")`).

Preprocessing: bvlc_googlenet's train_val.prototxt subtracts `mean_value`
104, 117, 123 from BGR pixels in [0, 255], with no scaling; the zoo's README
instead subtracts the RGB means 123.68, 116.779, 103.939 (keras.applications'
"caffe" mode) before swapping to BGR. The two differ by under 0.7 of 255; we
follow the prototxt, the convention the weights were trained with.
"""

import hashlib
import os
import warnings

from inception_tf.files import atomic_file

IMAGENET = "imagenet"
IMAGENET_CLASSES = 1000
ONNX_FILE_NAME = "googlenet-7.onnx"
ONNX_URL = ("https://github.com/onnx/models/raw/main/validated/vision/classification/"
            "inception_and_googlenet/googlenet/model/googlenet-7.onnx")
ONNX_SHA256 = "5725ccfd90845735ce5897faf7843c3f9b13acda3c4f3bff82cb21c9337c9de8"
ONNX_SIZE = 28_020_232
CACHE_SUBDIR = "models"
CONVERTED_FILE_NAME = "googlenet-7.inception_tf.weights.h5"
# A root attribute of converted files: the preprocessing their weights expect.
PREPROCESSING_ATTRIBUTE = "inception_tf.preprocessing"
# Weight sources that hold Caffe's ImageNet weights.
IMAGENET_KINDS = ("imagenet", "onnx", "converted")


def keras_home():
    """Keras' cache directory: `$KERAS_HOME`, else `~/.keras` (read at call time)."""
    return os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")


def _converted_preprocessing(path):
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            value = handle.attrs.get(PREPROCESSING_ATTRIBUTE)
    except OSError:
        return None  # not HDF5: Keras' loader gives the error
    return value.decode() if isinstance(value, bytes) else value


def weights_kind(weights):
    """What `weights` names: None, `"imagenet"`, `"onnx"`, `"converted"` or `"keras"`.

    `"converted"` is a `.weights.h5` file written by `convert_onnx`; `"keras"`
    any other weights file, loaded with `model.load_weights`.
    """
    if weights is None:
        return None
    if not isinstance(weights, (str, os.PathLike)):
        raise ValueError(
            f"weights must be None, 'imagenet', or the path of a .onnx or weights file. Received: weights={weights!r}"
        )
    if isinstance(weights, str) and weights == IMAGENET:
        return IMAGENET
    path = os.fspath(weights)
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"weights file {path!r} does not exist. Pass weights='imagenet' for Caffe's ImageNet weights, "
            "or the file written by model.save_weights()."
        )
    if path.lower().endswith(".onnx"):
        return "onnx"
    if path.endswith(".h5") and _converted_preprocessing(path) == "caffe":
        return "converted"
    return "keras"


def check_arguments(kind, include_top, classes):
    """ImageNet weights need the 1000-class classifier."""
    if kind in IMAGENET_KINDS and (not include_top or classes != IMAGENET_CLASSES):
        raise ValueError(
            "Caffe's ImageNet weights need include_top=True and classes=1000 (they include the classifier). "
            f"Received: include_top={include_top}, classes={classes}"
        )


def preprocessing_mode(kind):
    """`ImagePreprocessing` mode for a weight source: `"caffe"` for ImageNet weights, else `"tf"`."""
    return "caffe" if kind in IMAGENET_KINDS else "tf"


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_onnx(origin=None, file_hash=None, cache_dir=None):
    """The zoo's `googlenet-7.onnx` in `<cache_dir>/models/`, downloaded once and verified.

    Args:
        origin: str. The URL. Defaults to `ONNX_URL`.
        file_hash: str. Its SHA-256. Defaults to `ONNX_SHA256`.
        cache_dir: str. Defaults to `keras_home()` (`$KERAS_HOME` or `~/.keras`).

    Returns:
        The local path.

    Raises:
        ValueError: the file (already there, or just downloaded) has another hash; a
            downloaded one is removed.
        OSError: it could not be downloaded; the message names the URL and where to put it.
    """
    import keras

    origin, file_hash = origin or ONNX_URL, file_hash or ONNX_SHA256
    cache_dir = cache_dir or keras_home()
    target = os.path.join(cache_dir, CACHE_SUBDIR, ONNX_FILE_NAME)
    if os.path.exists(target):
        found = _sha256(target)
        if found != file_hash:
            raise ValueError(
                f"{target} has sha256 {found}, not {file_hash}: it is not the zoo's {ONNX_FILE_NAME} "
                f"({ONNX_SIZE:,} bytes; this one has {os.path.getsize(target):,} bytes), or it is incomplete. "
                f"Delete it and fetch {origin} again."
            )
        return target
    # get_file falls back to /tmp/.keras when the directory does not exist yet.
    os.makedirs(os.path.dirname(target), exist_ok=True)
    try:
        return keras.utils.get_file(ONNX_FILE_NAME, origin, file_hash=file_hash, hash_algorithm="sha256",
                                    cache_subdir=CACHE_SUBDIR, cache_dir=cache_dir)
    except ValueError as error:  # get_file's hash check, after a download
        found = _sha256(target) if os.path.exists(target) else None
        if os.path.exists(target):
            os.remove(target)
        raise ValueError(
            f"The file downloaded from {origin} has sha256 {found}, not {file_hash}; it was refused and "
            f"removed ({error})."
        ) from error
    except Exception as error:
        raise OSError(
            f"Could not download Caffe's GoogLeNet ImageNet weights from {origin} ({error}). Without network "
            f"access, fetch that file ({ONNX_SIZE:,} bytes, sha256 {file_hash}) elsewhere and put it at {target}."
        ) from error


def imagenet_model():
    """The model converted weights are saved from: 1000 classes, no preprocessing, any input size."""
    from inception_tf.models.googlenet import GoogLeNet

    return GoogLeNet(input_shape=(None, None, 3), include_preprocessing=False, data_format="channels_last",
                     implementation="standard", name="googlenet_imagenet")


def convert_onnx(onnx_path, output_path, overwrite=True):
    """Converts the zoo's GoogLeNet ONNX file to a Keras `.weights.h5` file, written atomically.

    The file holds the weights of `imagenet_model()` and records that they expect
    Caffe's preprocessing, so `GoogLeNet(weights=output_path)` sets it up.

    Args:
        onnx_path: str or os.PathLike. The `.onnx` file (checked by `weights.onnx_weights`).
        output_path: str or os.PathLike. Must end in `.weights.h5`.
        overwrite: bool. Whether to replace an existing `output_path`. Defaults to True.

    Returns:
        `output_path`.
    """
    import h5py

    from inception_tf.models import weights as onnx_weights_module

    onnx_path, output_path = os.fspath(onnx_path), os.fspath(output_path)
    if not output_path.endswith(".weights.h5"):
        raise ValueError(f"output_path must end in '.weights.h5'. Received: output_path={output_path!r}")
    if not os.path.isfile(onnx_path):
        raise FileNotFoundError(f"ONNX file {onnx_path!r} does not exist.")
    if os.path.exists(output_path) and not overwrite:
        raise FileExistsError(f"{output_path} already exists; pass overwrite=True (--overwrite) to replace it.")
    model = imagenet_model()
    onnx_weights_module.assign_weights(model, onnx_weights_module.onnx_weights(model, onnx_path), source=onnx_path)
    with atomic_file(output_path) as temporary:
        model.save_weights(temporary)
        with h5py.File(temporary, "a") as handle:
            handle.attrs[PREPROCESSING_ATTRIBUTE] = "caffe"
    return output_path


def imagenet_weights_file(origin=None, file_hash=None, cache_dir=None):
    """The converted ImageNet weights, from the cache or by downloading and converting once.

    Returns:
        The path of `<cache_dir>/models/googlenet-7.inception_tf.weights.h5`.
    """
    converted = os.path.join(cache_dir or keras_home(), CACHE_SUBDIR, CONVERTED_FILE_NAME)
    if os.path.exists(converted):
        return converted
    onnx_path = fetch_onnx(origin, file_hash, cache_dir)
    return convert_onnx(onnx_path, os.path.join(os.path.dirname(onnx_path), CONVERTED_FILE_NAME))


def converted_weights(path):
    """`[kernel, bias]` per layer path from a file written by `convert_onnx`."""
    from inception_tf.models import weights as onnx_weights_module

    model = imagenet_model()
    model.load_weights(path)
    return onnx_weights_module.layer_weights(model)


def load(model, weights, kind, aux_logits=False):
    """Fills `model` from `weights` (see `weights_kind`); nothing to do for None.

    ImageNet weights go into the convolutions and the classifier by name, so any
    input size, data format and dtype policy works; with `aux_logits=True` the
    auxiliary heads keep their initialisation, with a warning.
    """
    from inception_tf.models import weights as onnx_weights_module

    if kind is None:
        return
    if kind == "keras":
        model.load_weights(weights)
        return
    if kind == "onnx":
        values = onnx_weights_module.onnx_weights(model, weights)
    else:
        values = converted_weights(imagenet_weights_file() if kind == IMAGENET else weights)
    onnx_weights_module.assign_weights(model, values, source=str(weights))
    if aux_logits:
        warnings.warn(
            "Caffe's ImageNet weights have no auxiliary classifiers (the deploy model drops loss1 and loss2): "
            "aux1 and aux2 keep their random initialisation.",
            UserWarning,
            stacklevel=3,
        )
