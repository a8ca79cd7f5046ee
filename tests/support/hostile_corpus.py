"""A corpus of damaged input files for the "no traceback, no wrong success" tests: `.efm` models whose model.json has
one field replaced by a wrong type, NaN/Infinity, a negative or out-of-range number, an empty value or a dangling
reference (or removed); structurally damaged `.tflite` files; board files with one bad key; bad input `.npy` files.

    python tests/support/hostile_corpus.py OUT_DIR     # writes the files and OUT_DIR/corpus.json

Every case says what a command must do with it: `fail` (exit 2, one line naming the file) or `any` (exit 0 or 2: the
damage may leave a valid file, e.g. a flipped weight byte; never a traceback). `make_corpus` is the API the tests use.
"""

from __future__ import annotations

import copy
import io
import json
import math
import re
import sys
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
BASE_MODEL = ROOT / "tests" / "fixtures" / "cnn_digits_int8.tflite"
BASE_INPUTS = ROOT / "tests" / "fixtures" / "digits_test_x.npy"
BASE_BOARD = ROOT / "boards" / "qemu-netduinoplus2.toml"

MISSING = object()
NAN, INF = float("nan"), float("inf")
#: replacements tried on every field (each one where it is not legitimately valid there)
WRONG_TYPES: list = ["x", ["x"], {"x": 1}, None, True, 1.5]
NUMBERS: list = [NAN, INF, -1, 0]
EMPTIES: list = ["", [], {}]


@dataclass
class Case:
    """One damaged file: its kind (efm, tflite, board, npy), what was damaged, and what a command must do."""

    file: str
    kind: str
    what: str
    expect: str  # "fail" or "any"


def _efm_bytes(doc: dict, arrays: dict[int, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:   # stored: the corpus is written fast
        z.writestr("model.json", json.dumps(doc))  # NaN/Infinity as Python's json writes them
        for i, a in arrays.items():
            z.writestr(f"arrays/{i}.npy", a)
    return buf.getvalue()


def _paths(v: object, path: str = "$") -> list[tuple[str, object]]:
    """(JSON path, value) of every field, containers included, one representative per shape of path: the first
    tensor of each kind (input, per-axis constant, per-tensor activation, unquantized constant), every node's attrs."""
    out = [(path, v)]
    if isinstance(v, dict):
        for k, x in v.items():
            out += _paths(x, f"{path}.{k}")
    elif isinstance(v, list):
        for i, x in enumerate(v):
            out += _paths(x, f"{path}[{i}]")
    return out


def _get_parent(doc: dict, path: str) -> tuple[object, object]:
    parts = re.findall(r"\.([^.\[\]]+)|\[(\d+)\]", path[1:])
    cur: object = doc
    keys = [k if k else int(i) for k, i in parts]
    for k in keys[:-1]:
        cur = cur[k]  # type: ignore[index]
    return cur, keys[-1]


def _set(doc: dict, path: str, value: object) -> dict:
    d = copy.deepcopy(doc)
    parent, key = _get_parent(d, path)
    if value is MISSING:
        del parent[key]  # type: ignore[arg-type]
    else:
        parent[key] = value  # type: ignore[index]
    return d


def _representative_tensors(doc: dict) -> set[int]:
    """Indices of one tensor of each kind, so the corpus stays small: every kind of field is still damaged."""
    seen: dict[tuple, int] = {}
    for i, t in enumerate(doc["tensors"]):
        q = t.get("quant")
        key = ("data" in t, q is not None and len(q["scale"]) > 1, q is not None, t["name"] in doc["inputs"],
               t["name"] in doc["outputs"])
        seen.setdefault(key, i)
    return set(seen.values())


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def _valid_replacement(doc: dict, path: str, old: object, new: object) -> bool:
    """True where the replacement may leave a valid model (the command may succeed)."""
    if path.startswith("$.metadata.") and not path.startswith("$.metadata.name"):
        return True                                     # free-form metadata
    if path == "$.metadata":
        return new is MISSING or isinstance(new, dict)
    if re.fullmatch(r"\$\.nodes\[\d+\]\.name", path):
        return new is MISSING or isinstance(new, str)   # node names are labels
    if re.fullmatch(r"\$\.nodes\[\d+\]\.attrs(\.\w+)?", path):
        return new is MISSING or new == {}              # absent attributes take their defaults
    if re.fullmatch(r"\$\.tensors\[\d+\]\.quant\.axis", path):
        return new is MISSING and old == 0
    if path == "$.metadata.name":
        return isinstance(new, str) or new is MISSING
    if re.fullmatch(r"\$\.nodes\[\d+\]\.inputs\[[1-9]\]", path):
        return new == ""                                # an optional input (a bias) left out
    num = isinstance(new, int | float) and not isinstance(new, bool) and math.isfinite(new)
    if ".quant.scale[" in path:
        return num and 1e-38 < new < 3e38               # another positive scale
    if ".quant.zero_point[" in path:
        return num and isinstance(new, int) and -128 <= new <= 127
    m = re.fullmatch(r"\$\.tensors\[(\d+)\]\.quant", path)
    if m and doc["tensors"][int(m.group(1))]["dtype"] == "int32":
        return new is MISSING or new is None            # a bias without quantization parameters
    return False


def efm_cases(out: Path) -> list[Case]:
    """Damaged .efm files: every field of model.json replaced (or removed), plus damaged zips."""
    from edgefmr.ir.efm import to_json
    from edgefmr.ir.model_io import load_model

    doc, arrays = to_json(load_model(BASE_MODEL))
    doc = json.loads(json.dumps(doc))
    raw = {}
    for i, a in enumerate(arrays):
        b = io.BytesIO()
        np.save(b, a, allow_pickle=False)
        raw[i] = b.getvalue()
    keep = _representative_tensors(doc)
    first_of_op = {}
    for i, nd in enumerate(doc["nodes"]):
        first_of_op.setdefault(nd["op"], i)
    keep_nodes = set(first_of_op.values())
    cases: list[Case] = []
    d = out / "efm"
    d.mkdir(parents=True, exist_ok=True)
    n = 0
    for path, old in _paths(doc):
        m = re.match(r"\$\.tensors\[(\d+)\]", path)
        if m and int(m.group(1)) not in keep:
            continue
        m = re.match(r"\$\.nodes\[(\d+)\]", path)
        if m and int(m.group(1)) not in keep_nodes:
            continue
        if re.search(r"\.(scale|zero_point)\[([1-9]\d*)\]", path) or re.search(r"\.shape\[[1-9]\]", path):
            continue  # the first element of a list stands for the others
        values = [MISSING, *WRONG_TYPES, *NUMBERS, *EMPTIES]
        if isinstance(old, str) and (path.endswith("]") or path.endswith(".name") or ".inputs" in path
                                     or ".outputs" in path):
            values.append("nowhere")                    # a dangling reference
        if ".shape[" in path:
            values += [2**40]                           # more elements than any tensor may have
        if path.endswith(".data"):
            values += [len(arrays) + 5]                 # an array index that is not in the file
        if ".zero_point[" in path:
            values += [-129, 128, 1e30]                 # out of the int8 range
        if ".scale[" in path:
            values += [1e-46, 1e39]                     # zero / infinity in float32
        if path == "$":
            values = [[], "x", None, 1]
        for new in values:
            if path == "$" and new is MISSING:
                continue
            if new is not MISSING and _same(old, new):
                continue
            if path != "$" and new is MISSING and path.endswith("]"):
                continue  # removing a list element is covered by the list's own replacements
            bad = _set(doc, path, new) if path != "$" else new
            f = d / f"m{n:04d}.efm"
            n += 1
            f.write_bytes(_efm_bytes(bad, raw))  # type: ignore[arg-type]
            what = f"{path} {'removed' if new is MISSING else '= ' + json.dumps(new)[:30]}"
            cases.append(Case(str(f), "efm", what, "any" if _valid_replacement(doc, path, old, new) else "fail"))
    good = _efm_bytes(doc, raw)
    extra = {
        "empty file": b"",
        "zip without model.json": _zip({"other.txt": b"x"}),
        "model.json is not JSON": _zip({"model.json": b"{not json"}),
        "model.json is binary": _zip({"model.json": b"\xff\xfe\x00"}),
        "truncated zip": good[: len(good) // 2],
        "array missing": _zip({"model.json": json.dumps(doc).encode()}),
        "array not .npy": _zip({"model.json": json.dumps(doc).encode(),
                                **{f"arrays/{i}.npy": b"garbage" for i in raw}}),
        "array with another shape": _zip({"model.json": json.dumps(doc).encode(),
                                          **{f"arrays/{i}.npy": _npy(np.zeros(3, np.int8)) for i in raw}}),
        "array named arrays/x.npy": _zip({"model.json": json.dumps(doc).encode(), "arrays/x.npy": raw[0]}),
        "outputs: []": _efm_bytes({**doc, "outputs": []}, raw),
        "no nodes": _efm_bytes({**doc, "nodes": []}, raw),
    }
    for what, data in extra.items():
        f = d / f"x{n:04d}.efm"
        n += 1
        f.write_bytes(data)
        cases.append(Case(str(f), "efm", what, "fail"))
    return cases


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for k, v in files.items():
            z.writestr(k, v)
    return buf.getvalue()


def _npy(a: np.ndarray) -> bytes:
    b = io.BytesIO()
    np.save(b, a, allow_pickle=False)
    return b.getvalue()


def tflite_cases(out: Path, flips: int = 24) -> list[Case]:
    """Truncated and byte-damaged copies of the base .tflite."""
    data = BASE_MODEL.read_bytes()
    d = out / "tflite"
    d.mkdir(parents=True, exist_ok=True)
    cases = []
    rng = np.random.default_rng(19)
    for k, cut in enumerate([0, 4, 8, 16, 64, len(data) // 3, len(data) // 2, len(data) - 16]):
        f = d / f"cut{k:02d}.tflite"
        f.write_bytes(data[:cut])
        cases.append(Case(str(f), "tflite", f"truncated to {cut} bytes", "fail"))
    f = d / "magic.tflite"
    f.write_bytes(data[:4] + b"XXXX" + data[8:])
    cases.append(Case(str(f), "tflite", "file identifier damaged", "fail"))
    # flatbuffer offsets and tables: a damaged byte may still leave a valid model (a weight); never a traceback
    for k in range(flips):
        b = bytearray(data)
        for pos in rng.integers(0, len(b), size=4):
            b[int(pos)] ^= int(rng.integers(1, 256))
        f = d / f"flip{k:02d}.tflite"
        f.write_bytes(bytes(b))
        cases.append(Case(str(f), "tflite", "4 random bytes damaged", "any"))
    return cases


def board_cases(out: Path) -> list[Case]:
    """Copies of the default board file with one `key = value` line replaced by a bad value (or removed)."""
    lines = BASE_BOARD.read_text().splitlines()
    d = out / "boards"
    d.mkdir(parents=True, exist_ok=True)
    cases = []
    values = ['"x"', "nan", "inf", "-1", "0", "[]", "{}", "true", "1.5", "99999999999999999999999"]
    free = {"description", "vendor", "note", "device", "uart", "connection", "machine", "cpu"}
    n = 0
    for i, line in enumerate(lines):
        m = re.match(r"^(\w+)\s*=\s*(.+?)\s*(#.*)?$", line)
        if not m:
            continue
        key, old = m.group(1), m.group(2)
        for v in values:
            if v == old:
                continue
            bad = lines[:i] + [f"{key} = {v}"] + lines[i + 1:]
            f = d / f"b{n:03d}.toml"
            n += 1
            f.write_text("\n".join(bad) + "\n")
            valid = ((key in free or key == "name") and v == '"x"') or (key == "defines" and v == "[]") \
                or (key == "origin" and v == "0")  # a label, no defines, a memory at address 0: all plausible
            cases.append(Case(str(f), "board", f"line {i + 1}: {key} = {v}", "any" if valid else "fail"))
    return cases


def npy_cases(out: Path) -> list[Case]:
    """Input files `run` must refuse for the base model (input int8 [1, 8, 8, 1])."""
    x = np.load(BASE_INPUTS)
    d = out / "npy"
    d.mkdir(parents=True, exist_ok=True)
    nan = x[:3].astype(np.float32)
    nan[1, 2, 3, 0] = np.nan
    inf = x[:2].astype(np.float32)
    inf[0, 0, 0, 0] = np.inf
    arrays: dict[str, np.ndarray | bytes] = {
        "zero records": x[:0],
        "zero records (float32)": x[:0].astype(np.float32),
        "NaN in float32": nan,
        "Inf in float32": inf,
        "wrong dtype int16": x.astype(np.int16),
        "NaN in float64": nan.astype(np.float64),  # float64 inputs are taken as float32; NaN is refused in both
        "wrong shape": x[:, :4],
        "0-d array": np.array(3, np.int8),
        "object array": b"",
        "truncated": _npy(x)[:100],
        "not .npy": b"hello",
        "empty file": b"",
        "complex": x.astype(np.complex64),
    }
    cases = []
    for k, (what, a) in enumerate(arrays.items()):
        f = d / f"i{k:02d}.npy"
        if isinstance(a, np.ndarray):
            np.save(f, a, allow_pickle=False)
        elif what == "object array":
            np.save(f, np.array([{"a": 1}], dtype=object), allow_pickle=True)
        else:
            f.write_bytes(a)
        cases.append(Case(str(f), "npy", what, "fail"))
    return cases


def make_corpus(out: str | Path) -> list[Case]:
    """Write every damaged file under `out` and `out/corpus.json`; return the cases."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cases = efm_cases(out) + tflite_cases(out) + board_cases(out) + npy_cases(out)
    (out / "corpus.json").write_text(json.dumps([asdict(c) for c in cases], indent=1))
    return cases


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/support/hostile_corpus.py OUT_DIR")
    cs = make_corpus(sys.argv[1])
    kinds = {k: sum(c.kind == k for c in cs) for k in ("efm", "tflite", "board", "npy")}
    print(f"{len(cs)} damaged files in {sys.argv[1]}: {kinds}")
