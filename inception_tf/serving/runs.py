"""Exporting a finished run (or a `.keras` file) as a SavedModel, ONNX or LiteRT file."""

import os

from inception_tf import runs
from inception_tf.calibration import DEFAULT_CALIBRATION_SPLIT
from inception_tf.serving.formats import DEFAULT_CALIBRATION_IMAGES, EXPORT_FORMATS, FORMATS, SAVEDMODEL
from inception_tf.serving.signatures import DEFAULT_EXPORT_DIR, DEFAULT_PRECISION


def check_export_options(format, version=None, precision=DEFAULT_PRECISION, quantize=None, calibration=None,
                         calibration_data_dir=None):
    """Refuses options that do not go together, naming each argument and its `inception-tf export` flag.

    Args:
        format: str. One of `EXPORT_FORMATS`.
        version, precision: a SavedModel's options (`export_saved_model`).
        quantize, calibration: an ONNX or LiteRT file's options (`export_onnx`, `export_litert`).
        calibration_data_dir: the tensorflow-datasets directory of a calibration dataset.

    Raises:
        ValueError: an unknown format; quantize or calibration for a SavedModel; version or a
            precision other than float32 for another format; quantize without calibration or
            calibration without quantize; a calibration_data_dir without a calibration dataset.
    """
    if calibration_data_dir is not None and not isinstance(calibration, str):
        raise ValueError("calibration_data_dir (--data-dir) applies to a calibration dataset (--calibration) only: "
                         "its tensorflow-datasets directory.")
    if format not in EXPORT_FORMATS:
        raise ValueError(f"format (--format) must be one of {EXPORT_FORMATS}. Received: format={format!r}")
    if format == SAVEDMODEL:
        if quantize is not None or calibration is not None:
            raise ValueError("quantize and calibration (--quantize, --calibration) apply to format 'onnx' or "
                             "'litert'; for a SavedModel use precision 'bfloat16' (--precision bfloat16).")
        return
    if version is not None:
        raise ValueError(f"version (--version) applies to format 'savedmodel' only. Received: format={format!r}")
    if precision != DEFAULT_PRECISION:
        raise ValueError(f"precision (--precision) applies to format 'savedmodel' only; for {format} use quantize "
                         "'int8' (--quantize int8).")
    if quantize is None and calibration is not None:
        raise ValueError("calibration (--calibration) applies to quantized exports only; add quantize 'int8' "
                         "(--quantize int8).")
    if quantize is not None and calibration is None:
        raise ValueError("quantize 'int8' (--quantize int8) needs calibration (--calibration DATASET): digits, a "
                         "tfds name, folder:PATH, or a Calibration.")


def export_run(run_dir, export_dir=DEFAULT_EXPORT_DIR, name=None, format=SAVEDMODEL, version=None,
               precision=DEFAULT_PRECISION, quantize=None, calibration=None,
               calibration_images=DEFAULT_CALIBRATION_IMAGES, calibration_split=DEFAULT_CALIBRATION_SPLIT,
               calibration_data_dir=None, **options):
    """Exports a finished run's (or a `.keras` file's) model as a SavedModel, ONNX or LiteRT.

    Options that do not go together are refused before anything is read (`check_export_options`).

    Args:
        run_dir: str. The run directory, or a `.keras` file.
        export_dir: str. Where exports go: a SavedModel to `export_dir/NAME/VERSION/`, ONNX to
            `export_dir/NAME.onnx`, LiteRT to `export_dir/NAME.tflite`. Defaults to "saved_models".
        name: str or None. The model name; defaults to the run directory's (or file's) name.
        format: str. One of `EXPORT_FORMATS`. Defaults to "savedmodel".
        version: int or None. The SavedModel's version; defaults to the next integer.
        precision: str. What a SavedModel computes in (`signatures.PRECISIONS`). Defaults to "float32".
        quantize: str or None. `"int8"` for an int8 ONNX or LiteRT file.
        calibration: a `Calibration`, a dataset name (read with
            `inception_tf.datasets.examples.calibration_set` at the model's geometry), or None.
        calibration_images: int. How many images a dataset name gives. Defaults to 128.
        calibration_split: str. The split they come from. Defaults to "train".
        calibration_data_dir: str or None. The tensorflow-datasets directory they are read from
            (None: tensorflow-datasets' own).
        **options: passed to `export_saved_model` or to `export_onnx`/`export_litert`
            (e.g. `class_names`, `top_k`, `overwrite`).

    Returns:
        str. The version directory or file written.

    Raises:
        ValueError: an unknown format, options that do not go together, or options that format does not take.
    """
    check_export_options(format, version, precision, quantize, calibration, calibration_data_dir)
    from inception_tf.serving import formats
    from inception_tf.serving.export import export_saved_model

    base = os.path.basename(os.path.normpath(run_dir))
    name = name or (os.path.splitext(base)[0] if os.path.isfile(run_dir) else base)  # runs/lr0.01 keeps its dot
    model = runs.load_model(run_dir)  # its record holds the class names and the test-time geometry
    if format == SAVEDMODEL:
        return export_saved_model(model, os.path.join(export_dir, name), version=version, precision=precision,
                                  **options)
    if isinstance(calibration, str):
        from inception_tf.datasets.examples import calibration_set
        from inception_tf.models.preprocessing import model_record

        geometry = model_record(model).geometry
        calibration = calibration_set(calibration, model.input_shape, calibration_images, geometry, calibration_split,
                                      data_dir=calibration_data_dir)
    return formats.export_model(model, os.path.join(export_dir, name + FORMATS[format]), format, quantize=quantize,
                                calibration=calibration, **options)
