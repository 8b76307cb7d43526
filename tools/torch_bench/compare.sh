#!/usr/bin/env bash
# Times stylegan-rs against PyTorch (CPU, 2 threads) on the same config-f and StyleGAN3-T
# networks, interleaved, and checks that both make the same image. With AVX2=1 both run capped
# to AVX2 (see common.sh). Needs a Python with torch, numpy and safetensors:
#   python3 -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch==2.15.0 numpy safetensors
#   PYTHON=/tmp/torchenv/bin/python tools/torch_bench/compare.sh [ROUNDS]
# Prints one table row per run; take the median of the rounds. RESOLUTIONS="256" and
# BATCHES="1" shorten it (defaults "256 1024" and "1 8"); SG3=0 leaves out StyleGAN3-T.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/common.sh"
rounds="${1:-3}"
work="${WORK:-/tmp/stylegan-torch-bench}"
resolutions="${RESOLUTIONS:-256 1024}"
batches="${BATCHES:-1 8}"
mkdir -p "$work"
for r in $resolutions; do
  [ -f "$work/f$r.safetensors" ] || "$sg" init --config "$here/config-f-$r.json" --out "$work/f$r.safetensors"
  [ -f "$work/sg3t$r.safetensors" ] || "$sg" init --config "$here/config-sg3t-$r.json" --out "$work/sg3t$r.safetensors"
done
"$py" "$here/torch_generator.py" check "$root/../shared/fixtures/parity" || true
"$sg" generate --network "$work/f256.safetensors" --seeds 0 --raw --outdir "$work/ours" > /dev/null
"$py" "$here/torch_generator.py" images "$work/f256.safetensors" --seeds 0 --out "$work/torch"
"$py" -c "import numpy as np; a=np.load('$work/ours/seed0000.npy'); b=np.load('$work/torch/seed0000.npy'); print(f'256x256 seed 0: max abs difference {abs(a-b).max():.1e}')"
"$sg" generate --network "$work/sg3t256.safetensors" --seeds 0 --raw --outdir "$work/ours3" > /dev/null
"$py" "$here/torch_generator.py" images "$work/sg3t256.safetensors" --seeds 0 --out "$work/torch3"
"$py" -c "import numpy as np; a=np.load('$work/ours3/seed0000.npy'); b=np.load('$work/torch3/seed0000.npy'); print(f'stylegan3-t 256x256 seed 0: max abs difference {abs(a-b).max():.1e}')"
for batch in $batches; do
  for _ in $(seq "$rounds"); do
    for r in $resolutions; do
      "$sg" bench --what generate --network "$work/f$r.safetensors" --batches "$batch" --iters 3 | tail -1
      "$py" "$here/torch_generator.py" bench "$work/f$r.safetensors" --batches "$batch" --iters 3
    done
  done
done
# StyleGAN3-T, batch 1 (a 1024x1024 image takes ~20 s here and ~75 s in PyTorch).
[ "${SG3:-1}" = 1 ] || exit 0
for _ in $(seq "$rounds"); do
  for r in $resolutions; do
    "$sg" bench --what generate --network "$work/sg3t$r.safetensors" --batches 1 --iters 2 | tail -1
    "$py" "$here/torch_generator.py" bench "$work/sg3t$r.safetensors" --batches 1 --iters 2
  done
done
