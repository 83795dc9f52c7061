"""The `inception-tf` command: turns flags into configs and calls the library.

Building the parser imports neither Keras nor TensorFlow, so `--help` and
argument errors return at once; a command configures TensorFlow's process
settings (`inception_tf.runtime`) and then imports what it runs.
"""

import argparse
import dataclasses
import os
import shlex
import sys

from inception_tf.calibration import DEFAULT_CALIBRATION_SPLIT
from inception_tf.datasets.names import DEFAULT_DATASET
from inception_tf.geometry import CROP_COUNTS, EVALUATION_BATCH_SIZE, EVALUATION_REPORTS, MODEL_PROTOCOL
from inception_tf.models.recipes import COST_REPORTS, DIAGRAMS, SLIDE_EXAMPLE
from inception_tf.serving.formats import DEFAULT_CALIBRATION_IMAGES, EXPORT_FORMATS, QUANTIZATIONS, SAVEDMODEL
from inception_tf.serving.signatures import DEFAULT_EXPORT_DIR, DEFAULT_PRECISION, DEFAULT_TOP_K, PRECISIONS
from inception_tf.training.config import TrainConfig


def _protocol(text):
    """An `--crops` value: `model` (None, the model's own geometry) or a crop count."""
    if text == MODEL_PROTOCOL:
        return None
    if text not in {str(count) for count in CROP_COUNTS}:
        choices = ", ".join([MODEL_PROTOCOL, *map(str, CROP_COUNTS)])
        raise argparse.ArgumentTypeError(f"invalid choice: {text!r} (choose from {choices})")
    return int(text)


def _checked(convert, accepts, expected):
    """An argparse type: `convert(text)` where `accepts` it; else the error "expected EXPECTED, got 'TEXT'"."""
    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not accepts(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


_positive_int = _checked(int, lambda value: value >= 1, "a positive integer")
_non_negative_int = _checked(int, lambda value: value >= 0, "a non-negative integer")
_positive_float = _checked(float, lambda value: 0 < value < float("inf"), "a positive number")  # not NaN, not inf
_fraction = _checked(float, lambda value: 0 <= value < 1, "a number in [0, 1)")

# TrainConfig fields whose values need a stricter type than their annotation.
_FIELD_TYPES = {"momentum": _fraction, "dropout_rate": _fraction, "seed": int, "verbose": int,
                "freeze_epochs": _non_negative_int}
_ANNOTATION_TYPES = {"int": _positive_int, "float": _positive_float, "str": str}


def _add_config_flags(parser, config_class):
    """One flag per dataclass field: `--field-name`, typed, with its default and help."""
    for field in dataclasses.fields(config_class):
        flag = "--" + field.name.replace("_", "-")
        help_text = field.metadata["help"]
        if field.type in ("bool", bool):  # the class, or its name where annotations are postponed
            # argparse takes any unambiguous prefix: --jit for --jit-compile, --no-aux for --no-aux-logits
            parser.add_argument(flag, dest=field.name, action=argparse.BooleanOptionalAction,
                                default=field.default, help=help_text)
            continue
        kind = _FIELD_TYPES.get(field.name) or _ANNOTATION_TYPES[getattr(field.type, "__name__", field.type)]
        options = {"choices": field.metadata["choices"]} if "choices" in field.metadata else {}
        parser.add_argument(flag, dest=field.name, type=kind, default=field.default, help=help_text, **options)


def _train_config(args):
    """The `TrainConfig` of the `train` command's flags."""
    return TrainConfig(**{field.name: getattr(args, field.name) for field in dataclasses.fields(TrainConfig)})


class _StderrNow:
    """A stream that writes to whatever `sys.stderr` is at the time (`main` swaps it while a command runs)."""

    def write(self, text):
        return sys.stderr.write(text)

    def flush(self):
        sys.stderr.flush()


def _train(args):
    import logging

    from inception_tf.serving.runs import export_run
    from inception_tf.training import train

    logger = logging.getLogger("inception_tf")
    if not logger.handlers:
        logger.addHandler(logging.StreamHandler(_StderrNow()))  # the message alone (the default format)
    logger.setLevel(logging.INFO)
    try:
        history = train.train(_train_config(args))
    except train.TrainingDiverged as error:
        print(f"inception-tf train: error: {error}", file=sys.stderr)
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
    if args.export_dir and train.distribute.is_chief():
        path = export_run(artifacts["run_dir"], args.export_dir)
        print(f"{'SavedModel:':<18}{path}")
    return 0


def _export(args):
    from inception_tf.serving.runs import export_run

    path = export_run(args.source, args.output_dir, name=args.name, format=args.format, version=args.version,
                      precision=args.precision, quantize=args.quantize, calibration=args.calibration,
                      calibration_images=args.calibration_images, calibration_split=args.calibration_split,
                      calibration_data_dir=args.data_dir,
                      class_names=_class_names_file(args.class_names), top_k=args.top_k, overwrite=args.overwrite)
    if args.precision == "bfloat16":
        from inception_tf.serving.export import cpu_has_bfloat16

        if not cpu_has_bfloat16():
            print("inception-tf export: note: this CPU has no AVX-512 BF16 or AMX, so the bfloat16 SavedModel "
                  "runs slower here than float32; it pays on serving hosts that have them (and on GPUs).",
                  file=sys.stderr)
    print(path)
    return 0


def _class_names_file(path):
    """The class names of `--class-names` (one a line, blank lines skipped), or None without the flag."""
    if not path:
        return None
    with open(path) as handle:
        return [line.rstrip("\n") for line in handle if line.strip()]


def _predict(args):
    from inception_tf.serving import predict

    rows = predict.classify(args.model, args.images, top_k=args.top_k, version=args.version)
    for image, top in rows:
        print(image)
        for rank, (name, score) in enumerate(top, 1):
            print(f"  {rank}. {name:<24} {score:.4f}")
    return 0


def _costs(args):
    from inception_tf.models import report

    print("\n".join(report.cost_report(args.model, image_size=args.image_size)))
    return 0


def _plot(args):
    from inception_tf.models import plot

    print(plot.plot(args.model, args.output))
    return 0


def _convert(args):
    import time

    from inception_tf.models import pretrained

    start = time.perf_counter()
    path = pretrained.convert_onnx(args.source, args.output, overwrite=args.overwrite)
    print(f"{path} ({os.path.getsize(path):,} bytes, {time.perf_counter() - start:.1f} s); "
          f"load it with GoogLeNet(weights={path!r})")
    return 0


def _evaluate(args):
    from inception_tf.evaluation import evaluate

    evaluate.run_cli(
        args.model, args.dataset, args.split, args.crops, batch_size=args.batch_size, data_dir=args.data_dir,
        limit=args.limit, report_path=args.output, report=args.report, from_logits=args.from_logits,
    )
    return 0


def _add_evaluate_parser(commands):
    parser = commands.add_parser(
        "evaluate", help="top-1/top-5 with the model's own test-time geometry or the paper's 1, 10 or 144 crops",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description=(
            "Evaluate a model on a dataset split: by default one input per image, prepared with the test-time "
            "geometry the model records (a model trained here: its test split's central square; Caffe's "
            "ImageNet weights: their centre crop); with --crops 1, 10 or 144, softmax averaged over the "
            "paper's crops (Szegedy et al. 2014, Table 3). With --output, results are saved after each "
            "protocol and a rerun skips protocols already saved."
        ),
    )
    parser.add_argument("--model", required=True,
                        help="imagenet, a .onnx/.weights.h5 weights file, a .keras file or a run directory")
    parser.add_argument("--dataset", default=DEFAULT_DATASET, help="tfds name, digits, or folder:PATH")
    parser.add_argument("--split", default="test")
    parser.add_argument("--crops", type=_protocol, nargs="+", default=[None],
                        metavar="{" + ",".join([MODEL_PROTOCOL, *map(str, CROP_COUNTS)]) + "}",
                        help="protocols to run, in order: model (the model's own geometry) or crops per image")
    parser.add_argument("--batch-size", type=_positive_int, default=EVALUATION_BATCH_SIZE,
                        help="crops per call (1 and 10 crops)")
    parser.add_argument("--limit", type=_positive_int, default=None, help="only the first LIMIT images")
    parser.add_argument("--data-dir", default=None, help="tensorflow-datasets data directory")
    parser.add_argument("--output", default=None, help="JSON report path (enables resuming)")
    parser.add_argument("--report", choices=EVALUATION_REPORTS, default=EVALUATION_REPORTS[0], help="what to print")
    parser.add_argument("--from-logits", action="store_true", help="the model outputs logits, not softmax")
    parser.set_defaults(handler=_evaluate)


def _add_train_parser(commands):
    parser = commands.add_parser(
        "train", help="train GoogLeNet or SlideNet", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description=(
            "Train a model with model.fit under a tf.distribute strategy. With no "
            "arguments: GoogLeNet with auxiliary heads on the embedded digits at 32x32."
        ),
    )
    _add_config_flags(parser, TrainConfig)
    parser.add_argument("--export-dir", default=DEFAULT_EXPORT_DIR,
                        help="export a SavedModel to EXPORT_DIR/RUN_NAME/VERSION ('' to skip)")
    parser.set_defaults(handler=_train)


def _add_export_parsers(commands):
    parser = commands.add_parser(
        "export", help="export a trained model as a TF Serving SavedModel, ONNX or LiteRT",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description=(
            "Export a run directory's model.keras (or any .keras file) to OUTPUT_DIR/NAME/VERSION "
            "(savedmodel), OUTPUT_DIR/NAME.onnx (onnx) or OUTPUT_DIR/NAME.tflite (litert). "
            "--quantize int8 --calibration DATASET writes int8 ONNX or LiteRT behind the float interface; "
            "--precision bfloat16 a SavedModel computing in bfloat16 behind float32 signatures."
        ),
    )
    parser.add_argument("source", help="a run directory (runs/NAME) or a .keras file")
    parser.add_argument("--format", choices=EXPORT_FORMATS, default=SAVEDMODEL,
                        help="onnx needs the [onnx] extra, litert the [litert] extra")
    parser.add_argument("--name", default=None, help="model name (default: the run or file name)")
    parser.add_argument("--output-dir", default=DEFAULT_EXPORT_DIR)
    parser.add_argument("--version", type=_positive_int, default=None, help="default: the next integer")
    parser.add_argument("--class-names", default=None, help="a text file, one class name per line")
    parser.add_argument("--top-k", type=_positive_int, default=DEFAULT_TOP_K)
    parser.add_argument("--overwrite", action="store_true", help="replace an existing version")
    parser.add_argument("--precision", choices=PRECISIONS, default=DEFAULT_PRECISION,
                        help="savedmodel only: bfloat16 runs the convolutions in bfloat16 behind float32 "
                             "signatures; pays on hosts with AVX-512 BF16 or AMX (and GPUs), slower elsewhere")
    parser.add_argument("--quantize", choices=QUANTIZATIONS, default=None,
                        help="onnx and litert only: int8 weights and activations behind the float interface; "
                             "pays on CPUs with VNNI or AMX and on mobile CPUs")
    parser.add_argument("--calibration", default=None, metavar="DATASET",
                        help="with --quantize: the images activation ranges come from (digits, a tfds name, "
                             "folder:PATH), prepared at the model's test-time geometry")
    parser.add_argument("--calibration-images", type=_positive_int, default=DEFAULT_CALIBRATION_IMAGES,
                        metavar="N", help="how many images of the calibration split (the first N)")
    parser.add_argument("--calibration-split", default=DEFAULT_CALIBRATION_SPLIT, help="the calibration dataset's split")
    parser.add_argument("--data-dir", default=None, help="with --calibration: its tensorflow-datasets data directory")
    parser.set_defaults(handler=_export)

    parser = commands.add_parser(
        "predict", help="classify image files: the ImageNet GoogLeNet, a trained model, a SavedModel or an export",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description=("Print the top classes and scores for each image, from `imagenet` (Caffe's pretrained "
                     "GoogLeNet, downloaded once), a .onnx/.weights.h5 file of its weights, a .keras file or run "
                     "directory, an exported SavedModel (saved_models/NAME), or an exported .onnx/.tflite file. "
                     "Each image is prepared with the test-time geometry the model records."),
    )
    parser.add_argument("--model", required=True,
                        help="imagenet, a weights file, a .keras file, a run directory, a SavedModel base path "
                             "(saved_models/NAME) or version directory, or an exported .onnx/.tflite file")
    parser.add_argument("--version", type=_positive_int, default=None, help="default: the highest")
    parser.add_argument("--top-k", type=_positive_int, default=DEFAULT_TOP_K)
    parser.add_argument("images", nargs="+", help="JPEG, PNG, GIF or BMP files")
    parser.set_defaults(handler=_predict)


def _add_report_parsers(commands):
    parser = commands.add_parser(
        "costs", help="print parameter and multiply-add counts",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description=(
            "Print parameter and multiply-add counts: slide 11's 1x1-reduction "
            "example, or a model layer by layer."
        ),
    )
    parser.add_argument("--model", default=SLIDE_EXAMPLE, choices=COST_REPORTS,
                        help=f"what to count ({SLIDE_EXAMPLE}: the 28x28x192 5x5 example)")
    parser.add_argument("--image-size", type=_positive_int, default=None,
                        help="input height and width (default: the model's)")
    parser.set_defaults(handler=_costs)

    parser = commands.add_parser(
        "plot", help="draw the module or GoogLeNet (needs pydot and Graphviz)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Render a keras.utils.plot_model diagram to a PNG, SVG or PDF file.",
    )
    parser.add_argument("--model", choices=DIAGRAMS, default=DIAGRAMS[0])
    parser.add_argument("--output", required=True, help="the file to write (.png, .svg, .pdf)")
    parser.set_defaults(handler=_plot)


def _add_weights_parser(commands):
    parser = commands.add_parser(
        "convert", help="convert the ONNX zoo's googlenet-7.onnx (Caffe's ImageNet weights) to .weights.h5",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description=(
            "Check and convert the ONNX model zoo's GoogLeNet (Caffe's bvlc_googlenet) to a Keras weights "
            "file for GoogLeNet(weights=OUTPUT), which then preprocesses the Caffe way."
        ),
    )
    parser.add_argument("source", help="the .onnx file (googlenet-7.onnx)")
    parser.add_argument("--output", default="googlenet_imagenet.weights.h5", help="a .weights.h5 file to write")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    parser.set_defaults(handler=_convert)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="inception-tf",
        description="The Inception module and GoogLeNet for Keras 3 / TensorFlow 2.",
    )
    parser.add_argument("--tf-logs", action="store_true", help="show TensorFlow's own start-up and log lines")
    parser.add_argument("--debug", action="store_true",
                        help="let an error end in its Python traceback instead of one line")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_train_parser(commands)
    _add_export_parsers(commands)
    _add_report_parsers(commands)
    _add_evaluate_parser(commands)
    _add_weights_parser(commands)
    return parser


EXIT_ERROR = 2  # as argparse's own errors
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports Ctrl-C


def error_line(error):
    """`error`'s message on one line (whitespace runs collapsed), whatever its class; the class name if it has none."""
    return " ".join(str(error).split()) or type(error).__name__


def _interrupted_line(args, argv):
    """What Ctrl-C stopped and, for `train`, where the run resumes and with which command."""
    if args.command != "train":
        return "interrupted"
    from inception_tf.training import runs

    try:  # the run's files may be half-written at the moment of Ctrl-C: never fail here
        config = _train_config(args)
        run_dir = runs.run_directory(config.output_dir, config.resolved_run_name())
        completed = runs.completed_epochs(runs.artifacts(run_dir)["backup"])
    except Exception:
        return "interrupted"
    command = shlex.join(["inception-tf", *argv])
    if not completed:
        return f"interrupted before an epoch of {run_dir} completed; `{command}` starts it again"
    return (f"interrupted; {run_dir} keeps {completed} of {config.epochs} epochs: "
            f"`{command}` resumes from epoch {completed + 1}")


def main(argv=None):
    """Runs the command line; returns the process exit code.

    An error ends in one line on stderr, `inception-tf COMMAND: error: MESSAGE`, and exit code 2
    (3 for a diverged training run); Ctrl-C ends in one line saying where a training run resumes,
    and exit code 130. With `--debug` both end in Python's traceback instead.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    try:
        from inception_tf import runtime

        runtime.configure(tensorflow_logs=args.tf_logs)
        if args.tf_logs:
            return args.handler(args)
        with runtime.native_stderr_hidden():
            return args.handler(args)
    except KeyboardInterrupt:
        if args.debug:
            raise
        print(f"inception-tf {args.command}: {_interrupted_line(args, argv)}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:
        if args.debug:
            raise
        print(f"inception-tf {args.command}: error: {error_line(error)}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
