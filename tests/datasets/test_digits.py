"""The embedded digits' dataset card: where the data comes from, how to cite it, what its version fixed."""

import tensorflow_datasets as tfds


def test_the_digits_card_names_the_uci_source_its_citation_and_the_fixed_split(tfds_dir):
    info = tfds.builder("digits", data_dir=tfds_dir).info
    # UCI's dataset 80, "Optical Recognition of Handwritten Digits", donated by E. Alpaydin and C. Kaynak (1998).
    assert info.homepage == "https://archive.ics.uci.edu/dataset/80/optical+recognition+of+handwritten+digits"
    assert info.citation.startswith("Alpaydin, E. and Kaynak, C. (1998). Optical Recognition of Handwritten Digits.")
    assert str(info.version) == "1.0.0"
    assert info.release_notes == {"1.0.0": "Fixed split: every fifth image is test."}  # as the module docstring says
