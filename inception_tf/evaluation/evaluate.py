"""Test-time evaluation: the model's own protocol, or the paper's 1, 10 or 144 crops (Szegedy et al. 2014, Table 3).

For each image of a dataset split: its crops, the model's class probabilities
for every crop, their mean over the crops, then top-1 and top-5 against the
label. Images come raw (unresized) from `inception_tf.datasets.examples`, the
same sources as the training pipelines: tensorflow-datasets names, `"digits"`,
`"folder:PATH"`.

Protocols:
- `crops=None` (the default, reported as `"model"`): one input per image,
  prepared with the test-time geometry the model records
  (`inception_tf.images.prepare_images`), as `predict` and the exports
  prepare it. For a model trained here that is its training pipeline's test
  path (the central square resized), so the result is the run's own test
  accuracy; for Caffe's ImageNet weights it is their single centre crop.
- `crops=1, 10, 144`: exactly the paper's protocols (`inception_tf.crops`,
  geometry scaled to the model's square input side), whatever the model
  records. `crops=1` resizes the shorter side to `image_size * 256 / 224` and
  takes the central square.

With fewer than 5 classes "top-5" is top-`min(5, classes)` (the report's `k`).

Results go to an optional JSON report, rewritten atomically after each protocol
finishes; a rerun with the same report, model, dataset, split and limit skips
the protocols already there, so an interrupted multi-protocol run resumes at
the protocol it was in (that protocol starts over).
"""

import os
import sys
import time

import numpy as np

from inception_tf import files
from inception_tf.crops import make_crops
from inception_tf.geometry import (
    CROP_COUNTS, EVALUATION_BATCH_SIZE, EVALUATION_REPORTS, MODEL_PROTOCOL, square_input,
)

TOP_K = 5
# Crops per model call for 1 and 10 crops (whole images per batch); 144 crops are one image.
DEFAULT_BATCH_SIZE = EVALUATION_BATCH_SIZE
REPORT_KEYS = ("model", "dataset", "split", "limit")
_TFDS_DATA_DIR = "~/tensorflow_datasets"


def manual_dir(data_dir=None):
    """Where tensorflow-datasets looks for manually downloaded archives (ImageNet's tars)."""
    root = data_dir or os.environ.get("TFDS_DATA_DIR") or _TFDS_DATA_DIR
    return os.path.join(os.path.expanduser(root), "downloads", "manual")


def load_images(dataset, split, data_dir=None):
    """The raw `(image, label)` examples of a split, and its number of examples.

    Returns:
        `(tf.data.Dataset, int or None)`: images uint8 `(height, width, channels)`
        as stored (unresized), labels int64 scalars.

    Raises:
        ValueError: unknown dataset or split, or manually downloaded archives
            (ImageNet) missing, naming the directory they belong in.
    """
    from inception_tf.datasets.examples import load_examples

    try:
        return load_examples(dataset, split, data_dir, shuffle_files=False, seed=None)
    except AssertionError as error:
        if "Manual directory" not in str(error):
            raise
        where = manual_dir(data_dir)
        raise ValueError(
            f"Dataset {dataset!r} needs manually downloaded archives in {where} "
            f"(for imagenet2012: ILSVRC2012_img_val.tar for the validation split, "
            f"ILSVRC2012_img_train.tar for train); that directory is missing or empty."
        ) from None


def _check_crops(crops):
    if crops is None:
        return None
    if isinstance(crops, bool) or not isinstance(crops, (int, np.integer)) or int(crops) not in CROP_COUNTS:
        raise ValueError(f"crops must be None (the model's own geometry) or one of {CROP_COUNTS}. "
                         f"Received: crops={crops!r}")
    return int(crops)


def protocol_key(crops):
    """The report's key of a protocol: `"model"` for `crops=None`, else the crop count as a string."""
    return MODEL_PROTOCOL if crops is None else str(crops)


def _batches(images, image_size, channels, crops, geometry, images_per_batch, limit):
    """Batches `(images, crops, size, size, channels)` and labels; `crops=None` is one input by `geometry`."""
    import tensorflow as tf

    from inception_tf.images import prepare_images, to_channels

    if limit is not None:
        images = images.take(limit)

    def to_crops(image, label):
        if crops is None:
            return prepare_images(image, image_size, geometry, channels)[None], label
        return make_crops(to_channels(image, channels), image_size, crops), label

    batches = images.map(to_crops, num_parallel_calls=tf.data.AUTOTUNE).batch(images_per_batch)
    # How many batches are read ahead changes the speed only, never a value.
    return batches.prefetch(2)  # pragma: no mutate


def _top_k_correct(probabilities, labels, k):
    """`(images,)` bool: the label among the `k` highest of `(images, classes)`, ties by lower index."""
    top = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
    return (top == labels[:, None]).any(axis=1)


def evaluate_protocol(model, images, crops, num_images=None, batch_size=DEFAULT_BATCH_SIZE,
                      limit=None, from_logits=False, progress=True):
    """One protocol on an already loaded split; see `evaluate`."""
    import keras

    from inception_tf.models.googlenet import inference_model
    from inception_tf.models.preprocessing import model_record

    crops = _check_crops(crops)
    image_size, channels = square_input(model.input_shape, "evaluate")
    model = inference_model(model)
    # The model's own protocol needs its record (refused without one); the paper's crops are given.
    geometry = model_record(model).geometry if crops is None else None
    per_image = crops or 1
    # At least one image a call; how many more changes the memory used, never a value.
    images_per_batch = max(1, int(batch_size) // per_image)  # pragma: no mutate
    target = num_images if limit is None else (min(limit, num_images) if num_images else limit)
    bar = None
    if progress:
        bar = keras.utils.Progbar(target, verbose=1 if sys.stdout.isatty() else 2, unit_name="image",
                                  stateful_metrics=["top1", "top5"])
    top1 = top5 = seen = 0
    k = None
    start = time.perf_counter()
    for batch, labels in _batches(images, image_size, channels, crops, geometry, images_per_batch, limit):
        count = int(batch.shape[0])
        flat = np.reshape(batch.numpy(), (count * per_image, image_size, image_size, channels))
        scores = np.asarray(model.predict_on_batch(flat), np.float64)
        if from_logits:
            scores = np.exp(scores - scores.max(axis=1, keepdims=True))
            scores /= scores.sum(axis=1, keepdims=True)
        probabilities = scores.reshape(count, per_image, scores.shape[1]).mean(axis=1)  # (count, classes)
        k = min(TOP_K, probabilities.shape[1])
        labels = labels.numpy()
        top1 += int(_top_k_correct(probabilities, labels, 1).sum())
        top5 += int(_top_k_correct(probabilities, labels, k).sum())
        seen += count
        if bar is not None:
            bar.update(seen, values=[("top1", top1 / seen), ("top5", top5 / seen)], finalize=False)
    seconds = time.perf_counter() - start
    if bar is not None:
        bar.update(seen, finalize=True)
    if seen == 0:
        raise ValueError("The split holds no images to evaluate (check split and limit).")
    return {
        "crops": crops, "geometry": geometry if crops is None else "paper crops", "images": seen, "k": k,
        "seconds": seconds,
        "images_per_second": seen / seconds if seconds > 0 else None,
        "top1_accuracy": top1 / seen, "top1_error": 1 - top1 / seen,
        "top5_accuracy": top5 / seen, "top5_error": 1 - top5 / seen,
    }


def _read_report(path, header):
    import json

    if not path or not os.path.exists(path):
        return {**header, "protocols": {}}
    with open(path) as handle:
        report = json.load(handle)
    stored = {key: report.get(key) for key in REPORT_KEYS}
    if stored != header:
        raise ValueError(
            f"Report {path!r} is for {stored}, not {header}; pass another report path or remove it."
        )
    report.setdefault("protocols", {})
    return report


def evaluate(model, dataset, split, crops=None, batch_size=DEFAULT_BATCH_SIZE, data_dir=None, limit=None,
             report_path=None, progress=True, from_logits=False, model_id=None):
    """Top-1 and top-5 accuracy and error of `model`: its own protocol, or 1, 10 or 144 crops per image.

    Args:
        model: a Keras model starting with `ImagePreprocessing` (which records
            its test-time geometry), taking RGB (or grey) pixels in [0, 255], input
            `(batch, size, size, channels)`, output `(batch, classes)`
            probabilities (logits with `from_logits=True`); a dict output
            (auxiliary heads) is evaluated on its `"main"` output.
        dataset: a tensorflow-datasets name, `"digits"` or `"folder:PATH"`.
        split: str, e.g. `"test"`, `"validation"`.
        crops: None (the model's own geometry, one input per image), 1, 10 or
            144, or a sequence of them (protocols run in order). Defaults to None.
        batch_size: int. Crops per model call for 1 and 10 crops, rounded down
            to whole images; an image's 144 crops are always one call.
        data_dir: tensorflow-datasets data directory (default: its own).
        limit: int or None. Evaluate only the first `limit` images.
        report_path: str or None. JSON report, rewritten after each protocol;
            protocols already in it (same model, dataset, split, limit) are skipped.
        progress: bool. A `keras.utils.Progbar` per protocol.
        from_logits: bool. Apply softmax to the outputs before averaging.
        model_id: str or None. Names the model in the report (default: `model.name`).

    Returns:
        For one `crops` value a dict: `crops`, `geometry` (the model's for
            `crops=None`, else `"paper crops"`), `images`, `k` (the top-k used for
        "top-5": `min(5, classes)`), `seconds`, `images_per_second`,
        `top1_accuracy`, `top1_error`, `top5_accuracy`, `top5_error`. For a
        sequence, a dict from crop count (None for the model's protocol) to such a dict.

    Raises:
        ValueError: bad `crops`, `batch_size` or `limit`, a model input other
            than square images with 1 or 3 channels, unknown dataset or split,
            missing manual downloads, or a report written for another model,
            dataset, split or limit.
    """
    several = not (crops is None or isinstance(crops, (int, np.integer)))
    protocols = [_check_crops(c) for c in (crops if several else [crops])]
    for name, value in (("batch_size", batch_size), ("limit", limit)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1):
            raise ValueError(f"{name} must be a positive integer. Received: {name}={value!r}")
    header = {"model": model_id or model.name, "dataset": dataset, "split": split, "limit": limit}
    report = _read_report(report_path, header)
    images, num_images = load_images(dataset, split, data_dir)
    results = {}
    for count in protocols:
        key = protocol_key(count)
        if key not in report["protocols"]:
            report["protocols"][key] = evaluate_protocol(
                model, images, count, num_images=num_images, batch_size=batch_size, limit=limit,
                from_logits=from_logits, progress=progress,
            )
            if report_path:
                files.write_json(report_path, report)
        elif progress:
            print(f"{'the model protocol' if count is None else f'{count} crops'}: already in {report_path}, skipped")
        results[count] = report["protocols"][key]
    return results if several else results[protocols[0]]


def table3(results):
    """Lines like the paper's Table 3: crops, cost relative to one crop, top-5 and top-1 error.

    Args:
        results: dict from crop count (int or str) to `evaluate_protocol`'s dict.
    """
    rows = sorted(results.values(), key=lambda row: row["crops"] or 0)
    ks = {row["k"] for row in rows}
    k = ks.pop() if len(ks) == 1 else TOP_K
    lines = [f"{'crops':>6} {'cost':>6} {f'top-{k} error':>12} {'top-1 error':>12} {'images':>7} {'images/s':>9}"]
    for row in rows:
        speed = row.get("images_per_second")
        lines.append(
            f"{row['crops'] or MODEL_PROTOCOL:>6} {row['crops'] or 1:>6} {100 * row['top5_error']:>11.2f}% "
            f"{100 * row['top1_error']:>11.2f}% {row['images']:>7} "
            f"{'-' if speed is None else format(speed, '.1f'):>9}"
        )
    if k < TOP_K:
        lines.append(f"(top-{k}: the dataset has only {k} classes)")
    return lines


def run_cli(model_path, dataset, split, crops, batch_size=DEFAULT_BATCH_SIZE, data_dir=None, limit=None,
            report_path=None, report=None, from_logits=False):
    """The `inception-tf evaluate` command: loads the model, evaluates, prints results.

    `report` is what it prints: `"json"` (or None), the results; `"table3"`, rows like the paper's Table 3.

    Returns:
        The dict from crop count to results.

    Raises:
        ValueError: an unknown `report` (before the model is read), or what `evaluate` refuses.
    """
    import json

    from inception_tf import runs
    from inception_tf.models import kernels

    if report is not None and report not in EVALUATION_REPORTS:
        raise ValueError(f"report (--report) must be one of {EVALUATION_REPORTS}. Received: report={report!r}")
    if runs.is_keras_source(model_path):
        model = runs.load_keras_source(model_path)  # imagenet, a weights file, .keras, a run directory
        model = kernels.in_process_inference_kernels(model)  # never saved: compiled kernels where faster
    else:
        raise ValueError(
            f"--model must be 'imagenet', a .onnx/.weights.h5 weights file, a .keras file or a run directory "
            f"holding model.keras. Received: {model_path!r}"
        )
    model_id = model_path if model_path == "imagenet" else os.path.abspath(model_path)
    results = evaluate(
        model, dataset, split, crops=list(crops or [None]), batch_size=batch_size, data_dir=data_dir, limit=limit,
        report_path=report_path, from_logits=from_logits, model_id=model_id,
    )
    if report == "table3":
        print("\n".join(table3(results)))
    else:
        print(json.dumps({protocol_key(c): r for c, r in results.items()}, indent=2, sort_keys=True))
    return results
