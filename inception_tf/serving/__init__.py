"""The serving wing: SavedModel export, prediction from an export, TF Serving clients.

`signatures` and `clients` need no TensorFlow; `export` and `predict` do.
"""
