"""GoogLeNet on one NVIDIA GPU: our Keras model on the JAX backend beside PyTorch eager.

For a GPU machine that has JAX and PyTorch but no TensorFlow (see README.md in
this folder for the few wheels to bring). From the repository root:

    KERAS_BACKEND=jax PYTHONPATH=. python benchmarks/gpu/run_gpu.py --output RESULTS-gpu.md

It measures, candidates alternating, the median (min-max) of the timed repeats
after warm-up, on random uniform 224x224 inputs: inference and training (SGD
with momentum) images/s at batch 128 and 256, float32 and bfloat16 (Keras'
mixed_bfloat16 policy; PyTorch bf16 autocast), for our GoogLeNet (Keras on JAX,
XLA-compiled as Keras does by default there) and the same network in PyTorch
eager, NCHW and channels_last. Then it trains our GoogLeNet with `model.fit`
for a few epochs on scikit-learn's digits (upscaled; no download) and reports
the test accuracy. `--device cpu` with small settings checks the script on a
machine without a GPU.
"""

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

from inception_tf import files  # noqa: E402
from benchmarks.harness import Candidate, time_candidates, torch_googlenet  # noqa: E402

PRECISIONS = ("float32", "mixed_bfloat16")


def keras_candidates(precision, batches, image_size, workloads):
    """Our GoogLeNet in Keras (JAX backend): predict_on_batch and train_on_batch, both jitted."""
    import keras

    from inception_tf import GoogLeNet

    keras.config.set_dtype_policy(precision)
    try:
        model = GoogLeNet(input_shape=(image_size, image_size, 3))
        model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss="sparse_categorical_crossentropy")
    finally:
        keras.config.set_dtype_policy("float32")
    rng = np.random.default_rng(0)
    candidates = []
    for batch in batches:
        x = rng.uniform(-1, 1, (batch, image_size, image_size, 3)).astype(np.float32)
        y = rng.integers(0, 1000, batch)
        if "infer" in workloads:
            # predict_on_batch returns NumPy: the device work is finished when it returns.
            candidates.append(Candidate("ours (Keras on JAX)", "keras-jax", precision, f"infer_{batch}",
                                        (lambda x=x: model.predict_on_batch(x)), batch))
        if "train" in workloads:
            candidates.append(Candidate("ours (Keras on JAX)", "keras-jax", precision, f"train_{batch}",
                                        (lambda x=x, y=y: model.train_on_batch(x, y)), batch))
    return candidates


def torch_candidates(precision, batches, image_size, workloads, device, channels_last):
    import torch

    bf16 = precision == "mixed_bfloat16"
    model = torch_googlenet().to(device)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    device_type = torch.device(device).type
    name = "PyTorch eager " + ("channels_last" if channels_last else "NCHW")

    def synchronize():
        if device_type == "cuda":
            torch.cuda.synchronize()

    def infer(x):
        model.eval()
        with torch.inference_mode(), torch.autocast(device_type, dtype=torch.bfloat16, enabled=bf16):
            model(x)
        synchronize()

    def train(x, y):
        model.train()
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=bf16):
            loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        synchronize()

    generator = torch.Generator().manual_seed(0)
    candidates = []
    label = "bf16 autocast" if bf16 else "float32"
    for batch in batches:
        x = (torch.rand(batch, 3, image_size, image_size, generator=generator) * 2 - 1).to(device)
        x = x.contiguous(memory_format=memory_format)
        y = torch.randint(0, 1000, (batch,), generator=generator).to(device)
        if "infer" in workloads:
            candidates.append(Candidate(name, "pytorch", label, f"infer_{batch}", (lambda x=x: infer(x)), batch))
        if "train" in workloads:
            candidates.append(Candidate(name, "pytorch", label, f"train_{batch}", (lambda x=x, y=y: train(x, y)),
                                        batch))
    return candidates


def fit_on_digits(image_size, epochs, batch_size):
    """`model.fit` of our GoogLeNet (aux heads on) on scikit-learn's 8x8 digits, upscaled; returns a summary."""
    import keras
    from sklearn.datasets import load_digits

    from inception_tf import LOSS_WEIGHTS, GoogLeNet

    digits = load_digits()
    images = digits.images.astype(np.float32) / 16.0 * 2 - 1  # [-1, 1], as our pipelines feed
    images = np.repeat(np.repeat(images, image_size // 8, axis=1), image_size // 8, axis=2)
    images = np.repeat(images[..., None], 3, axis=-1)
    labels = digits.target.astype(np.int64)
    test = np.arange(len(labels)) % 5 == 0  # the package's digits split: every fifth image is a test image
    model = GoogLeNet(input_shape=images.shape[1:], classes=10, aux_logits=True)
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9, nesterov=False),
                  loss={k: "sparse_categorical_crossentropy" for k in LOSS_WEIGHTS}, loss_weights=LOSS_WEIGHTS,
                  metrics={"main": "accuracy"})
    targets = {k: labels[~test] for k in LOSS_WEIGHTS}
    start = time.perf_counter()
    history = model.fit(images[~test], targets, batch_size=batch_size, epochs=epochs, verbose=2, shuffle=True)
    seconds = time.perf_counter() - start
    predictions = model.predict(images[test], batch_size=256, verbose=0)["main"]
    accuracy = float(np.mean(np.argmax(predictions, axis=-1) == labels[test]))
    return {"epochs": epochs, "seconds": seconds, "final_loss": float(history.history["loss"][-1]),
            "test_accuracy": accuracy, "train_images": int((~test).sum()), "test_images": int(test.sum()),
            "image_size": image_size}


def describe_device(device):
    import jax
    import torch

    lines = [f"JAX devices: {', '.join(str(d) for d in jax.devices())}"]
    if torch.device(device).type == "cuda":
        lines.append(f"PyTorch device: {torch.cuda.get_device_name()}")
    return lines


def report(candidates, fit, args):
    import jax
    import keras
    import torch

    lines = ["# GPU benchmark results", "", "Written by `benchmarks/gpu/run_gpu.py`.", ""]
    lines += describe_device(args.device)
    lines += [f"Versions: keras {keras.__version__} (backend {keras.backend.backend()}), jax {jax.__version__}, "
              f"torch {torch.__version__}.",
              f"Input: random uniform images in [-1, 1] at {args.image_size}x{args.image_size}; images/s as the "
              f"median (min-max) of {args.repeats} timed repeats after warm-up, candidates alternating.", "",
              "| network | precision | workload | images/s (min-max) | samples |", "|---|---|---|---|---|"]
    for c in candidates:
        lines.append(f"| {c.name} | {c.precision} | {c.workload} | {c.rate():.0f} "
                     f"({c.rate(min):.0f}-{c.rate(max):.0f}) | {len(c.samples)} |")
    lines += ["", "## Ratios: ours / PyTorch eager in its faster memory format", "",
              "| precision | workload | ours | best PyTorch | ratio |", "|---|---|---|---|---|"]
    for c in candidates:
        if c.framework != "keras-jax":
            continue
        peers = [p for p in candidates if p.framework == "pytorch" and p.workload == c.workload
                 and (p.precision == "float32") == (c.precision == "float32")]
        if peers:
            best = max(peers, key=Candidate.rate)
            lines.append(f"| {c.precision} | {c.workload} | {c.rate():.0f} | {best.rate():.0f} ({best.name}) | "
                         f"{c.rate() / best.rate():.2f} |")
    if fit:
        lines += ["", "## model.fit of our GoogLeNet (aux heads on) on the digits", "",
                  f"{fit['epochs']} epochs on {fit['train_images']} images at {fit['image_size']}x{fit['image_size']} "
                  f"in {fit['seconds']:.1f} s (the first epoch includes XLA compilation); final loss "
                  f"{fit['final_loss']:.3f}; test accuracy {fit['test_accuracy']:.1%} on {fit['test_images']} "
                  f"held-out images."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="PyTorch device: cuda (default) or cpu")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batches", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--min-seconds", type=float, default=0.5, help="shortest timed sample")
    parser.add_argument("--budget-seconds", type=float, default=30, help="time per candidate")
    parser.add_argument("--fit-epochs", type=int, default=5, help="0 leaves model.fit out")
    parser.add_argument("--fit-image-size", type=int, default=64)
    parser.add_argument("--output", default="RESULTS-gpu.md")
    args = parser.parse_args(argv)

    import keras

    if keras.backend.backend() != "jax":
        parser.error(f"run with KERAS_BACKEND=jax (Keras uses {keras.backend.backend()!r})")
    print("\n".join(describe_device(args.device)), flush=True)
    candidates = []
    for precision in PRECISIONS:
        candidates += keras_candidates(precision, args.batches, args.image_size, ("infer", "train"))
        for channels_last in (False, True):
            candidates += torch_candidates(precision, args.batches, args.image_size, ("infer", "train"),
                                           args.device, channels_last)
    workloads = sorted({c.workload for c in candidates}, key=lambda w: (w.split("_")[0], int(w.split("_")[1])))
    for workload in workloads:
        group = [c for c in candidates if c.workload == workload]
        print(f"timing {workload}: {len(group)} candidates", flush=True)
        time_candidates(group, warmup=2, repeats=args.repeats, min_seconds=args.min_seconds, budget_seconds=args.budget_seconds)
        for c in group:
            print(f"  {c.name:32s} {c.precision:15s} {c.rate():8.1f} images/s", flush=True)
    fit = fit_on_digits(args.fit_image_size, args.fit_epochs, 64) if args.fit_epochs else None
    text = report(candidates, fit, args)
    with files.atomic_file(args.output) as temporary:
        with open(temporary, "w") as handle:
            handle.write(text)
    print(text)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
