"""The training wing: tf.data pipelines, strategies, runs, `train`.

A peer of serving and evaluation: it imports neither. Its pipelines read
datasets through `inception_tf.datasets`; importing `inception_tf.training.data`
(or `train`) registers the embedded `digits` dataset with tensorflow-datasets,
so `tfds.load("digits")` works offline.
"""
