"""Exporting a finished run (or a `.keras` file) as a SavedModel, ONNX or LiteRT file."""

import os

from inception_tf import runs


def export_run(run_dir, export_dir, name=None, format="savedmodel", **options):
    """Exports a finished run's (or a `.keras` file's) model as a SavedModel, ONNX or LiteRT.

    Args:
        run_dir: str. The run directory, or a `.keras` file.
        export_dir: str. Where exports go (e.g. `saved_models`): a SavedModel
            to `export_dir/NAME/VERSION/`, ONNX to `export_dir/NAME.onnx`,
            LiteRT to `export_dir/NAME.tflite`.
        name: str or None. The model name; defaults to the run directory's (or file's) name.
        format: str. "savedmodel" (default) or a key of `inception_tf.serving.formats.FORMATS`.
        **options: passed to `export_saved_model` (e.g. `precision`) or to
            `export_onnx`/`export_litert` (e.g. `quantize`, `calibration`; a
            `calibration` given as a dataset name is read with
            `inception_tf.datasets.examples.calibration_set` at the model's geometry, taking
            `calibration_images` images (default 128) of `calibration_split`
            (default "train")).

    Returns:
        str. The version directory or file written.

    Raises:
        ValueError: an unknown format, or options that format does not take.
    """
    from inception_tf.serving import formats
    from inception_tf.serving.export import export_saved_model

    base = os.path.basename(os.path.normpath(run_dir))
    name = name or (os.path.splitext(base)[0] if os.path.isfile(run_dir) else base)  # runs/lr0.01 keeps its dot
    model = runs.load_model(run_dir)  # its record holds the class names and the test-time geometry
    if format == "savedmodel":
        return export_saved_model(model, os.path.join(export_dir, name), **options)
    if format not in formats.FORMATS:
        raise ValueError(f"format must be 'savedmodel' or one of {tuple(formats.FORMATS)}. Received: format={format!r}")
    count = options.pop("calibration_images", formats.DEFAULT_CALIBRATION_IMAGES)
    split = options.pop("calibration_split", "train")
    if isinstance(options.get("calibration"), str):
        from inception_tf.datasets.examples import calibration_set
        from inception_tf.models.preprocessing import model_record

        geometry = model_record(model).geometry
        options["calibration"] = calibration_set(options["calibration"], model.input_shape, count, geometry, split)
    return formats.export_model(model, os.path.join(export_dir, name + formats.FORMATS[format]), format, **options)
