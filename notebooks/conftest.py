"""Notebooks run under pytest (nbmake) with their small settings.

The notebooks that train GoogLeNet (02 trains on the digits, 03 trains and exports, 04 fine-tunes the
pretrained network) are marked slow: each starts its own kernel and trains for tens of seconds, and
what they run is tested in tests/ (training, export and serving, pretrained weights). They still run
in the whole suite; 01 (the module against the slide) stays in the fast run.
"""

import os
import pathlib

import pytest

os.environ.setdefault("INCEPTION_TF_FAST", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

TRAINING_NOTEBOOKS = ("02_train_googlenet.ipynb", "03_export_and_serve.ipynb", "04_pretrained_googlenet.ipynb")


def pytest_collection_modifyitems(items):
    here = pathlib.Path(__file__).parent
    for item in items:
        if item.path.parent == here and item.path.name in TRAINING_NOTEBOOKS:
            item.add_marker(pytest.mark.slow)
