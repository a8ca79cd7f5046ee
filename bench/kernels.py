"""Kernel speed on the Cortex-M boards: executed instructions per MAC or per element, portable vs Cortex-M (DSP
extension) kernels, on QEMU Cortex-M4 and Cortex-M7; whole-model rows beside them. Each bench/_kernels_*.py module
contributes records()."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

NOTE = """Executed instructions counted by QEMU under -icount (SysTick, exact to its resolution of about 6
instructions on netduinoplus2 and 40 on mps2-an500; the minimum over the input records), not cycles. `op` rows
time one node in a semihosting image: the whole kernel call (parameter set-up, unpacking, requantization, loop
overheads), with the portable C kernels (`portable_per_unit`) and with the Cortex-M kernels (`arm_per_unit`); both
outputs are checked bit for bit against the reference interpreter. `target_per_unit` is the bound the kernel issues
set for the Cortex-M4 figure. `model` rows run whole models on both boards with the Cortex-M kernels and with the
portable kernels only (planned without MCUFormer's tricks, so every node runs its own kernel): the .tflite fixtures
made by TensorFlow's converter (tests/fixtures/README.md) and edgefmr's own family models (tests/fixtures/family:
the ViT with each attention variant, the spiking transformer, the LMU, the spiking LMU and the demo's searched ViT),
with the planner's arena (kernel scratch included), .text bytes, the arena `edgefmr build` plans by default
(`arena_bytes_build`: tricks and in-place convolutions where they make it smaller) and the same figures at the base
commit b4aeaa8 beside them (`*_before`; `arena_bytes_build_before`: b4aeaa8's default build; bench/baseline/);
`half_of_before` says whether the Cortex-M instructions are at most half of b4aeaa8's. `model_op` rows split a
.tflite fixture's Cortex-M4 instructions by op type from the per-layer counts of a profiling session. Other record kinds
(firing-rate sweeps; `layer_norm_pass`: the ViT fixture with and without the LayerNorm IR pass) are described in
their bench/_kernels_*.py module."""


def run() -> list[dict]:
    here = Path(__file__).parent
    out: list[dict] = []
    for m in sorted(pkgutil.iter_modules([str(here)]), key=lambda m: m.name):
        if m.name.startswith("_kernels_"):
            out += importlib.import_module(f"bench.{m.name}").records()
    return out
