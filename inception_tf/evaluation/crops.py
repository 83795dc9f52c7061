"""The paper's test-time crops, kept importable here; they live in `inception_tf.crops`."""

from inception_tf.crops import BOX_FIELDS, CROP_COUNTS, PAPER_IMAGE_SIZE, PAPER_SCALES, crop_boxes, crop_scales, make_crops

__all__ = ["BOX_FIELDS", "CROP_COUNTS", "PAPER_IMAGE_SIZE", "PAPER_SCALES", "crop_boxes", "crop_scales", "make_crops"]
