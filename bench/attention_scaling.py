"""Attention cost against sequence length on the Cortex-M4 (issue 21): executed instructions of the attention block
(from the Q, K, V linears' outputs to the merged attention output, encoding included) for softmax, clipped, gated
and hash attention at 16, 64 and 256 tokens, the whole ViT at 64 tokens (softmax vs hash, with accuracies), a
table and a plot.

``python -m bench attention_scaling`` writes ``bench/results/attention_scaling.{json,md,png}``.
"""

from __future__ import annotations

import copy
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgefmr.device.semihost import graph_instructions
from edgefmr.firmware.c.emitters.hash_attention import POPCOUNT, arm_form
from edgefmr.ir import Graph
from edgefmr.nas.models.attention import ATTENTIONS, MultiHeadAttention, attention_op_counts
from edgefmr.ops.hash_attention import kernel_params as hash_attention_params
from edgefmr.ops.registry import call
from edgefmr.quant.attention import attention_core
from edgefmr.quant.lowering import FLOAT, INT, Lowering, Value
from edgefmr.quant.observers import qparams

BOARD = "qemu-mps2-an386"  # Cortex-M4, the netduinoplus2's compiler flags; 4 MiB of data RAM for 256 tokens
TOKENS = (16, 64, 256)
DIM, HEADS = 64, 4  # the families bench's ViT (bench/families.py VIT_CONFIG)
HASH = {"hash_bits": 16, "hash_anchors": 8}
CALIB = 16  # calibration samples of the block
TARGETS = {16: 1.0, 64: 0.5, 256: 0.2}
MODEL_TARGETS = {64: 0.8}  # whole model, hash vs softmax instructions
METHODS = ("ptq", "qat")  # as the quant bench: min/max calibration, then 3 epochs with the integer model in the loop
_VIT = {"embed_dim": 64, "heads": 4, "mlp_ratio": 2.0, "pooling": "mean", "activation": "gelu", **HASH,
        "hash_binary": True}
#: The families bench's ViT (16 tokens) and the 64-token ViT of the issue (patch 1, depth 1).
MODELS = {"vit16": {**_VIT, "patch_size": 2, "depth": 2}, "vit64": {**_VIT, "patch_size": 1, "depth": 1}}
TRAIN = {"epochs": 40, "lr": 3e-3, "batch_size": 64, "label_smoothing": 0.1, "seed": 0}
#: The hash model learns from the trained softmax model of the same config as well (logits knowledge distillation).
DISTILL = {"distill_weight": 0.5, "distill_temperature": 2.0}
RESULTS = Path(__file__).parent / "results"

NOTE = f"""Executed instructions on QEMU `{BOARD}` (Cortex-M4, built with the Cortex-M kernels; `-icount`, SysTick:
exact instruction counts, the same compiler flags as `qemu-netduinoplus2`, but 4 MiB of data RAM so that the softmax
logits of 256 tokens fit), every output checked bit for bit against the reference interpreter.

* **block** rows: one attention layer of the families bench's ViT (embed {DIM}, {HEADS} heads of 16, hash
  {HASH['hash_bits']} bits from {HASH['hash_anchors']} binarized anchors), the same Q/K/V weights for every variant
  (seeded), lowered by `edgefmr.quant.attention.attention_core`: from the Q, K, V linears' int8 outputs
  `[1, N, {DIM}]` (the gated variant also reads the layer input for its gate linear) to the merged attention output
  `[1, N, {DIM}]` before the output linear (the Q/K/V and output linears are the same in every variant and left
  out). softmax: head transposes, BATCH_MATMUL, SOFTMAX, BATCH_MATMUL, merge; clipped: CLIPPED_SOFTMAX; gated: plus
  the gate linear and ATTENTION_GATE; hash: HASH_ENCODE of Q and of K (on the linears' token-major output, no head
  transpose), the V head split, HASH_ATTENTION on packed codes, merge (the C build folds the V head split and the
  merge into HASH_ATTENTION's addressing, `v_perm` / `y_perm`, as it folds the softmax block's transposes that feed
  BATCH_MATMUL; `ops` lists the lowered graph's ops). Calibration: {CALIB} random token sequences
  (the hash's anchors, sigma and centring from their keys, as `KernelHash.init_from`). `instructions` is one
  inference; `vs_softmax` the ratio to the softmax block at the same length; `target` the issue's bound (hash
  rows). `executed_mults` / `executed_adds`: what the deployed graph executes (`op_counts` of each IR node; the hash
  encoding's anchor and projection products are sign selections in every kernel, counted as additions; where the
  Cortex-M HASH_ATTENTION kernel takes its popcount form, its SMLAD of similarities and values are counted as the
  multiplications they are; SOFTMAX's fixed-point exponentials are not counted, its op defines no count);
  `model_mults`: the float model's attention-core count (`attention_op_counts`, as the families bench counted it).
* **model** rows: whole ViTs on digits 8x8 (embed 64, 4 heads, MLP ratio 2, GELU, mean pooling), softmax and
  hash: `vit16` the families bench's ViT (patch 2, depth 2: 16 tokens), `vit64` patch 1, depth 1 (64 tokens);
  trained by `edgefmr.nas.train` ({TRAIN['epochs']} epochs, seed {TRAIN['seed']}, the quant bench's recipe; the
  hash model also distils the trained softmax model's logits: weight {DISTILL['distill_weight']}, temperature
  {DISTILL['distill_temperature']}) and
  quantized by each `method` (`ptq`; `qat`: then 3 epochs with the integer model in the loop): `float_accuracy`,
  `int_accuracy` (IR interpreter, whole test set), `int_vs_softmax_int_pp`,
  `instructions` of one whole inference, `vs_softmax`, `target` (the issue's whole-model bound at 64 tokens) and
  `meets` (that bound and the integer accuracy within 1.5 pp of the softmax model's).
* **crossover** row: the shortest measured length at which the hash block executes fewer instructions than the
  softmax block, and the crossover length interpolated (log-log) between the measured lengths.
"""


def make_attention(variant: str, seed: int = 0) -> MultiHeadAttention:
    """The block's attention layer; the Q/K/V and output weights depend on the seed only (the same for every
    variant)."""
    torch.manual_seed(seed)
    att = MultiHeadAttention(DIM, HEADS, variant, **HASH)
    base = MultiHeadAttention(DIM, HEADS, "softmax")
    att.qkv.load_state_dict(base.qkv.state_dict())
    att.proj.load_state_dict(base.proj.state_dict())
    return att.eval()


def _linears(att: MultiHeadAttention, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """The Q, K, V linears' outputs [B, N, D] as the lowering computes them (1/sqrt(d) folded into Q except for
    hash) and the layer input x."""
    w, b = att.qkv.full.weight, att.qkv.full.bias
    y = torch.nn.functional.linear(x, w, b)
    q, k, v = y.split(DIM, dim=-1)
    if att.variant != "hash":
        q = q * att.head_dim**-0.5
    return {"q": q, "k": k, "v": v, "x": x}


def _program(ctx: Lowering, att: MultiHeadAttention, t: dict[str, torch.Tensor]) -> Value:
    q, k, v, x = (ctx.input(t[name], name) for name in ("q", "k", "v", "x"))
    return ctx.output(attention_core(ctx, att, q, k, v, x, "attn"))


def block_graph(variant: str, n: int, seed: int = 0) -> tuple[Graph, list[list[np.ndarray]], MultiHeadAttention]:
    """The lowered attention block of `variant` at `n` tokens and two int8 input records."""
    att = make_attention(variant, seed)
    gen = torch.Generator().manual_seed(seed + n)
    xs = torch.randn(CALIB + 2, n, DIM, generator=gen)
    with torch.no_grad():
        if variant == "hash":
            k = _linears(att, xs)["k"].reshape(CALIB + 2, n, HEADS, -1).transpose(1, 2)
            att.hash.init_from(k / k.norm(dim=-1, keepdim=True).clamp_min(1e-6))
        t = _linears(att, xs)
        obs: dict = {}
        _program(Lowering(FLOAT, observers=obs), att, {k_: v[:CALIB] for k_, v in t.items()})
        qp = {k_: qparams(o) for k_, o in obs.items()}
        ctx = Lowering(INT, qparams=qp, metadata={"name": f"attention_{variant}_{n}"})
        _program(ctx, att, {k_: v[:1] for k_, v in t.items()})
        g = ctx.graph
        records = []
        for r in range(2):
            ex = Lowering(INT, qparams=qp, execute=True)
            _program(ex, att, {k_: v[CALIB + r: CALIB + r + 1] for k_, v in t.items()})
            records.append([ex.env[name] for name in g.inputs])
    used = {i for node in g.nodes for i in node.inputs}
    keep = [i for i in g.inputs if i in used]  # the gate's x only where a variant reads it
    records = [[a for name, a in zip(g.inputs, rec, strict=True) if name in keep] for rec in records]
    g.inputs = keep
    return g, records, att


def graph_counts(g: Graph, arm: bool = True) -> dict[str, int]:
    """Multiplications and additions the graph executes: each node's `op_counts`, and for HASH_ATTENTION nodes
    whose Cortex-M kernel takes the popcount form (`arm`), the similarity-weighted value sums it evaluates with SMLAD
    (batch x queries x keys x depth multiplications) instead of the linear form's selections."""
    out = {"mults": 0, "adds": 0}
    for node in g.nodes:
        c = call(node, g)
        counts = c.opdef.op_counts(c)
        out["mults"] += int(counts.get("mults", 0))
        out["adds"] += int(counts.get("adds", 0))
        if arm and node.op == "HASH_ATTENTION" and arm_form(c) == POPCOUNT:
            kp = hash_attention_params(c)
            out["mults"] += kp["batch"] * kp["n_queries"] * kp["n_keys"] * kp["depth"]
    return out


def block_records(tokens: tuple[int, ...] = TOKENS, board: str = BOARD) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in tokens:
            soft = None
            for variant in ATTENTIONS:
                g, records, att = block_graph(variant, n)
                t0 = time.perf_counter()
                m = graph_instructions(g, board, records, Path(tmp) / f"{variant}-{n}")
                counts = graph_counts(g)
                model = attention_op_counts(variant, n, DIM // HEADS, HEADS, hash_bits=HASH["hash_bits"],
                                            hash_anchors=HASH["hash_anchors"], dim=DIM)
                rec = {"kind": "block", "attention": variant, "tokens": n, "board": m["board"],
                       "instructions": int(round(m["instructions"])), "bit_exact": m["bit_exact"],
                       "executed_mults": counts["mults"], "executed_adds": counts["adds"],
                       "model_mults": model["mults"],
                       "ops": ",".join(sorted({node.op for node in g.nodes})),
                       "kernels": ",".join(m["kernels"]), "seconds": round(time.perf_counter() - t0, 1)}
                if variant == "softmax":
                    soft = rec["instructions"]
                rec["vs_softmax"] = round(rec["instructions"] / soft, 3)
                if variant == "hash":
                    rec["target"] = TARGETS.get(n)
                    rec["meets"] = rec["target"] is None or rec["vs_softmax"] <= rec["target"]
                rows.append(rec)
                print(f"  attention_scaling: {variant} {n} tokens: {rec['instructions']:,} ({rec['vs_softmax']}x)",
                      flush=True)
    return rows


def crossover(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Where the hash block starts to execute fewer instructions than the softmax block (log-log interpolation of
    the measured ratio between lengths)."""
    ratio = {r["tokens"]: r["vs_softmax"] for r in rows if r["kind"] == "block" and r["attention"] == "hash"}
    ns = sorted(ratio)
    first = next((n for n in ns if ratio[n] < 1.0), None)
    est: float | None = None
    if ratio[ns[0]] < 1.0:
        est = None  # cheaper already at the shortest length measured
    else:
        for a, b in zip(ns, ns[1:], strict=False):
            if ratio[a] >= 1.0 > ratio[b]:
                la, lb = np.log(a), np.log(b)
                ra, rb = np.log(ratio[a]), np.log(ratio[b])
                est = float(np.exp(la + (0.0 - ra) * (lb - la) / (rb - ra)))
    return {"kind": "crossover", "hash_cheaper_from_tokens": first, "crossover_tokens": None if est is None else
            round(est, 1), "below_shortest": ratio[ns[0]] < 1.0, "ratios": {str(n): ratio[n] for n in ns}}


def _trained(variant: str, config: dict[str, Any], task: Any, teacher: torch.nn.Module | None = None
             ) -> tuple[torch.nn.Module, float]:
    """The ViT of `config` with `variant` attention trained on `task` (TRAIN; with a `teacher`, distilling it as
    DISTILL), and its float test accuracy; with EDGEFMR_ATTENTION_BENCH_CKPT=DIR the checkpoint is kept in DIR and
    reused."""
    from edgefmr.nas.models.vit import ViTConfig
    from edgefmr.nas.train import load_checkpoint, save_checkpoint, train

    cfg = ViTConfig.from_dict({**config, "attention": variant})
    cache = os.environ.get("EDGEFMR_ATTENTION_BENCH_CKPT")
    path = None
    if cache:
        tag = "_".join(f"{k}-{v}" for k, v in sorted(cfg.to_dict().items()))
        if teacher is not None:
            tag += f"_kd-{DISTILL['distill_weight']}-{DISTILL['distill_temperature']}"
        path = Path(cache) / f"vit_{task.name}_{tag}_e{TRAIN['epochs']}_s{TRAIN['seed']}.pt"
        if path.is_file():
            model, info = load_checkpoint(path)
            return model, float(info["metrics"]["accuracy"])
    kd = {} if teacher is None else {"teacher": teacher, **DISTILL}
    model, metrics = train("vit", task, cfg, **TRAIN, **kd)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_checkpoint(path, "vit", cfg, task.name, task.input_shape, task.n_classes, model, metrics)
    return model, float(metrics["accuracy"])


def model_records(board: str = BOARD) -> list[dict[str, Any]]:
    """Softmax and hash ViTs (MODELS: the families bench's 16-token ViT and the 64-token ViT): trained, quantized
    (PTQ), accuracies and whole-model instructions."""
    from edgefmr.nas.tasks import load_task
    from edgefmr.quant.pipeline import quantize_task
    from edgefmr.quant.quantizer import QuantOptions

    torch.set_num_threads(1)
    task = load_task("digits")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, config in MODELS.items():
            trained = {"softmax": _trained("softmax", config, task)}
            trained["hash"] = _trained("hash", config, task, teacher=trained["softmax"][0])
            for method in METHODS:
                soft: dict[str, Any] = {}
                for variant in ("softmax", "hash"):
                    t0 = time.perf_counter()
                    model, float_acc = trained[variant]
                    model = copy.deepcopy(model)  # QAT tunes its copy
                    res = quantize_task(model, "vit", task, QuantOptions(method=method),
                                        where="attention_scaling model")
                    g = res.graph
                    m = graph_instructions(g, board, _input_records(g, res.qm, task.x_test[:2]),
                                           Path(tmp) / f"{name}-{variant}-{method}")
                    rec = {"kind": "model", "model": name, "attention": variant, "method": method,
                           "tokens": model.n_tokens, "board": m["board"], "float_accuracy": round(float_acc, 4),
                           "int_accuracy": round(float(res.report["int_accuracy"]), 4),
                           "instructions": int(round(m["instructions"])), "bit_exact": m["bit_exact"],
                           "ops": ",".join(sorted({node.op for node in g.nodes})), "epochs": TRAIN["epochs"],
                           "seconds": round(time.perf_counter() - t0, 1)}
                    if variant == "softmax":
                        soft = rec
                    else:
                        rec["vs_softmax"] = round(rec["instructions"] / soft["instructions"], 3)
                        rec["int_vs_softmax_int_pp"] = round(100 * (rec["int_accuracy"] - soft["int_accuracy"]), 2)
                        target = MODEL_TARGETS.get(model.n_tokens)
                        rec["target"] = target
                        rec["meets"] = (target is None or rec["vs_softmax"] <= target) and \
                            rec["int_vs_softmax_int_pp"] >= -1.5
                    rows.append(rec)
                    print(f"  attention_scaling: model {name} {variant} {method}: {rec['instructions']:,} "
                          f"instructions, int accuracy {rec['int_accuracy']}", flush=True)
    return rows


def _input_records(g: Graph, qm: Any, x: np.ndarray) -> list[list[np.ndarray]]:
    """int8 input records of the graph for samples x (the fake-quant model's quantized input)."""
    out = []
    for i in range(len(x)):
        _, ctx = qm.fake_quant(torch.as_tensor(x[i: i + 1]))
        out.append([ctx.env[name] for name in g.inputs])
    return out


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Instructions against tokens (log-log), one line per variant."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for variant in ATTENTIONS:
        pts = sorted((r["tokens"], r["instructions"]) for r in rows if r["kind"] == "block" and
                     r["attention"] == variant)
        if pts:
            ax.plot(*zip(*pts, strict=True), marker="o", label=variant)
    cross = next((r for r in rows if r["kind"] == "crossover"), None)
    if cross is not None and cross.get("crossover_tokens"):
        ax.axvline(cross["crossover_tokens"], color="grey", linestyle=":", linewidth=1)
        ax.annotate(f"crossover ~{cross['crossover_tokens']:.0f} tokens", (cross["crossover_tokens"], 0.9),
                    xycoords=("data", "axes fraction"), xytext=(4, 0), textcoords="offset points", fontsize=8,
                    color="grey")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(list(TOKENS), [str(n) for n in TOKENS])
    ax.set_xlabel("tokens")
    ax.set_ylabel("executed instructions (Cortex-M4, QEMU)")
    ax.set_title("Attention block (Q, K, V to output, encoding included)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run_bench() -> list[dict[str, Any]]:
    rows = block_records()
    rows.append(crossover(rows))
    rows += model_records()
    RESULTS.mkdir(exist_ok=True)
    plot(rows, RESULTS / "attention_scaling.png")
    return rows


def run() -> list[dict[str, Any]]:
    return run_bench()
