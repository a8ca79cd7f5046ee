"""ADD_LAYER_NORM_CHAIN: a residual ADD and the TensorFlow int8 LayerNorm chain over its sum, as one node with two
outputs (the sum, read later by the next residual ADD, and the normalized rows); every rounding of the unfused ops
kept. Exact definition: docs/ops/ADD_LAYER_NORM_CHAIN.md; the chain is LAYER_NORM_CHAIN's
(edgefmr.ops.layer_norm_chain, whose chain_graph rebuilds both)."""

from __future__ import annotations

from edgefmr.ops.layer_norm_chain import ChainOp, kernel_params
from edgefmr.ops.registry import register

__all__ = ["kernel_params"]  # the same kernel parameters as LAYER_NORM_CHAIN (its residual stage included)


@register
class AddLayerNormChain(ChainOp):
    """Inputs: a, b (int8, as many elements as the sum: no broadcasting beyond leading 1s; b may be a constant),
    eps (int8 constant, one value), gamma and beta (optional int8 constants, one value or C values). Outputs: the
    sum ADD(a, b) and the LayerNorm chain of it, both int8 of the sum's shape."""

    name = "ADD_LAYER_NORM_CHAIN"
    tflite_op = None
    n_inputs = (3, 5)
    n_outputs = 2
    const_inputs = (2, 3, 4)
    data_inputs = 2
