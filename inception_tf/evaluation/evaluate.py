"""Test-time evaluation with the paper's 1, 10 or 144 crops (Szegedy et al. 2014, Table 3).

For each image of a dataset split: its crops (`inception_tf.evaluation.crops`,
geometry scaled to the model's square input side), the model's class
probabilities for every crop, their mean over the crops, then top-1 and top-5
against the label. Images come raw (unresized) from the same sources as the
training pipelines: tensorflow-datasets names, `"digits"`, `"folder:PATH"`.

Note on `crops=1`: it resizes the shorter side to `image_size * 256 / 224` and
takes the central square, as the paper does. The training pipeline's test split
instead resizes the central square of the image straight to `image_size`, so
`evaluate(..., crops=1)` is not `model.evaluate` on `make_dataset(split="test")`;
it equals `model.evaluate` on the images `make_crops(image, image_size, 1)`.

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
from inception_tf.evaluation.crops import CROP_COUNTS, make_crops

TOP_K = 5
# Crops per model call for 1 and 10 crops (whole images per batch); 144 crops are one image.
DEFAULT_BATCH_SIZE = 144
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
    from inception_tf.training import data

    try:
        return data.load_examples(dataset, split, data_dir, shuffle_files=False, seed=None)
    except AssertionError as error:
        if "Manual directory" not in str(error):
            raise
        where = manual_dir(data_dir)
        raise ValueError(
            f"Dataset {dataset!r} needs manually downloaded archives in {where} "
            f"(for imagenet2012: ILSVRC2012_img_val.tar for the validation split, "
            f"ILSVRC2012_img_train.tar for train); that directory is missing or empty."
        ) from None


def _input_size(model):
    shape = tuple(model.input_shape)
    if len(shape) != 4 or shape[1] is None or shape[1] != shape[2] or shape[3] is None:
        raise ValueError(
            f"model must take square images (batch, size, size, channels). Received: input_shape={shape}"
        )
    return int(shape[1]), int(shape[3])


def _check_crops(crops):
    if isinstance(crops, bool) or not isinstance(crops, (int, np.integer)) or int(crops) not in CROP_COUNTS:
        raise ValueError(f"crops must be one of {CROP_COUNTS}. Received: crops={crops!r}")
    return int(crops)


def _batches(images, image_size, channels, crops, images_per_batch, limit):
    import tensorflow as tf

    from inception_tf.images import to_channels

    if limit is not None:
        images = images.take(limit)

    def to_crops(image, label):
        return make_crops(to_channels(image, channels), image_size, crops), label

    return images.map(to_crops, num_parallel_calls=tf.data.AUTOTUNE).batch(images_per_batch).prefetch(2)


def _top_k_correct(probabilities, labels, k):
    """`(images,)` bool: the label among the `k` highest of `(images, classes)`, ties by lower index."""
    top = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
    return (top == labels[:, None]).any(axis=1)


def evaluate_protocol(model, images, crops, num_images=None, batch_size=DEFAULT_BATCH_SIZE,
                      limit=None, from_logits=False, progress=True):
    """One protocol on an already loaded split; see `evaluate`."""
    import keras

    crops = _check_crops(crops)
    image_size, channels = _input_size(model)
    if isinstance(model.output, dict):
        from inception_tf.models.googlenet import inference_model

        model = inference_model(model)
    images_per_batch = max(1, int(batch_size) // crops)
    target = num_images if limit is None else (min(limit, num_images) if num_images else limit)
    bar = None
    if progress:
        bar = keras.utils.Progbar(target, verbose=1 if sys.stdout.isatty() else 2, unit_name="image",
                                  stateful_metrics=["top1", "top5"])
    top1 = top5 = seen = 0
    k = None
    start = time.perf_counter()
    for batch, labels in _batches(images, image_size, channels, crops, images_per_batch, limit):
        count = int(batch.shape[0])
        flat = np.reshape(batch.numpy(), (count * crops, image_size, image_size, channels))
        scores = np.asarray(model.predict_on_batch(flat), np.float64)
        if from_logits:
            scores = np.exp(scores - scores.max(axis=1, keepdims=True))
            scores /= scores.sum(axis=1, keepdims=True)
        probabilities = scores.reshape(count, crops, -1).mean(axis=1)  # (count, classes)
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
        "crops": crops, "images": seen, "k": k, "seconds": seconds,
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


def evaluate(model, dataset, split, crops=1, batch_size=DEFAULT_BATCH_SIZE, data_dir=None, limit=None,
             report_path=None, progress=True, from_logits=False, model_id=None):
    """Top-1 and top-5 accuracy and error of `model` with 1, 10 or 144 crops per image.

    Args:
        model: a Keras model taking RGB (or grey) pixels in [0, 255], input
            `(batch, size, size, channels)`, output `(batch, classes)`
            probabilities (logits with `from_logits=True`); a dict output
            (auxiliary heads) is evaluated on its `"main"` output.
        dataset: a tensorflow-datasets name, `"digits"` or `"folder:PATH"`.
        split: str, e.g. `"test"`, `"validation"`.
        crops: 1, 10 or 144, or a sequence of them (protocols run in order).
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
        For one `crops` value a dict: `crops`, `images`, `k` (the top-k used for
        "top-5": `min(5, classes)`), `seconds`, `images_per_second`,
        `top1_accuracy`, `top1_error`, `top5_accuracy`, `top5_error`. For a
        sequence, a dict from crop count to such a dict.

    Raises:
        ValueError: bad `crops`, `batch_size` or `limit`, a non-square model
            input, unknown dataset or split, missing manual downloads, or a
            report written for another model, dataset, split or limit.
    """
    several = not isinstance(crops, (int, np.integer))
    protocols = [_check_crops(c) for c in (crops if several else [crops])]
    for name, value in (("batch_size", batch_size), ("limit", limit)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1):
            raise ValueError(f"{name} must be a positive integer. Received: {name}={value!r}")
    header = {"model": model_id or model.name, "dataset": dataset, "split": split, "limit": limit}
    report = _read_report(report_path, header)
    images, num_images = load_images(dataset, split, data_dir)
    results = {}
    for count in protocols:
        key = str(count)
        if key not in report["protocols"]:
            report["protocols"][key] = evaluate_protocol(
                model, images, count, num_images=num_images, batch_size=batch_size, limit=limit,
                from_logits=from_logits, progress=progress,
            )
            if report_path:
                files.write_json(report_path, report)
        elif progress:
            print(f"{count} crops: already in {report_path}, skipped")
        results[count] = report["protocols"][key]
    return results if several else results[protocols[0]]


def table3(results):
    """Lines like the paper's Table 3: crops, cost relative to one crop, top-5 and top-1 error.

    Args:
        results: dict from crop count (int or str) to `evaluate_protocol`'s dict.
    """
    rows = sorted(results.values(), key=lambda row: row["crops"])
    ks = {row["k"] for row in rows}
    k = ks.pop() if len(ks) == 1 else TOP_K
    lines = [f"{'crops':>6} {'cost':>6} {f'top-{k} error':>12} {'top-1 error':>12} {'images':>7} {'images/s':>9}"]
    for row in rows:
        speed = row.get("images_per_second")
        lines.append(
            f"{row['crops']:>6} {row['crops']:>6} {100 * row['top5_error']:>11.2f}% "
            f"{100 * row['top1_error']:>11.2f}% {row['images']:>7} "
            f"{speed if speed is None else format(speed, '.1f'):>9}"
        )
    if k < TOP_K:
        lines.append(f"(top-{k}: the dataset has only {k} classes)")
    return lines


def run_cli(model_path, dataset, split, crops, batch_size=DEFAULT_BATCH_SIZE, data_dir=None, limit=None,
            report_path=None, report=None, from_logits=False):
    """The `inception-tf evaluate` command: loads the model, evaluates, prints results.

    Returns:
        The dict from crop count to results.
    """
    import json

    from inception_tf.models import kernels
    from inception_tf.serving import predict

    if predict.is_keras_source(model_path):
        model, _ = predict.load_keras_source(model_path)  # imagenet, a weights file, .keras, a run directory
        model = kernels.in_process_inference_kernels(model)  # never saved: compiled kernels where faster
    else:
        raise ValueError(
            f"--model must be 'imagenet', a .onnx/.weights.h5 weights file, a .keras file or a run directory "
            f"holding model.keras. Received: {model_path!r}"
        )
    model_id = model_path if model_path == "imagenet" else os.path.abspath(model_path)
    results = evaluate(
        model, dataset, split, crops=list(crops), batch_size=batch_size, data_dir=data_dir, limit=limit,
        report_path=report_path, from_logits=from_logits, model_id=model_id,
    )
    if report == "table3":
        print("\n".join(table3(results)))
    else:
        print(json.dumps({str(c): r for c, r in results.items()}, indent=2, sort_keys=True))
    return results
