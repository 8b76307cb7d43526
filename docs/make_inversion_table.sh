#!/usr/bin/env bash
# The inversion quality table in the README and docs/inversion-{real,generated}.png:
# 6 held-out facesjs faces (data set seed 4242; the demo model was trained on seed 0) and 6
# generated faces, each projected into W, W+ and S (+ Gaussian prior) and pivotally tuned
# around the W projection. About 25 minutes on 2 cores. Needs Node.js and pip.
set -euo pipefail
cd "$(dirname "$0")/.."
sg() { cargo run -q -p stylegan-cli -- "$@"; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
sg dataset faces --count 6 --resolution 32 --seed 4242 --dest "$T/heldout.zip"
sg evaluate-inversion --targets "$T/heldout.zip" --count 6 --generated 6 --steps 500 --pti-steps 200 --outdir "$T/eval" | tee "$T/table.md"
cp "$T/eval/inversion-real.png" "$T/eval/inversion-generated.png" docs/
echo "table above; pictures in docs/"
