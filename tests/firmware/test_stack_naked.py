"""The static stack estimate counts what naked functions push: GCC reports their frames as 0 bytes, so
`elfsize.stack_estimate` reads the pushes from the disassembly of the objects that `build` finds naked functions in."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from edgefmr.firmware import elfsize
from edgefmr.firmware.build import NAKED_RE

pytestmark = pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="needs arm-none-eabi-gcc")

SOURCE = """
__attribute__((naked, noinline)) static void deep(void) {
    __asm__ volatile("push {r4-r11, lr}\\n\\t"
                     "vpush {d8-d9}\\n\\t"
                     "sub sp, sp, #40\\n\\t"
                     "add sp, sp, #40\\n\\t"
                     "vpop {d8-d9}\\n\\t"
                     "pop {r4-r11, pc}\\n\\t");
}

void Reset_Handler(void) {
    deep();
    for (;;) {
    }
}
"""


def test_naked_pushes_count_in_the_stack_estimate(tmp_path: Path) -> None:
    src = tmp_path / "naked.c"
    src.write_text(SOURCE)
    obj = tmp_path / "naked.o"
    subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16",
                    "-O2", "-fcallgraph-info=su", "-c", str(src), "-o", str(obj)], check=True, cwd=tmp_path)
    assert NAKED_RE.search(SOURCE)
    assert elfsize.asm_frames(obj)["deep"] == 9 * 4 + 2 * 8 + 40
    blind = elfsize.stack_estimate(tmp_path, roots=("Reset_Handler",))
    seen = elfsize.stack_estimate(tmp_path, roots=("Reset_Handler",), naked_objects=(obj,))
    assert seen["bytes"] - blind["bytes"] == 92
    assert seen["chain"][-1].endswith("deep")


def test_naked_re_finds_only_attributes() -> None:
    assert NAKED_RE.search("__attribute__((naked, noinline)) static void f(void) {}")
    assert NAKED_RE.search("__attribute__((noinline, naked)) void f(void);")
    assert not NAKED_RE.search("/* the naked asm functions below */ static void f(void) {}")
