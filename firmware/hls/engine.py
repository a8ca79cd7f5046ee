"""The shared-engine HLS design (Edge-MoE's unified compute unit): one PE x SIMD MAC array and one requantization
unit run every matrix layer in turn, driven by a layer table; the other layers run their own kernels
(kernels/<op>.h, their requantizations sharing one unit per layer) between an arena and the next layer. Activations
live in one on-chip buffer planned by edgefmr.firmware.planner (every tensor stored whole, byte offsets), weights of
the matrix layers in one memory of PE x SIMD-byte words (block RAM, or DDR through an AXI master port when they do
not fit).

    engine_rows(graph) -> list[EngineRow]        the matrix layers the array runs (and their weights)
    generate_engine(graph, pe, simd, weights)    model.cpp / model.h of the design (an HlsModel)

The top function is `efm_top` with the same AXI-stream ports as the dataflow design (and `efm_top_mm`), so the
testbench, the project and `run_csim` are shared; with weights in DDR both take one more port, `weights`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgefmr.errors import EdgefmrError
from edgefmr.firmware import planner
from edgefmr.firmware.hls.codegen import (
    HlsModel,
    _comment,
    _initializer,
    _Writer,
    config_struct,
    cpp_int,
    data_positions,
    io_ports,
    kernel_files,
    model_header,
    node_key,
)
from edgefmr.firmware.hls.emitters import CPP_TYPES, Folding, HlsContext, acc_bits, get_emitter
from edgefmr.firmware.hls.emitters.softmax import softmax_config
from edgefmr.firmware.hls.emitters.transpose import view_emit
from edgefmr.ir import Graph, graph_hash
from edgefmr.ops.params import kernel_params
from edgefmr.ops.registry import OpCall, call
from edgefmr.ops.softmax import ACCUMULATION_INTEGER_BITS

#: Matrix ops the engine's array runs (when their operands are int8 activations and int8 constant weights).
ENGINE_OPS = ("FULLY_CONNECTED", "SPIKE_FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D", "BATCH_MATMUL")
KIND = {"FULLY_CONNECTED": 0, "SPIKE_FULLY_CONNECTED": 0, "CONV_2D": 1, "DEPTHWISE_CONV_2D": 2, "BATCH_MATMUL": 3}
#: Field order of efm::engine_layer (kernels/engine.h).
FIELDS = ("kind", "spike", "single_round", "per_channel", "x_off", "r_off", "y_off", "w_off", "b_off", "q_off",
          "vectors", "cols", "depth", "in_h", "in_w", "in_c", "out_h", "out_w", "k_w", "k_c", "stride_h", "stride_w",
          "dil_h", "dil_w", "pad_top", "pad_left", "out_per_group", "depth_multiplier", "rows", "bcount1", "bcount2",
          "lbs0", "lbs1", "lbs2", "rbs0", "rbs1", "rbs2", "lrow", "ldep", "rdep", "rcol", "x_zp", "r_zp", "y_zp",
          "act_min", "act_max")
WEIGHTS_PLACES = ("bram", "ddr")
#: Ops the engine runs as a strided copy inside the arena.
VIEW_OPS = ("TRANSPOSE", "STRIDED_SLICE")


@dataclass
class EngineRow:
    """One matrix layer of the engine: its node, the table fields that do not depend on the plan, its weights as
    [cols][depth] int8 (None for BATCH_MATMUL), biases, multipliers and shifts, and the accumulator bits."""

    node: int
    op: str
    fields: dict[str, int]
    weights: np.ndarray | None
    bias: np.ndarray
    mult: np.ndarray
    shift: np.ndarray
    acc_bits: int
    inputs: list[str] = field(default_factory=list)  # arena operands: x (and the BMM's right operand)

    @property
    def vectors(self) -> int:
        return self.fields["vectors"]

    @property
    def cols(self) -> int:
        return self.fields["cols"]

    @property
    def depth(self) -> int:
        return self.fields["depth"]


def _zero_fields() -> dict[str, int]:
    return dict.fromkeys(FIELDS, 0) | {"bcount1": 1, "bcount2": 1, "out_per_group": 1, "depth_multiplier": 1,
                                       "rows": 1, "act_min": -128, "act_max": 127}


def engine_row(c: OpCall, index: int) -> EngineRow | None:
    """The engine row of node `c`, or None when the array cannot run it (it then keeps its own kernel)."""
    op = c.node.op
    if op not in ENGINE_OPS or c.out().dtype != "int8":
        return None
    x = c.inp(0)
    spike = op == "SPIKE_FULLY_CONNECTED"
    if x.is_const or x.dtype != ("int8" if not spike else x.dtype) or (spike and x.dtype not in ("uint8", "bool",
                                                                                                  "int8")):
        return None
    f = _zero_fields()
    p = kernel_params(c)
    f["kind"] = KIND[op]
    if op == "BATCH_MATMUL":
        r = c.inp(1)
        if r.is_const or r.dtype != "int8" or c.attrs.get("lhs_perm") is not None or \
                c.attrs.get("rhs_perm") is not None:
            return None
        bc, lb, rb = p["batch_count"], p["lhs_batch_stride"], p["rhs_batch_stride"]
        if len(bc) != 3:
            return None
        f.update(vectors=int(np.prod(bc)) * p["rows"], cols=p["cols"], depth=p["depth"], rows=p["rows"],
                 bcount1=bc[1], bcount2=bc[2], lbs0=lb[0], lbs1=lb[1], lbs2=lb[2], rbs0=rb[0], rbs1=rb[1],
                 rbs2=rb[2], lrow=p["lhs_row_stride"], ldep=p["lhs_depth_stride"], rdep=p["rhs_depth_stride"],
                 rcol=p["rhs_col_stride"], x_zp=p["lhs_zp"], r_zp=p["rhs_zp"], y_zp=p["output_zp"])
        return EngineRow(index, op, f, None, np.zeros(1, np.int64), np.array([p["mult"]]), np.array([p["shift"]]),
                         acc_bits(p["depth"], 255 * 255), [x.name, r.name])
    w = c.inp(1)
    if w is None or not w.is_const or w.dtype != "int8":
        return None
    data = np.asarray(w.data).astype(np.int64)
    if op in ("FULLY_CONNECTED", "SPIKE_FULLY_CONNECTED"):
        cols, depth = p["cols"], p["depth"]
        wm = data.reshape(cols, depth)
        f.update(vectors=p["rows"], single_round=1, x_zp=p.get("input_zp", 0), spike=int(spike))
        max_abs = 255 * 128 if not spike else 128
    elif op == "CONV_2D":
        cols, depth = p["out_c"], p["k_h"] * p["k_w"] * p["k_c"]
        wm = data.reshape(cols, depth)
        f.update(vectors=p["batches"] * p["out_h"] * p["out_w"], out_per_group=p["out_c"] // p["groups"],
                 k_c=p["k_c"], x_zp=p["input_zp"])
        max_abs = 255 * 128
    else:  # DEPTHWISE_CONV_2D: weights [1, kh, kw, o] -> [o][kh kw]
        cols, depth = p["out_c"], p["k_h"] * p["k_w"]
        wm = data.reshape(depth, cols).T
        f.update(vectors=p["batches"] * p["out_h"] * p["out_w"], depth_multiplier=p["depth_multiplier"],
                 x_zp=p["input_zp"])
        max_abs = 255 * 128
    if op in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        f.update({k: p[k] for k in ("in_h", "in_w", "in_c", "out_h", "out_w", "k_w", "stride_h", "stride_w",
                                    "dil_h", "dil_w", "pad_top", "pad_left")})
    f.update(cols=cols, depth=depth, per_channel=1, y_zp=p["output_zp"], act_min=p["act_min"], act_max=p["act_max"])
    b = c.inp(2) if len(c.node.inputs) > 2 else None
    bias = np.asarray(b.data).astype(np.int64).ravel() if b is not None else np.zeros(cols, np.int64)
    return EngineRow(index, op, f, np.ascontiguousarray(wm), bias, np.asarray(p["mult"]).ravel(),
                     np.asarray(p["shift"]).ravel(), acc_bits(depth, max_abs), [x.name])


def engine_rows(g: Graph) -> list[EngineRow]:
    """The matrix layers of `g` the engine's array runs, in graph order."""
    out = []
    for i, n in enumerate(g.nodes):
        r = engine_row(call(n, g), i)
        if r is not None:
            out.append(r)
    return out


def pack_weights(w: np.ndarray, pe: int, simd: int) -> np.ndarray:
    """A layer's [cols][depth] weights in the engine's fold order: one PE x SIMD-byte word per (nf, sf) beat,
    byte p SIMD + s = w[nf PE + p][sf SIMD + s], zero past cols or depth (kernels/engine.h, firmware/rtl)."""
    cols, depth = w.shape
    nf, sf = -(-cols // pe), -(-depth // simd)
    padded = np.zeros((nf * pe, sf * simd), np.int64)
    padded[:cols, :depth] = w
    return padded.reshape(nf, pe, sf, simd).transpose(0, 2, 1, 3).ravel()


def ddr_buffer_bytes(rows: list[EngineRow], pe: int, simd: int) -> int:
    """Bytes of the on-chip buffer that holds one layer's packed weights when the weights are in DDR (the
    largest)."""
    return max([-(-r.cols // pe) * -(-r.depth // simd) * pe * simd for r in rows if r.weights is not None] + [1])


ELT_OPS = {"ADD": 0, "SUB": 1, "MUL": 2, "SQUARED_DIFFERENCE": 3}
BINARY_FIELDS = ("op", "a_const", "b_const", "a_off", "b_off", "y_off", "out_size", "ndim")
BINARY_TAIL = ("a_zp", "b_zp", "output_zp", "left_shift", "a_mult", "a_shift", "b_mult", "b_shift", "out_mult",
               "out_shift", "act_min", "act_max")
ELT_MAX_DIMS = 6
LNC_OPS = ("LAYER_NORM_CHAIN", "ADD_LAYER_NORM_CHAIN")
LNC_FIELDS = ("residual_form", "b_const", "a_off", "b_off", "s_off", "y_off", "rows", "channels", "square_form",
              "gamma_form", "gamma_count", "beta_count", "gamma_off", "beta_off", "rsqrt_off")
LNC_STAGES = (("mean", 4), ("centered", 9), ("square", 9), ("variance", 4), ("normalized", 9), ("scaled", 9),
              ("shifted", 9), ("residual", 9))


SOFTMAX_OPS = ("SOFTMAX", "CLIPPED_SOFTMAX")


def shared_unit(c: OpCall) -> str | None:
    """"binary", "lnc" or "softmax" when the engine's shared elementwise, LayerNorm-chain or softmax unit runs node
    `c` (int8 operands, at most one of a binary op's operands constant), else None."""
    op = c.node.op
    if op in SOFTMAX_OPS:
        return "softmax" if not c.inp(0).is_const and c.inp(0).dtype == "int8" and c.out().dtype == "int8" else None
    if op in ELT_OPS:
        a, b, y = c.inp(0), c.inp(1), c.out()
        if all(t.dtype == "int8" for t in (a, b, y)) and not (a.is_const and b.is_const):
            return "binary"
    if op in LNC_OPS:
        k = 1 if op == "ADD_LAYER_NORM_CHAIN" else 0
        if c.inp(0).is_const or any(c.inp(i) is not None and c.inp(i).dtype != "int8" for i in range(k + 1)):
            return None
        return "lnc"
    return None


def arena_view(c: OpCall) -> bool:
    """True for a TRANSPOSE / STRIDED_SLICE of an arena tensor: the engine runs it as a strided copy inside the
    arena (efm::arena_view), with no buffer of its own."""
    return c.node.op in VIEW_OPS and not c.inp(0).is_const


def engine_plan(g: Graph) -> planner.Plan:
    """The arena of the engine: the planner's plan with every tensor stored whole (no fused steps)."""
    return planner.plan(g, None, tricks=False)


@dataclass
class EngineInfo:
    """What the estimator and the manifest need about a generated engine."""

    pe: int
    simd: int
    acc_bits: int
    weights: str
    weight_bytes: int
    weight_words: int
    channel_params: int
    arena_bytes: int
    const_bytes: int
    rows: list[EngineRow]
    steps: list[dict[str, Any]]


def generate_engine(g: Graph, pe: int, simd: int, weights: str = "bram", top: str = "efm_top", text: bool = True
                    ) -> tuple[HlsModel, EngineInfo]:
    """model.cpp / model.h of the shared-engine design of `g` (a PE x SIMD array; weights in "bram" or "ddr")."""
    if weights not in WEIGHTS_PLACES:
        raise EdgefmrError(f"engine weights must be one of {', '.join(WEIGHTS_PLACES)}, got {weights!r}")
    if not g.nodes:
        raise EdgefmrError("the model has no nodes; nothing to generate")
    plan = engine_plan(g)
    rows = {r.node: r for r in engine_rows(g)}
    w = _Writer(text)
    structs: list[str] = []
    fns: list[str] = []
    kernels: list[str] = ["engine"]
    body: list[str] = []
    steps: list[dict[str, Any]] = []
    layers: list[dict[str, Any]] = []
    table: list[str] = []
    wchunks: list[np.ndarray] = []
    bias: list[np.ndarray] = []
    mult: list[np.ndarray] = []
    shift: list[np.ndarray] = []
    w_off = b_off = q_off = 0
    accw = max([r.acc_bits for r in rows.values()] + [2])
    consts_int8: list[np.ndarray] = []
    binary_rows: list[str] = []
    lnc_rows: list[str] = []
    maxch = [1]
    sm_tables: list[np.ndarray] = []
    sm_rows: list[str] = []
    sm_dims = [1, 1]  # lanes, widest row

    def src_array(values: np.ndarray) -> int:
        off0 = sum(x.size for x in consts_int8)
        consts_int8.append(values.astype(np.int64).ravel())
        return off0
    wbuf = ddr_buffer_bytes(list(rows.values()), pe, simd) if weights == "ddr" else 0

    def off(t: str) -> int | None:
        a = plan.tensors.get(t)
        return a.offset if a is not None else None

    for k, name in enumerate(g.inputs):
        t = g.tensor(name)
        o = off(name)
        ct = CPP_TYPES[t.dtype]
        body.append(f"    efm::stream_to_arena<{ct}, {t.size}>(in_{k}, arena, {o});" if o is not None else
                    f"    efm::drain<{ct}, {t.size}>(in_{k});")
    for ni, node in enumerate(g.nodes):
        key = node_key(node)
        if ni in rows:
            r = rows[ni]
            f = dict(r.fields)
            f["x_off"] = plan.offset(r.inputs[0])
            f["r_off"] = plan.offset(r.inputs[1]) if len(r.inputs) > 1 else 0
            f["y_off"] = plan.offset(node.outputs[0])
            f["w_off"], f["b_off"], f["q_off"] = w_off, b_off, q_off
            if r.weights is not None:
                wchunks.append(pack_weights(r.weights, pe, simd))
                w_off += wchunks[-1].size
            bias.append(r.bias)
            mult.append(r.mult)
            shift.append(r.shift)
            b_off += r.bias.size
            q_off += r.mult.size
            table.append("    {" + ", ".join(str(int(f[x])) for x in FIELDS) + f"}},  /* layer {ni}: {node.op} "
                         f"{_comment(key)} */")
            body.append(f"    efm::engine_mac<{pe}, {simd}, {accw}, {wbuf}>(efm_layers[{len(table) - 1}], arena, wmem, "
                        f"efm_bias, efm_mult, efm_shift);")
            steps.append({"layer": ni, "name": key, "op": node.op, "unit": "engine", "row": len(table) - 1})
            layers.append({"index": ni, "name": key, "op": node.op, "unit": "engine"})
            continue
        if plan.is_noop(ni):
            steps.append({"layer": ni, "name": key, "op": node.op, "unit": "none"})
            layers.append({"index": ni, "name": key, "op": node.op, "unit": "none"})
            continue
        c = call(node, g)
        unit = shared_unit(c)
        if unit is not None and all(o in plan.tensors for o in node.outputs[-1:]):
            p = kernel_params(c)

            def src(t: Any) -> tuple[int, int]:
                """(is constant, offset): arena offset, or offset in the constant memory (placed now)."""
                if t.is_const:
                    off0 = sum(x.size for x in consts_int8)
                    consts_int8.append(np.asarray(t.data).astype(np.int64).ravel())
                    return 1, off0
                return 0, plan.offset(t.name)

            if unit == "softmax":
                ctx = HlsContext(w, c, ni, {0: "x"}, {0: "y"}, Folding())
                softmax_config(ctx)
                cfg = ctx.cfg
                exp_off = sum(x.size for x in sm_tables)
                sm_tables.append(np.asarray(cfg["exp_table"][0]).astype(np.int64).ravel())
                terms_off = exp_off + sm_tables[-1].size
                sm_tables.append(np.asarray(cfg["terms"][0]).astype(np.int64).ravel())
                post_off = src_array(np.asarray(cfg["post_table"][0]).astype(np.uint8).view(np.int8)) \
                    if cfg["has_post"] else 0
                vals = [plan.offset(node.inputs[0]), plan.offset(node.outputs[0]), cfg["rows"], cfg["depth"],
                        cfg["window"], exp_off, terms_off, int(bool(cfg["has_post"])), post_off]
                sm_rows.append("    {" + ", ".join(cpp_int(int(v)) for v in vals) + f"}},  /* layer {ni}: "
                               f"{node.op} {_comment(key)} */")
                sm_dims[0] = max(sm_dims[0], int(cfg["lanes"]))
                sm_dims[1] = max(sm_dims[1], int(cfg["depth"]))
                body.append(f"    efm::engine_softmax<SM_LANES, SM_DEPTH, {ACCUMULATION_INTEGER_BITS}>("
                            f"efm_softmax[{len(sm_rows) - 1}], arena, efm_sm_tables, efm_consts);")
            elif unit == "binary":
                ac, ao = src(c.inp(0))
                bc, bo = src(c.inp(1))
                nd = int(p["ndim"])
                if nd > ELT_MAX_DIMS:
                    raise EdgefmrError(f"{c.where}: {nd} broadcast axes; the engine handles {ELT_MAX_DIMS}")

                def pad(v: Any) -> list[int]:
                    return [int(x) for x in v] + [0] * (ELT_MAX_DIMS - len(v))

                vals = [ELT_OPS[node.op], ac, bc, ao, bo, plan.offset(node.outputs[0]), c.out().size, nd]
                vals += pad(p["count"]) + pad(p["stride_a"]) + pad(p["stride_b"])
                vals += [int(p[k]) for k in BINARY_TAIL]
                binary_rows.append("    {" + ", ".join(cpp_int(v) for v in vals) + f"}},  /* layer {ni}: {node.op} "
                                   f"{_comment(key)} */")
                body.append(f"    efm::engine_binary(efm_binary[{len(binary_rows) - 1}], arena, efm_consts);")
            else:
                k = 1 if node.op == "ADD_LAYER_NORM_CHAIN" else 0
                bc, bo = src(c.inp(1)) if k else (0, 0)
                gam, bet = c.inp(2 + k), c.inp(3 + k)
                go = src(gam)[1] if gam is not None else 0
                bo2 = src(bet)[1] if bet is not None else 0
                ro = src_array(np.asarray(p["rsqrt"]))
                s_off = off(node.outputs[0]) if k else -1
                f = {"residual_form": k, "b_const": bc, "a_off": plan.offset(node.inputs[0]), "b_off": bo,
                     "s_off": -1 if s_off is None else s_off, "y_off": plan.offset(node.outputs[-1]),
                     "rows": p["rows"], "channels": p["channels"], "square_form": p["square_form"],
                     "gamma_form": p["gamma_form"], "gamma_count": p["gamma_count"], "beta_count": p["beta_count"],
                     "gamma_off": go, "beta_off": bo2, "rsqrt_off": ro}
                vals = [int(f[x]) for x in LNC_FIELDS]
                for name, n in LNC_STAGES:
                    v = [int(x) for x in p.get(name, [])] if p.get(name) is not None else []
                    vals += v + [0] * (n - len(v))
                lnc_rows.append("    {" + ", ".join(cpp_int(v) for v in vals) + f"}},  /* layer {ni}: {node.op} "
                                f"{_comment(key)} */")
                maxch[0] = max(maxch[0], int(p["channels"]))
                body.append(f"    efm::engine_lnc<MAXCH>(efm_lnc[{len(lnc_rows) - 1}], arena, efm_consts);")
            steps.append({"layer": ni, "name": key, "op": node.op, "unit": unit})
            layers.append({"index": ni, "name": key, "op": node.op, "unit": unit})
            continue
        if arena_view(c) and node.outputs[0] in plan.tensors:
            ctx = HlsContext(w, c, ni, {0: "x"}, {0: "y"}, Folding())
            view_emit(ctx, "transpose")
            sname = f"efm_L{ni}"
            structs.append(f"/* layer {ni}: {node.op} {_comment(key)} */\n" + config_struct(sname, ctx.cfg))
            body.append(f"    efm::arena_view<{sname}, {CPP_TYPES[c.inp(0).dtype]}>(arena, "
                        f"{plan.offset(node.inputs[0])}, {plan.offset(node.outputs[0])});")
            steps.append({"layer": ni, "name": key, "op": node.op, "unit": "view"})
            layers.append({"index": ni, "name": key, "op": node.op, "unit": "view"})
            continue
        in_args: dict[int, str | None] = {}
        params: list[str] = []
        decls: list[str] = []
        feeds: list[str] = []
        args: list[str] = []
        for pos in data_positions(node):
            name = node.inputs[pos]
            if not name:
                in_args[pos] = None
                continue
            t = g.tensor(name)
            ct = CPP_TYPES[t.dtype]
            in_args[pos] = f"in{pos}"
            params.append(f"hls::stream<{ct}> &in{pos}")
            decls.append(f"    hls::stream<{ct}> a{pos}(\"a{pos}\");")
            if t.is_const:
                rom = w.rom(np.asarray(t.data).ravel(), ct)
                feeds.append(f"    efm::rom_source<{ct}, {max(t.size, 1)}>({rom}, a{pos});")
            else:
                feeds.append(f"    efm::arena_to_stream<{ct}, {t.size}>(arena, {plan.offset(name)}, a{pos});")
            args.append(f"a{pos}")
        sinks: list[str] = []
        out_args = {}
        for j, name in enumerate(node.outputs):
            t = g.tensor(name)
            ct = CPP_TYPES[t.dtype]
            out_args[j] = f"out{j}"
            params.append(f"hls::stream<{ct}> &out{j}")
            decls.append(f"    hls::stream<{ct}> y{j}(\"y{j}\");")
            o = off(name)
            sinks.append(f"    efm::stream_to_arena<{ct}, {t.size}>(y{j}, arena, {o});" if o is not None else
                         f"    efm::drain<{ct}, {t.size}>(y{j});")
            args.append(f"y{j}")
        ctx = HlsContext(w, c, ni, in_args, out_args, Folding())
        em = get_emitter(node.op)(ctx)
        for kname in em.kernels:
            if kname not in kernels:
                kernels.append(kname)
        sname = f"efm_L{ni}"
        structs.append(f"/* layer {ni}: {node.op} {_comment(key)} */\n" + config_struct(sname, ctx.cfg))
        call_body = "\n".join("    " + ln for ln in em.call.splitlines())
        fns.append(f"/* layer {ni}: {node.op} {_comment(key)} */\n"
                   f"static void efm_layer{ni}({', '.join(params)}) {{\n#pragma HLS INLINE off\n"
                   f"    typedef {sname} P;\n{call_body}\n}}")
        fns.append(f"static void efm_step{ni}(uint8_t *arena) {{\n#pragma HLS INLINE off\n#pragma HLS DATAFLOW\n"
                   + "\n".join(decls + feeds) + f"\n    efm_layer{ni}({', '.join(args)});\n" + "\n".join(sinks)
                   + "\n}")
        body.append(f"    efm_step{ni}(arena);")
        steps.append({"layer": ni, "name": key, "op": node.op, "unit": "kernel"})
        layers.append({"index": ni, "name": key, "op": node.op, "unit": "kernel",
                       "roms": sorted(set(re.findall(r"efm_rom\d+", em.call)))})
    for k, t in ((k, g.tensor(n)) for k, n in enumerate(g.outputs)):
        body.append(f"    efm::arena_to_stream<{CPP_TYPES[t.dtype]}, {t.size}>(arena, {plan.offset(t.name)}, out_{k});")

    def arr(values: list[np.ndarray], ctype: str) -> np.ndarray:
        v = np.concatenate(values) if values else np.zeros(1, np.int64)
        return v if v.size else np.zeros(1, np.int64)

    wflat = arr(wchunks, "int8_t")
    arena_bytes = max(plan.arena_size, 1)
    consts = []
    wq = "" if weights == "ddr" else "static "
    winit = _initializer(wflat, "int8_t") if text else "{}"
    consts.append(f"{wq}const int8_t efm_weights[{wflat.size}] = {winit};")
    for name, vals in (("efm_bias", bias), ("efm_mult", mult), ("efm_shift", shift)):
        v = arr(vals, "int32_t")
        consts.append(f"static const int32_t {name}[{v.size}] = {_initializer(v, 'int32_t') if text else '{}'};")
    cv = arr(consts_int8, "int8_t")
    consts.append(f"static const int8_t efm_consts[{cv.size}] = {_initializer(cv, 'int8_t') if text else '{}'};")
    zb = "{" + ", ".join(["0"] * (len(BINARY_FIELDS) + 3 * ELT_MAX_DIMS + len(BINARY_TAIL))) + "}"
    consts.append(f"static const efm::engine_binary_row efm_binary[{max(len(binary_rows), 1)}] = {{\n"
                  + ("\n".join(binary_rows) if binary_rows else f"    {zb}") + "\n};")
    zl = "{" + ", ".join(["0"] * (len(LNC_FIELDS) + sum(n for _, n in LNC_STAGES))) + "}"
    consts.append(f"static const efm::engine_lnc_row efm_lnc[{max(len(lnc_rows), 1)}] = {{\n"
                  + ("\n".join(lnc_rows) if lnc_rows else f"    {zl}") + "\n};")
    consts.append(f"#define MAXCH {maxch[0]}")
    tv = arr(sm_tables, "int32_t")
    consts.append(f"static const int32_t efm_sm_tables[{tv.size}] = {_initializer(tv, 'int32_t') if text else '{}'};")
    consts.append(f"static const efm::engine_softmax_row efm_softmax[{max(len(sm_rows), 1)}] = {{\n"
                  + ("\n".join(sm_rows) if sm_rows else "    {0, 0, 0, 0, 0, 0, 0, 0, 0}") + "\n};")
    consts.append(f"#define SM_LANES {sm_dims[0]}\n#define SM_DEPTH {sm_dims[1]}")
    if not table:
        table.append("    {" + ", ".join(str(int(v)) for v in _zero_fields().values()) + "},  /* no matrix layer */")
    consts.append(f"static const efm::engine_layer efm_layers[{len(table)}] = {{\n" + "\n".join(table) + "\n};")

    wport = weights == "ddr"
    pt = io_ports(g, top, int(wflat.size) if wport else 0)
    top_params, ifaces, mm_params, mm_ifaces, mm_body = pt.top_params, pt.ifaces, pt.mm_params, pt.mm_ifaces, pt.body

    mhash = graph_hash(g)
    words = sum(-(-r.cols // pe) * -(-r.depth // simd) for r in rows.values() if r.weights is not None)
    model_cpp = "\n".join([
        f"/* Generated by edgefmr: model {mhash}. Do not edit.",
        f" * Shared engine: one {pe} x {simd} MAC array and one requantization unit for every matrix layer (layer",
        " * table efm_layers), the other layers' kernels in turn, activations in one planned arena; docs/fpga.md. */",
        '#include "model.h"',
        "",
        "\n".join(f'#include "{k}.h"' for k in kernels),
        "",
        *w.roms,
        *consts,
        "",
        *structs,
        "",
        *fns,
        "",
        f"void {top}({', '.join(top_params)}) {{",
        *ifaces,
        "#pragma HLS INTERFACE mode = ap_ctrl_hs port = return",
        f"#pragma HLS ALLOCATION function instances = efm::engine_mac<{pe}, {simd}, {accw}, {wbuf}> limit = 1",
        "#pragma HLS ALLOCATION function instances = efm::engine_binary limit = 1",
        "#pragma HLS ALLOCATION function instances = efm::engine_lnc<MAXCH> limit = 1",
        f"#pragma HLS ALLOCATION function instances = efm::engine_softmax<SM_LANES, SM_DEPTH, "
        f"{ACCUMULATION_INTEGER_BITS}> limit = 1",
        f"    static uint8_t arena[{arena_bytes}];",
        "#pragma HLS BIND_STORAGE variable = arena type = ram_t2p impl = bram",
        f"#pragma HLS ARRAY_RESHAPE variable = arena cyclic factor = {max(simd, 1)}",
        f"#pragma HLS ARRAY_RESHAPE variable = efm_weights cyclic factor = {pe * simd}" if not wport else
        "    /* weights: DDR, read through the AXI master port */",
        f"    const int8_t *wmem = {'weights' if wport else 'efm_weights'};",
        *body,
        "}",
        "",
        f"void {top}_mm({', '.join(mm_params)}) {{",
        *mm_ifaces,
        "#pragma HLS INTERFACE mode = s_axilite port = return",
        "#pragma HLS DATAFLOW",
        *mm_body,
        "}",
        "",
    ])
    model_h = model_header(g, mhash, top, pt)
    info = EngineInfo(pe, simd, accw, weights, int(sum(ch.size for ch in wchunks)), words,
                      int(sum(m.size for m in mult)) + int(sum(b.size for b in bias)), arena_bytes, int(cv.size),
                      list(rows.values()), steps)
    model = HlsModel(files={"model.cpp": model_cpp, "model.h": model_h}, kernels=kernels,
                     kernel_files=kernel_files(kernels), top=top, layers=layers, streams=[], processes=[],
                     model_hash=mhash)
    return model, info
