"""Open any model file edgefmr reads (`.efm`, `.tflite`) as an IR graph, and prepare inputs for it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgefmr.errors import EdgefmrError
from edgefmr.ir import Graph, efm
from edgefmr.ir.graph import Tensor
from edgefmr.ops.quantize import affine_quantize
from edgefmr.tflite import load_tflite

SUFFIXES = (".efm", ".tflite")


def load_model(path: str | Path) -> Graph:
    """Load an `.efm` or `.tflite` file by its content (zip or TFL3 flatbuffer), validated."""
    p = Path(path)
    if not p.is_file():
        raise EdgefmrError(f"{p}: no such file")
    head = p.read_bytes()[:8]
    if head[:4] == b"PK\x03\x04":
        return efm.load(p)
    if p.suffix == ".tflite" or head[4:8] == b"TFL3":

        return load_tflite(p)
    raise EdgefmrError(f"{p}: not a model file edgefmr reads (expected {' or '.join(SUFFIXES)})")


def load_input_file(path: str | Path) -> np.ndarray:
    """Read an input `.npy` (EdgefmrError naming the file when it is not a numeric array)."""
    p = Path(path)
    if not p.is_file():
        raise EdgefmrError(f"{p}: no such file")
    try:
        x = np.load(p, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise EdgefmrError(f"{p}: cannot read as .npy ({str(e).splitlines()[0] if str(e) else type(e).__name__}); "
                           f"valid: a numeric array saved with numpy.save") from None
    if not isinstance(x, np.ndarray):
        raise EdgefmrError(f"{p}: an .npz archive; valid: one array saved with numpy.save (.npy)")
    if x.dtype.kind not in "iuf":
        raise EdgefmrError(f"{p}: dtype {x.dtype}; valid: the model input's integer dtype or float32")
    return x


def check_finite(x: np.ndarray, where: str) -> None:
    """EdgefmrError naming the first NaN or infinity of a float input (it would be quantized to a made-up value)."""
    bad = ~np.isfinite(x)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise EdgefmrError(f"{where}: float input has {'NaN' if np.isnan(x[idx]) else 'Infinity'} at index "
                           f"{list(idx)} ({int(bad.sum())} non-finite values in all); valid: finite numbers")


def as_records(t: Tensor, x: np.ndarray, where: str) -> np.ndarray:
    """`x` as records [N, *t.shape] (a single record may leave N out; a model whose batch dimension is 1 also takes
    [N, *shape[1:]]), in its own dtype: EdgefmrError for another shape, no record, or a NaN/infinity in float
    data (named by its index in `x` as given)."""
    if x.dtype in (np.float32, np.float64):
        check_finite(x, where)
    shape = tuple(t.shape)
    if x.shape == shape:
        x = x[None]
    elif x.shape[1:] != shape:
        if len(shape) > 1 and shape[0] == 1 and x.shape[1:] == shape[1:]:
            x = x.reshape(len(x), *shape)
        else:
            raise EdgefmrError(f"{where}: shape {list(x.shape)} does not fit the model input {t.name!r} "
                               f"{list(shape)} (or [N, *{list(shape)}])")
    if len(x) == 0:
        raise EdgefmrError(f"{where}: holds 0 inputs (shape {list(x.shape)}); valid: at least one")
    return x


def prepare_input(g: Graph, x: np.ndarray, where: str = "input") -> tuple[np.ndarray, bool]:
    """Check `x` against the graph's single input; float32 (or float64) is quantized with the input's scale and zero
    point.

    Returns the integer array and whether it is a batch: one more leading axis than the model input, or, for a model
    whose batch dimension is 1, N in place of that 1.
    """
    if len(g.inputs) != 1:
        raise EdgefmrError(f"the model has {len(g.inputs)} inputs; `run` takes models with one input")
    t = g.tensors[g.inputs[0]]
    if x.ndim == 0:
        raise EdgefmrError(f"{where}: a single number; valid: an array of the model input's shape {list(t.shape)} "
                           f"(or [N, *{list(t.shape)}])")
    if x.dtype in (np.float32, np.float64):
        check_finite(x, where)
    shape0 = list(x.shape)
    if x.shape == t.shape:
        batch = False
    elif x.shape[1:] == t.shape:
        batch = True
    elif len(t.shape) > 1 and t.shape[0] == 1 and x.shape[1:] == t.shape[1:]:
        x, batch = x.reshape(len(x), *t.shape), True  # [N, ...] for a model whose batch dimension is 1
    else:
        raise EdgefmrError(
            f"{where}: shape {list(x.shape)} does not fit the model input {list(t.shape)} (or [N, *{list(t.shape)}])"
        )
    if batch and len(x) == 0:
        raise EdgefmrError(f"{where}: holds 0 inputs (shape {shape0}); valid: at least one")
    if x.dtype == np.float64:
        x = x.astype(np.float32)  # float data as numpy saves it by default; quantized like float32
    if x.dtype == np.float32:
        if t.quant is None:
            raise EdgefmrError(f"{where}: float32 input, but model input {t.name!r} has no quantization to apply")

        return affine_quantize(x, t.scale, t.zero_point, t.dtype), batch
    if x.dtype != np.dtype(t.dtype):
        raise EdgefmrError(f"{where}: dtype {x.dtype}; the model input is {t.dtype} (or float32 to be quantized)")
    return x, batch
