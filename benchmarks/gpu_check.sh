#!/usr/bin/env bash
# The GPU checks in one short run (a lent GPU machine has minutes, not hours): the CUDA tests,
# `firstnet bench` of both models with the GPU recipe (5 seeds; the CNN beside pytorch/examples),
# the same CNN without CUDA graphs, recipes around the chosen ones, and examples/minimal.py.
# Needs torch with CUDA, numpy, rich and pytest; MNIST in $FIRSTNET_DATA_DIR (default data/mnist).
# JSON goes to $OUT. Usage: bash benchmarks/gpu_check.sh
set -u
cd "$(dirname "$0")/.."
export PYTHONPATH=src:benchmarks FIRSTNET_DATA_DIR=${FIRSTNET_DATA_DIR:-data/mnist}
OUT=${OUT:-/tmp/gpu-check}
mkdir -p "$OUT"
bars() { grep -v "━"; }  # progress bars, when they are drawn, are not figures
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"
timeout 120 python -m pytest -q -p no:cacheprovider tests/test_static_step.py \
    tests/test_train.py -k "cuda or static" 2>&1 | tail -4
timeout 200 python -m firstnet bench cnn --seeds 5 --reference 2>&1 | bars
timeout 60 python -m firstnet bench mlp --seeds 5 2>&1 | bars
timeout 60 python -m firstnet bench cnn --seeds 5 --no-graph 2>&1 | bars
timeout 120 python benchmarks/recipe_sweep.py --device cuda --seeds 5 --json "$OUT/sweep.json" \
    "mlp" "mlp precision=fp32" "cnn epochs=3" "cnn batch_size=1000 lr=0.4 epochs=5"
timeout 60 python examples/minimal.py "$FIRSTNET_DATA_DIR"
