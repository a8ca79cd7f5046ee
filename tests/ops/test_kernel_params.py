"""Each op's `kernel_params` (edgefmr.ops.<op>, read by the HLS backend) gives exactly the numbers the op's C emitter
puts into its parameter struct, its constant tables and its call, on the randomized cases of every op."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
from op_cases import CASES, make_case

from edgefmr.firmware.c import emitters as c_emitters
from edgefmr.ops.params import has_kernel_params, kernel_params
from edgefmr.ops.registry import all_ops, call

SEEDS = range(10)
#: numpy dtype of each C element type of a constant array.
DTYPE = {"int8_t": np.int8, "int16_t": np.int16, "int32_t": np.int32, "uint8_t": np.uint8, "uint32_t": np.uint32,
         "float": np.float32}
#: Struct fields that the op's parameters leave out on purpose: the Cortex-M kernel's tables (NULL for the portable
#: kernel, which these parameters describe).
ARM_ONLY = {"FULLY_CONNECTED": {"bias_adj", "requant32", "arm_block_rows", "w16"}, "BATCH_MATMUL": {"arm_block_rows"},
            "CONV_2D": {"arm_cols", "arm_k4", "arm_w16"},
            **{op: {"ew_table"} for op in ("ADD", "SUB", "MUL", "SQUARED_DIFFERENCE")},
            "BINARY_FULLY_CONNECTED": {"bias_adj"}, "LAYER_NORM": {"requant"},
            "SPIKE_FULLY_CONNECTED": {"cols_pad", "requant32", "arm_count"},
            **{op: {"square_table", "centered_table", "residual_a_table", "residual_b_table", "gamma_table",
                    "beta_table", "shifted_table", "affine_table", "arm_round"}
               for op in ("LAYER_NORM_CHAIN", "ADD_LAYER_NORM_CHAIN")}}
#: Ops without kernel parameters: the kernel reads its table from a constant input, or copies bytes.
NO_PARAMS = {"LUT", "RESHAPE"}


class Recorder:
    """Stands in for the C model writer: records the parameter struct, arrays and pointer arrays."""

    def __init__(self) -> None:
        self.arrays: list[tuple[np.ndarray, str]] = []
        self.pointers: list[list[str]] = []
        self.structs: list[tuple[str, dict[str, Any]]] = []

    def tensor_ptr(self, t: Any, ctype: str) -> str:
        return f"@tensor:{t.name}"

    def const_array(self, values: np.ndarray, ctype: str) -> str:
        self.arrays.append((np.asarray(values), ctype))
        return f"@array:{len(self.arrays) - 1}"

    def pointer_array(self, exprs: list[str], ctype: str) -> str:
        self.pointers.append(list(exprs))
        return f"@pointers:{len(self.pointers) - 1}"

    def kernel_scratch(self, step: int, node: Any, ctype: str) -> str:
        return "@scratch"

    def param_struct(self, layer: int, ctype: str, fields: dict[str, Any]) -> str:
        self.structs.append((ctype, dict(fields)))
        return f"@struct:{len(self.structs) - 1}"


def _array(rec: Recorder, ref: str) -> tuple[np.ndarray, str]:
    return rec.arrays[int(ref.split(":")[1])]


def _same_array(ours: Any, rec: Recorder, ref: str, what: str) -> None:
    values, ctype = _array(rec, ref)
    assert isinstance(ours, np.ndarray), f"{what}: expected an array, got {ours!r}"
    assert ours.dtype == DTYPE[ctype], f"{what}: dtype {ours.dtype} for C type {ctype}"
    want = np.asarray(values).astype(ours.dtype)
    assert np.array_equal(np.asarray(values, np.float64), np.asarray(ours, np.float64)) or (
        ctype == "float" and np.array_equal(want.view(np.uint32), ours.view(np.uint32))), what
    assert np.array_equal(want.view(np.uint8), np.ascontiguousarray(ours).view(np.uint8)), what


def _same_field(ours: Any, c_value: Any, rec: Recorder, what: str) -> None:
    if isinstance(c_value, str) and c_value.startswith("@array:"):
        _same_array(ours, rec, c_value, what)
    elif isinstance(c_value, str) and c_value.startswith("@pointers:"):
        exprs = rec.pointers[int(c_value.split(":")[1])]
        assert isinstance(ours, list) and len(ours) == len(exprs), what
        for k, (o, e) in enumerate(zip(ours, exprs, strict=True)):
            if e == "NULL":
                assert o is None, f"{what}[{k}]"
            else:
                _same_array(o, rec, e, f"{what}[{k}]")
    elif c_value == "NULL":
        if isinstance(ours, list):  # an array of pointers, all absent
            assert all(o is None for o in ours), what
        else:
            assert ours is None, what
    elif isinstance(c_value, np.float32 | float):
        assert type(ours) is type(c_value) and np.float32(ours).tobytes() == np.float32(c_value).tobytes(), what
        assert float(ours) == float(c_value), what
    elif isinstance(c_value, list):
        assert [int(v) for v in ours] == [int(v) for v in c_value], what
    else:
        assert isinstance(ours, int | np.integer) and int(ours) == int(c_value), f"{what}: {ours!r} != {c_value!r}"


def _call_args(call_text: str) -> list[str]:
    m = re.search(r"\(([^()]*)\);", call_text)
    assert m, call_text
    return [a.strip() for a in m.group(1).split(",")]


def check_node(c) -> int:
    """Compare kernel_params(c) with the C emitter's numbers; returns the number of values compared."""
    rec = Recorder()
    em = c_emitters.get_emitter(c.node.op)(c_emitters.EmitContext(rec, c, 0, None, {}))
    ours = kernel_params(c)
    struct = rec.structs[-1][1] if rec.structs else {}
    skip = ARM_ONLY.get(c.node.op, set())
    assert set(struct) - skip <= set(ours), f"{c.where}: fields {sorted(set(struct) - skip - set(ours))} missing"
    n = 0
    for key, value in ours.items():
        what = f"{c.where}: {key}"
        if key in struct:
            _same_field(value, struct[key], rec, what)
        elif key == "table":  # a table lookup: efm_lut_*(n, table, x, y)
            args = _call_args(em.call)
            assert em.call.startswith("efm_lut_"), what
            _same_array(value, rec, args[1], what)
        elif key == "n" and em.call.startswith("efm_lut_"):
            assert int(_call_args(em.call)[0]) == value, what
        elif key == "start":  # efm_strided_slice(p, start, x, y); TRANSPOSE starts at 0
            args = _call_args(em.call)
            assert int(args[1] if em.call.startswith("efm_strided_slice") else 0) == value, what
        elif c.node.op == "DEQUANTIZE":  # efm_dequantize_s16(n, scale, zero_point, x, y)
            args = _call_args(em.call)
            assert em.call.startswith("efm_dequantize_s16"), what
            pos = {"n": 0, "scale": 1, "zero_point": 2}[key]
            c_value = float.fromhex(args[pos]) if key == "scale" else int(args[pos])
            assert type(value) is type(c_value) and value == c_value, what
        else:
            raise AssertionError(f"{what}: not in the C emitter's struct or call")
        n += 1
    return n


def test_every_compiled_op_has_params():
    for name in all_ops():
        if name in NO_PARAMS:
            continue
        assert name in CASES, name
        g, _ = make_case(name, 0)
        assert has_kernel_params(call(g.nodes[0], g)), f"{name} has no kernel_params"


@pytest.mark.parametrize("op", sorted(set(CASES) - NO_PARAMS))
def test_params_match_c_emitter(op):
    compared = 0
    for seed in SEEDS:
        g, _ = make_case(op, seed)
        for node in g.nodes:
            compared += check_node(call(node, g))
    assert compared > 0


def _resolved(rec: Recorder, fields: dict[str, Any]) -> dict[str, Any]:
    """Struct fields with array references replaced by (C type, values as a list)."""
    out = {}
    for k, v in fields.items():
        if isinstance(v, str) and v.startswith("@array:"):
            values, ctype = _array(rec, v)
            out[k] = (ctype, np.asarray(values).astype(np.float64 if ctype == "float" else np.int64).tolist())
        else:
            out[k] = (type(v).__name__ if isinstance(v, np.float32 | float) else "", v)
    return out


#: CONCATENATION's struct holds an array of table pointers, which its emitter places itself.
@pytest.mark.parametrize("op", sorted(set(CASES) - NO_PARAMS - {"CONCATENATION"}))
def test_param_fields_rebuild_the_c_struct(op):
    """EmitContext.param_fields(ctype, kernel_params(c)) writes the very struct the C emitter writes (same fields,
    values, array element types), so each C emitter can take its struct from the op's kernel parameters."""
    structs = 0
    for seed in SEEDS:
        g, _ = make_case(op, seed)
        for node in g.nodes:
            c = call(node, g)
            rec = Recorder()
            c_emitters.get_emitter(op)(c_emitters.EmitContext(rec, c, 0, None, {}))
            if not rec.structs:
                continue
            ctype, fields = rec.structs[-1]
            kp = kernel_params(c)
            mine = Recorder()
            c_emitters.EmitContext(mine, c, 0, None, {}).param_fields(
                ctype, {k: kp[k] for k in fields if k in kp}, **{k: v for k, v in fields.items() if k not in kp})
            assert mine.structs[-1][0] == ctype
            assert _resolved(mine, mine.structs[-1][1]) == _resolved(rec, fields), c.where
            structs += 1
    assert structs > 0 or op in ("LOGISTIC", "TANH", "RSQRT")


def test_cases_cover_every_parameter_form():
    """The seeds reach every form: tables and arithmetic kernels, per-channel DEQUANTIZE, CONCATENATION tables."""
    forms: set[tuple[str, str]] = set()
    for op in ("DEQUANTIZE", "QUANTIZE", "RELU", "RELU6", "CONCATENATION"):
        for seed in SEEDS:
            g, _ = make_case(op, seed)
            for node in g.nodes:
                p = kernel_params(call(node, g))
                form = "table" if "table" in p else "pc" if "channels" in p else "arith"
                if any(t is not None for t in p.get("tables", [])):
                    form = "tables"
                forms.add((op, form))
    assert {("DEQUANTIZE", "table"), ("DEQUANTIZE", "pc"), ("DEQUANTIZE", "arith"), ("QUANTIZE", "table"),
            ("QUANTIZE", "arith"), ("RELU", "table"), ("RELU", "arith"), ("RELU6", "table"), ("RELU6", "arith"),
            ("CONCATENATION", "tables")} <= forms, sorted(forms)


def test_recorder_catches_a_difference():
    """The comparison fails when a value differs (so the test above can fail)."""
    g, _ = make_case("ADD", 0)
    c = call(g.nodes[0], g)
    rec = Recorder()
    c_emitters.get_emitter("ADD")(c_emitters.EmitContext(rec, c, 0, None, {}))
    struct = rec.structs[-1][1]
    with pytest.raises(AssertionError):
        _same_field(struct["out_mult"] + 1, struct["out_mult"], rec, "out_mult")
    g, _ = make_case("CONV_2D", 0)
    c = call(g.nodes[0], g)
    rec = Recorder()
    c_emitters.get_emitter("CONV_2D")(c_emitters.EmitContext(rec, c, 0, None, {}))
    mult = kernel_params(c)["mult"].copy()
    mult[0] += 1
    with pytest.raises(AssertionError):
        _same_field(mult, rec.structs[-1][1]["mult"], rec, "mult")
