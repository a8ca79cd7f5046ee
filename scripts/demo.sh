#!/usr/bin/env bash
# `make demo`: the main job end to end on the default virtual board, as far as the pipeline exists today:
# train a ViT on digits -> quantize it to the integer IR -> build firmware for qemu-netduinoplus2 -> flash it ->
# run the test images on the board and check every output bit for bit against the reference interpreter.
# Then the same for a full-integer .tflite made by TensorFlow's own converter, checked against LiteRT.
set -euo pipefail
cd "$(dirname "$0")/.."
E=.venv/bin/edgefmr
OUT=out/demo
BOARD=qemu-netduinoplus2
mkdir -p "$OUT"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "The default board ($BOARD)"
$E boards show "$BOARD"

step "Train a small MCUFormer-style ViT on the 8x8 digits (clipped-softmax attention)"
$E train --family vit --task digits --set embed_dim=32 --set depth=2 --set heads=2 --set attention=clipped \
  --epochs 12 --out "$OUT/vit.pt"

step "Quantize it to an integer-only IR model (accuracy measured on the reference interpreter)"
$E quantize "$OUT/vit.pt" --task digits --out "$OUT/vit.efm" --report "$OUT/quant.json"

step "Inspect the integer model and its memory plan on $BOARD"
$E inspect "$OUT/vit.efm" | tail -3
$E plan "$OUT/vit.efm" --board "$BOARD" | tail -5

step "Build the firmware (C kernels, static arena from the planner, arm-none-eabi-gcc)"
$E build "$OUT/vit.efm" --board "$BOARD" --out "$OUT/vit-$BOARD"

step "Flash it (QEMU virtual board: load, verify the banner and the model hash)"
$E flash "$OUT/vit-$BOARD"

step "Run the digits test images on the board and compare with the reference interpreter"
.venv/bin/python scripts/demo_inputs.py "$OUT/vit.efm" "$OUT/x.npy" "$OUT/y_true.npy"
$E run "$OUT/vit-$BOARD" --input "$OUT/x.npy" --output "$OUT/y_board.npy"
$E run "$OUT/vit.efm" --input "$OUT/x.npy" --output "$OUT/y_ref.npy"
.venv/bin/python - "$OUT" <<'PY'
import sys
import numpy as np
out = sys.argv[1]
board, ref, y = (np.load(f"{out}/{n}.npy") for n in ("y_board", "y_ref", "y_true"))
same = int((board.reshape(len(board), -1) == ref.reshape(len(ref), -1)).all(axis=1).sum())
acc = float((board.reshape(len(board), -1).argmax(1) == y).mean())
print(f"board == reference interpreter on {same}/{len(board)} inputs, bit for bit; board accuracy {acc:.4f}")
sys.exit(0 if same == len(board) else 1)
PY

step "Profile it on the board: per-layer instruction counts, stack, arena, agreement with the interpreter"
.venv/bin/python -c "import numpy as np; np.save('$OUT/x100.npy', np.load('$OUT/x.npy')[:100])"
$E profile "$OUT/vit-$BOARD" --inputs "$OUT/x100.npy" --float-model "$OUT/vit.pt" --out "$OUT/profile.json"

step "A model made by TensorFlow's converter: import it and check it against LiteRT's reference kernels"
$E verify tests/fixtures/vit_digits_int8.tflite --input tests/fixtures/digits_test_x.npy \
  --labels tests/fixtures/digits_test_y.npy

step "Write the report (board, memory plan, latency, accuracy)"
$E report "$OUT" --png "$OUT/plots"

printf '\ndemo outputs are in %s/\n' "$OUT"
