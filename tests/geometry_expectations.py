"""Test-time geometry computed outside the package's `prepare_images`: what the tests expect it to give."""

import numpy as np
import tensorflow as tf


def central_square(image, size):
    """float32 `(size, size, channels)`: the largest central square by numpy slicing, resized bilinearly."""
    height, width = image.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    return tf.image.resize(np.asarray(image[top:top + side, left:left + side], np.float32), (size, size)).numpy()


def centre_crop(image, size):
    """float32 `(size, size, channels)`: the paper's single centre crop (`make_crops`, tested against numpy
    in tests/test_crops.py and tests/test_images.py)."""
    from inception_tf.crops import make_crops

    return make_crops(image, size, 1).numpy()[0]


PREPARED_BY = {"square": central_square, "crop": centre_crop}


def without_model_record(onnx_path, output_path):
    """Writes the ONNX file `onnx_path` without its `model_record` metadata (as exports were before it) to
    `output_path`; returns `output_path`."""
    import onnx

    graph = onnx.load(onnx_path)
    kept = [prop for prop in graph.metadata_props if prop.key != "model_record"]
    del graph.metadata_props[:]
    graph.metadata_props.extend(kept)
    onnx.save(graph, str(output_path))
    return str(output_path)
