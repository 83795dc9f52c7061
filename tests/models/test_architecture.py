"""architecture: GoogLeNet's Table 1 as data, read by the builders, the recipes and the converter."""

import pickle

from inception_tf.models import architecture, googlenet, recipes

# Table 1 of Szegedy et al. 2014: each module's output depth at 224x224.
PAPER_OUTPUT_DEPTHS = {"3a": 256, "3b": 480, "4a": 512, "4b": 512, "4c": 512, "4d": 528, "4e": 832, "5a": 832,
                       "5b": 1024}


def test_the_modules_output_depths_are_table_1s():
    depths = {spec.name: spec.filters_1x1 + spec.filters_3x3 + spec.filters_5x5 + spec.filters_pool_proj
              for spec in architecture.INCEPTION_SPEC}
    assert depths == PAPER_OUTPUT_DEPTHS


def test_googlenet_and_recipes_re_export_the_same_objects():
    for name in ("InceptionSpec", "INCEPTION_SPEC", "SLIDENET_SPEC", "MAX_POOL_AFTER", "AUX_CLASSIFIER_AFTER",
                 "AUX_LOSS_WEIGHT", "LOSS_WEIGHTS", "GOOGLENET_IMAGE_SIZE", "SLIDENET_IMAGE_SIZE", "MIN_INPUT_SIZE"):
        assert getattr(googlenet, name) is getattr(architecture, name), name
    assert recipes.RECIPES["googlenet"].image_size == architecture.GOOGLENET_IMAGE_SIZE == 224
    assert recipes.RECIPES["slidenet"].image_size == architecture.SLIDENET_IMAGE_SIZE == 28


def test_the_specs_pickle_and_print_under_their_own_name():
    # A namedtuple pickles (for multiprocessing, caches) by looking its class up in the module under its name.
    tables = (architecture.INCEPTION_SPEC, architecture.SLIDENET_SPEC)
    assert pickle.loads(pickle.dumps(tables)) == tables
    assert repr(architecture.INCEPTION_SPEC[0]) == ("InceptionSpec(name='3a', filters_1x1=64, filters_3x3_reduce=96, "
                                                    "filters_3x3=128, filters_5x5_reduce=16, filters_5x5=32, "
                                                    "filters_pool_proj=32)")
