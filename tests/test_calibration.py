"""inception_tf.calibration: the record an int8 export keeps of the images it calibrated on."""

import dataclasses
import json

import numpy as np
import pytest

from inception_tf.calibration import Calibration


def test_the_record_names_the_dataset_split_count_and_image_size():
    images = np.zeros((7, 24, 40, 3), np.float32)  # (count, height, width, channels): height and width differ
    record = Calibration(images=images, dataset="folder:/data/birds", split="validation").record()
    assert record == {"dataset": "folder:/data/birds", "split": "validation", "images": 7, "image_size": [24, 40],
                      "method": "minmax"}
    assert json.loads(json.dumps(record)) == record  # plain JSON types: the ONNX metadata and the sidecar hold it


def test_a_calibration_cannot_be_changed_after_it_is_made():
    calibration = Calibration(images=np.zeros((1, 8, 8, 1), np.float32), dataset="digits", split="train")
    with pytest.raises(dataclasses.FrozenInstanceError):
        calibration.split = "test"
