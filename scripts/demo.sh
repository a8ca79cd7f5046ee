#!/usr/bin/env bash
# `make demo`: the main job end to end, as far as the pipeline exists today.
# Now: import a TFLite model made by TensorFlow's converter, inspect it, convert it to edgefmr's IR, run it on the
# reference interpreter and check it bit for bit against LiteRT's reference kernels on the digits test images.
set -euo pipefail
cd "$(dirname "$0")/.."
E=.venv/bin/edgefmr
OUT=out/demo
mkdir -p "$OUT"
BOARD=qemu-netduinoplus2

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "The default board ($BOARD)"
$E boards show "$BOARD"

step "Inspect a full-integer ViT made by TensorFlow's converter"
$E inspect tests/fixtures/vit_digits_int8.tflite

step "Import it into edgefmr's integer IR"
$E convert tests/fixtures/vit_digits_int8.tflite "$OUT/vit_digits.efm"

step "Run the digits test images on the reference interpreter"
$E run "$OUT/vit_digits.efm" --input tests/fixtures/digits_test_x.npy --output "$OUT/vit_digits_y.npy"

step "Check it bit for bit against LiteRT's reference kernels"
$E verify "$OUT/vit_digits.efm" --input tests/fixtures/digits_test_x.npy --labels tests/fixtures/digits_test_y.npy

printf '\ndemo outputs are in %s/\n' "$OUT"
