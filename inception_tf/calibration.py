"""The images an int8 export calibrates on (`inception_tf.serving.formats`), and where they came from.

A plain record, below the datasets and serving: `calibration_set`
(`inception_tf.datasets.examples`) makes it and the exporters read it. Needs
no TensorFlow.
"""

import dataclasses

DEFAULT_CALIBRATION_SPLIT = "train"  # the split calibration images are read from, by default


@dataclasses.dataclass(frozen=True)
class Calibration:
    """The images an int8 export takes its activation ranges from, and where they came from.

    Attributes:
        images: float32 numpy array `(count, height, width, channels)`, values
            in [0, 255], prepared with the model's test-time geometry
            (`inception_tf.images.resize_image`, as the exported graph's clients do).
        dataset: str. The dataset's name as given (`digits`, a tfds name, `folder:PATH`).
        split: str. The split the images were taken from.
    """

    images: object
    dataset: str
    split: str

    def record(self):
        """What the exported file records about its calibration: a JSON-ready dict."""
        shape = tuple(int(size) for size in self.images.shape)
        return {"dataset": self.dataset, "split": self.split, "images": shape[0],
                "image_size": list(shape[1:3]), "method": "minmax"}
