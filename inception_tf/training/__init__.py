"""The training wing: tf.data pipelines, the embedded digits, strategies, runs, `train`.

Importing `inception_tf.training.data` (or `train`) registers the embedded
`digits` dataset with tensorflow-datasets, so `tfds.load("digits")` works offline.
"""
