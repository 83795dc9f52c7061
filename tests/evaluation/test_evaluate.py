"""evaluate(): crop-averaged top-1/top-5 against independent numpy computations."""

import json
import os
import re
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

import inception_tf.training.data  # noqa: F401  (registers "digits")
from inception_tf.evaluation import evaluate as ev
from inception_tf.crops import make_crops
from tests.geometry_expectations import PREPARED_BY
from tests.conftest import small_classifier

SIZE = 32


def _write_folder(root, images_by_class, split="test"):
    """PNG folder `root/split/<class>/<i>.png`; returns `folder:root`."""
    for name, images in images_by_class.items():
        os.makedirs(os.path.join(root, split, name), exist_ok=True)
        for i, image in enumerate(images):
            tf.io.write_file(os.path.join(root, split, name, f"{i}.png"), tf.io.encode_png(image))
    return f"folder:{root}"


def _mean_colour_model(weights, bias):
    """softmax(mean colour / 255 @ weights + bias): (B, 32, 32, 3) -> (B, classes)."""
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    x = keras.layers.Rescaling(1 / 255)(x)
    dense = keras.layers.Dense(weights.shape[1], activation="softmax")
    outputs = dense(x)
    dense.set_weights([weights, bias])
    return keras.Model(inputs, outputs)


def _numpy_topk(colours, labels, weights, bias, k):
    logits = colours / 255 @ weights + bias
    order = np.argsort(-logits, axis=1)
    return float(np.mean(order[:, 0] == labels)), float(np.mean([l in o[:k] for l, o in zip(labels, order)]))


@pytest.mark.parametrize("crops", [1, 10])
def test_constant_colour_images_match_numpy(tmp_path, rng, crops):
    classes = [f"c{i}" for i in range(7)]
    shapes = [(40, 57), (64, 40), (37, 37)]
    images, colours, labels = {}, [], []
    for label, name in enumerate(classes):
        images[name] = []
        for shape in shapes:
            colour = rng.integers(0, 256, 3)
            images[name].append(np.broadcast_to(colour, (*shape, 3)).astype(np.uint8))
    # ImageFolder reads classes in sorted order and files in sorted order per class.
    for label, name in enumerate(classes):
        for image in images[name]:
            colours.append(image[0, 0].astype(np.float64))
            labels.append(label)
    dataset = _write_folder(str(tmp_path), images)
    weights = rng.normal(size=(3, 7)).astype(np.float32) * 4
    bias = rng.normal(size=(7,)).astype(np.float32)
    result = ev.evaluate(_mean_colour_model(weights, bias), dataset, "test", crops=crops, progress=False)
    top1, top5 = _numpy_topk(np.array(colours), np.array(labels), weights, bias, 5)
    assert result["images"] == 21 and result["crops"] == crops and result["k"] == 5
    assert result["top1_accuracy"] == pytest.approx(top1)
    assert result["top5_accuracy"] == pytest.approx(top5)
    assert result["top5_error"] == pytest.approx(1 - top5)
    assert 0 < top1 < 1 and top5 > top1  # the check discriminates


def test_one_crop_equals_argmax_on_make_crops_images(tmp_path, rng):
    shapes = [(40, 57), (50, 33), (32, 32), (45, 70)]
    images = {"a": [], "b": [], "c": []}
    for i, shape in enumerate(shapes * 3):
        images["abc"[i % 3]].append(rng.integers(0, 256, (*shape, 3)).astype(np.uint8))
    dataset = _write_folder(str(tmp_path), images)
    keras.utils.set_random_seed(3)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(4, 5, strides=4, activation="relu")(keras.layers.Rescaling(1 / 255)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(x)))
    result = ev.evaluate(model, dataset, "test", crops=1, batch_size=5, progress=False)
    # Independent path: one crop per image, one predict over all of them, numpy argmax.
    batch = np.stack([make_crops(img, SIZE, 1)[0] for name in "abc" for img in images[name]])
    labels = np.array([i for i, name in enumerate("abc") for _ in images[name]])
    expected = np.mean(np.argmax(model.predict(batch, verbose=0), axis=1) == labels)
    assert result["top1_accuracy"] == pytest.approx(expected)
    assert result["k"] == 3 and result["top5_accuracy"] == 1.0  # top-3 of 3 classes always holds


def _mirror_model():
    """[0.6, 0.4, 0] when the left half is brighter than the right, else [0, 0.45, 0.55]."""
    inputs = keras.Input((SIZE, SIZE, 3))

    def probabilities(x):
        d = tf.reduce_mean(x[:, :, : SIZE // 2], axis=[1, 2, 3]) - tf.reduce_mean(x[:, :, SIZE // 2:], axis=[1, 2, 3])
        left = tf.constant([0.6, 0.4, 0.0])
        return tf.where((d > 0)[:, None], left, tf.constant([0.0, 0.45, 0.55]))

    return keras.Model(inputs, keras.layers.Lambda(probabilities, output_shape=(3,))(inputs))


@pytest.mark.parametrize("crops, top1", [(1, 0.0), (10, 1.0), (144, 1.0)])
def test_averaging_over_mirrored_crops(tmp_path, crops, top1):
    image = np.zeros((64, 64, 3), np.uint8)
    image[:, :32] = 255  # left half bright: unmirrored crops say class 0, mirrored ones class 2
    dataset = _write_folder(str(tmp_path), {"a": [], "b": [image], "c": []} | {"a": [image * 0 + 1]})
    # Label 1 ("b") is top-1 only for the mean of both halves: [0.3, 0.425, 0.275].
    result = ev.evaluate(_mirror_model(), dataset, "test", crops=crops, progress=False)
    # Image "a" (uniform) gives d = 0 -> [0, 0.45, 0.55] everywhere: class 2, wrong for label 0.
    assert result["images"] == 2
    assert result["top1_accuracy"] == pytest.approx(top1 / 2)


def test_report_written_and_rerun_skips_finished_protocols(tmp_path, rng):
    dataset = _write_folder(str(tmp_path / "data"), {
        "a": [np.full((40, 50, 3), 10, np.uint8)], "b": [np.full((40, 50, 3), 200, np.uint8)]})
    model = _mean_colour_model(np.array([[-1.0, 1.0]] * 3, np.float32), np.array([1.2, -1.2], np.float32))
    path = str(tmp_path / "report.json")
    first = ev.evaluate(model, dataset, "test", crops=[1], report_path=path, progress=False)
    assert first[1]["top1_accuracy"] == 1.0
    with open(path) as handle:
        report = json.load(handle)
    assert report["dataset"] == dataset and report["split"] == "test" and list(report["protocols"]) == ["1"]
    report["protocols"]["1"]["top1_accuracy"] = -7.0  # a rerun must not recompute this protocol
    with open(path, "w") as handle:
        json.dump(report, handle)
    second = ev.evaluate(model, dataset, "test", crops=[1, 10], report_path=path, progress=False)
    assert second[1]["top1_accuracy"] == -7.0 and second[10]["top1_accuracy"] == 1.0
    with open(path) as handle:
        assert sorted(json.load(handle)["protocols"]) == ["1", "10"]
    with pytest.raises(ValueError, match="limit"):
        ev.evaluate(model, dataset, "test", crops=[1], report_path=path, limit=1, progress=False)
    lines = ev.table3(second)
    assert "top-2 error" in lines[0] and "only 2 classes" in lines[-1]
    assert lines[1].split()[:2] == ["1", "1"] and lines[2].split()[:2] == ["10", "10"]


def _protocol_result(crops, top1_error, top5_error, images, speed, k=5):
    return {"crops": crops, "k": k, "top1_error": top1_error, "top5_error": top5_error, "images": images,
            "images_per_second": speed}


def test_table3_rows_are_the_papers_columns_in_order_of_crops():
    """Szegedy et al. 2014, Table 3: crops, cost (relative to one crop), top-5 error, top-1 error; rows
    by crop count, the model protocol (one input per image) first; a speed a report lacks reads "-"."""
    results = {144: _protocol_result(144, 0.3125, 0.0625, 16, 1.25),
               1: _protocol_result(1, 0.4375, 0.125, 16, 30.0),
               None: _protocol_result(None, 0.5, 0.125, 16, 40.0),
               10: _protocol_result(10, 0.375, 0.1, 16, None)}
    assert ev.table3(results) == [
        " crops   cost  top-5 error  top-1 error  images  images/s",
        " model      1       12.50%       50.00%      16      40.0",
        "     1      1       12.50%       43.75%      16      30.0",
        "    10     10       10.00%       37.50%      16         -",
        "   144    144        6.25%       31.25%      16       1.2",
    ]


def test_table3_names_top_k_below_5_and_keeps_top_5_when_the_protocols_disagree():
    few = {1: _protocol_result(1, 0.25, 0.0, 4, 8.0, k=3)}
    assert ev.table3(few) == [
        " crops   cost  top-3 error  top-1 error  images  images/s",
        "     1      1        0.00%       25.00%       4       8.0",
        "(top-3: the dataset has only 3 classes)",
    ]
    mixed = {1: _protocol_result(1, 0.25, 0.0, 4, 8.0, k=3), 10: _protocol_result(10, 0.25, 0.0, 4, 8.0, k=4)}
    assert ev.table3(mixed)[0].split()[2] == "top-5" and len(ev.table3(mixed)) == 3


def _two_colour_folder(root):
    return _write_folder(str(root), {"a": [np.full((40, 50, 3), 10, np.uint8)],
                                     "b": [np.full((40, 50, 3), 200, np.uint8)]})


def _colour_model():
    """Tells the dark image (class a) from the bright one (class b): mean colour through a Dense layer."""
    model = _mean_colour_model(np.array([[-1.0, 1.0]] * 3, np.float32), np.array([1.2, -1.2], np.float32))
    model.name = "colour_model"
    return model


@pytest.mark.parametrize("name", ["batch_size", "limit"])
@pytest.mark.parametrize("value", [0, -1, True, 1.5, "2"])
def test_batch_size_and_limit_must_be_positive_integers(name, value):
    with pytest.raises(ValueError, match=rf"^{name} must be a positive integer\. Received: {name}={value!r}$"):
        ev.evaluate(_colour_model(), "folder:/nonexistent", "test", crops=1, progress=False, **{name: value})


def test_one_protocol_returns_its_result_and_the_report_names_the_model(tmp_path, capsys):
    """A batch of one crop and a limit of one image are allowed; a single `crops` value gives one result
    (not a dict of them); the report names the model by its name when no `model_id` is given."""
    dataset, path = _two_colour_folder(tmp_path / "data"), str(tmp_path / "report.json")
    started = time.perf_counter()
    result = ev.evaluate(_colour_model(), dataset, "test", crops=1, batch_size=1, limit=1, report_path=path,
                         progress=False)
    elapsed = time.perf_counter() - started
    assert (result["crops"], result["images"], result["top1_accuracy"]) == (1, 1, 1.0)
    assert result["geometry"] == "paper crops"  # the paper's protocol, whatever the model records
    assert 0 < result["seconds"] <= elapsed
    assert result["images_per_second"] == pytest.approx(1 / result["seconds"])
    with open(path) as handle:
        report = json.load(handle)
    assert (report["model"], report["limit"], list(report["protocols"])) == ("colour_model", 1, ["1"])


def test_a_rerun_says_which_protocols_it_skips(tmp_path, capsys):
    dataset, path = _two_colour_folder(tmp_path / "data"), str(tmp_path / "report.json")
    model = small_classifier(classes=2)  # records its geometry: the model protocol runs
    ev.evaluate(model, dataset, "test", crops=[None, 1], report_path=path, progress=False)
    capsys.readouterr()
    ev.evaluate(model, dataset, "test", crops=[None, 1], report_path=path)
    assert capsys.readouterr().out.splitlines() == [
        f"the model protocol: already in {path}, skipped", f"1 crops: already in {path}, skipped"]


def test_a_report_without_protocols_yet_is_completed(tmp_path):
    dataset, path = _two_colour_folder(tmp_path / "data"), str(tmp_path / "report.json")
    with open(path, "w") as handle:  # the header alone, as a report cut short before its first protocol
        json.dump({"model": "colour_model", "dataset": dataset, "split": "test", "limit": None}, handle)
    assert ev.evaluate(_colour_model(), dataset, "test", crops=1, report_path=path, progress=False)["images"] == 2
    with open(path) as handle:
        assert list(json.load(handle)["protocols"]) == ["1"]


def test_evaluation_shows_a_progress_bar_by_default(tmp_path, capsys):
    ev.evaluate(_colour_model(), _two_colour_folder(tmp_path / "data"), "test", crops=1)
    assert "2/2" in capsys.readouterr().out  # Keras' Progbar: images done of the split's


def test_bad_crops_named():
    model = _mean_colour_model(np.zeros((3, 2), np.float32), np.zeros(2, np.float32))
    with pytest.raises(ValueError, match=r"crops must be None \(the model's own geometry\) or one of \(1, 10, 144\)"):
        ev.evaluate(model, "digits", "test", crops=5)


def test_missing_imagenet_archives_name_the_manual_dir(tmp_path):
    model = _mean_colour_model(np.zeros((3, 2), np.float32), np.zeros(2, np.float32))
    with pytest.raises(ValueError, match="downloads/manual") as info:
        ev.evaluate(model, "imagenet2012", "validation", data_dir=str(tmp_path), progress=False)
    assert str(tmp_path) in str(info.value) and "ILSVRC2012_img_val.tar" in str(info.value)


def test_the_manual_dir_is_tfds_default_data_dir_unless_one_is_given(tmp_path, monkeypatch):
    """tensorflow-datasets keeps manual downloads in DATA_DIR/downloads/manual; DATA_DIR is the argument,
    else $TFDS_DATA_DIR, else ~/tensorflow_datasets (tfds' documented default)."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("TFDS_DATA_DIR", raising=False)
    assert ev.manual_dir() == str(tmp_path / "home" / "tensorflow_datasets" / "downloads" / "manual")
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "env"))
    assert ev.manual_dir() == str(tmp_path / "env" / "downloads" / "manual")
    assert ev.manual_dir(str(tmp_path / "given")) == str(tmp_path / "given" / "downloads" / "manual")


def test_images_are_read_in_the_splits_stored_order(monkeypatch):
    """`--limit N` and a resumed report must mean the same N images: no file shuffling, no seed."""
    from inception_tf.datasets import examples

    calls = []
    monkeypatch.setattr(examples, "load_examples", lambda *args, **kwargs: calls.append((args, kwargs)) or "read")
    assert ev.load_images("digits", "test", "/data") == "read"
    assert calls == [(("digits", "test", "/data"), {"shuffle_files": False, "seed": None})]


def test_cli_three_protocols_on_digits(tmp_path, capsys):
    from inception_tf.cli import main

    path = str(tmp_path / "classifier.keras")
    small_classifier(classes=10).save(path)  # the protocols and the report, whatever the network
    output = str(tmp_path / "eval.json")
    argv = ["evaluate", "--model", path, "--dataset", "digits", "--crops", "1", "10", "144",
            "--limit", "20", "--output", output, "--report", "table3"]
    assert main(argv) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert [row[:2] for row in rows if row and row[0].isdigit()] == [["1", "1"], ["10", "10"], ["144", "144"]]
    with open(output) as handle:
        protocols = json.load(handle)["protocols"]
    assert sorted(protocols, key=int) == ["1", "10", "144"]
    assert all(p["images"] == 20 and p["k"] == 5 for p in protocols.values())


def test_cli_evaluates_with_the_compiled_kernels_on_a_cpu(tmp_path, monkeypatch, cpu_kind):
    # The evaluated model is never saved, so it gets the kernels that infer fastest on a CPU.
    from inception_tf import GoogLeNet
    from inception_tf.models import kernels

    cpu_kind(onednn=True)
    evaluated = []
    monkeypatch.setattr(ev, "evaluate", lambda model, *args, **kwargs: evaluated.append(model) or {})
    path = str(tmp_path / "googlenet.keras")
    GoogLeNet(input_shape=(SIZE, SIZE, 3), classes=10).save(path)
    ev.run_cli(path, "digits", "test", [1])
    assert {layer.implementation for layer in kernels.kernel_layers(evaluated[0])} == {"xla"}


def _logits_model(classes=7, activation=None, seed=11):
    """Random convolutional scores `(B, 32, 32, 3) -> (B, classes)`: logits, or probabilities with "softmax".

    The logits spread over several units, so that the mean of the crops' softmax ranks classes
    otherwise than the mean of their logits or a softmax over another axis.
    """
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(8, 5, strides=3, activation="relu")(keras.layers.Rescaling(1 / 64)(inputs))
    dense = keras.layers.Dense(classes, activation=activation,
                               kernel_initializer=keras.initializers.RandomNormal(stddev=0.3))
    return keras.Model(inputs, dense(keras.layers.Flatten()(x)))


def _numpy_softmax(logits):
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def _ranked_dataset(root, model, crops, rng, count=12, prepare=None):
    """A folder of noise images, image `i` filed under its rank-`i % 2 + 1` class by numpy.

    The expected scores of an image: numpy's softmax of `model`'s logits on each of its
    `make_crops` crops (or the inputs `prepare(image)` gives), averaged over the crops. Even
    images are labelled with their top class, odd ones with their second, so top-1 is 0.5 and
    top-2 (and top-5) is 1.

    Returns:
        `(dataset, per-crop logits (count, crops, classes) in file order, labels, images)`.
    """
    shapes = [(40, 57), (57, 40), (45, 45), (64, 90)]
    images = [rng.integers(0, 256, (*shapes[i % len(shapes)], 3), dtype=np.uint8) for i in range(count)]
    prepare = prepare or (lambda image: make_crops(image, SIZE, crops))
    logits = np.stack([model.predict(prepare(image), verbose=0) for image in images]).astype(np.float64)
    scores = _numpy_softmax(logits).mean(axis=1)
    order = np.argsort(-scores, axis=1)
    gaps = -np.diff(np.take_along_axis(scores, order, axis=1)[:, :3], axis=1)
    assert gaps.min() > 1e-4, gaps  # no rank decided by rounding
    labels = [order[i, i % 2] for i in range(count)]
    by_class = {f"c{c}": [] for c in range(scores.shape[1])}
    for i, (image, label) in enumerate(zip(images, labels)):
        by_class[f"c{label}"].append((f"{i:02d}", image))
    for name, named in by_class.items():
        os.makedirs(os.path.join(root, "test", name), exist_ok=True)
        for stem, image in named:
            tf.io.write_file(os.path.join(root, "test", name, f"{stem}.png"), tf.io.encode_png(image))
    return f"folder:{root}", logits, np.array(labels), images


def _top1_share(scores, labels):
    return float(np.mean(np.argmax(scores, axis=1) == labels))


# 144 crops also run in the fast set: test_averaging_over_mirrored_crops, test_cli_three_protocols_on_digits.
@pytest.mark.parametrize("crops", [10, pytest.param(144, marks=pytest.mark.slow)])
def test_from_logits_applies_softmax_per_crop_over_classes(tmp_path, rng, crops):
    model = _logits_model()
    dataset, logits, labels, _ = _ranked_dataset(str(tmp_path), model, crops, rng)
    # The property discriminates: a softmax over the crops instead of the classes ranks otherwise.
    over_crops = np.exp(logits - logits.max(axis=1, keepdims=True))
    assert _top1_share((over_crops / over_crops.sum(axis=1, keepdims=True)).mean(axis=1), labels) != 0.5
    result = ev.evaluate(model, dataset, "test", crops=crops, from_logits=True, progress=False)
    assert result["images"] == 12 and result["k"] == 5
    assert result["top1_accuracy"] == 0.5 and result["top5_accuracy"] == 1.0
    without = ev.evaluate(model, dataset, "test", crops=crops, from_logits=False, progress=False)
    assert without["top1_accuracy"] == _top1_share(logits.mean(axis=1), labels)


@pytest.mark.parametrize("crops", [10, pytest.param(144, marks=pytest.mark.slow)])
def test_a_batch_smaller_than_the_crop_count_gives_the_large_batch_answer(tmp_path, rng, crops):
    model = _logits_model(activation="softmax")
    logits_twin = _logits_model()  # the same weights (same seed), logits out
    dataset, _, _, _ = _ranked_dataset(str(tmp_path), logits_twin, crops, rng)
    small = ev.evaluate(model, dataset, "test", crops=crops, batch_size=4, progress=False)
    large = ev.evaluate(model, dataset, "test", crops=crops, batch_size=10 * crops, progress=False)
    assert small["images"] == large["images"] == 12
    assert small["top1_accuracy"] == large["top1_accuracy"] == 0.5
    assert small["top5_accuracy"] == large["top5_accuracy"] == 1.0


def _printed_report(out):
    """The JSON report `inception-tf evaluate` prints after its progress bars."""
    lines = out.splitlines()
    return json.loads("\n".join(lines[lines.index("{"):]))


def test_cli_evaluate_from_logits(tmp_path, rng, capsys):
    from inception_tf.cli import main

    model = _logits_model()
    dataset, logits, labels, _ = _ranked_dataset(str(tmp_path / "data"), model, 10, rng)
    path = str(tmp_path / "logits.keras")
    model.save(path)
    argv = ["evaluate", "--model", path, "--dataset", dataset, "--crops", "10", "--batch-size", "4"]
    assert main(argv + ["--from-logits"]) == 0
    with_softmax = _printed_report(capsys.readouterr().out)["10"]
    assert with_softmax["top1_accuracy"] == 0.5 and with_softmax["top5_accuracy"] == 1.0
    assert main(argv) == 0
    assert _printed_report(capsys.readouterr().out)["10"]["top1_accuracy"] == _top1_share(logits.mean(axis=1), labels)


def test_a_run_interrupted_in_protocol_2_keeps_protocol_1(tmp_path, monkeypatch, rng):
    model = _logits_model(activation="softmax")
    dataset, _, _, _ = _ranked_dataset(str(tmp_path / "data"), _logits_model(), 1, rng)
    path = str(tmp_path / "report.json")
    real_protocol = ev.evaluate_protocol

    def protocol_2_fails(model, images, crops, **kwargs):
        if crops == 10:
            raise KeyboardInterrupt("stopped in protocol 2")
        return real_protocol(model, images, crops, **kwargs)

    monkeypatch.setattr(ev, "evaluate_protocol", protocol_2_fails)
    with pytest.raises(KeyboardInterrupt):
        ev.evaluate(model, dataset, "test", crops=[1, 10], report_path=path, progress=False)
    with open(path) as handle:
        report = json.load(handle)
    assert list(report["protocols"]) == ["1"]
    assert report["protocols"]["1"]["top1_accuracy"] == 0.5 and report["protocols"]["1"]["images"] == 12
    monkeypatch.setattr(ev, "evaluate_protocol", real_protocol)
    resumed = ev.evaluate(model, dataset, "test", crops=[1, 10], report_path=path, progress=False)
    assert resumed[1] == report["protocols"]["1"] and resumed[10]["images"] == 12


def _mirrored_logits_model(offset=0.0, reverse=False):
    """Logits [6, 4, 0] + offset when the left half is brighter than the right, else [0, 4, 5] + offset
    (with `reverse`, in the opposite class order)."""
    inputs = keras.Input((SIZE, SIZE, 3))

    def logits(x):
        d = tf.reduce_mean(x[:, :, : SIZE // 2], axis=[1, 2, 3]) - tf.reduce_mean(x[:, :, SIZE // 2:], axis=[1, 2, 3])
        left, right = tf.constant([6.0, 4.0, 0.0]), tf.constant([0.0, 4.0, 5.0])
        if reverse:
            left, right = left[::-1], right[::-1]
        return offset + tf.where((d > 0)[:, None], left, right)

    return keras.Model(inputs, keras.layers.Lambda(logits, output_shape=(3,))(inputs))


@pytest.mark.parametrize("crops", [10, 144])
def test_from_logits_ranks_by_mean_probability_not_mean_logit(tmp_path, crops):
    image = np.zeros((48, 64, 3), np.uint8)
    image[:, :32] = 255  # half the crops see a brighter left half, their mirrors a brighter right half
    dataset = _write_folder(str(tmp_path), {"a": [image], "b": [], "c": []})
    halves = np.array([[6.0, 4.0, 0.0], [0.0, 4.0, 5.0]])
    assert np.argmax(_numpy_softmax(halves).mean(axis=0)) == 0 and np.argmax(halves.mean(axis=0)) == 1
    model = _mirrored_logits_model()
    assert ev.evaluate(model, dataset, "test", crops=crops, from_logits=True, progress=False)["top1_accuracy"] == 1.0
    assert ev.evaluate(model, dataset, "test", crops=crops, from_logits=False, progress=False)["top1_accuracy"] == 0.0
    assert ev.evaluate(model, dataset, "test", crops=crops, progress=False)["top1_accuracy"] == 0.0  # the default
    # Softmax is shift-invariant, and exp(1006) overflows float64; the answer is the last class, "c".
    large = _mirrored_logits_model(offset=1000.0, reverse=True)
    in_c = _write_folder(str(tmp_path / "c"), {"a": [], "b": [], "c": [image]})
    assert ev.evaluate(large, in_c, "test", crops=crops, from_logits=True, progress=False)["top1_accuracy"] == 1.0


def test_a_protocol_on_a_loaded_split_takes_probabilities_and_shows_running_accuracy(tmp_path, capsys,
                                                                                       monkeypatch):
    """`evaluate_protocol`'s defaults: outputs are probabilities (averaged as they are) and a progress bar
    shows the running top-1 and top-5 of the images so far, in images (one line in a log)."""
    image = np.zeros((48, 64, 3), np.uint8)
    image[:, :32] = 255
    dataset = _write_folder(str(tmp_path), {"a": [image], "b": [], "c": []})
    images, count = ev.load_images(dataset, "test")
    assert ev.evaluate_protocol(_mirrored_logits_model(), images, 10, num_images=count)["top1_accuracy"] == 0.0
    assert capsys.readouterr().out.startswith("1/1 - ")
    dark = np.full((40, 50, 3), 10, np.uint8)
    folder = _write_folder(str(tmp_path / "six"), {"a": [dark], "b": [], "c": [], "d": [], "e": [], "f": [dark]})
    images, count = ev.load_images(folder, "test")
    # Ranks a > b > ... > f for every image: the first image right in top 1 and top 5, the second in neither.
    always_a = _mean_colour_model(np.zeros((3, 6), np.float32), np.arange(6, 0, -1).astype(np.float32))
    ev.evaluate_protocol(always_a, images, 1, num_images=count, batch_size=1)
    line = capsys.readouterr().out.strip()
    assert re.fullmatch(r"2/2 - \S+ - \S+/image - top1: 0\.5000 - top5: 0\.5000", line), line  # not 0.75
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)  # in a terminal: Keras' bar, redrawn in place
    ev.evaluate_protocol(always_a, images, 1, num_images=count, batch_size=1)
    assert "\r" in capsys.readouterr().out


def _recorded_logits_model(geometry, seed=11):
    """`ImagePreprocessing("tf", geometry=...)`, then random convolutional logits `(B, 32, 32, 3) -> (B, 7)`."""
    from inception_tf import ImagePreprocessing

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = ImagePreprocessing("tf", geometry=geometry)(inputs)
    x = keras.layers.Conv2D(8, 5, strides=3, activation="relu")(x)
    dense = keras.layers.Dense(7, kernel_initializer=keras.initializers.RandomNormal(stddev=0.3))
    return keras.Model(inputs, dense(keras.layers.Flatten()(x)))


def _one_input(geometry):
    """image -> `(1, 32, 32, 3)`: the input `geometry` gives, computed outside the package."""
    return lambda image: PREPARED_BY[geometry](image, SIZE)[None]


@pytest.mark.parametrize("geometry", ["square", "crop"])
def test_the_model_protocol_prepares_each_image_by_the_geometry_the_model_records(tmp_path, rng, geometry):
    model = _recorded_logits_model(geometry)
    dataset, _, labels, images = _ranked_dataset(str(tmp_path), model, 1, rng, prepare=_one_input(geometry))
    other = {"square": "crop", "crop": "square"}[geometry]
    other_logits = np.concatenate([model.predict(_one_input(other)(image), verbose=0) for image in images])
    assert _top1_share(other_logits, labels) != 0.5  # the other geometry ranks otherwise: the check discriminates
    result = ev.evaluate(model, dataset, "test", from_logits=True, progress=False)  # crops=None, the default
    assert (result["crops"], result["geometry"], result["images"]) == (None, geometry, 12)
    assert result["top1_accuracy"] == 0.5 and result["top5_accuracy"] == 1.0


def test_the_model_protocol_of_a_crop_model_is_the_papers_single_crop(tmp_path, rng):
    model = _recorded_logits_model("crop")
    dataset, _, _, _ = _ranked_dataset(str(tmp_path), model, 1, rng)
    both = ev.evaluate(model, dataset, "test", crops=[None, 1], from_logits=True, progress=False)
    assert both[None]["top1_accuracy"] == both[1]["top1_accuracy"] == 0.5
    assert (both[None]["geometry"], both[1]["geometry"]) == ("crop", "paper crops")


def test_the_model_protocol_refuses_a_model_that_records_no_preprocessing(tmp_path, rng):
    dataset, _, _, _ = _ranked_dataset(str(tmp_path), _logits_model(), 1, rng)
    with pytest.raises(ValueError, match="has no ImagePreprocessing layer.*include_preprocessing=True"):
        ev.evaluate(_logits_model(), dataset, "test", progress=False)
    result = ev.evaluate(_logits_model(), dataset, "test", crops=1, from_logits=True, progress=False)
    assert result["top1_accuracy"] == 0.5  # the paper's crops need no record


def test_cli_without_crops_runs_the_model_protocol_and_saves_it_as_model(tmp_path, rng, capsys):
    from inception_tf.cli import main

    model = _recorded_logits_model("square")
    dataset, _, _, _ = _ranked_dataset(str(tmp_path / "data"), model, 1, rng, prepare=_one_input("square"))
    path, output = str(tmp_path / "square.keras"), str(tmp_path / "report.json")
    model.save(path)
    assert main(["evaluate", "--model", path, "--dataset", dataset, "--from-logits", "--output", output]) == 0
    printed = _printed_report(capsys.readouterr().out)
    assert list(printed) == ["model"] and printed["model"]["top1_accuracy"] == 0.5
    with open(output) as handle:
        assert list(json.load(handle)["protocols"]) == ["model"]
    assert main(["evaluate", "--model", path, "--dataset", dataset, "--crops", "model", "1", "--report", "table3",
                 "--from-logits"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert [row[:2] for row in rows if row and row[0] in ("model", "1")] == [["model", "1"], ["1", "1"]]


def test_an_unknown_report_is_refused_before_the_model_is_read(tmp_path):
    with pytest.raises(ValueError, match=r"report \(--report\) must be one of \('json', 'table3'\)\. "
                                         r"Received: report='csv'"):
        ev.run_cli(str(tmp_path / "missing.keras"), "digits", "test", [1], report="csv")


@pytest.fixture
def run_cli_calls(monkeypatch):
    """`run_cli` with its library calls recorded: the model it loads and what it asks `evaluate` for."""
    from inception_tf import runs
    from inception_tf.models import kernels

    calls = {}
    results = {None: {"crops": None, "geometry": "square", "images": 4, "k": 5, "seconds": 2.0,
                      "images_per_second": 2.0, "top1_accuracy": 0.75, "top1_error": 0.25,
                      "top5_accuracy": 1.0, "top5_error": 0.0},
               10: {"crops": 10, "geometry": "paper crops", "images": 4, "k": 5, "seconds": None,
                    "images_per_second": None, "top1_accuracy": 0.5, "top1_error": 0.5,
                    "top5_accuracy": 0.75, "top5_error": 0.25}}
    monkeypatch.setattr(runs, "load_keras_source", lambda path: calls.setdefault("loaded", ("model of", path)))
    monkeypatch.setattr(kernels, "in_process_inference_kernels", lambda model: ("fast", model))

    def evaluate(model, dataset, split, **kwargs):
        calls["evaluate"] = (model, dataset, split, kwargs)
        return {crops: results[crops] for crops in kwargs["crops"]}

    monkeypatch.setattr(ev, "evaluate", evaluate)
    return calls


def test_cli_passes_its_arguments_to_evaluate_with_the_documented_defaults(run_cli_calls, tmp_path, capsys):
    path = tmp_path / "run"
    path.mkdir()
    (path / "model.keras").write_bytes(b"")
    returned = ev.run_cli(str(path), "digits", "test", None)
    model, dataset, split, kwargs = run_cli_calls["evaluate"]
    assert model == ("fast", ("model of", str(path)))  # loaded, then given the in-process kernels
    assert (dataset, split) == ("digits", "test")
    # 144 inputs a call: one image's 144 crops, or 144 images of one input each.
    assert kwargs == {"crops": [None], "batch_size": 144, "data_dir": None, "limit": None, "report_path": None,
                      "from_logits": False, "model_id": str(path.resolve())}
    printed = capsys.readouterr().out
    assert printed == json.dumps({"model": returned[None]}, indent=2, sort_keys=True) + "\n"  # "json" by default
    assert ev.run_cli(str(path), "digits", "test", None, report="json") == returned
    assert capsys.readouterr().out == printed


def test_cli_names_imagenet_as_itself_and_passes_every_option(run_cli_calls, capsys):
    ev.run_cli("imagenet", "imagenet2012", "validation", [10], batch_size=7, data_dir="/data", limit=3,
               report_path="/out/report.json", report="table3", from_logits=True)
    model, dataset, split, kwargs = run_cli_calls["evaluate"]
    assert (model, dataset, split) == (("fast", ("model of", "imagenet")), "imagenet2012", "validation")
    assert kwargs == {"crops": [10], "batch_size": 7, "data_dir": "/data", "limit": 3,
                      "report_path": "/out/report.json", "from_logits": True, "model_id": "imagenet"}
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert rows[-1] == ["10", "10", "25.00%", "50.00%", "4", "-"]  # Table 3's row: crops, errors in %, no speed
    assert not any(line and line[0] == "{" for line in rows)


def test_cli_refuses_a_model_it_cannot_load_naming_what_it_takes(run_cli_calls, tmp_path):
    with pytest.raises(ValueError, match=r"--model must be 'imagenet', a \.onnx/\.weights\.h5 weights file, a \.keras "
                                         r"file or a run directory holding model\.keras\. Received: .*model\.onnxx"):
        ev.run_cli(str(tmp_path / "model.onnxx"), "digits", "test", [1])
    assert "evaluate" not in run_cli_calls


def _pixels_are_output_model(classes):
    """`(B, 2, 2, 3) -> (B, classes)`: the first `classes` (at most 12) of an image's 12 values, as they are.

    An RGB model, as evaluation takes; `_designed_images` puts designed outputs there.
    """
    kernel = np.eye(12, classes, dtype=np.float32)
    inputs = keras.Input((2, 2, 3))
    flat = keras.layers.Flatten()(inputs)
    return keras.Model(inputs, keras.layers.Dense(classes, use_bias=False,
                                                  kernel_initializer=keras.initializers.Constant(kernel))(flat))


def _designed_images(outputs):
    """float32 `(..., 2, 2, 3)` images whose first `classes` flattened values are `outputs` `(..., classes)`."""
    values = np.zeros(outputs.shape[:-1] + (12,), np.float32)
    values[..., :outputs.shape[-1]] = outputs
    return values.reshape(outputs.shape[:-1] + (2, 2, 3))


@pytest.mark.parametrize("from_logits", [False, True])
def test_a_protocol_averages_each_images_crops_over_batches_as_numpy_does(monkeypatch, rng, from_logits):
    """Each crop of each image gets designed outputs (a constant crop whose colour the model returns):
    top-1 and top-5 of the per-image mean over crops (of softmaxes, with logits), counted over batches."""
    classes, crops, sizes = 9, 10, (6, 5)  # two batches of 6 and 5 images
    outputs = rng.normal(size=(sum(sizes), crops, classes)) * (3 if from_logits else 1)
    if not from_logits:
        outputs = rng.dirichlet(np.full(classes, 0.3), size=(sum(sizes), crops))
    labels = rng.integers(0, classes, sum(sizes))
    per_crop = np.exp(outputs) / np.exp(outputs).sum(axis=2, keepdims=True) if from_logits else outputs
    ranks = np.argsort(-per_crop.mean(axis=1), axis=1)
    top1, top5 = ranks[:, 0] == labels, (ranks[:, :5] == labels[:, None]).any(axis=1)
    assert 0 < top1.sum() < top5.sum() < len(labels), "a draw that tells the two apart"
    first = np.cumsum((0,) + sizes)[:-1]

    def designed_batches(images, image_size, channels, crops_asked, geometry, images_per_batch, limit):
        assert (image_size, channels, crops_asked) == (2, 3, crops)
        for start, size in zip(first, sizes):  # (size, crops, 2, 2, 3)
            yield tf.constant(_designed_images(outputs[start:start + size])), tf.constant(labels[start:start + size])

    monkeypatch.setattr(ev, "_batches", designed_batches)
    started = time.perf_counter()
    result = ev.evaluate_protocol(_pixels_are_output_model(classes), "images", crops, from_logits=from_logits,
                                  progress=False)
    elapsed = time.perf_counter() - started
    assert (result["images"], result["k"], result["crops"]) == (len(labels), 5, crops)
    assert result["geometry"] == "paper crops"
    assert 0 < result["seconds"] <= elapsed
    assert result["images_per_second"] == pytest.approx(len(labels) / result["seconds"])
    assert result["top1_accuracy"] == pytest.approx(top1.mean()) and result["top1_error"] == pytest.approx(
        1 - top1.mean())
    assert result["top5_accuracy"] == pytest.approx(top5.mean()) and result["top5_error"] == pytest.approx(
        1 - top5.mean())


def test_a_protocol_timed_at_zero_seconds_states_no_speed(monkeypatch, rng):
    """A clock that did not advance (a coarse timer) gives no images per second, not a division by zero."""
    classes = 3
    monkeypatch.setattr(ev, "_batches", lambda *args: iter([(tf.ones((2, 1, 2, 2, 3)), tf.constant([0, 1]))]))
    monkeypatch.setattr(time, "perf_counter", lambda: 7.0)
    result = ev.evaluate_protocol(_pixels_are_output_model(classes), "images", 1, progress=False)
    assert (result["seconds"], result["images_per_second"], result["images"]) == (0.0, None, 2)
