"""Notebooks run under pytest (nbmake) with their small settings."""

import os

os.environ.setdefault("INCEPTION_TF_FAST", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
