#!/usr/bin/env bash
# Regenerate the StyleGAN3 pictures in docs/ from the StyleGAN3-T demo network
# (models/faces32-sg3t.safetensors, or the network file given as $1): the fakes grid, a
# panorama on the Fourier input, a 2.5x wider view, and a layer-by-layer blend.
set -euo pipefail
cd "$(dirname "$0")/.."
NET=${1:-models/faces32-sg3t.safetensors}
sg() { cargo run -q -p stylegan-cli -- "$@"; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

sg generate --network "$NET" --seeds 0-31 --trunc 0.7 --grid 8x4 --outdir "$T/gen"
cp "$T/gen/grid.png" docs/sg3-fakes.png
sg panorama --network "$NET" --seeds 1-5 --overlap 0.5 --trunc 0.7 --output docs/sg3-panorama.png
sg expand --network "$NET" --seed 1 --width-factor 2.5 --trunc 0.7 --output docs/sg3-expand.png
sg blend --network "$NET" --seed-a 1 --seed-b 2 --mask horizontal --trunc 0.7 --output docs/sg3-blend.png
