#!/usr/bin/env bash
# Times stylegan-rs against PyTorch (CPU, 2 threads) on the same config-f networks, interleaved,
# and checks that both make the same image. Needs a Python with torch, numpy and safetensors:
#   python3 -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch==2.15.0 numpy safetensors
#   PYTHON=/tmp/torchenv/bin/python tools/torch_bench/compare.sh [ROUNDS]
# Prints one table row per run; take the median of the rounds.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
py="${PYTHON:-python3}"
rounds="${1:-3}"
work="${WORK:-/tmp/stylegan-torch-bench}"
mkdir -p "$work"
cargo build -q --manifest-path "$root/Cargo.toml" -p stylegan-cli
sg="$root/target/debug/stylegan"
for r in 256 1024; do
  [ -f "$work/f$r.safetensors" ] || "$sg" init --config "$here/config-f-$r.json" --out "$work/f$r.safetensors"
done
"$py" "$here/torch_generator.py" check "$root/../shared/fixtures/parity" || true
"$sg" generate --network "$work/f256.safetensors" --seeds 0 --raw --outdir "$work/ours" > /dev/null
"$py" "$here/torch_generator.py" images "$work/f256.safetensors" --seeds 0 --out "$work/torch"
"$py" -c "import numpy as np; a=np.load('$work/ours/seed0000.npy'); b=np.load('$work/torch/seed0000.npy'); print(f'256x256 seed 0: max abs difference {abs(a-b).max():.1e}')"
for batch in 1 8; do
  for _ in $(seq "$rounds"); do
    for r in 256 1024; do
      "$sg" bench --what generate --network "$work/f$r.safetensors" --batches "$batch" --iters 3 | tail -1
      "$py" "$here/torch_generator.py" bench "$work/f$r.safetensors" --batches "$batch" --iters 3
    done
  done
done
