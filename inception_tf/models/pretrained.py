"""`GoogLeNet(weights=...)`: published weights downloaded, verified, converted once, cached and assigned.

`weights="imagenet"` names the record `published_weights.IMAGENET`: the ONNX
model zoo's `googlenet-7.onnx` (Caffe's bvlc_googlenet), fetched with
`keras.utils.get_file` into `~/.keras/models/`, checked against the record's
SHA-256, converted once (`convert_onnx`) to a file of arrays by layer path
beside it. Loading reads those arrays and assigns them to the model being
built, shape-checked; no other model is built. The model then preprocesses the
way the record says (`ImagePreprocessing("caffe")`).

The converted file is HDF5 with one dataset per layer path and weight
(`conv1/kernel`, `inception_3a/branch_1x1/bias`, ..., `logits/kernel`) in our
layout (kernels `(height, width, in, out)`, the classifier `(1024, 1000)`), and
root attributes that declare it: `inception_tf.format` (`"layer_arrays"`),
`inception_tf.format_version`, `inception_tf.weights` (the record's name) and
`inception_tf.source_sha256` (the ONNX file it came from).

Preprocessing: bvlc_googlenet's train_val.prototxt subtracts `mean_value`
104, 117, 123 from BGR pixels in [0, 255], with no scaling; the zoo's README
instead subtracts the RGB means 123.68, 116.779, 103.939 (keras.applications'
"caffe" mode) before swapping to BGR. The two differ by under 0.7 of 255; we
follow the prototxt, the convention the weights were trained with.
"""

import dataclasses
import hashlib
import os
import warnings

import numpy as np

from inception_tf.files import atomic_file
from inception_tf.models import published_weights
from inception_tf.models import weights as layer_arrays

CACHE_SUBDIR = "models"
FORMAT_ATTRIBUTE = "inception_tf.format"
FORMAT = "layer_arrays"
FORMAT_VERSION_ATTRIBUTE = "inception_tf.format_version"
FORMAT_VERSION = 2
RECORD_ATTRIBUTE = "inception_tf.weights"
SOURCE_SHA256_ATTRIBUTE = "inception_tf.source_sha256"
# The root attribute of the previous version's converted files (Keras' save_weights layout).
PREVIOUS_FORMAT_ATTRIBUTE = "inception_tf.preprocessing"
WEIGHT_NAMES = ("kernel", "bias")
CLASSIFIER = layer_arrays.CLASSIFIER[0]
# The record whose source is the zoo's ONNX file: a `.onnx` path holds arrays in its layout.
ONNX_RECORD = published_weights.IMAGENET.name


@dataclasses.dataclass(frozen=True)
class WeightsSource:
    """What `GoogLeNet(weights=...)` names.

    Attributes:
        kind: str. `"published"` (a record's name), `"onnx"` (the zoo's ONNX file),
            `"converted"` (a file from `convert_onnx`) or `"keras"` (a file from
            `model.save_weights`, loaded whole).
        path: str or None. The file; None for `"published"` (the cache's, found when loading).
        record: `published_weights.PublishedWeights` or None. The weights' record
            (None for a Keras weights file).
    """

    kind: str
    path: str = None
    record: published_weights.PublishedWeights = None

    @property
    def preprocessing(self):
        """The `ImagePreprocessing` mode the weights expect: the record's, `"tf"` without one."""
        return self.record.preprocessing if self.record else "tf"


def keras_home():
    """Keras' cache directory: `$KERAS_HOME`, else `~/.keras` (read at call time)."""
    return os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")


def _root_attributes(path):
    """The file's HDF5 root attributes as str/int values; None when it is not HDF5."""
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            return {key: value.decode() if isinstance(value, bytes) else value for key, value in handle.attrs.items()}
    except OSError:
        return None  # not HDF5: Keras' loader gives the error


def _declared_source(path, attributes):
    """The `WeightsSource` a converted file declares in its root attributes."""
    version = attributes.get(FORMAT_VERSION_ATTRIBUTE)
    if attributes[FORMAT_ATTRIBUTE] != FORMAT or version != FORMAT_VERSION:
        raise ValueError(
            f"{path} declares {FORMAT_ATTRIBUTE}={attributes[FORMAT_ATTRIBUTE]!r} version {version}; this "
            f"version of inception_tf reads {FORMAT!r} version {FORMAT_VERSION}. Convert the ONNX file again: "
            f"inception-tf convert googlenet-7.onnx --output {path}"
        )
    return WeightsSource("converted", path, published_weights.resolve(attributes.get(RECORD_ATTRIBUTE)))


def resolve(weights):
    """What `weights` names: None, or a `WeightsSource`.

    A published name (`published_weights.PUBLISHED`) is its record, even where a file has that
    name; another str with no dot or path separator that names no file is an unknown record;
    a path ending in `.onnx` is the zoo's ONNX file (the `"imagenet"` record's source); any
    other file declares its kind in its HDF5 root attributes: `convert_onnx`'s files name
    their format and record, anything else is a Keras weights file.

    Raises:
        ValueError: `weights` is neither None, a str nor a path; an unknown record name (the
            message lists the known ones); a converted file of another format version or of
            the previous version's layout (the message says to convert again).
        FileNotFoundError: the file does not exist.
    """
    if weights is None:
        return None
    if not isinstance(weights, (str, os.PathLike)):
        names = ", ".join(map(repr, published_weights.PUBLISHED))
        raise ValueError(
            f"weights must be None, {names}, or the path of a .onnx or weights file. Received: weights={weights!r}"
        )
    path = os.fspath(weights)
    if isinstance(weights, str) and (weights in published_weights.PUBLISHED
                                     or not (os.path.exists(path) or {".", os.sep} & set(path))):
        return WeightsSource("published", record=published_weights.resolve(weights))
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"weights file {path!r} does not exist. Pass weights='imagenet' for Caffe's ImageNet weights, "
            "or the file written by model.save_weights()."
        )
    if path.lower().endswith(".onnx"):
        return WeightsSource("onnx", path, published_weights.resolve(ONNX_RECORD))
    attributes = _root_attributes(path) or {}
    if FORMAT_ATTRIBUTE in attributes:
        return _declared_source(path, attributes)
    if PREVIOUS_FORMAT_ATTRIBUTE in attributes:
        raise ValueError(
            f"{path} was converted by a previous version of inception_tf (Keras save_weights layout), which "
            f"this version no longer reads. Convert the ONNX file again: inception-tf convert googlenet-7.onnx "
            f"--output {path}"
        )
    return WeightsSource("keras", path)


def classifier_skip(source, include_top, classes):
    """The layer paths a model leaves out of `source`: the classifier, when it has another number of
    classes than the record's (fine-tuning) or none (`include_top=False`); else none."""
    if source is None or source.record is None or (include_top and classes == source.record.num_classes):
        return ()
    return (CLASSIFIER,)


def preprocessing_mode(source):
    """`ImagePreprocessing` mode for a weight source (None: random weights): the record's, else `"tf"`."""
    return source.preprocessing if source else "tf"


def test_time(source, include_top, classes):
    """`(geometry, class_names)` a model built on `source` records: its record's, where it has one.

    The geometry is the record's (how the weights were evaluated), else None (the
    preprocessing mode's default); the class names are the record's when the model keeps
    its classifier (`include_top` and the record's number of classes), else None.
    """
    record = source.record if source else None
    if record is None:
        return None, None
    keeps_classifier = include_top and classes == record.num_classes
    return record.geometry, (list(record.class_names()) if keeps_classifier else None)


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):  # the block size changes no digest  # pragma: no mutate
            digest.update(block)
    return digest.hexdigest()


def fetch_onnx(record=None, cache_dir=None):
    """The record's source file (`googlenet-7.onnx`) in `<cache_dir>/models/`, downloaded once and verified.

    Args:
        record: `published_weights.PublishedWeights`. Defaults to the `"imagenet"` record.
        cache_dir: str. Defaults to `keras_home()` (`$KERAS_HOME` or `~/.keras`).

    Returns:
        The local path.

    Raises:
        ValueError: the file (already there, or just downloaded) has another hash than the
            record's; a downloaded one is removed.
        OSError: it could not be downloaded; the message names the URL and where to put it.
    """
    import keras

    record = record or published_weights.resolve(ONNX_RECORD)
    cache_dir = cache_dir or keras_home()
    target = os.path.join(cache_dir, CACHE_SUBDIR, record.file_name)
    if os.path.exists(target):
        found = _sha256(target)
        if found != record.sha256:
            raise ValueError(
                f"{target} has sha256 {found}, not {record.sha256}: it is not the zoo's {record.file_name} "
                f"({record.size:,} bytes; this one has {os.path.getsize(target):,} bytes), or it is incomplete. "
                f"Delete it and fetch {record.url} again."
            )
        return target
    # get_file falls back to /tmp/.keras when the directory does not exist yet.
    os.makedirs(os.path.dirname(target), exist_ok=True)
    try:
        return keras.utils.get_file(record.file_name, record.url, file_hash=record.sha256, hash_algorithm="sha256",
                                    cache_subdir=CACHE_SUBDIR, cache_dir=cache_dir)
    except ValueError as error:  # get_file's hash check, after a download
        found = _sha256(target) if os.path.exists(target) else None
        if os.path.exists(target):
            os.remove(target)
        raise ValueError(
            f"The file downloaded from {record.url} has sha256 {found}, not {record.sha256}; it was refused and "
            f"removed ({error})."
        ) from error
    except Exception as error:
        raise OSError(
            f"Could not download {record.description} from {record.url} ({error}). Without network access, "
            f"fetch that file ({record.size:,} bytes, sha256 {record.sha256}) elsewhere and put it at {target}."
        ) from error


def write_layer_arrays(path, arrays, record, source_sha256):
    """Writes `[kernel, bias]` per layer path as HDF5 datasets `<path>/kernel`, `<path>/bias`, atomically,
    with the root attributes that declare the file (format, version, record name, source hash)."""
    import h5py

    with atomic_file(path) as temporary:
        with h5py.File(temporary, "w") as handle:
            handle.attrs[FORMAT_ATTRIBUTE] = FORMAT
            handle.attrs[FORMAT_VERSION_ATTRIBUTE] = FORMAT_VERSION
            handle.attrs[RECORD_ATTRIBUTE] = record.name
            handle.attrs[SOURCE_SHA256_ATTRIBUTE] = source_sha256
            for layer_path, values in arrays.items():
                for weight_name, value in zip(WEIGHT_NAMES, values):
                    handle.create_dataset(f"{layer_path}/{weight_name}", data=np.asarray(value, np.float32))
    return path


def read_layer_arrays(path, skip=()):
    """`[kernel, bias]` per layer path from a file of `write_layer_arrays`, all but the paths in `skip`.

    Raises:
        ValueError: the file lacks a dataset of a layer, or holds one no layer has; the message
            names the file and the layer.
    """
    import h5py

    expected = list(layer_arrays.caffe_layer_names())
    found = []
    with h5py.File(path, "r") as handle:
        handle.visititems(lambda name, item: found.append(name) if isinstance(item, h5py.Dataset) else None)
        known = {f"{layer_path}/{weight_name}" for layer_path in expected for weight_name in WEIGHT_NAMES}
        unknown = sorted(set(found) - known)
        if unknown:
            raise ValueError(f"{path}: arrays for no layer of GoogLeNet: {unknown[:5]}{' ...' if len(unknown) > 5 else ''}.")
        arrays = {}
        for layer_path in (p for p in expected if p not in skip):
            missing = [name for name in WEIGHT_NAMES if f"{layer_path}/{name}" not in handle]
            if missing:
                raise ValueError(f"{path}: no {' or '.join(missing)} for layer {layer_path!r}.")
            arrays[layer_path] = [handle[f"{layer_path}/{name}"][()] for name in WEIGHT_NAMES]
    return arrays


def convert_onnx(onnx_path, output_path, overwrite=True, record=None):
    """Converts the zoo's GoogLeNet ONNX file to a file of arrays by layer path, written atomically.

    Every ONNX tensor is checked against GoogLeNet's declared shapes
    (`weights.declared_shapes`); no model is built. The file names the record
    whose layout and preprocessing its arrays follow (`"imagenet"`) and the
    SHA-256 of `onnx_path`, so `GoogLeNet(weights=output_path)` sets the
    record's preprocessing up (Caffe's).

    Args:
        onnx_path: str or os.PathLike. The `.onnx` file (checked by `weights.onnx_weights`).
        output_path: str or os.PathLike. Must end in `.weights.h5`.
        overwrite: bool. Whether to replace an existing `output_path`. Defaults to True.
        record: `published_weights.PublishedWeights` the file declares. Defaults to the `"imagenet"` record.

    Returns:
        `output_path`.
    """
    onnx_path, output_path = os.fspath(onnx_path), os.fspath(output_path)
    if not output_path.endswith(".weights.h5"):
        raise ValueError(f"output_path must end in '.weights.h5'. Received: output_path={output_path!r}")
    if not os.path.isfile(onnx_path):
        raise FileNotFoundError(f"ONNX file {onnx_path!r} does not exist.")
    if os.path.exists(output_path) and not overwrite:
        raise FileExistsError(f"{output_path} already exists; pass overwrite=True (--overwrite) to replace it.")
    record = record or published_weights.resolve(ONNX_RECORD)
    arrays = layer_arrays.onnx_weights(layer_arrays.declared_shapes(record.num_classes), onnx_path)
    return write_layer_arrays(output_path, arrays, record, _sha256(onnx_path))


def converted_file(record, cache_dir=None):
    """The record's converted arrays, from the cache or by downloading and converting once.

    Returns:
        The path of `<cache_dir>/models/<record.converted_file_name>`.
    """
    converted = os.path.join(cache_dir or keras_home(), CACHE_SUBDIR, record.converted_file_name)
    if os.path.exists(converted):
        return converted
    onnx_path = fetch_onnx(record, cache_dir)
    return convert_onnx(onnx_path, os.path.join(os.path.dirname(onnx_path), record.converted_file_name),
                        record=record)


def _cached_file(record):
    """`converted_file(record)`, refused when the file there declares another record."""
    path = converted_file(record)
    declared = resolve(path)
    if declared.record is None or declared.record.name != record.name:
        raise ValueError(f"{path} does not declare the weights {record.name!r}; delete it to convert them again.")
    return path


def load(model, source, skip=(), aux_logits=False):
    """Fills `model` from `source` (see `resolve`); nothing to do for None.

    Published, ONNX and converted weights are assigned by layer path to the
    convolutions and the classifier of `model` itself, shape-checked before
    anything is assigned, so any input size, data format and dtype policy
    works; the layer paths in `skip` (the classifier, for a new one) keep their
    initialisation. With `aux_logits=True` the auxiliary heads keep theirs,
    with a warning.

    Returns:
        The layer paths that received arrays (every layer with weights for a Keras weights file).

    Raises:
        ValueError: an array's shape differs from its layer's (the message names the layer, both
            shapes and the file), a converted file lacks a layer, or `skip` is given with a Keras
            weights file (which loads whole).
    """
    if source is None:
        return []
    if source.kind == "keras":
        if skip:
            raise ValueError(
                f"{source.path} is a Keras weights file (model.save_weights), which loads whole: it cannot leave "
                f"out {list(skip)}. Start from a published name ({', '.join(map(repr, published_weights.PUBLISHED))}), "
                "the zoo's .onnx file or a file from `inception-tf convert`."
            )
        model.load_weights(source.path)
        return [layer.name for layer in model.layers if layer.weights]
    if source.kind == "onnx":
        arrays = layer_arrays.onnx_weights(layer_arrays.model_shapes(model, skip), source.path)
    else:
        arrays = read_layer_arrays(source.path or _cached_file(source.record), skip)
    layer_arrays.assign_weights(model, arrays, source=source.path or source.record.name)
    if aux_logits:
        warnings.warn(
            "Caffe's ImageNet weights have no auxiliary classifiers (the deploy model drops loss1 and loss2): "
            "aux1 and aux2 keep their random initialisation.",
            UserWarning,
            stacklevel=3,
        )
    return list(arrays)
