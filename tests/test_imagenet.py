"""ImageNet class names and decode_predictions, checked against keras' imagenet_class_index.json."""

import subprocess
import sys

import numpy as np
import pytest

import inception_tf
from inception_tf.imagenet import imagenet_classes, parse_synset_words

# Entries of keras.applications' imagenet_class_index.json (index: wnid, name), the
# reference decoder's table, including its duplicate names and odd spellings.
KERAS_INDEX = {
    0: ("n01440764", "tench"), 1: ("n01443537", "goldfish"), 134: ("n02012849", "crane"),
    248: ("n02109961", "Eskimo_dog"), 263: ("n02113023", "Pembroke"), 281: ("n02123045", "tabby"),
    474: ("n02963159", "cardigan"), 517: ("n03126707", "crane"), 605: ("n03584254", "iPod"),
    607: ("n03590841", "jack-o'-lantern"), 619: ("n03637318", "lampshade"), 638: ("n03710637", "maillot"),
    639: ("n03710721", "maillot"), 739: ("n03992509", "potter's_wheel"), 850: ("n04399382", "teddy"),
    948: ("n07742313", "Granny_Smith"), 986: ("n12057211", "yellow_lady's_slipper"),
    996: ("n13052670", "hen-of-the-woods"), 999: ("n15075141", "toilet_tissue"),
}


def test_classes_are_the_standard_1000_in_wnid_order():
    classes = imagenet_classes()
    wnids = [wnid for wnid, _, _ in classes]
    assert len(classes) == 1000 and len(set(wnids)) == 1000
    assert wnids == sorted(wnids)  # the standard order is the sorted WordNet ids
    assert all(wnid[0] == "n" and len(wnid) == 9 and wnid[1:].isdigit() for wnid in wnids)
    for index, (wnid, name) in KERAS_INDEX.items():
        assert classes[index][:2] == (wnid, name), index
    assert classes[2][2] == "great white shark, white shark, man-eater, man-eating shark, Carcharodon carcharias"


def test_decode_predictions_orders_by_score():
    probs = np.full((2, 1000), 1e-4, np.float32)
    probs[0, [948, 1, 999]] = [0.5, 0.25, 0.125]
    probs[1, [134, 517]] = [0.375, 0.5]
    decoded = inception_tf.decode_predictions(probs, top=3)
    assert decoded[0] == [("n07742313", "Granny_Smith", 0.5), ("n01443537", "goldfish", 0.25),
                          ("n15075141", "toilet_tissue", 0.125)]
    assert decoded[1][:2] == [("n03126707", "crane", 0.5), ("n02012849", "crane", 0.375)]
    assert [len(row) for row in inception_tf.decode_predictions(probs)] == [5, 5]


@pytest.mark.parametrize("probs,top,message", [
    (np.zeros((2, 10)), 5, r"probs must have shape \(batch_size, 1000\). Received: probs.shape=\(2, 10\)"),
    (np.zeros(1000), 5, r"Received: probs.shape=\(1000,\)"),
    (np.zeros((1, 1000)), 0, "top must be an integer in"),
    ({"main": np.zeros((1, 1000))}, 5, r"pass outputs\['main'\]"),
])
def test_decode_predictions_rejects_bad_input(probs, top, message):
    with pytest.raises(ValueError, match=message):
        inception_tf.decode_predictions(probs, top=top)


def test_decoding_imports_neither_keras_nor_tensorflow():
    code = ("import sys, numpy as np, inception_tf; inception_tf.decode_predictions(np.ones((1, 1000)));"
            "print(sorted(m for m in ('keras', 'tensorflow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_equal_scores_come_in_class_index_order():
    wnid_index = {wnid: index for index, (wnid, _, _) in enumerate(imagenet_classes())}
    rng = np.random.default_rng(3)
    probs = np.zeros((3, 1000), np.float32)
    probs[1, [999, 500, 7]] = 0.25                # a three-way tie above a 997-way tie at 0
    probs[2] = rng.integers(0, 4, 1000) / 4       # many ties at each of four levels
    for row, decoded in zip(probs, inception_tf.decode_predictions(probs, top=1000)):
        indices = [wnid_index[wnid] for wnid, _, _ in decoded]
        expected = sorted(range(1000), key=lambda i: (-row[i], i))  # score descending, then index ascending
        assert indices == expected
    assert [name for _, name, _ in inception_tf.decode_predictions(probs[:1], top=3)[0]] == [
        "tench", "goldfish", "great_white_shark"]


def test_top_bounds_are_inclusive():
    probs = np.linspace(0, 1, 1000, dtype=np.float32)[None]
    assert len(inception_tf.decode_predictions(probs, top=1)[0]) == 1
    assert len(inception_tf.decode_predictions(probs, top=np.int64(1000))[0]) == 1000
    for top in (1001, 0, -1, 2.0, True):
        with pytest.raises(ValueError, match=rf"top must be an integer in \[1, 1000\]. Received: top={top!r}"):
            inception_tf.decode_predictions(probs, top=top)


def test_synset_words_skip_blank_and_comment_lines():
    lines = [f"n{index:08d} class {index}, other name" for index in range(1000)]
    text = "# a comment\n\n" + "\n".join(lines[:500]) + "\n   \n#n99999999 not a class\n" + "\n".join(lines[500:]) + "\n"
    classes = parse_synset_words(text)
    assert len(classes) == 1000
    assert classes[0] == ("n00000000", "class_0", "class 0, other name")
    assert classes[999][0] == "n00000999"
    with pytest.raises(ValueError, match="lists 999 classes; expected 1000"):
        parse_synset_words("\n".join(lines[:999]))
