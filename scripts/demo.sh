#!/usr/bin/env bash
# `make demo`: the main job end to end on the default virtual board, starting from an architecture search:
# search a ViT for digits under an SRAM budget (supernet trained once and cached, Optuna trials costed by the
# firmware planner, the chosen subnet fine-tuned and quantized to the integer IR) -> build firmware for
# qemu-netduinoplus2 -> flash it -> run the test images on the board and check every output bit for bit against the
# reference interpreter -> profile it. Then a full-integer .tflite made by TensorFlow's own converter, checked
# against LiteRT, and the report. The search space is examples/search/demo_space.json (small, so the whole demo
# takes under 10 minutes on 2 cores with a cold supernet cache).
set -euo pipefail
cd "$(dirname "$0")/.."
E=.venv/bin/edgefmr
OUT=out/demo
BOARD=qemu-netduinoplus2
SEARCH=$OUT/search
SPACE=examples/search/demo_space.json
SRAM_BUDGET=${DEMO_SRAM_BUDGET:-12KB}  # binds: the largest points of the space need 13.3 KiB (arena + 8 KiB stack)
TRIALS=${DEMO_TRIALS:-12}
SUPERNET_EPOCHS=${DEMO_SUPERNET_EPOCHS:-12}
FINETUNE_EPOCHS=${DEMO_FINETUNE_EPOCHS:-20}
MODEL=$SEARCH/model.efm  # the chosen model, quantized (written by the search)
FLOAT=$SEARCH/model.pt   # its float checkpoint
rm -rf "$OUT"            # a fresh run each time (the supernet stays cached, see docs/search.md)
mkdir -p "$OUT"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "The default board ($BOARD)"
$E boards show "$BOARD"

step "Search a ViT for digits on $BOARD under a ${SRAM_BUDGET} SRAM budget (space: $SPACE)"
$E search --task digits --board "$BOARD" --family vit --sram-budget "$SRAM_BUDGET" \
  --trials "$TRIALS" --supernet-epochs "$SUPERNET_EPOCHS" --finetune-epochs "$FINETUNE_EPOCHS" \
  --space "$SPACE" --out "$SEARCH"
.venv/bin/python - "$SEARCH/search.json" <<'PY'
import json
import sys
s = json.load(open(sys.argv[1]))
c = s["chosen"]
print(f"chosen: trial {c['number']} of {s['trials']} ({s['feasible']} within the budget), SRAM {c['sram']} B, "
      f"predicted latency {1e3 * c['latency_s']:.2f} ms; test accuracy {100 * c['test_accuracy_float']:.1f}% float, "
      f"{100 * c['test_accuracy_int']:.1f}% int8 (IR interpreter)")
PY

step "Inspect the integer model and its memory plan on $BOARD"
$E inspect "$MODEL" | tail -3
$E plan "$MODEL" --board "$BOARD" | tail -5
$E analyze "$MODEL" --board "$BOARD" | grep -E -A2 "^latency|^ region|fits the board"

step "Build the firmware (C kernels, static arena from the planner, arm-none-eabi-gcc)"
$E build "$MODEL" --board "$BOARD" --out "$OUT/vit-$BOARD"

step "Flash it (QEMU virtual board: load, verify the banner and the model hash)"
$E flash "$OUT/vit-$BOARD"

step "Run the digits test images on the board and compare with the reference interpreter"
.venv/bin/python scripts/demo_inputs.py "$MODEL" "$OUT/x.npy" "$OUT/y_true.npy"
$E run "$OUT/vit-$BOARD" --input "$OUT/x.npy" --output "$OUT/y_board.npy"
$E run "$MODEL" --input "$OUT/x.npy" --output "$OUT/y_ref.npy"
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
$E profile "$OUT/vit-$BOARD" --inputs "$OUT/x100.npy" --float-model "$FLOAT" --out "$OUT/profile.json"

step "A model made by TensorFlow's converter: check it against LiteRT bit for bit, and against its float model layer by layer"
$E verify tests/fixtures/vit_digits_int8.tflite --input tests/fixtures/digits_test_x.npy \
  --labels tests/fixtures/digits_test_y.npy
$E validate tests/fixtures/vit_digits_int8.tflite --reference tests/fixtures/vit_digits_float.tflite \
  --input tests/fixtures/digits_test_x.npy | tail -4

step "Write the report (board, memory plan, latency, accuracy)"
$E report "$OUT" --png "$OUT/plots"

printf '\ndemo outputs are in %s/\n' "$OUT"
