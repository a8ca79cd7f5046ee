"""Where each piece of an op lives (definition, reference kernel, docs, tests, C / Cortex-M / HLS kernels): used by
tests/ops/test_op_pieces.py and by scripts/ops_table.py, which writes the table of docs/ops.md."""

from __future__ import annotations

from dataclasses import dataclass

from op_cases import CASES, make_case
from paths import ROOT

from edgefmr.firmware.c.codegen import ARM_KERNEL_DIR, KERNEL_DIR, PORTABLE_ONLY
from edgefmr.firmware.c.emitters import EmitContext, get_emitter
from edgefmr.firmware.hls.codegen import KERNEL_DIR as HLS_KERNEL_DIR
from edgefmr.firmware.hls.emitters import HlsContext
from edgefmr.firmware.hls.emitters import all_emitters as hls_emitters
from edgefmr.ops.registry import OpDef, all_ops, call


@dataclass
class Pieces:
    """The files of one op, relative to the repository root (None where the piece does not exist)."""

    op: str
    tflite: str | None
    definition: str
    reference: bool
    doc: str | None
    test: str | None
    c_kernels: list[str]
    arm_kernel: str | None
    arm_reason: str | None
    hls_kernels: list[str]
    case: bool


class _Names:
    """A stand-in code generator for running an emitter only to learn which kernels it calls."""

    def __getattr__(self, name: str):
        return lambda *a, **k: f"@{name}"


def _rel(p) -> str | None:
    return str(p.relative_to(ROOT)) if p.is_file() else None


def op_pieces(op: str) -> Pieces:
    """The pieces of `op`, found where the layout says they are."""
    d = all_ops()[op]
    mod = type(d).__module__.rsplit(".", 1)[-1]
    g, _ = make_case(op, 0) if op in CASES else (None, None)
    c_kernels: list[str] = []
    hls_kernels: list[str] = []
    if g is not None:
        c = call(g.nodes[0], g)
        c_kernels = list(get_emitter(op)(EmitContext(_Names(), c, 0, None, {})).kernels)
        if op in hls_emitters():
            ctx = HlsContext(_Names(), c, 0, {i: f"in{i}" for i in range(len(c.node.inputs))},
                             {j: f"out{j}" for j in range(len(c.node.outputs))})
            hls_kernels = list(hls_emitters()[op](ctx).kernels)
    main = c_kernels[0] if c_kernels else None
    return Pieces(
        op=op, tflite=d.tflite_op, definition=f"sdk/ops/{mod}.py", reference=type(d).run is not OpDef.run,
        doc=_rel(ROOT / "docs" / "ops" / f"{op}.md"), test=_rel(ROOT / "tests" / "ops" / f"test_{op.lower()}.py"),
        c_kernels=[k for k in c_kernels if (KERNEL_DIR / f"{k}.c").is_file()],
        arm_kernel=_rel(ARM_KERNEL_DIR / f"{main}.c") if main else None, arm_reason=PORTABLE_ONLY.get(op),
        hls_kernels=[k for k in hls_kernels if (HLS_KERNEL_DIR / f"{k}.h").is_file()], case=op in CASES)


def ops_table() -> str:
    """The op table of docs/ops.md."""
    rows = ["| op | TFLite builtin | definition and reference kernel | C kernel | Cortex-M kernel | HLS kernel | "
            "doc | test |", "|---|---|---|---|---|---|---|---|"]
    for op in sorted(all_ops()):
        p = op_pieces(op)
        arm = f"`{p.arm_kernel.removeprefix('firmware/c/')}`" if p.arm_kernel else f"— ({p.arm_reason})"
        rows.append(" | ".join([
            f"| {op}", p.tflite or "—", f"`{p.definition}`", ", ".join(f"`kernels/{k}.c`" for k in p.c_kernels),
            arm, ", ".join(f"`kernels/{k}.h`" for k in p.hls_kernels),
            f"[{op}.md](ops/{op}.md)" if p.doc else "—", f"`{p.test}`" if p.test else "—"]) + " |")
    return "\n".join(rows) + "\n"


BEGIN, END = "<!-- ops table: scripts/ops_table.py -->\n", "<!-- end of ops table -->\n"


def render(doc: str) -> str:
    """`doc` (docs/ops.md) with its op table replaced by the current one."""
    a, b = doc.index(BEGIN) + len(BEGIN), doc.index(END)
    return doc[:a] + ops_table() + doc[b:]
