"""Evaluation helpers: the GoogLeNet paper's test-time crops (`crops`)."""

from inception_tf.crops import (
    BOX_FIELDS,
    CROP_COUNTS,
    crop_boxes,
    crop_scales,
    make_crops,
)

__all__ = ["BOX_FIELDS", "CROP_COUNTS", "crop_boxes", "crop_scales", "make_crops"]
