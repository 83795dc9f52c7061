"""GoogLeNet's specification as data (Szegedy et al. 2014, Table 1), and the slide source's two modules.

A leaf: it imports nothing, so the builders (`googlenet.py`), the recipes
(`recipes.py`), the ONNX converter (`weights.py`) and the benchmarks all read
the one table. `inception_tf.models.googlenet` re-exports every name.
"""

import collections

InceptionSpec = collections.namedtuple(
    "InceptionSpec",
    ["name", "filters_1x1", "filters_3x3_reduce", "filters_3x3",
     "filters_5x5_reduce", "filters_5x5", "filters_pool_proj"],
)

# Table 1 of "Going Deeper with Convolutions" (arXiv:1409.4842).
INCEPTION_SPEC = (
    #             name  1x1  3x3r 3x3  5x5r 5x5  pool proj   output at 224x224
    InceptionSpec("3a", 64, 96, 128, 16, 32, 32),        # (B, 28, 28, 256)
    InceptionSpec("3b", 128, 128, 192, 32, 96, 64),      # (B, 28, 28, 480)
    InceptionSpec("4a", 192, 96, 208, 16, 48, 64),       # (B, 14, 14, 512)
    InceptionSpec("4b", 160, 112, 224, 24, 64, 64),      # (B, 14, 14, 512)
    InceptionSpec("4c", 128, 128, 256, 24, 64, 64),      # (B, 14, 14, 512)
    InceptionSpec("4d", 112, 144, 288, 32, 64, 64),      # (B, 14, 14, 528)
    InceptionSpec("4e", 256, 160, 320, 32, 128, 128),    # (B, 14, 14, 832)
    InceptionSpec("5a", 256, 160, 320, 32, 128, 128),    # (B, 7, 7, 832)
    InceptionSpec("5b", 384, 192, 384, 48, 128, 128),    # (B, 7, 7, 1024)
)
# The slide source's two modules (T. Mulc 2016): 32 filters per branch, 16 per
# reduction; then 64 per branch, 16 per reduction.
SLIDENET_SPEC = (
    InceptionSpec("1", 32, 16, 32, 16, 32, 32),          # (B, 28, 28, 128)
    InceptionSpec("2", 64, 16, 64, 16, 64, 64),          # (B, 28, 28, 256)
)
MAX_POOL_AFTER = ("3b", "4e")  # 3x3/2 max pools between stages
AUX_CLASSIFIER_AFTER = {"aux1": "4a", "aux2": "4d"}

# The paper weights each auxiliary loss 0.3 during training.
AUX_LOSS_WEIGHT = 0.3
LOSS_WEIGHTS = {"main": 1.0, "aux1": AUX_LOSS_WEIGHT, "aux2": AUX_LOSS_WEIGHT}

# Table 1's input; the slide source's MNIST images.
GOOGLENET_IMAGE_SIZE = 224
SLIDENET_IMAGE_SIZE = 28
MIN_INPUT_SIZE = 32
