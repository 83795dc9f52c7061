"""How datasets are named: the embedded default and the image-folder prefix (no TensorFlow)."""

DEFAULT_DATASET = "digits"  # the embedded UCI digits (`inception_tf.datasets.digits`)
FOLDER_PREFIX = "folder:"  # "folder:PATH": a directory of images PATH/<split>/<class>/<image>
