#!/usr/bin/env bash
# The GPU checks in one short run (a lent GPU machine has minutes, not hours): the CUDA tests, a
# sweep of recipes over 5 seeds, and time to accuracy against pytorch/examples. Needs torch with
# CUDA, numpy and pytest; MNIST in $FIRSTNET_DATA_DIR (default data/mnist). Writes JSON to $OUT.
set -u
cd "$(dirname "$0")/.."
export PYTHONPATH=src:benchmarks FIRSTNET_DATA_DIR=${FIRSTNET_DATA_DIR:-data/mnist}
OUT=${OUT:-/tmp/gpu-check}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"
timeout 120 python -m pytest -q -p no:cacheprovider tests/test_static_step.py \
    tests/test_train.py -k "cuda or static" 2>&1 | tail -5
timeout 200 python benchmarks/recipe_sweep.py --device cuda --seeds 5 --json "$OUT/sweep-cnn.json" \
    "cnn batch_size=256 lr=0.2 epochs=3 graph=false" \
    "cnn batch_size=256 lr=0.2 epochs=3" \
    "cnn" "cnn epochs=3" "cnn batch_size=500 lr=0.2 epochs=3" \
    "cnn batch_size=1000 lr=0.6 epochs=4" "cnn batch_size=1000 lr=0.4 epochs=5"
timeout 120 python benchmarks/recipe_sweep.py --device cuda --seeds 5 --json "$OUT/sweep-mlp.json" \
    "mlp batch_size=128 lr=0.2 epochs=5 graph=false" \
    "mlp batch_size=128 lr=0.2 epochs=5" \
    "mlp" "mlp batch_size=500 lr=0.3 epochs=8" "mlp batch_size=256 lr=0.3 epochs=6" \
    "mlp batch_size=500 lr=0.2 epochs=6" "mlp batch_size=1000 lr=0.4 epochs=10"
timeout 150 python benchmarks/time_to_accuracy.py --device cuda --seeds 5 --ref-seeds 1 \
    --json "$OUT/time-to-accuracy.json"
