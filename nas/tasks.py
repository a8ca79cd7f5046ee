"""Built-in tasks that need no download, and user data sets from ``.npz`` files.

Built-in tasks (``load_task(name)``):

* ``digits`` - scikit-learn's bundled 8x8 handwritten digits (1797 images, 10 classes) as images
  ``[1, 8, 8]``, float32 in [0, 1] (pixel / 16).
* ``seq-digits`` - the same images read row by row as 64-step sequences ``[64, 1]``.
* ``pseq-digits`` - ``seq-digits`` with the 64 steps reordered by the fixed permutation
  :data:`PSEQ_PERMUTATION` (``numpy.random.default_rng(PSEQ_SEED).permutation(64)``).
* ``kws-synth`` - a synthetic keyword-spotting task (see :func:`kws_synth`): every class says the
  same four "phonemes" in its own fixed order, so only the order tells the classes apart. Features
  are a 16-band log filterbank per frame (32 ms window, 16 ms hop, 4 kHz audio), ``[50, 16]``,
  standardized per band with the training set's mean and standard deviation.

The split (:func:`split_indices`) is fixed: per class, in class order, the sample indices are
shuffled by ``numpy.random.default_rng(SPLIT_SEED)`` and the first ``round(TEST_FRACTION * n)``
go to the test set. The three digits tasks share the same split.

User data: a path ending in ``.npz`` with arrays ``x`` (samples first) and ``y`` (integer labels
0..K-1), optionally ``x_test``/``y_test`` (otherwise the split rule above is applied) and
``kind`` ("image" or "sequence"). Shapes: ``x`` of ``[N, C, H, W]`` is an image task, ``[N, T, F]``
a sequence task (an image task ``[N, 1, H, W]`` when ``kind`` is "image"), ``[N, T]`` a sequence
of ``[T, 1]``.
"""

from __future__ import annotations

import functools
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from edgefmr.errors import EdgefmrError

SPLIT_SEED = 0
TEST_FRACTION = 0.2
PSEQ_SEED = 1234
PSEQ_PERMUTATION = np.random.default_rng(PSEQ_SEED).permutation(64)
KWS_SEED = 2024

BUILTIN_TASKS = ("digits", "seq-digits", "pseq-digits", "kws-synth")


@dataclass
class Task:
    """A classification data set with its fixed train/test split."""

    name: str
    x_train: np.ndarray  # float32 [N, *input_shape]
    y_train: np.ndarray  # int64 [N]
    x_test: np.ndarray
    y_test: np.ndarray
    input_shape: tuple[int, ...]
    n_classes: int
    kind: Literal["image", "sequence"]

    def __repr__(self) -> str:
        return (f"Task({self.name!r}, {self.kind}, input_shape={self.input_shape}, "
                f"n_classes={self.n_classes}, train={len(self.y_train)}, test={len(self.y_test)})")


def split_indices(y: np.ndarray, test_fraction: float = TEST_FRACTION, seed: int = SPLIT_SEED
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The fixed stratified split: sorted (train, test) index arrays (see the module docstring)."""
    rng = np.random.default_rng(seed)
    test: list[np.ndarray] = []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        test.append(idx[: int(round(test_fraction * len(idx)))])
    test_idx = np.sort(np.concatenate(test)) if test else np.zeros(0, np.int64)
    train_mask = np.ones(len(y), bool)
    train_mask[test_idx] = False
    return np.flatnonzero(train_mask), test_idx


def _make(name: str, x: np.ndarray, y: np.ndarray, kind: Literal["image", "sequence"]) -> Task:
    tr, te = split_indices(y)
    x = np.ascontiguousarray(x, dtype=np.float32)
    y = y.astype(np.int64)
    return Task(name, x[tr], y[tr], x[te], y[te], tuple(x.shape[1:]), int(y.max()) + 1, kind)


@functools.cache
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.images / 16.0).astype(np.float32), d.target.astype(np.int64)


# ---------------------------------------------------------------------------------------------
# kws-synth
# ---------------------------------------------------------------------------------------------
KWS_SAMPLE_RATE = 4000
KWS_FRAME = 128  # 32 ms window
KWS_HOP = 64  # 16 ms hop
KWS_FRAMES = 50
KWS_BANDS = 16
KWS_PER_CLASS = 200
# Four "phonemes", each two formant-like tones (Hz).
KWS_PHONEMES = ((300.0, 1100.0), (550.0, 1700.0), (800.0, 1300.0), (450.0, 1900.0))
# The ten keywords: each is all four phonemes in its own order (10 of the 24 permutations).
KWS_KEYWORDS = ((0, 1, 2, 3), (0, 2, 3, 1), (0, 3, 1, 2), (1, 0, 3, 2), (1, 2, 0, 3),
                (1, 3, 2, 0), (2, 0, 1, 3), (2, 3, 0, 1), (3, 1, 0, 2), (3, 2, 1, 0))


def _filterbank() -> np.ndarray:
    """Triangular filters [bands, KWS_FRAME // 2 + 1], centres linearly spaced over 150-1950 Hz."""
    freqs = np.fft.rfftfreq(KWS_FRAME, 1.0 / KWS_SAMPLE_RATE)
    edges = np.linspace(150.0 - 120.0, 1950.0 + 120.0, KWS_BANDS + 2)
    fb = np.zeros((KWS_BANDS, len(freqs)))
    for b in range(KWS_BANDS):
        lo, mid, hi = edges[b], edges[b + 1], edges[b + 2]
        fb[b] = np.clip(np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)), 0.0, None)
    return fb


def _kws_wave(keyword: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """One utterance: tone bursts in the keyword's order, random timing, level, pitch and noise."""
    n = (KWS_FRAMES - 1) * KWS_HOP + KWS_FRAME
    sr = KWS_SAMPLE_RATE
    durs = rng.uniform(0.08, 0.14, len(keyword))  # seconds per burst
    gaps = rng.uniform(0.0, 0.04, len(keyword) - 1)
    total = durs.sum() + gaps.sum()
    start = rng.uniform(0.0, n / sr - total)
    pitch = rng.uniform(0.96, 1.04)  # speaker pitch jitter, shared by all bursts
    wave = np.zeros(n)
    t0 = start
    for i, p in enumerate(keyword):
        m = int(durs[i] * sr)
        s = int(t0 * sr)
        t = np.arange(m) / sr
        ramp = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.01)  # 10 ms attack/release
        f1, f2 = (f * pitch * rng.uniform(0.98, 1.02) for f in KWS_PHONEMES[p])
        ph = rng.uniform(0, 2 * np.pi, 2)
        a2 = rng.uniform(0.4, 0.9)
        burst = np.sin(2 * np.pi * f1 * t + ph[0]) + a2 * np.sin(2 * np.pi * f2 * t + ph[1])
        wave[s : s + m] += rng.uniform(0.3, 1.0) * ramp * burst
        t0 += durs[i] + (gaps[i] if i < len(gaps) else 0.0)
    wave += rng.uniform(0.02, 0.15) * rng.standard_normal(n)
    return wave


def kws_synth(per_class: int = KWS_PER_CLASS, seed: int = KWS_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Generate the kws-synth data: features [N, 50, 16] (log filterbank, not yet standardized), labels [N].

    Each class is one of :data:`KWS_KEYWORDS`: the same four phonemes of :data:`KWS_PHONEMES`
    in a class-specific order. An utterance is the four tone bursts (80-140 ms each, 0-40 ms gaps,
    random start, random level 0.3-1.0 per burst, +-4 % pitch per utterance and +-2 % per burst,
    white noise of std 0.02-0.15). Because every class holds the same sounds, the average over
    frames carries almost no class information; the order does. Deterministic for a seed.
    """
    rng = np.random.default_rng(seed)
    fb = _filterbank()
    window = np.hanning(KWS_FRAME)
    idx = np.arange(KWS_FRAMES)[:, None] * KWS_HOP + np.arange(KWS_FRAME)[None, :]
    xs, ys = [], []
    for _ in range(per_class):
        for c, kw in enumerate(KWS_KEYWORDS):
            frames = _kws_wave(kw, rng)[idx] * window
            power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
            xs.append(np.log(power @ fb.T + 1e-3))
            ys.append(c)
    return np.stack(xs).astype(np.float32), np.array(ys, np.int64)


@functools.cache
def _kws_arrays() -> tuple[np.ndarray, np.ndarray]:
    x, y = kws_synth()
    tr, _ = split_indices(y)
    # Standardize each band with the training set's statistics.
    mean = x[tr].mean(axis=(0, 1), keepdims=True)
    std = x[tr].std(axis=(0, 1), keepdims=True)
    return ((x - mean) / std).astype(np.float32), y


# ---------------------------------------------------------------------------------------------
# user data
# ---------------------------------------------------------------------------------------------
def _check_x(path: str, key: str, x: np.ndarray) -> np.ndarray:
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)) or x.dtype == bool:
        raise EdgefmrError(f"{path}: '{key}' must be a numeric array, got dtype {x.dtype}")
    if x.ndim not in (2, 3, 4):
        raise EdgefmrError(f"{path}: '{key}' must have shape [N, T], [N, T, F] or [N, C, H, W], "
                           f"got {list(x.shape)}")
    if x.shape[0] == 0 or 0 in x.shape:
        raise EdgefmrError(f"{path}: '{key}' is empty, shape {list(x.shape)}")
    x = x.astype(np.float32)
    if not np.isfinite(x).all():
        raise EdgefmrError(f"{path}: '{key}' contains NaN or infinite values")
    return x


def _check_y(path: str, key: str, y: np.ndarray, n: int) -> np.ndarray:
    if y.ndim != 1:
        raise EdgefmrError(f"{path}: '{key}' must be a 1-D label array, got shape {list(y.shape)}")
    if len(y) != n:
        raise EdgefmrError(f"{path}: '{key}' has {len(y)} labels but the inputs have {n} samples")
    if np.issubdtype(y.dtype, np.floating) and np.isfinite(y).all() and (y == np.round(y)).all():
        y = y.astype(np.int64)
    if not np.issubdtype(y.dtype, np.integer) or y.dtype == bool:
        raise EdgefmrError(f"{path}: '{key}' must hold integer class labels, got dtype {y.dtype}")
    if (y < 0).any():
        raise EdgefmrError(f"{path}: '{key}' has negative labels; labels must be 0..K-1")
    return y.astype(np.int64)


def load_npz(path: str) -> Task:
    """Load a user task from an ``.npz`` file (see the module docstring for the keys and shapes)."""
    p = Path(path)
    if not p.is_file():
        raise EdgefmrError(f"task file {path} does not exist")
    try:
        data = np.load(p, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise EdgefmrError(f"{path}: not a readable .npz file ({e})") from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise EdgefmrError(f"{path}: not an .npz archive (a single array); "
                           "save with numpy.savez(path, x=..., y=...)")
    valid = {"x", "y", "x_test", "y_test", "kind"}
    with data:
        keys = set(data.files)
        for k in ("x", "y"):
            if k not in keys:
                raise EdgefmrError(f"{path}: missing array '{k}'; an .npz task needs x and y "
                                   "(optional x_test, y_test, kind)")
        unknown = sorted(keys - valid)
        if unknown:
            raise EdgefmrError(f"{path}: unknown array '{unknown[0]}'; valid: {', '.join(sorted(valid))}")
        if ("x_test" in keys) != ("y_test" in keys):
            raise EdgefmrError(f"{path}: x_test and y_test must be given together")
        kind_arr = data["kind"] if "kind" in keys else None
        x = _check_x(path, "x", data["x"])
        y = _check_y(path, "y", data["y"], len(x))
        xt = yt = None
        if "x_test" in keys:
            xt = _check_x(path, "x_test", data["x_test"])
            yt = _check_y(path, "y_test", data["y_test"], len(xt))
            if xt.shape[1:] != x.shape[1:]:
                raise EdgefmrError(f"{path}: x_test samples have shape {list(xt.shape[1:])}, "
                                   f"x samples {list(x.shape[1:])}; they must match")
    if kind_arr is not None:
        kind = str(kind_arr.item()) if kind_arr.ndim == 0 else ""
        if kind not in ("image", "sequence"):
            raise EdgefmrError(f"{path}: 'kind' must be 'image' or 'sequence', got {kind_arr!r}")
    else:
        kind = "image" if x.ndim == 4 else "sequence"
    if kind == "image" and x.ndim == 2:
        raise EdgefmrError(f"{path}: an image task needs x of [N, H, W] or [N, C, H, W], got {list(x.shape)}")
    if kind == "sequence" and x.ndim == 4:
        raise EdgefmrError(f"{path}: a sequence task needs x of [N, T] or [N, T, F], got {list(x.shape)}")

    def shape(a: np.ndarray) -> np.ndarray:
        if a.ndim == 2:
            return a[:, :, None]
        if a.ndim == 3 and kind == "image":
            return a[:, None]
        return a

    x = shape(x)
    if xt is None:
        tr, te = split_indices(y)
        x, xt, yt, y = x[tr], x[te], y[te], y[tr]
        if len(yt) == 0:
            raise EdgefmrError(f"{path}: too few samples for a test split; give x_test and y_test")
    else:
        xt = shape(xt)
    n_classes = int(max(y.max(), yt.max())) + 1
    if n_classes < 2:
        raise EdgefmrError(f"{path}: 'y' has a single class; a task needs at least 2")
    return Task(str(path), np.ascontiguousarray(x), y, np.ascontiguousarray(xt), yt,
                tuple(x.shape[1:]), n_classes, kind)  # type: ignore[arg-type]


def load_task(name_or_path: str) -> Task:
    """A built-in task by name (digits, seq-digits, pseq-digits, kws-synth) or an ``.npz`` path."""
    name = str(name_or_path)
    if name == "digits":
        x, y = _digits_arrays()
        return _make(name, x[:, None, :, :], y, "image")
    if name == "seq-digits":
        x, y = _digits_arrays()
        return _make(name, x.reshape(-1, 64, 1), y, "sequence")
    if name == "pseq-digits":
        x, y = _digits_arrays()
        return _make(name, x.reshape(-1, 64, 1)[:, PSEQ_PERMUTATION], y, "sequence")
    if name == "kws-synth":
        x, y = _kws_arrays()
        return _make(name, x, y, "sequence")
    if name.endswith(".npz") or Path(name).is_file():
        return load_npz(name)
    raise EdgefmrError(f"unknown task '{name}'; valid: {', '.join(BUILTIN_TASKS)}, or a path to an .npz file "
                       "with arrays x and y")
