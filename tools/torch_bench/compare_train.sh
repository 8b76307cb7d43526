#!/usr/bin/env bash
# Times one training step of stylegan-rs against the official StyleGAN2 training phases in
# PyTorch (CPU, 2 threads) on the same configuration (32x32, channel_base 1024, channel_max 64,
# batch 16; torch_train.py), interleaved, and prints sec/kimg rows for both: without the
# regularisers and with the full recipe (lazy R1 + path length). Needs a Python with torch and
# numpy (see compare.sh):
#   PYTHON=/tmp/torchenv/bin/python tools/torch_bench/compare_train.sh [ROUNDS] [STEPS]
# With AVX2=1 both run capped to AVX2 (see common.sh).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/common.sh"
rounds="${1:-2}"
steps="${2:-32}"
for _ in $(seq "$rounds"); do
  "$sg" bench --what train --train-steps "$steps" | grep -E "regularisers|recipe"
  "$py" "$here/torch_train.py" --steps "$steps" --warmup 16 --threads 2 | grep -E "regularisers|recipe"
done
