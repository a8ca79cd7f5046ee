"""The C code generator: the generated API, the planner's layout honoured, only the used kernels, integer-only C,
shared constants, per-layer outputs, and the errors it raises."""

from __future__ import annotations

import re

import numpy as np
import pytest
from paths import FIXTURES

from edgefmr.errors import EdgefmrError
from edgefmr.firmware.build import build, run_host
from edgefmr.firmware.c import codegen
from edgefmr.firmware.c.emitters import get_emitter
from edgefmr.firmware.planner import plan
from edgefmr.ir import GraphBuilder, run
from edgefmr.ir.model_io import load_model, prepare_input

CNN = FIXTURES / "cnn_digits_int8.tflite"
VIT = FIXTURES / "vit_digits_int8.tflite"


def _fc_chain(shared_weights: bool = False):
    rng = np.random.default_rng(1)
    b = GraphBuilder()
    x = b.input("x", (4, 16), scale=0.05, zero_point=2)
    w1 = b.const("w1", rng.integers(-127, 128, (16, 16)).astype(np.int8), scale=0.01, zero_point=0)
    w2 = w1 if shared_weights else b.const("w2", rng.integers(-127, 128, (16, 16)).astype(np.int8), scale=0.01,
                                           zero_point=0)
    h = b.op("FULLY_CONNECTED", [x, w1], scale=0.1, zero_point=0, activation="RELU")
    b.output(b.op("FULLY_CONNECTED", [h, w2], scale=0.1, zero_point=-3))
    return b.build()


def test_model_api_and_planner_layout():
    """model.h declares the firmware API; model.c has one arena of the planner's size and puts every stored
    tensor at the planner's offset."""
    g = load_model(CNN)
    p = plan(g, None, tricks=False)
    gen = codegen.generate(g, p)
    h, c = gen.files["model.h"], gen.files["model.c"]
    for decl in ("extern const char efm_model_hash[65];", "extern const uint32_t efm_arena_bytes;",
                 "int8_t *efm_input(int i);", "uint32_t efm_input_bytes(int i);", "const int8_t *efm_output(int i);",
                 "uint32_t efm_output_bytes(int i);", "void efm_run(void);", "void efm_run_layer(int layer);",
                 "const char *efm_layer_name(int layer);", "const char *efm_layer_op(int layer);",
                 "const void *efm_layer_output(int layer);", "uint32_t efm_layer_output_bytes(int layer);"):
        assert decl in h, decl
    assert f"#define EFM_NUM_LAYERS {len(p.schedule.steps)}" in h
    arena = p.arena_bytes[p.region]
    assert re.search(rf"static int8_t efm_arena\[{arena}\] __attribute__\(\(aligned\(16\)\)\)", c)
    assert f"const uint32_t efm_arena_bytes = {arena}u;" in c
    for i, node in enumerate(g.nodes):
        if p.is_noop(i):
            continue
        off = p.offset(node.outputs[0])
        assert f"efm_arena + {off})" in c, f"output of node {i} is not at planned offset {off}"


def test_only_used_kernels_and_integer_only(tmp_path):
    """The artifact holds the kernels the model uses and nothing else; the int8 model's C has no float."""
    m = build(CNN, "host", tmp_path, tricks=False)
    src = {p.name for p in (tmp_path / "src").iterdir()}
    used = set(m["kernels"])
    assert used == {"conv_2d", "depthwise_conv_2d", "max_pool_2d", "average_pool_2d", "fully_connected", "softmax"}
    all_kernels = {p.stem for p in codegen.KERNEL_DIR.glob("*.c")} - {"efm_kernel"}
    for k in all_kernels:
        assert (f"{k}.c" in src) == (k in used), k
    for f in [*(f"{k}.c" for k in used), "model.c", "efm_kernel.c", "efm_kernel.h"]:
        text = (tmp_path / "src" / f).read_text()
        # efm_output_scale reports the output quantization to hosts (MLPerf runner); it computes nothing.
        text = re.sub(r"float efm_output_scale\(int i\) \{.*?\n\}\n", "", text, flags=re.S)
        assert not re.search(r"\b(float|double)\b", text), f"{f} uses floating point"


def test_shared_constants_are_emitted_once():
    g1, g2 = _fc_chain(shared_weights=True), _fc_chain(shared_weights=False)
    c1 = codegen.generate(g1, plan(g1, None, tricks=False)).files["model.c"]
    c2 = codegen.generate(g2, plan(g2, None, tricks=False)).files["model.c"]
    assert c1.count("static const int8_t efm_c") == 1
    assert c2.count("static const int8_t efm_c") == 2


@pytest.mark.parametrize("tricks", [False, True], ids=["no-tricks", "tricks"])
def test_layer_outputs_match_interpreter_tensors(tricks, tmp_path):
    """efm_layer_output of every layer (a node, or a fused step's last stored tensor) equals the interpreter's
    value of that tensor, through the host main's --layers mode."""
    g = load_model(VIT)
    m = build(g, "host", tmp_path, tricks=tricks)
    xq, _ = prepare_input(g, np.load(FIXTURES / "digits_test_x.npy"))
    recs = [[xq[0]], [xq[5]]]
    got = run_host(tmp_path, g, recs, layers=True, manifest=m)
    for rec, outs in zip(recs, got, strict=True):
        env = run(g, rec, keep_all=True)
        assert len(outs) == len(m["layers"])
        for layer, y in zip(m["layers"], outs, strict=True):
            assert np.array_equal(y, env[layer["output"]]), f"layer {layer['index']} ({layer['op']})"


def test_unknown_op_is_a_clear_error():
    with pytest.raises(EdgefmrError, match="no kernel for op NOPE; supported: .*FULLY_CONNECTED"):
        get_emitter("NOPE")


def test_plan_overlapping_a_kernel_that_cannot_run_in_place():
    """A plan that puts a FULLY_CONNECTED output over its live input is refused, not miscompiled."""
    g = _fc_chain()
    p = plan(g, None, tricks=False)
    h = g.nodes[0].outputs[0]
    y = g.nodes[1].outputs[0]
    p.tensors[y].offset = p.tensors[h].offset
    with pytest.raises(EdgefmrError, match="cannot run in place"):
        codegen.generate(g, p)


def test_fused_plan_is_generated_with_scratch_inside_the_arena():
    """With tricks the ViT fixture has fused steps; their scratch and stored tensors stay inside the arena."""
    g = load_model(VIT)
    p = plan(g, None, tricks=True)
    assert {s.kind for s in p.schedule.steps if s.fused} == {"patch_embed", "rows", "attention"}
    c = codegen.generate(g, p).files["model.c"]
    offsets = [int(o) for o in re.findall(r"efm_arena \+ (\d+)", c)]
    assert offsets and max(offsets) < p.arena_bytes[p.region]
    assert "for (int32_t r0 = 0; r0 < 16; r0 += 4)" in c


VIT_CONFIGS = [
    dict(image_size=16, patch=4, embed=24, depth=2, heads=3, mlp_ratio=2.0, lowrank=None, num_classes=5,
         cls_token=True, layernorm="integer", softmax="clipped"),
    dict(image_size=18, patch=3, embed=16, depth=1, heads=2, mlp_ratio=1.5, lowrank=0.5, num_classes=3,
         cls_token=False),
    dict(image_size=12, patch=4, embed=12, depth=2, heads=1, mlp_ratio=3.0, lowrank=0.9, num_classes=4,
         cls_token=True, in_chans=2, layernorm="integer"),
]


@pytest.mark.parametrize("k", range(len(VIT_CONFIGS)))
def test_random_vits_bit_exact_with_tricks(k, tmp_path):
    """Random int8 ViTs (class token or not, low-rank, integer LayerNorm, clipped softmax; token counts that leave a
    partial last row block): the fused firmware == the plain firmware == the interpreter on the host."""
    from edgefmr.firmware.vit_graph import build_vit

    g = build_vit(seed=k, **VIT_CONFIGS[k])
    assert plan(g, None, tricks=True).requires_fused_codegen
    rng = np.random.default_rng(k)
    t = g.tensors[g.inputs[0]]
    recs = [[rng.integers(-128, 128, t.shape).astype(np.int8)] for _ in range(3)]
    want = [run(g, r)[g.outputs[0]] for r in recs]
    for tricks in (True, False):
        build(g, "host", tmp_path / str(tricks), tricks=tricks)
        got = run_host(tmp_path / str(tricks), g, recs)
        assert all(np.array_equal(a[0], b) for a, b in zip(got, want, strict=True)), f"tricks={tricks}"
