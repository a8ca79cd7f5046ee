"""The integer IR: graph, file format, validation, builder and reference interpreter."""

from edgefmr.ir.builder import GraphBuilder
from edgefmr.ir.efm import graph_hash, load, save
from edgefmr.ir.graph import DTYPES, Graph, Node, Quant, Tensor, np_dtype
from edgefmr.ir.interpreter import run, run_batch
from edgefmr.ir.validate import validate

__all__ = ["DTYPES", "Graph", "GraphBuilder", "Node", "Quant", "Tensor", "graph_hash", "load", "np_dtype", "run",
           "run_batch", "save", "validate"]
