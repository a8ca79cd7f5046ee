"""MCUFormer-scale ViTs (issue 20): a data-free search over 96x96 and 240x240 inputs under the SRAM and flash of an
STM32F746 (320 KiB SRAM, 1 MiB flash); the chosen architectures are built and measured on the linked ELF.

``python -m bench mcuformer_scale`` writes ``bench/results/mcuformer_scale.{json,md}``.
``EDGEFMR_MCUFORMER_QUICK=1`` runs a reduced version (fewer candidates) to check the code paths.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

QUICK = os.environ.get("EDGEFMR_MCUFORMER_QUICK") == "1"
BOARD = "stm32f746g-disco"
SRAM_BUDGET = 320 * 1024
FLASH_BUDGET = 1024 * 1024
CODE_RESERVE = 96 * 1024  # flash left for code and runtime: the search's flash budget is the constants'
SIDES = (96, 240)
CLASSES = 1000  # ImageNet's, as MCUFormer: the classifier alone is embed x 1000 int8 weights
POOL = 6 if QUICK else 16
RANKERS: tuple[tuple[str, ...], ...] = (("synflow",), ("random",))

NOTE = f"""Issue 20's MCUFormer-scale spaces (`edgefmr.nas.search.space.mcuformer_space`: patch sizes giving a 6x6
to 15x15 token grid, embedding 96-240, depth 4-12, 3/4 heads, MLP ratio 2-4, low-rank factor 0.1-0.5 or 1,
softmax, {CLASSES} classes) on {BOARD} (Cortex-M7 216 MHz; the arena goes to SRAM1, 240 KiB, the 8 KiB stack to
DTCM, 64 KiB; 320 KiB of SRAM in all, 1 MiB flash). Images of >= 16 KiB are patch-embedded band by band, so no
whole NHWC copy of the input lives beside it (`edgefmr.quant.vit`). No data: the inputs are uniform random images
(they set only the quantization scales) and the weights seeded random. The budget search
(`edgefmr.nas.search.budget`: {POOL} random points + the smallest points + two rounds of growing the 3 best
feasible points one step, every point costed by the firmware planner on the lowered int8 graph) runs with an SRAM
budget of {SRAM_BUDGET // 1024} KiB (arena + stack) and a flash budget of {(FLASH_BUDGET - CODE_RESERVE) // 1024}
KiB for the constant data the build writes (weights and the kernels' parameters; {CODE_RESERVE // 1024} KiB of the
1 MiB are left for code), plus the board's own regions; it ranks the feasible points by synflow (data-free: an
all-ones input) or at random. Kind `search`: the chosen architecture, built with `edgefmr build` for the board;
`measured_sram` = the ELF's arena symbol + the stack reserve, `static_ram` the runtime's .data + .bss (protocol
buffers; for inputs <= 64 KiB also the MLPerf harness's copy of the input), `total_sram` their sum,
`measured_flash` = the ELF's flash image (code and constants), the share of 320 KiB / 1 MiB they use
(`fits_both`: within both; the build checks every region too) and the ELF's use of each memory region. Kind
`space`: per input size, how many costed points met the SRAM budget, the flash budget and both, and the smallest
SRAM and flash seen."""


def _task(side: int) -> Any:
    from edgefmr.nas.tasks import Task

    x = np.random.default_rng(side).uniform(0.0, 1.0, (8, 3, side, side)).astype(np.float32)
    y = np.arange(8, dtype=np.int64)
    return Task(f"random-{side}x{side}", x, y, x, y, (3, side, side), CLASSES, "image")


def run() -> list[dict[str, Any]]:
    from edgefmr.errors import EdgefmrError
    from edgefmr.firmware.build import build
    from edgefmr.nas.search.budget import BudgetSearch
    from edgefmr.nas.search.cost import Budgets, lower_for_cost
    from edgefmr.nas.search.space import mcuformer_space

    torch.set_num_threads(1)
    budgets = Budgets(sram=SRAM_BUDGET, flash=FLASH_BUDGET - CODE_RESERVE)
    records: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="edgefmr-bench-mcuformer-") as tmp:
        work = Path(tmp)
        os.environ["EDGEFMR_CALIBRATION_DIR"] = str(work / "calibration")  # the default tables, never a local one
        for side in SIDES:
            task = _task(side)
            space = mcuformer_space(task.input_shape)
            bs = BudgetSearch(space, task, BOARD, seed=0, calib_samples=4)
            for rankers in RANKERS:
                t0 = time.perf_counter()
                rec: dict[str, Any] = {"kind": "search", "input": f"{side}x{side}", "ranker": "+".join(rankers),
                                       "space_size": space.size()}
                try:
                    rep = bs.run(budgets, pool=POOL, rankers=rankers, finalists=1)
                except EdgefmrError as e:
                    records.append({**rec, "chosen_arch": None, "note": str(e),
                                    "seconds": round(time.perf_counter() - t0, 1)})
                    print(f"{side}: {e}", flush=True)
                    continue
                c = rep["chosen"]
                graph = lower_for_cost(space.config(c["arch"]), task, calib_samples=4, seed=0)
                man = build(graph, BOARD, work / f"b{side}-{'+'.join(rankers)}")
                stack = man["predicted"]["stack_reserved"]
                sram = sum(man["measured"]["arena_symbols"].values()) + stack
                static = man["predicted"]["static_ram"]  # .data + .bss of the runtime (protocol buffers, ...)
                flash = man["measured"]["flash"]
                rec.update({"chosen_arch": c["arch"], "predicted_sram": c["sram"], "measured_sram": sram,
                            "static_ram": static, "total_sram": sram + static,
                            "sram_used": round((sram + static) / SRAM_BUDGET, 3),
                            "predicted_flash_constants": c["flash"], "measured_flash": flash,
                            "flash_used": round(flash / FLASH_BUDGET, 3),
                            "fits_both": sram + static <= SRAM_BUDGET and flash <= FLASH_BUDGET,
                            "regions": man["measured"]["regions"],
                            "arena_region": man["predicted"]["arena"], "macs": c["macs"], "params": c["params"],
                            "predicted_latency_ms": round(1e3 * c["latency_s"], 1), "costed": rep["costed"],
                            "feasible": rep["feasible"], "largest_feasible_sram": rep["largest_feasible_sram"],
                            "seconds": round(time.perf_counter() - t0, 1)})
                records.append(rec)
                print(f"{side} {rec['ranker']}: sram {sram} flash {flash} ({rec['seconds']} s)", flush=True)
            cands = [bs.candidate(v, budgets, "") for v in bs.costed()]
            ok_sram = [c for c in cands if c.constraints[0] <= 0 and c.constraints[3] <= 0]
            ok_flash = [c for c in cands if c.constraints[1] <= 0 and c.constraints[4] <= 0]
            records.append({"kind": "space", "input": f"{side}x{side}", "costed": len(cands),
                            "meet_sram": len(ok_sram), "meet_flash": len(ok_flash),
                            "meet_both": sum(1 for c in cands if c.feasible),
                            "smallest_sram": min(c.cost.sram_total for c in cands),
                            "smallest_flash": min(c.cost.flash for c in cands),
                            "smallest_arena": min(sum(c.cost.arena.values()) for c in cands)})
    return records

