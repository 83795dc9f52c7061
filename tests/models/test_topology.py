"""topology: the Inception module's graph (Figure 2(b) of Szegedy et al. 2014) as data."""

import pickle

from inception_tf import InceptionModule
from inception_tf.models import topology


def test_the_nodes_pickle_and_print_under_their_own_name():
    # A namedtuple pickles (for multiprocessing, caches) by looking its class up in the module under its name.
    assert pickle.loads(pickle.dumps(topology.NODES)) == topology.NODES
    assert repr(topology.NODES[0]).startswith("Node(name='branch_1x1', kind='conv', kernel_size=1, ")


def test_a_3a_module_has_table_1s_kernels_and_filters():
    # Table 1, inception (3a): #1x1 64, #3x3 reduce 96, #3x3 128, #5x5 reduce 16, #5x5 32, pool proj 32,
    # on a 28x28x192 input; the pool branch is a 3x3 stride-1 max pool (Figure 2(b)).
    module = InceptionModule(64, 96, 128, 16, 32, 32)
    module.build((None, 28, 28, 192))
    kernels = {name: tuple(conv.kernel.shape) for name, conv in module.convs.items()}
    assert kernels == {"branch_1x1": (1, 1, 192, 64), "branch_3x3_reduce": (1, 1, 192, 96),
                       "branch_3x3": (3, 3, 96, 128), "branch_5x5_reduce": (1, 1, 192, 16),
                       "branch_5x5": (5, 5, 16, 32), "branch_pool_proj": (1, 1, 192, 32)}
    assert (module.pool.pool_size, module.pool.strides) == ((3, 3), (1, 1))
    assert module.compute_output_shape((None, 28, 28, 192)) == (None, 28, 28, 256)
