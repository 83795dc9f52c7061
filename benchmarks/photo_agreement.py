"""How closely the low-precision exports follow float32 on real photo crops: `python benchmarks/photo_agreement.py`.

GoogLeNet at 224x224 on weights of the ONNX zoo's googlenet-7 layout (random
values with small biases, so the features depend on the image; the file is
built as tests/models/zoo_onnx.py builds it). Random features share one large
mean direction, which would give every crop the same class; the classifier is
therefore centred on the measured crops' mean feature and scaled to a logit
spread of 3, so that the top-1 class varies from crop to crop as a trained
network's does. It is exported as the float32 ONNX
file (the reference), the int8 ONNX file, the float32 and int8 LiteRT files
and the bfloat16 SavedModel, each run by its own runtime.

The images are the paper's 144 test crops (`inception_tf.crops.make_crops`)
of the two photos scikit-learn ships (china.jpg, flower.jpg, 427x640). An
int8 file is calibrated on one photo's 144 crops and measured on the other's,
then the other way round, so no measured crop was seen in calibration. It
prints, per low-precision export, against its own runtime's float32 file: top-1
agreement, top-5 overlap and the largest difference in any probability.

The SavedModel's signatures apply the model's test-time geometry to what they
are given (for these weights the centre crop: shorter side to 256/224 of 224,
central 224 square), so its two precisions see the crops prepared once more;
they are compared with each other, not with the other runtimes.
"""

import argparse
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def photo_crops():
    """`{name: float32 (144, 224, 224, 3)}`: the paper's 144 crops of each of scikit-learn's two photos."""
    from sklearn.datasets import load_sample_images

    from inception_tf.crops import make_crops

    photos = load_sample_images()
    return {os.path.basename(path): np.clip(make_crops(image, 224, 144).numpy(), 0, 255)  # float32 rounding
            for path, image in zip(photos.filenames, photos.images)}


def zoo_layout_model(scratch):
    """GoogLeNet on a googlenet-7-layout file of random weights whose output follows the image."""
    import onnx

    from inception_tf import GoogLeNet
    from tests.models import zoo_onnx

    path = os.path.join(scratch, "googlenet-7-layout.onnx")
    onnx.save(zoo_onnx.build(zoo_onnx.random_weights(seed=5, classifier_std=0.002, bias_std=0.01)), path)
    return GoogLeNet(weights=path)


def centre_classifier(model, images, spread=3.0):
    """Sets `model`'s classifier (`logits`) so its logits on `images` have mean 0 per class and std `spread`."""
    import keras

    features = keras.Model(model.input, model.get_layer("avg_pool").output).predict(images, verbose=0)
    logits = model.get_layer("logits")
    kernel, _ = logits.get_weights()
    centred = (features - features.mean(axis=0)) @ kernel
    kernel = kernel * (spread / centred.std())
    logits.set_weights([kernel, -(features.mean(axis=0) @ kernel)])


def _onnx(path, images):
    import onnxruntime

    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    return np.concatenate([session.run(["probabilities"], {"images": images[i:i + 16]})[0]
                           for i in range(0, len(images), 16)])


def _litert(path, images):
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=path).get_signature_runner()
    return np.concatenate([runner(images=images[i:i + 16])["probabilities"] for i in range(0, len(images), 16)])


def _saved_model(path, images):
    import tensorflow as tf

    signature = tf.saved_model.load(path).signatures["serving_default"]
    return np.concatenate([signature(images=tf.constant(images[i:i + 16]))["probabilities"].numpy()
                           for i in range(0, len(images), 16)])


def probabilities(model, scratch, calibration, measured):
    """`{export: (crops, 1000) probabilities}` on `measured`, int8 files calibrated on `calibration`."""
    from inception_tf.serving import export, formats

    cal = formats.Calibration(images=calibration, dataset="photo crops", split="-")
    out = {}
    for name, format, quantize, run in (("ONNX float32", "onnx", None, _onnx), ("ONNX int8", "onnx", "int8", _onnx),
                                        ("LiteRT float32", "litert", None, _litert),
                                        ("LiteRT int8", "litert", "int8", _litert)):
        path = os.path.join(scratch, name.replace(" ", "_") + formats.FORMATS[format])
        formats.export_model(model, path, format, overwrite=True, quantize=quantize,
                             calibration=cal if quantize else None)
        out[name] = run(path, measured)
    for precision in ("float32", "bfloat16"):
        path = export.export_saved_model(model, os.path.join(scratch, f"saved_{precision}"), version=1,
                                         precision=precision, overwrite=True, warmup=False)
        out[f"SavedModel {precision}"] = _saved_model(path, measured)
    return out


def agreement(reference, other):
    """`(top-1 agreement, mean top-5 overlap, max |dp|)` of `other` against `reference`, both `(n, classes)`."""
    top1 = float(np.mean(reference.argmax(1) == other.argmax(1)))
    ref5, other5 = np.argsort(-reference, axis=1)[:, :5], np.argsort(-other, axis=1)[:, :5]
    overlap = float(np.mean([len(set(a) & set(b)) / 5 for a, b in zip(ref5, other5)]))
    return top1, overlap, float(np.abs(reference - other).max())


def run(log=print):
    crops = photo_crops()
    (first, a), (second, b) = crops.items()
    with tempfile.TemporaryDirectory(prefix="photo_agreement_") as scratch:
        log("building GoogLeNet with zoo-layout weights")
        model = zoo_layout_model(scratch)
        centre_classifier(model, np.concatenate([a, b]))
        results = {}
        for calibration, measured, name in ((a, b, second), (b, a, first)):
            log(f"calibrating on the other photo, measuring the 144 crops of {name}")
            for export, values in probabilities(model, scratch, calibration, measured).items():
                results.setdefault(export, []).append(values)
    results = {export: np.concatenate(values) for export, values in results.items()}
    lines = [f"{'export':<20} {'against':<20} {'top-1 agree':>11} {'top-5 overlap':>13} {'max |dp|':>9}   (288 crops)"]
    for export, reference in (("ONNX int8", "ONNX float32"), ("LiteRT int8", "LiteRT float32"),
                              ("LiteRT float32", "ONNX float32"), ("SavedModel bfloat16", "SavedModel float32")):
        top1, overlap, worst = agreement(results[reference], results[export])
        lines.append(f"{export:<20} {reference:<20} {100 * top1:>10.1f}% {100 * overlap:>12.1f}% {worst:>9.4f}")
    reference = results["ONNX float32"]
    lines.append(f"float32 top-1 probability: median {np.median(reference.max(1)):.3f}; "
                 f"distinct top-1 classes: {len(set(reference.argmax(1)))} of 288 crops")
    return "\n".join(lines)


def main(argv=None):
    argparse.ArgumentParser(prog="photo_agreement.py", description=__doc__.splitlines()[0]).parse_args(argv)
    print(run())


if __name__ == "__main__":
    main()
