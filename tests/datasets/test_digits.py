"""The embedded digits' dataset card: where the data comes from, how to cite it, what its version fixed."""

import tensorflow_datasets as tfds


def test_the_digits_card_names_the_uci_source_its_citation_and_the_fixed_split(tfds_dir):
    info = tfds.builder("digits", data_dir=tfds_dir).info
    # UCI's dataset 80, "Optical Recognition of Handwritten Digits", donated by E. Alpaydin and C. Kaynak (1998).
    assert info.homepage == "https://archive.ics.uci.edu/dataset/80/optical+recognition+of+handwritten+digits"
    assert all(word in info.citation for word in ("Alpaydin", "Kaynak", "1998", "Optical Recognition"))
    assert str(info.version) == "1.0.0"
    assert "every fifth image is test" in info.release_notes[str(info.version)]
