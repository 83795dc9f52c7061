#!/usr/bin/env bash
# Downloads the wheels a JAX + PyTorch GPU machine without TensorFlow lacks to run
# run_gpu.py: keras and the two of its dependencies such images seldom have
# (about 3 MiB). Run where PyPI is reachable; copy the folder to the GPU machine.
# Usage: benchmarks/gpu/fetch_wheels.sh [DIR] [PYTHON_VERSION]   (defaults: .whl 3.12)
set -euo pipefail
dir="${1:-.whl}"
python_version="${2:-3.12}"
python3 -m pip download --no-deps --only-binary=:all: --python-version "$python_version" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d "$dir" "keras==3.15.*" namex optree
ls -l "$dir"
