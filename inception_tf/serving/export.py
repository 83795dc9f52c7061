"""SavedModel export that TF Serving loads as is.

`export_saved_model(model, "saved_models/googlenet")` writes
`saved_models/googlenet/<version>/`, TF Serving's layout, atomically: the
SavedModel is written into a temporary directory beside it (named `.tmp-...`,
never an integer, so TF Serving's poller ignores it) and renamed into place
when complete. It exports the inference graph only (the main output; no
auxiliary heads, dropout off) with two signatures:

- `serving_default`: input `images`, float32 `(batch, height, width, 3)`
  with values in [0, 255], any height and width;
- `predict_images`: input `image_bytes`, a string `(batch,)` of encoded
  JPEG, PNG, GIF or BMP images;

both returning `probabilities` `(batch, classes)`, `classes` int32
`(batch, k)` (top-k indices), `scores` `(batch, k)` and, when class names
are known, `class_names` string `(batch, k)`. The model's test-time geometry
(`inception_tf.geometry`: central square or the paper's centre crop, as the
model records it) runs in the graph through `inception_tf.images.prepare_images`,
the function predict and evaluate call; the model carries its own
normalisation (`ImagePreprocessing`), and `assets/model_record.json` states both.
Class names travel as an asset (`assets/class_names.txt`), and the LRN form
the graph holds as a file beside it (`assets/lrn_form.txt`, one line:
`standard`, `banded` or `bfloat16_banded`); TF Serving warm-up requests as
`assets.extra/tf_serving_warmup_requests`.

With `precision="bfloat16"` the model's layers are traced under Keras'
`mixed_bfloat16` policy (float32 weights, cast to bfloat16 as they are read;
convolutions, pools, concatenations and LRN, in its bfloat16 banded form,
run in bfloat16), while the preprocessing, the classifier's softmax and the
signatures stay float32: the same names, dtypes and layout. It pays on hosts
whose CPU has AVX-512 BF16 or AMX (`cpu_has_bfloat16()`), and on GPUs;
elsewhere it runs slower than float32. Which LRN form each precision traces
is `signatures.LRN_FORMS` (float32: TensorFlow's LRN op).
"""

import contextlib
import os
import shutil
import tempfile

import keras
import numpy as np
import tensorflow as tf

from inception_tf import files
from inception_tf.checks import positive_int
from inception_tf.geometry import check_class_names, square_input
from inception_tf.images import prepare_images
from inception_tf.models.googlenet import inference_model
from inception_tf.models.kernels import cpu_flags, resolve, using_kernels
from inception_tf.models.preprocessing import model_record
from inception_tf.serving.signatures import (
    BYTES_INPUT,
    BYTES_SIGNATURE,
    CLASS_NAMES_ASSET,
    DEFAULT_TOP_K,
    IMAGES_INPUT,
    LRN_FORM_ASSET,
    MODEL_RECORD_ASSET,
    PRECISIONS,
    SERVING_SIGNATURE,
    WARMUP_FILE,
    lrn_form,
    model_record_entry,
    next_version,
    resolve_version_dir,  # noqa: F401  (kept importable from here)
    version_dirs,  # noqa: F401
)


_BFLOAT16_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_has_bfloat16(cpuinfo="/proc/cpuinfo"):
    """Whether this machine's CPU reports bfloat16 instructions (`avx512_bf16` or `amx_bf16` in `cpuinfo`).

    False where the file cannot be read (not Linux): the bfloat16 export then
    notes it may run slower, which is the safe thing to say.
    """
    return not cpu_flags(cpuinfo).isdisjoint(_BFLOAT16_FLAGS)


@contextlib.contextmanager
def computing_in(model, precision):
    """Within the block, `model`'s layers compute in `precision` ("float32": unchanged; "bfloat16").

    For bfloat16 every layer at any depth takes the `mixed_bfloat16` policy
    (its float32 variables are cast to bfloat16 when read) except the input,
    `ImagePreprocessing` and the model's output layers (the float32 softmax),
    so a traced function takes and returns float32. The layers' policies are
    restored on leaving the block, whatever happens in it.

    Raises:
        ValueError: an unknown precision.
    """
    from inception_tf.models.preprocessing import ImagePreprocessing

    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}. Received: precision={precision!r}")
    if precision == "float32":
        yield model
        return
    outputs = {id(node.operation) for node in (tensor._keras_history for tensor in model.outputs)}
    kept = (keras.layers.InputLayer, ImagePreprocessing)
    layers = [layer for layer in model._flatten_layers(include_self=False, recursive=True)
              if not isinstance(layer, kept) and id(layer) not in outputs]
    previous = [layer.dtype_policy for layer in layers]
    try:
        for layer in layers:
            layer.dtype_policy = "mixed_bfloat16"
        yield model
    finally:
        for layer, policy in zip(layers, previous):
            layer.dtype_policy = policy


class _ServingHead:
    """The graph shared by both signatures: the model's test-time geometry, the model, top-k, names."""

    def __init__(self, model, image_size, channels, geometry, top_k, table):
        self.model, self.image_size, self.channels = model, image_size, channels
        self.geometry, self.top_k, self.table = geometry, top_k, table

    def check_batch(self, batch, name):
        # An empty batch would return empty outputs; say so instead.
        return tf.debugging.assert_positive(tf.shape(batch)[0], message=f"{name}: the batch is empty")

    @staticmethod
    def check_shape(tensor, name, rank, expected, channels=None):
        """Runtime check of a fed tensor's rank (and, for images, its 4th dimension).

        A loaded signature, and TF Serving, pass a tensor of any shape to the
        graph whatever the input signature says; without this check a
        (1, 32, 32, 1) `images` fails deep inside the model. Grappler folds
        `Rank` (and anything computed from it) to the traced rank, which would
        make a plain rank check vacuous; so the rank is read from the runtime
        `Shape` padded with -1 (no real dimension is negative): the rank is `r`
        exactly when entry `r - 1` is a dimension and entry `r` is padding.

        Args:
            tensor: the fed tensor.
            name: str. The input's name, as the error states it.
            rank: int. The expected rank.
            expected: str. The expected shape as the error states it, e.g. "(batch, height, width, 3)".
            channels: int or None. The expected size of the last dimension.

        Returns:
            The assert op, for `tf.control_dependencies`.
        """
        shape = tf.raw_ops.Shape(input=tensor)
        padded = tf.concat([shape, tf.fill([rank + 1], -1)], 0)
        last = padded[rank - 1]
        ok = tf.logical_and(tf.not_equal(last, -1), tf.equal(padded[rank], -1))
        if channels is not None:
            ok = tf.logical_and(ok, tf.equal(last, channels))
        return tf.debugging.Assert(
            ok, [f"{name}: expected shape {expected}, received shape", shape], summarize=8, name=f"check_{name}"
        )

    def predict_pixels(self, images):
        """float32 (B, H, W, 3) in [0, 255] -> dict of outputs."""
        with tf.control_dependencies([self.check_shape(images, IMAGES_INPUT, 4, "(batch, height, width, 3)", 3)]):
            images = tf.identity(images)
        with tf.control_dependencies([
            self.check_batch(images, "images"),
            tf.debugging.assert_greater_equal(images, 0.0, message="images: values must be in [0, 255]"),
            tf.debugging.assert_less_equal(images, 255.0, message="images: values must be in [0, 255]"),
        ]):
            resized = prepare_images(images, self.image_size, self.geometry, self.channels)
        return self._head(resized)

    def predict_bytes(self, image_bytes):
        """string (B,) of encoded images -> dict of outputs."""
        with tf.control_dependencies([self.check_shape(image_bytes, BYTES_INPUT, 1, "(batch,)")]):
            image_bytes = tf.identity(image_bytes)
        with tf.control_dependencies([self.check_batch(image_bytes, "image_bytes")]):
            image_bytes = tf.identity(image_bytes)

        def decode(encoded):
            image = tf.io.decode_image(encoded, channels=3, expand_animations=False, dtype=tf.uint8)
            return prepare_images(image, self.image_size, self.geometry, self.channels)

        spec = tf.TensorSpec((self.image_size, self.image_size, self.channels), tf.float32)
        resized = tf.map_fn(decode, image_bytes, fn_output_signature=spec)
        return self._head(resized)

    def _head(self, resized):
        probabilities = tf.cast(self.model(resized, training=False), tf.float32)
        scores, classes = tf.math.top_k(probabilities, k=self.top_k)
        outputs = {"probabilities": probabilities, "classes": classes, "scores": scores}
        if self.table is not None:
            outputs["class_names"] = self.table.lookup(tf.cast(classes, tf.int64))
        return outputs


def _class_names_table(path):
    initializer = tf.lookup.TextFileInitializer(
        path, key_dtype=tf.int64, key_index=tf.lookup.TextFileIndex.LINE_NUMBER,
        value_dtype=tf.string, value_index=tf.lookup.TextFileIndex.WHOLE_LINE,
    )
    return tf.lookup.StaticHashTable(initializer, default_value="")


def _warmup_records(image_size):
    """PredictionLog protos: one request per signature, batch of one grey image."""
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    grey = np.full((1, image_size, image_size, 3), 128.0, np.float32)
    png = tf.io.encode_png(tf.cast(grey[0], tf.uint8)).numpy()
    records = []
    for signature, name, value in ((SERVING_SIGNATURE, "images", grey),
                                   (BYTES_SIGNATURE, "image_bytes", np.array([png], dtype=object))):
        request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(signature_name=signature))
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
        log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
        records.append(log.SerializeToString())
    return records


def export_saved_model(model, base_dir, version=None, class_names=None, top_k=DEFAULT_TOP_K,
                       overwrite=False, warmup=True, precision="float32"):
    """Exports `model`'s inference graph as `base_dir/<version>/`, atomically.

    Args:
        model: a `keras.Model` that starts with `ImagePreprocessing`, mapping
            `(batch, size, size, channels)` images with values in [0, 255] to
            class probabilities; a GoogLeNet with auxiliary heads is reduced to
            its main output. The signatures prepare images with the test-time
            geometry it records (`inception_tf.images.prepare_images`), which
            `assets/model_record.json` states with its preprocessing.
        base_dir: str. The TF Serving model base path (e.g. `saved_models/googlenet`).
        version: int or None. The version directory; None picks the next integer.
        class_names: list of str or None. One name per class, stored as an
            asset and returned as `class_names`; None takes those the model
            records (none if it records none).
        top_k: int. How many classes `classes` and `scores` list. Defaults to 5
            (fewer when the model has fewer classes).
        overwrite: bool. Replace an existing version. Defaults to False.
        warmup: bool. Write TF Serving warm-up requests. Defaults to True.
        precision: str. "float32" (default) or "bfloat16": the layers compute
            in bfloat16 behind the same float32 signatures (see `computing_in`).

    Returns:
        str. The path of the version directory written.

    Raises:
        ValueError: bad version, class names, top_k, precision or model input;
            a model without `ImagePreprocessing` (nothing says what its inputs mean).
        FileExistsError: the version exists and `overwrite` is False.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}. Received: precision={precision!r}")
    model = inference_model(model)
    image_size, channels = square_input(model.input_shape, "export_saved_model")
    record = model_record(model)
    classes = int(model.output_shape[-1])
    class_names = check_class_names(record.class_names if class_names is None else class_names, classes)
    top_k = positive_int("top_k", top_k)
    if version is None:
        version = next_version(base_dir)
    version = positive_int("version", version)  # TF Serving reads integer-named directories
    target = os.path.join(base_dir, str(version))
    if os.path.exists(target) and not overwrite:
        raise FileExistsError(f"{target} already exists; pass overwrite=True (--overwrite) to replace it.")

    staging = tempfile.mkdtemp(prefix="inception_tf_assets_")
    # Traced and saved with standard ops whichever machine exports (TF Serving runs without XLA), LRN in
    # the form TensorFlow runs fastest at this precision.
    implementation = lrn_form("savedmodel", precision)
    with using_kernels(model, implementation), computing_in(model, precision):
        _write_saved_model(model, target, staging, image_size, channels, record, min(top_k, classes), class_names,
                           overwrite, warmup, resolve(implementation, False, "lrn", precision))
    return target


def _write_saved_model(model, target, staging, image_size, channels, record, top_k, class_names, overwrite,
                       warmup, lrn):
    """Traces the two signatures and writes the SavedModel to `target` atomically; removes `staging`.

    `lrn` (the LRN form the graph holds) is written to `assets/LRN_FORM_ASSET`, and the model's record to
    `assets/MODEL_RECORD_ASSET`, beside the graph's own assets: no function reads them, so they are files
    of the directory rather than tracked assets.
    """
    try:
        table = None
        if class_names is not None:
            names_path = os.path.join(staging, CLASS_NAMES_ASSET)
            with open(names_path, "w") as handle:
                handle.write("\n".join(class_names) + "\n")
            table = _class_names_table(names_path)
        head = _ServingHead(model, image_size, channels, record.geometry, top_k, table)
        archive = keras.export.ExportArchive()
        archive.track(model)
        if table is not None:
            archive.track(table)
        archive.add_endpoint(SERVING_SIGNATURE, head.predict_pixels,
                             input_signature=[tf.TensorSpec((None, None, None, 3), tf.float32, name=IMAGES_INPUT)])
        archive.add_endpoint(BYTES_SIGNATURE, head.predict_bytes,
                             input_signature=[tf.TensorSpec((None,), tf.string, name=BYTES_INPUT)])
        with files.atomic_directory(target, overwrite=overwrite) as temporary:
            archive.write_out(temporary, verbose=False)
            os.makedirs(os.path.join(temporary, "assets"), exist_ok=True)
            files.write_json(os.path.join(temporary, "assets", MODEL_RECORD_ASSET),
                             model_record_entry(record.preprocessing, record.geometry, image_size))
            with open(os.path.join(temporary, "assets", LRN_FORM_ASSET), "w") as handle:
                handle.write(lrn + "\n")
            if warmup:
                os.makedirs(os.path.join(temporary, "assets.extra"), exist_ok=True)
                with tf.io.TFRecordWriter(os.path.join(temporary, WARMUP_FILE)) as writer:
                    for record in _warmup_records(image_size):
                        writer.write(record)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
