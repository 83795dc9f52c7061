"""The 1000 ImageNet (ILSVRC 2012) classes, and `decode_predictions` for ImageNet classifiers.

`data/imagenet_synset_words.txt` lists the classes in the standard order (sorted
WordNet ids: index 0 is n01440764 "tench", index 999 n15075141 "toilet
tissue"), one `wnid lemma, lemma, ...` line per class -- the layout of Caffe's
`synset_words.txt`, the order bvlc_googlenet's 1000 outputs follow. Names are
the first lemma with spaces as underscores, as `keras.applications`' decoder
gives them (`"great_white_shark"`). Needs only numpy.
"""

import functools
from importlib import resources

import numpy as np

CLASSES_FILE = "imagenet_synset_words.txt"
NUM_CLASSES = 1000


@functools.lru_cache(maxsize=None)
def imagenet_classes():
    """The 1000 ImageNet classes in output order.

    Returns:
        A tuple of 1000 `(wnid, name, lemmas)` tuples: `("n01440764", "tench",
        "tench, Tinca tinca")`, ...
    """
    return parse_synset_words(resources.files("inception_tf").joinpath("data", CLASSES_FILE).read_text(encoding="utf-8"))


def parse_synset_words(text):
    """Classes from `synset_words.txt` text: one `wnid lemma, lemma, ...` line per class.

    Blank lines and lines starting with `#` are skipped; there must be 1000 classes.

    Returns:
        A tuple of `(wnid, name, lemmas)` tuples in the file's order; `name` is the
        first lemma with spaces as underscores.
    """
    classes = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        wnid, _, lemmas = line.partition(" ")
        classes.append((wnid, lemmas.split(", ")[0].replace(" ", "_"), lemmas))
    if len(classes) != NUM_CLASSES:
        raise ValueError(f"{CLASSES_FILE} lists {len(classes)} classes; expected {NUM_CLASSES}.")
    return tuple(classes)


def decode_predictions(probs, top=5):
    """The `top` most probable ImageNet classes of each row.

    Args:
        probs: array-like `(batch_size, 1000)`: probabilities (or logits) of an
            ImageNet classifier such as `GoogLeNet(weights="imagenet")`.
        top: int. How many classes per row, at most 1000. Defaults to 5.

    Returns:
        A list with one list per row of `top` tuples `(wnid, name, score)`,
        highest score first, e.g. `[("n02123045", "tabby", 0.61), ...]`; classes
        with equal scores come in class index order (lower index first).

    Examples:

    >>> import numpy as np, inception_tf
    >>> probs = np.zeros((1, 1000), "float32"); probs[0, 1] = 0.75
    >>> inception_tf.decode_predictions(probs, top=1)
    [[('n01443537', 'goldfish', 0.75)]]
    >>> [name for _, name, _ in inception_tf.decode_predictions(probs, top=3)[0]]  # ties: index order
    ['goldfish', 'tench', 'great_white_shark']
    """
    if isinstance(probs, dict):
        raise ValueError(
            "decode_predictions takes one (batch_size, 1000) array; for a model with auxiliary "
            f"outputs pass outputs['main']. Received a dict with keys {sorted(probs)}"
        )
    probs = np.asarray(probs)
    if probs.ndim != 2 or probs.shape[1] != NUM_CLASSES:
        raise ValueError(
            f"probs must have shape (batch_size, {NUM_CLASSES}). Received: probs.shape={probs.shape}"
        )
    if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or not 1 <= top <= NUM_CLASSES:
        raise ValueError(f"top must be an integer in [1, {NUM_CLASSES}]. Received: top={top!r}")
    classes = imagenet_classes()
    results = []
    for row in probs:
        order = np.argsort(-row, kind="stable")[:top]  # stable: equal scores keep index order
        results.append([(classes[i][0], classes[i][1], float(row[i])) for i in order])
    return results
