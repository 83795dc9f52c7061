"""Benchmarks of inception_tf's GoogLeNet: `python benchmarks/run_benchmarks.py [--repeats N ...]`.

The same as `inception-tf bench`; see inception_tf/bench.py for what is measured.
Install the `bench` extra first for the PyTorch rows: pip install -e ".[bench]".
"""

import sys

from inception_tf.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
