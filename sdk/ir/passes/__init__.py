"""Graph-to-graph passes of the IR layer."""

from edgefmr.ir.passes.fold_transpose import fold_transposes

__all__ = ["fold_transposes"]
