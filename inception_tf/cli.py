"""The `inception-tf` command: turns flags into calls of the library."""

import argparse
import os
import sys


def _costs(args):
    from inception_tf import costs

    if args.model == "slide11":
        lines = costs.ReductionExample().report()
    else:
        from inception_tf import report

        lines = report.model_cost_report(args.model, image_size=args.image_size)
    print("\n".join(lines))
    return 0


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _train(args):
    import logging

    from inception_tf import train

    logger = logging.getLogger("inception_tf")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    config = train.TrainConfig(
        model=args.model, dataset=args.dataset, data_dir=args.data_dir, image_size=args.image_size,
        epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
        lr_decay_epochs=args.lr_decay_epochs, aux_logits=not args.no_aux, ema=args.ema,
        augment=args.augment, strategy=args.strategy, precision=args.precision,
        jit_compile=args.jit, output_dir=args.output_dir, run_name=args.run_name, seed=args.seed,
        steps_per_epoch=args.steps_per_epoch, verbose=args.verbose,
    )
    try:
        history = train.train(config)
    except train.TrainingDiverged as error:
        print(f"inception-tf train: {error}", file=sys.stderr)
        return 3
    metrics, artifacts = history.metrics, history.artifacts
    test = metrics["test"]
    print(
        f"test accuracy {test['accuracy']:.4f} (loss {test['loss']:.4f}) after "
        f"{metrics['epochs_run']} epochs in {metrics['wall_time_s']:.0f} s on "
        f"{metrics['strategy']} x{metrics['replicas']}"
    )
    for label, key in (("model", "model"), ("best model", "best_model"), ("metrics", "metrics"),
                       ("history", "history_csv"), ("TensorBoard logs", "tensorboard")):
        print(f"{label + ':':<18}{artifacts[key]}")
    if args.export_dir and _is_chief():
        from inception_tf import export

        path = export.export_saved_model(
            _load(artifacts["model"]),
            os.path.join(args.export_dir, config.resolved_run_name()),
            class_names=metrics["class_names"],
        )
        print(f"{'SavedModel:':<18}{path}")
    return 0


def _is_chief():
    from inception_tf import distribute

    return distribute.is_chief()


def _load(path):
    import keras

    if not os.path.exists(path):
        raise FileNotFoundError(f"No model file at {path!r}.")
    try:
        return keras.models.load_model(path)
    except (ValueError, OSError) as error:
        raise ValueError(f"Cannot load a Keras model from {path!r}: {error}") from None


def _export(args):
    import json

    from inception_tf import export

    source = args.source
    class_names = None
    if os.path.isdir(source):
        metrics_path = os.path.join(source, "metrics.json")
        if os.path.exists(metrics_path):
            with open(metrics_path) as handle:
                class_names = json.load(handle).get("class_names")
        name = args.name or os.path.basename(os.path.normpath(source))
        source = os.path.join(source, "model.keras")
    else:
        name = args.name or os.path.splitext(os.path.basename(source))[0]
    if args.class_names:
        with open(args.class_names) as handle:
            class_names = [line.rstrip("\n") for line in handle if line.strip()]
    path = export.export_saved_model(
        _load(source), os.path.join(args.output_dir, name), version=args.version,
        class_names=class_names, top_k=args.top_k, overwrite=args.overwrite,
    )
    print(path)
    return 0


def _predict(args):
    from inception_tf import predict

    rows = predict.predict_files(args.model, args.images, version=args.version, top_k=args.top_k)
    for image, top in rows:
        print(image)
        for rank, (name, score) in enumerate(top, 1):
            print(f"  {rank}. {name:<24} {score:.4f}")
    return 0


def _plot(args):
    from inception_tf import plot

    try:
        print(plot.plot(args.model, args.output))
    except RuntimeError as error:
        raise ValueError(str(error)) from None
    return 0


def _bench(args):
    import importlib.util

    from inception_tf import bench

    preload = bench.allocator_library(args.allocator)
    if preload and preload not in os.environ.get("LD_PRELOAD", ""):
        # An allocator is chosen at process start: run again with it preloaded.
        print(f"running the benchmark under {preload} (--allocator {args.allocator})", flush=True)
        environment = dict(os.environ, LD_PRELOAD=":".join(filter(None, [preload, os.environ.get("LD_PRELOAD")])))
        os.execve(sys.executable, [sys.executable, "-m", "inception_tf.cli", *args.argv], environment)
    use_torch = importlib.util.find_spec("torch") is not None and not args.no_torch
    if not use_torch and not args.no_torch:
        print("PyTorch is not installed (pip install 'inception_tf[bench]'): timing without it.", file=sys.stderr)
    precisions = ("float32",) if args.float32_only else ("float32", "mixed_bfloat16")
    bench.run(output=args.output, image_size=args.image_size, threads=args.threads, repeats=args.repeats,
              torch=use_torch, precisions=precisions, budget_seconds=args.budget_seconds,
              log=lambda line: print(line, flush=True))
    print(f"wrote {args.output}")
    return 0


def _add_bench_parser(commands):
    parser = commands.add_parser(
        "bench", help="time our GoogLeNet beside plain Keras and PyTorch",
        description="Measure images/s, GFLOP/s, LRN's share and input-pipeline rates; write a Markdown report.",
    )
    parser.add_argument("--output", default="benchmarks/RESULTS.md")
    parser.add_argument("--image-size", type=_positive_int, default=224)
    parser.add_argument("--threads", type=_positive_int, default=None, help="default: all cores")
    parser.add_argument("--repeats", type=_positive_int, default=9,
                        help="timed repeats per candidate (the median of fewer than 5 is noisy)")
    parser.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    parser.add_argument("--float32-only", action="store_true", help="leave the bfloat16 rows out")
    parser.add_argument("--budget-seconds", type=_positive_float, default=120,
                        help="time per candidate beyond which it gets fewer samples (at least one)")
    parser.add_argument("--allocator", choices=("auto", "system", "tcmalloc", "jemalloc"), default="auto",
                        help="malloc for the whole run, preloaded (auto: tcmalloc if installed, else the system's)")
    parser.set_defaults(handler=_bench)


def _add_plot_parser(commands):
    parser = commands.add_parser(
        "plot", help="draw the module or GoogLeNet (needs pydot and Graphviz)",
        description="Render a keras.utils.plot_model diagram to a PNG, SVG or PDF file.",
    )
    parser.add_argument("--model", choices=("module", "googlenet"), default="module")
    parser.add_argument("--output", required=True, help="the file to write (.png, .svg, .pdf)")
    parser.set_defaults(handler=_plot)


def _add_export_parsers(commands):
    parser = commands.add_parser(
        "export", help="export a trained model as a TF Serving SavedModel",
        description="Export a run directory's model.keras (or any .keras file) to OUTPUT_DIR/NAME/VERSION.",
    )
    parser.add_argument("source", help="a run directory (runs/NAME) or a .keras file")
    parser.add_argument("--name", default=None, help="model name (default: the run or file name)")
    parser.add_argument("--output-dir", default="saved_models")
    parser.add_argument("--version", type=_positive_int, default=None, help="default: the next integer")
    parser.add_argument("--class-names", default=None, help="a text file, one class name per line")
    parser.add_argument("--top-k", type=_positive_int, default=5)
    parser.add_argument("--overwrite", action="store_true", help="replace an existing version")
    parser.set_defaults(handler=_export)

    parser = commands.add_parser(
        "predict", help="classify image files with an exported SavedModel, no server",
        description="Print the top classes and scores for each image, from a SavedModel.",
    )
    parser.add_argument("--model", required=True, help="a model base path (saved_models/NAME) or version directory")
    parser.add_argument("--version", type=_positive_int, default=None, help="default: the highest")
    parser.add_argument("--top-k", type=_positive_int, default=5)
    parser.add_argument("images", nargs="+", help="JPEG, PNG, GIF or BMP files")
    parser.set_defaults(handler=_predict)


def _add_train_parser(commands):
    from inception_tf import distribute, train

    defaults = train.TrainConfig()
    parser = commands.add_parser(
        "train", help="train GoogLeNet or SlideNet",
        description=(
            "Train a model with model.fit under a tf.distribute strategy. With no "
            "arguments: GoogLeNet with auxiliary heads on the embedded digits at 32x32."
        ),
    )
    parser.add_argument("--model", choices=train.MODELS, default=defaults.model)
    parser.add_argument("--dataset", default=defaults.dataset,
                        help="tfds name, 'digits' (embedded, default) or 'folder:PATH'")
    parser.add_argument("--data-dir", default=None, help="tensorflow-datasets data directory")
    parser.add_argument("--image-size", type=_positive_int, default=None,
                        help="input height and width (default: 32 on digits, 224 elsewhere, 28 for slidenet)")
    parser.add_argument("--epochs", type=_positive_int, default=defaults.epochs)
    parser.add_argument("--batch-size", type=_positive_int, default=defaults.batch_size,
                        help="per replica; the global batch is this times the replicas")
    parser.add_argument("--learning-rate", type=_positive_float, default=None,
                        help="default: 0.01 SGD for googlenet, 1e-4 Adam for slidenet")
    parser.add_argument("--lr-decay-epochs", type=_positive_float, default=None,
                        help="cut the learning rate by 4%% every this many epochs (default: 8, 1 on digits)")
    parser.add_argument("--no-aux", action="store_true", help="train GoogLeNet without auxiliary heads")
    parser.add_argument("--ema", action="store_true", help="Polyak (exponential moving) weight averaging")
    parser.add_argument("--augment", action="store_true", help="the paper's crop and colour augmentation")
    parser.add_argument("--strategy", choices=distribute.STRATEGIES, default=defaults.strategy)
    parser.add_argument("--precision", choices=train.PRECISIONS, default=defaults.precision)
    parser.add_argument("--jit", action="store_true", help="compile the train step with XLA")
    parser.add_argument("--output-dir", default=defaults.output_dir)
    parser.add_argument("--run-name", default=None, help="default: MODEL_DATASET")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--steps-per-epoch", type=_positive_int, default=None)
    parser.add_argument("--verbose", type=int, choices=(0, 1, 2), default=defaults.verbose,
                        help="1: progress bars, 2: one line per epoch")
    parser.add_argument("--export-dir", default="saved_models",
                        help="export a SavedModel to EXPORT_DIR/RUN_NAME/VERSION ('' to skip)")
    parser.set_defaults(handler=_train)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="inception-tf",
        description="The Inception module and GoogLeNet for Keras 3 / TensorFlow 2.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    costs = commands.add_parser(
        "costs", help="print parameter and multiply-add counts", description=(
            "Print parameter and multiply-add counts: slide 11's 1x1-reduction "
            "example, or a model layer by layer."
        )
    )
    costs.add_argument(
        "--model",
        default="slide11",
        choices=("slide11", "googlenet", "slidenet"),
        help="what to count (default: slide11, the 28x28x192 5x5 example)",
    )
    costs.add_argument(
        "--image-size", type=int, default=None,
        help="input height and width for --model googlenet (default: 224)",
    )
    costs.set_defaults(handler=_costs)
    _add_train_parser(commands)
    _add_export_parsers(commands)
    _add_plot_parser(commands)
    _add_bench_parser(commands)
    return parser


def main(argv=None):
    """Runs the command line; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return args.handler(args)
    except (ValueError, FileNotFoundError, FileExistsError, IsADirectoryError) as error:
        print(f"inception-tf {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
