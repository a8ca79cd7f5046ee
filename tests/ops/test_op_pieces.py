"""One place per op: every registered op has each of its pieces where the layout says (definition and reference
kernel in sdk/ops, exact arithmetic in docs/ops, its test in tests/ops, a randomized case in tests/support/op_cases,
a portable C kernel, a Cortex-M kernel or the reason it has none, an HLS kernel), and docs/ops.md lists them."""

from __future__ import annotations

import pytest
from op_pieces import op_pieces, render
from paths import ROOT

from edgefmr.firmware.c.codegen import PORTABLE_ONLY
from edgefmr.ops.registry import all_ops
from edgefmr.tflite.schema import BUILTIN_NAMES


@pytest.mark.parametrize("op", sorted(all_ops()))
def test_every_op_has_each_piece(op):
    p = op_pieces(op)
    assert (ROOT / p.definition).is_file() and p.reference, f"{op}: definition or reference kernel missing"
    assert p.doc, f"{op}: docs/ops/{op}.md missing (its exact integer arithmetic)"
    assert p.test, f"{op}: tests/ops/test_{op.lower()}.py missing"
    assert p.case, f"{op}: no randomized case in tests/support/op_cases.py"
    assert p.c_kernels, f"{op}: no portable C kernel in firmware/c/kernels/"
    assert p.hls_kernels, f"{op}: no HLS kernel in firmware/hls/kernels/"
    assert (p.arm_kernel is None) != (p.arm_reason is None), (
        f"{op}: needs a Cortex-M kernel in firmware/c/kernels/arm/ or a reason in PORTABLE_ONLY, not both/neither")
    assert p.tflite is None or p.tflite in BUILTIN_NAMES.values(), f"{op}: {p.tflite} is no TFLite builtin"


def test_portable_only_names_registered_ops():
    assert not set(PORTABLE_ONLY) - set(all_ops())


def test_docs_ops_table_is_current():
    doc = (ROOT / "docs" / "ops.md").read_text()
    assert render(doc) == doc, "docs/ops.md's op table is out of date: run scripts/ops_table.py"
