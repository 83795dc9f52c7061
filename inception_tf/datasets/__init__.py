"""Raw examples of a dataset, read alike by training, serving and evaluation.

A dataset is named as in tensorflow-datasets (`"mnist"`, `"cifar10"`,
`"imagenet2012"`, ...), `"digits"` for the embedded default (`digits`), or
`"folder:PATH"` for a directory of images `PATH/<split>/<class>/<image>`.
`names` holds those names (no TensorFlow); `examples` reads a split as stored
(`load_examples`, with tfds' slicing, for image folders too) and takes the
images an int8 export calibrates on (`calibration_set`). The training
pipelines (`inception_tf.training.data`), the exporters' calibration and
evaluation all read through `examples`, so none of those wings imports another.
"""
