#!/usr/bin/env bash
# On the GPU machine, from the repository root, with the wheels from fetch_wheels.sh in WHEELS:
#   benchmarks/gpu/run.sh [WHEELS] [OUTPUT] [run_gpu.py arguments...]
# Installs them into a private folder (nothing else on the machine changes), then runs run_gpu.py.
set -euo pipefail
wheels="${1:-.whl}"
output="${2:-RESULTS-gpu.md}"
shift 2 || true
target="$(mktemp -d)"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$target" "$wheels"/*.whl
export PYTHONPATH="$target:$PWD${PYTHONPATH:+:$PYTHONPATH}" KERAS_BACKEND=jax PYTHONUNBUFFERED=1
# Leave GPU memory to whichever framework asks: JAX would otherwise take 75% of it up front.
export XLA_PYTHON_CLIENT_PREALLOCATE=false
python3 -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('tensorflow') is not None)" \
    || echo "note: TensorFlow is installed here; the script does not use it"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
python3 benchmarks/gpu/run_gpu.py --output "$output" "$@"
