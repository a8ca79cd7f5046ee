"""`edgefmr quantize`: a trained checkpoint -> an integer IR model (.efm) and a quantization report (q.json)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from edgefmr.errors import EdgefmrError

BINARIZE_ALL = "blocks.*"


def _parse_binarize(text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    parts = tuple(p.strip() for p in text.split(",") if p.strip())
    if not parts:
        raise EdgefmrError(f"--binarize {text!r}: give comma-separated layer names or patterns (e.g. "
                           "'blocks.*.mlp.*') or 'all'")
    return tuple(BINARIZE_ALL if p == "all" else p for p in parts)


class _Bars:
    """rich progress bars on stderr, one per stage."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar = None
        self.tasks: dict[str, int] = {}

    def __enter__(self) -> _Bars:
        if self.enabled:
            from edgefmr.commands._term import progress_bar

            self.bar = progress_bar(info=False)
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self.bar is None:
            return
        if stage not in self.tasks:
            self.tasks[stage] = self.bar.add_task(stage, total=total)
        self.bar.update(self.tasks[stage], completed=done, total=total)


@click.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--task", required=True, help="A built-in task (edgefmr tasks list) or an .npz file"
              " (the inputs must match the model's).")
@click.option("--method", default="ptq", show_default=True,
              help="ptq (calibration on a few batches) or qat (fine-tuning with the integer model in the loop).")
@click.option("--softmax", default=None,
              help="standard or clipped: the normalization of softmax-family attention layers (default: the "
                   "model's own).")
@click.option("--attention", default=None,
              help="softmax, gated, hash or sdsa: check that the model uses this attention variant.")
@click.option("--binarize", "binarize", default=None, metavar="LAYERS",
              help="Comma-separated linear layers (fnmatch patterns such as 'blocks.*.mlp.*', or 'all' for every "
                   "linear inside the blocks) lowered to BINARY_FULLY_CONNECTED (1-bit weights).")
@click.option("--layernorm", default="integer", show_default=True,
              help="ViT LayerNorm: integer (the LAYER_NORM op) or decomposed (TFLite builtins, for --tflite).")
@click.option("--observer", default="minmax", show_default=True,
              help="Activation ranges: minmax or percentile.")
@click.option("--percentile", type=float, default=99.99, show_default=True,
              help="Upper percentile of the percentile observer.")
@click.option("--calib-samples", type=click.IntRange(min=1), default=1024, show_default=True,
              help="Training samples used for calibration.")
@click.option("--qat-epochs", type=click.IntRange(min=0), default=3, show_default=True, help="QAT epochs.")
@click.option("--qat-lr", type=float, default=2e-4, show_default=True, help="QAT learning rate (AdamW).")
@click.option("--eval-samples", type=click.IntRange(min=1), default=None,
              help="Evaluate on the first N test samples only (default: all).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of QAT batch order.")
@click.option("--onnx", "onnx_path", type=click.Path(dir_okay=False), default=None,
              help="Also export the float model to this ONNX file.")
@click.option("--onnx-qdq", "qdq_path", type=click.Path(dir_okay=False), default=None,
              help="Also export the integer model as ONNX QDQ (when all its ops map to ONNX).")
@click.option("--tflite", "tflite_path", type=click.Path(dir_okay=False), default=None,
              help="Also export the integer model as .tflite (when it has only TFLite builtin ops).")
@click.option("--stream-out", "stream_path", type=click.Path(dir_okay=False), default=None,
              help="Also write the streaming step program (LMU models: one embedded step per call; spiking "
                   "transformers: one time step per call; every state marked) for `edgefmr build --streaming` "
                   "(docs/streaming.md).")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Integer model to write (.efm).")
@click.option("--report", "report_path", required=True, type=click.Path(dir_okay=False),
              help="Quantization report to write (JSON).")
@click.option("--json", "as_json", is_flag=True, help="No progress bars; print the report as JSON.")
def quantize(model: str, task: str, method: str, softmax: str | None, attention: str | None, binarize: str | None,
             layernorm: str, observer: str, percentile: float, calib_samples: int, qat_epochs: int, qat_lr: float,
             eval_samples: int | None, seed: int, onnx_path: str | None, qdq_path: str | None,
             tflite_path: str | None, stream_path: str | None, out: str, report_path: str, as_json: bool) -> None:
    """Quantize the trained checkpoint MODEL to an integer IR model (--out) and write a report (--report).

    The integer model's accuracy is measured on the IR reference interpreter.
    """
    import torch

    from edgefmr.ir import save
    from edgefmr.quant.pipeline import check_options, load_for_quantize, quantize_task
    from edgefmr.quant.quantizer import METHODS, SOFTMAXES, QuantOptions

    if method not in METHODS:
        raise EdgefmrError(f"unknown --method {method!r}; valid: {', '.join(METHODS)}")
    if softmax is not None and softmax not in SOFTMAXES:
        raise EdgefmrError(f"unknown --softmax {softmax!r}; valid: {', '.join(SOFTMAXES)}")
    for p in (out, report_path, *((stream_path,) if stream_path else ())):
        if not Path(p).resolve().parent.is_dir():
            raise EdgefmrError(f"cannot write {p}: directory {Path(p).parent} does not exist")
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    net, info, t = load_for_quantize(model, task, attention)
    if stream_path and info["family"] not in ("lmu", "spiking"):
        raise EdgefmrError(f"--stream-out: streaming step programs exist for LMU (spiking or not) and spiking "
                           f"transformer models, not for family {info['family']!r} ({model})")
    options = QuantOptions(method=method, softmax=softmax, binarize=_parse_binarize(binarize),
                           layernorm=layernorm, observer=observer,
                           percentile=percentile, calib_samples=calib_samples, qat_epochs=qat_epochs, qat_lr=qat_lr,
                           seed=seed)
    check_options(net, info["family"], options)
    with _Bars(not as_json) as bars:
        res = quantize_task(net, info["family"], t, options, where=model, progress=bars, eval_samples=eval_samples,
                            metadata={"source": Path(model).name})
        exports = {}
        if onnx_path or qdq_path or tflite_path:
            from edgefmr.quant import export

            exports = export.export_all(res, t, onnx_path=onnx_path, qdq_path=qdq_path, tflite_path=tflite_path,
                                        progress=bars)
    save(res.graph, out)
    report = {**res.report, "out": out, "exports": exports}
    if stream_path:
        report["stream_out"] = _write_stream(res.qm, info["family"], stream_path)
    Path(report_path).write_text(json.dumps(report, indent=2) + "\n")
    failed = [f"{k}: {v['error']}" for k, v in exports.items() if "error" in v]
    if as_json:
        click.echo(json.dumps(report, indent=2))
        if failed:
            raise EdgefmrError(f"{out} and {report_path} written, but export failed: {'; '.join(failed)}")
        return
    r = report
    att = r["attention_ops"]
    click.echo(f"{r['family']} on {r['task']} ({r['method']}, attention {','.join(r['attention']) or 'none'}): "
               f"float {100 * r['float_accuracy']:.2f}% -> int8 {100 * r['int_accuracy']:.2f}% on the IR "
               f"interpreter ({r['test_samples']} samples); fake-quant == IR: {r['fake_quant_equals_ir']}")
    core = (f"attention core: {att['mults']:,} mults, {att['adds']:,} adds, Q.K mults {att['qk_mults']:,}; "
            if r["attention"] else "")
    click.echo(f"{r['nodes']} nodes, {r['macs']:,} MACs, {r['weight_bytes']:,} weight bytes; {core}"
               f"max |activation| {r['max_abs_activation']:.3g}, kurtosis {r['kurtosis']:.3g} (docs/quantization.md)")
    for k, v in exports.items():
        if "error" not in v:
            click.echo(f"{k}: {v['path']} ({v['check']})")
    if stream_path:
        so = report["stream_out"]
        click.echo(f"step program: {stream_path} ({so['states']} states, {so['state_bytes']:,} bytes; frame "
                   f"{so['frame_shape']})")
    click.echo(f"-> {out}, {report_path}")
    if failed:
        raise EdgefmrError(f"export failed: {'; '.join(failed)}")


def _write_stream(qm: object, family: str, path: str) -> dict:
    """Write the step program of a quantized LMU or spiking transformer to `path`; its states, frame shape and state
    bytes."""
    from edgefmr.ir import save
    from edgefmr.ir.streaming import frame_inputs, state_bytes, state_pairs

    if family == "lmu":
        from edgefmr.quant.lmu import stream_graph

        g = stream_graph(qm, 1)
    else:
        from edgefmr.quant.spiking import stream_graph as spiking_stream_graph

        g = spiking_stream_graph(qm)
    save(g, path)
    return {"path": path, "states": len(state_pairs(g)), "state_bytes": state_bytes(g),
            "frame_shape": list(g.tensor(frame_inputs(g)[0]).shape)}


COMMANDS = [quantize]
