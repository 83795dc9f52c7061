"""Published GoogLeNet weights, one declared record each (no TensorFlow, no Keras).

A record says everything known about a set of weights: where its source file
is and how to verify it, the input convention and test-time geometry it was
evaluated with, its classes and its published accuracy with the protocol
behind the numbers (in the spirit of torchvision's `Weights` enums and
keras-hub's presets). `"imagenet"` is Caffe's bvlc_googlenet (BVLC model zoo)
as the ONNX model zoo ships it ("Caffe BVLC GoogLeNet ==> Caffe2 ==> ONNX",
`googlenet-7.onnx`). `GoogLeNet(weights=NAME)`, the converter, the README and
the tests all read the record; `resolve(NAME)` finds it in `PUBLISHED`.

Examples:

>>> from inception_tf.models.published_weights import resolve
>>> record = resolve("imagenet")
>>> record.preprocessing, record.geometry, record.input_size, record.metrics.top1
('caffe', 'crop', 224, 0.687)
>>> record.class_names()[:2]
('tench', 'goldfish')
"""

import dataclasses
from typing import Callable


@dataclasses.dataclass(frozen=True)
class PublishedMetrics:
    """Accuracy as published, with the protocol that produced it.

    Attributes:
        top1: float. Top-1 accuracy in [0, 1].
        top5: float. Top-5 accuracy in [0, 1].
        dataset: str. The images it was measured on.
        images: int. How many.
        crops: int. Crops per image (1: a single centre crop).
        protocol: str. How each image became the network's input.
        source: str. Where the numbers are published.
    """

    top1: float
    top5: float
    dataset: str
    images: int
    crops: int
    protocol: str
    source: str


@dataclasses.dataclass(frozen=True)
class PublishedWeights:
    """One published set of GoogLeNet weights.

    Attributes:
        name: str. What `GoogLeNet(weights=...)` takes (`"imagenet"`).
        description: str. Whose weights these are.
        url: str. The source file's download address.
        file_name: str. The source file's name in the Keras cache (`~/.keras/models/`).
        sha256: str. The source file's SHA-256.
        size: int. The source file's size in bytes.
        converted_file_name: str. The converted file's name beside it in the cache.
        num_classes: int. Outputs of the classifier.
        preprocessing: str. The `ImagePreprocessing` mode the weights expect.
        geometry: str. The test-time geometry they were evaluated with: `"crop"`,
            the shorter side resized to 256/224 of `input_size` and the centre cropped.
        input_size: int. The square input they were evaluated at.
        metrics: `PublishedMetrics`.
        categories: callable `() -> tuple of (wnid, name, lemmas)`, called on first use.
    """

    name: str
    description: str
    url: str
    file_name: str
    sha256: str
    size: int
    converted_file_name: str
    num_classes: int
    preprocessing: str
    geometry: str
    input_size: int
    metrics: PublishedMetrics
    categories: Callable[[], tuple] = dataclasses.field(repr=False, compare=False)

    def class_names(self):
        """The class names in output order: `("tench", "goldfish", ...)`, `num_classes` of them."""
        names = tuple(name for _, name, _ in self.categories())
        if len(names) != self.num_classes:
            raise ValueError(f"weights {self.name!r} declare {self.num_classes} classes; their list has {len(names)}.")
        return names


def _imagenet_categories():
    from inception_tf.imagenet import imagenet_classes

    return imagenet_classes()


IMAGENET = PublishedWeights(
    name="imagenet",
    description="Caffe's GoogLeNet ImageNet weights",
    url=("https://github.com/onnx/models/raw/main/validated/vision/classification/"
         "inception_and_googlenet/googlenet/model/googlenet-7.onnx"),
    file_name="googlenet-7.onnx",
    sha256="5725ccfd90845735ce5897faf7843c3f9b13acda3c4f3bff82cb21c9337c9de8",
    size=28_020_232,
    # "-v2": arrays by layer path; the previous version's cache (Keras' save_weights layout) had another name.
    converted_file_name="googlenet-7.inception_tf-v2.weights.h5",
    num_classes=1000,
    preprocessing="caffe",
    geometry="crop",
    input_size=224,
    metrics=PublishedMetrics(
        top1=0.687,
        top5=0.889,
        dataset="ILSVRC 2012 validation set",
        images=50_000,
        crops=1,
        protocol="a single 224x224 centre crop of each image (Caffe's test-time crop_size 224 from 256)",
        source="BVLC/caffe models/bvlc_googlenet/readme.md",
    ),
    categories=_imagenet_categories,
)

# Every published set of weights by name: another one is one more entry.
PUBLISHED = {record.name: record for record in (IMAGENET,)}


def resolve(name):
    """The record `PUBLISHED[name]`.

    Raises:
        ValueError: `name` is not a published set of weights; the message lists those that are.
    """
    if name not in PUBLISHED:
        raise ValueError(f"Unknown published weights {name!r}; known: {', '.join(map(repr, PUBLISHED))}.")
    return PUBLISHED[name]
