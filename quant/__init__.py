"""Quantization: trained models of every family to integer IR graphs (docs/quantization.md).

``quantize(model, family, x_calib, QuantOptions(...))`` -> :class:`QuantizedModel` (``graph()``, ``fake_quant``,
``int_logits``); :func:`evaluate_ir` runs a graph on the reference interpreter; :func:`quantize_task` is the whole
stage for a task (checks, calibration or QAT, lowering, IR evaluation, report), as ``edgefmr quantize`` runs it.
"""

from edgefmr.quant.pipeline import quantize_task
from edgefmr.quant.quantizer import QuantizedModel, QuantOptions, evaluate_ir, quantize

__all__ = ["QuantOptions", "QuantizedModel", "evaluate_ir", "quantize", "quantize_task"]
