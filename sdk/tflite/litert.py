"""Run a model on LiteRT's reference kernels: the host-side truth the interpreter is checked against."""

from __future__ import annotations

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from edgefmr.ir.graph import Graph
from edgefmr.ir.interpreter import run
from edgefmr.tflite.writer import to_tflite


def litert_interpreter(model: Graph | bytes) -> Interpreter:
    """A LiteRT interpreter with the BUILTIN_REF op resolver (reference kernels), tensors allocated."""
    content = to_tflite(model) if isinstance(model, Graph) else model
    it = Interpreter(model_content=content, experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
                     experimental_preserve_all_tensors=True)
    it.allocate_tensors()
    return it


def run_litert(model: Graph | bytes, feeds: list[np.ndarray]) -> list[np.ndarray]:
    """Outputs of one inference on LiteRT's reference kernels, in the model's output order."""
    it = litert_interpreter(model)
    for d, x in zip(it.get_input_details(), feeds, strict=True):
        it.set_tensor(d["index"], x)
    it.invoke()
    return [it.get_tensor(d["index"]) for d in it.get_output_details()]


def compare_with_litert(g: Graph, xs: np.ndarray) -> dict:
    """Run each input of the batch `xs` on the reference interpreter and on LiteRT; count bit-exact outputs."""

    it = litert_interpreter(g)
    inp, out = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]
    exact, max_diff, ours = 0, 0, []
    for x in xs:
        y = run(g, [x])[g.outputs[0]]
        it.set_tensor(inp, x)
        it.invoke()
        r = it.get_tensor(out)
        d = int(np.abs(y.astype(np.int64) - r.astype(np.int64)).max(initial=0))
        exact += d == 0
        max_diff = max(max_diff, d)
        ours.append(y)
    return {"inputs": len(xs), "bit_exact": int(exact), "max_abs_diff": max_diff, "outputs": np.stack(ours)}
