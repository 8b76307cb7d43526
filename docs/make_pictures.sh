#!/usr/bin/env bash
# Regenerate the pictures in docs/ from the bundled demo model and attribute classifier
# (models/). Run from anywhere; takes a few minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
sg() { cargo run -q -p stylegan-cli -- "$@"; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

sg generate --seeds 0-31 --trunc 0.7 --grid 8x4 --outdir "$T/gen"
cp "$T/gen/grid.png" docs/demo-fakes.png

# Style mixing: coarse layers (0-3 of 8) from the column seeds.
sg mix --rows 85,100,75,458,1500 --cols 55,821,1789,293 --styles 0-3 --trunc 0.7 --outdir "$T/mix"
cp "$T/mix/grid.png" docs/mix.png

# Interpolation video: 4 cells, 4 keyframes each, cubic in w.
sg video --seeds 0-15 --grid 2x2 --w-frames 30 --trunc 0.7 --output docs/interpolation.gif

# SeFa (closed form), GANSpace (PCA of w), InterFaceGAN (classifier-labelled samples).
sg directions sefa --out "$T/sefa.safetensors"
sg edit --seeds 0-4 --direction "$T/sefa.safetensors" --index 0 --strengths -8:8:7 --trunc 0.7 --outdir "$T/sefa"
cp "$T/sefa/grid.png" docs/edit-sefa0.png
sg directions ganspace --out "$T/gs.safetensors"
sg edit --seeds 0-4 --direction "$T/gs.safetensors" --index 0 --strengths -3:3:7 --trunc 0.7 --outdir "$T/gs"
cp "$T/gs/grid.png" docs/edit-ganspace0.png
sg classifier label --classifier models/faces32-attributes.safetensors --seeds 0-1999 --out "$T/samples.safetensors"
sg directions interfacegan --samples "$T/samples.safetensors" --attribute male --out "$T/male.safetensors"
sg edit --seeds 0-4 --direction "$T/male.safetensors" --strengths -6:6:7 --trunc 0.7 --outdir "$T/male"
cp "$T/male/grid.png" docs/edit-interfacegan-male.png
sg directions interfacegan --samples "$T/samples.safetensors" --attribute facial_hair --condition male --out "$T/beard.safetensors"
sg edit --seeds 0-4 --direction "$T/beard.safetensors" --strengths -6:6:7 --trunc 0.7 --outdir "$T/beard"
cp "$T/beard/grid.png" docs/edit-interfacegan-facial-hair.png
echo "docs pictures written"

# "StyleGAN of All Trades": expansions in each mode, blends with two masks.
for mode in reflect replicate circular stretch; do
  sg expand --seed 1 --layer 1 --mode "$mode" --width-factor 2 --trunc 0.7 --output "docs/expand-$mode.png"
done
for mask in horizontal vertical; do
  sg blend --seed-a 1 --seed-b 2 --mask "$mask" --trunc 0.7 --output "docs/blend-$mask.png"
done
echo "feature-map pictures written"
sg panorama --seeds 1,2,3,4 --layer 1 --overlap 0.5 --trunc 0.7 --output docs/panorama.png
sg panorama --seeds 1,2,3 --layer 1 --overlap 0.5 --trunc 0.7 --vertical --output docs/panorama-vertical.png
sg transfer --seed-src 1 --seed-ref 2 --box 0.2,0.35,0.8,0.8 --trunc 0.7 --output docs/transfer.png
sg single-image --seed 1 --layer 1 --count 7 --trunc 0.7 --outdir "$T/single"
cp "$T/single/grid.png" docs/single-image.png
# Image-to-image translation: the demo model and its sepia child (aligned: frozen mapping
# and affines), continuous (α = 0 … 1) and local (horizontal mask).
sg translate --child models/faces32-sepia.safetensors --seeds 0-3 --alphas 0:1:5 --trunc 0.7 --outdir "$T/tr"
cp "$T/tr/grid.png" docs/translate.png
sg translate --child models/faces32-sepia.safetensors --seeds 0-3 --mask horizontal --trunc 0.7 --outdir "$T/trh"
cp "$T/trh/grid.png" docs/translate-local.png
echo "all pictures written"

# Inversion of a real image: a held-out facesjs face (data set seed 4242, never trained on)
# projected into W+, then edited with the InterFaceGAN "male" direction and translated to the
# sepia child, all from the projection file. (Needs Node.js for the face and pip for LPIPS.)
sg dataset faces --count 1 --resolution 32 --seed 4242 --dest "$T/heldout.zip"
python3 -m zipfile -e "$T/heldout.zip" "$T/heldout"
sg project --target "$T/heldout/00000/img00000000.png" --space wplus --outdir "$T/proj"
cp "$T/proj/compare.png" docs/real-projection.png
sg edit --latent "$T/proj/projected.safetensors" --direction "$T/male.safetensors" --strengths -6:6:5 --outdir "$T/real-male"
cp "$T/real-male/grid.png" docs/real-edit-male.png
sg translate --child models/faces32-sepia.safetensors --latent "$T/proj/projected.safetensors" --alphas 0:1:5 --outdir "$T/real-tr"
cp "$T/real-tr/grid.png" docs/real-translate.png
echo "inversion pictures written (the quality table: docs/make_inversion_table.sh)"
