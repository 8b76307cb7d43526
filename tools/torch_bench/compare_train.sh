#!/usr/bin/env bash
# Times one training step of stylegan-rs against the official StyleGAN2 training phases in
# PyTorch (CPU, 2 threads) on the same configuration (32x32, channel_base 1024, channel_max 64,
# batch 16; torch_train.py), interleaved, and prints sec/kimg rows for both: without the
# regularisers and with the full recipe (lazy R1 + path length). Needs a Python with torch and
# numpy (see compare.sh):
#   PYTHON=/tmp/torchenv/bin/python tools/torch_bench/compare_train.sh [ROUNDS] [STEPS]
# With AVX2=1 both run capped to AVX2 as far as each allows (ours: STYLEGAN_CPU_ISA=avx2 caps our
# own kernels; the gemm crate under the training convolutions picks its kernels itself).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
py="${PYTHON:-python3}"
rounds="${1:-2}"
steps="${2:-32}"
cargo build -q --manifest-path "$root/Cargo.toml" -p stylegan-cli
sg="$root/target/debug/stylegan"
if [ "${AVX2:-0}" = 1 ]; then
  export STYLEGAN_CPU_ISA=avx2 ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2
fi
for _ in $(seq "$rounds"); do
  "$sg" bench --what train --train-steps "$steps" | grep -E "regularisers|recipe"
  "$py" "$here/torch_train.py" --steps "$steps" --warmup 16 --threads 2 | grep -E "regularisers|recipe"
done
