"""HASH_ATTENTION -> kernels/hash_attention.c (linear form; kernels/arm/hash_attention.c on cores with the DSP
extension; kernel scratch reserved by the planner)."""

from __future__ import annotations

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter, kernel_path, scratch_bytes
from edgefmr.firmware.c.emitters.attention_gate import arm_requant
from edgefmr.ops.hash_attention import code_bits, kernel_params
from edgefmr.ops.registry import OpCall

#: The Cortex-M kernel's forms (kernels/hash_attention.h EFM_HA_FORM_*).
LISTS, POPCOUNT, PAIRS, NIBBLES = 0, 1, 2, 3
#: The Cortex-M forms' own entry points (a model links only the forms it calls).
ENTRIES = {LISTS: "efm_hash_attention_lists", POPCOUNT: "efm_hash_attention_popcount",
           PAIRS: "efm_hash_attention_pairs", NIBBLES: "efm_hash_attention_nibbles"}


def arm_form(c: OpCall) -> int:
    """The Cortex-M kernel's form for a node: packed codes take the cheaper (estimated executed instructions per
    batch index, fitted on QEMU) of POPCOUNT (quadratic in tokens: per query and key pair a popcount, per pair and
    column half an SMLAD; code bytes <= 2, depth a multiple of 4) and PAIRS (linear: per key and pair of code bits
    one bucket row, per query one row per pair); int8 codes keep LISTS. A form is offered only where the kernel's
    dispatch (efm_hash_attention) takes it, so the generated code may call the form's entry (ENTRIES) directly."""
    kp = kernel_params(c)
    if not kp["packed"]:
        return LISTS
    nq, nk, d, b = kp["n_queries"], kp["n_keys"], kp["depth"], kp["bits"]
    groups, pairs = (b + 1) // 2, (nk + 1) // 2
    costs = {PAIRS: nk * groups * (2.5 * d + 14) + groups * 4 * d + nq * (groups * 1.6 * d + 8 * d + 60)}
    if kp["code_bytes"] <= 2 and d % 4 == 0 and pairs * b < 1 << 16:
        costs[POPCOUNT] = nk * d * 2 + nq * (pairs * (14 + 1.5 * d) + 8 * d + 60)
    nibbles = (b + 3) // 4
    if nk <= 64 and d % 4 == 0 and d <= 512 and nibbles <= 64:
        costs[NIBBLES] = nk * nibbles * (2 * d + 12) + nibbles * 55 * 2 * d + nq * (nibbles * 1.5 * d + 8 * d + 60)
    if groups > 64:
        costs.pop(PAIRS)
    return min(costs, key=costs.get) if costs else LISTS


@kernel_path("HASH_ATTENTION")
def path(c: OpCall, arm: frozenset) -> str:
    """"portable", else the Cortex-M form the emitter calls (ENTRIES without the prefix: "lists", "popcount", ...)."""
    if "hash_attention" not in arm:
        return "portable"
    return ENTRIES[arm_form(c)].removeprefix("efm_hash_attention_")


@scratch_bytes("HASH_ATTENTION")
def scratch(c: OpCall, arm: frozenset, lean: bool = False) -> int:
    """Portable and LISTS: P [bits][d], V [d] and n1 [bits] as int32; POPCOUNT: P (d + 2) + d + 6 words,
    P = 2 ceil(Nk/4); PAIRS:
    8 G d + 4 G + d words, G = ceil(b/2); NIBBLES: (16 N + 5) d / 2 + 16 N + d words, N = ceil(b/4)."""
    bits, d = code_bits(c), c.inp(2).shape[-1]
    lists = 4 * (bits * d + d + bits)
    if "hash_attention" not in arm:
        return lists
    form = arm_form(c)
    if form == POPCOUNT:
        pe = 2 * -(-c.inp(1).shape[-2] // 4)  # key pairs padded to an even count
        return 4 * (pe * (d + 2) + d + 6)
    if form == PAIRS:
        groups = (bits + 1) // 2
        return 4 * (8 * groups * d + 4 * groups + d)
    if form == NIBBLES:
        nibbles = (bits + 3) // 4
        return 4 * ((16 * nibbles + 5) * d // 2 + 16 * nibbles + d)  # ... + the four-row sums [d]
    return lists


@emitter("HASH_ATTENTION")
def emit(ctx: EmitContext) -> Emitted:
    c = ctx.c
    kp = kernel_params(c)
    # The Cortex-M kernel's 32-bit output requantization (|w| <= 2^15 * 255 < 2^23, as ATTENTION_GATE's products).
    arm = {}
    if "hash_attention" in ctx.option("arm", frozenset()):
        arm = {**arm_requant(kp["shift"], kp["output_zp"]), "form": arm_form(c)}
    p = ctx.param_fields("efm_hash_attention_params", kp, **arm)
    fn = ENTRIES[arm["form"]] if arm else "efm_hash_attention"
    return Emitted(f"{fn}({p}, {ctx.inp(0, 'void')}, {ctx.inp(1, 'void')}, {ctx.inp(2)}, "
                   f"{ctx.out()}, {ctx.scratch()});", ("hash_attention",))
