"""evaluate(): crop-averaged top-1/top-5 against independent numpy computations."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import inception_tf.training.data  # noqa: F401  (registers "digits")
from inception_tf.evaluation import evaluate as ev
from inception_tf.evaluation.crops import make_crops

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


def test_bad_crops_named():
    model = _mean_colour_model(np.zeros((3, 2), np.float32), np.zeros(2, np.float32))
    with pytest.raises(ValueError, match="crops must be one of"):
        ev.evaluate(model, "digits", "test", crops=5)


def test_missing_imagenet_archives_name_the_manual_dir(tmp_path):
    model = _mean_colour_model(np.zeros((3, 2), np.float32), np.zeros(2, np.float32))
    with pytest.raises(ValueError, match="downloads/manual") as info:
        ev.evaluate(model, "imagenet2012", "validation", data_dir=str(tmp_path), progress=False)
    assert str(tmp_path) in str(info.value) and "ILSVRC2012_img_val.tar" in str(info.value)


def test_cli_three_protocols_on_digits(tmp_path, capsys):
    from inception_tf import GoogLeNet
    from inception_tf.cli import main

    path = str(tmp_path / "googlenet.keras")
    GoogLeNet(input_shape=(SIZE, SIZE, 3), classes=10).save(path)
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
