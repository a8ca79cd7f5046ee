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
* ``mnist1d`` - MNIST-1D (Greydanus & Kobak, 2024; the ``mnist1d`` package's procedural generator, its default
  arguments: 5000 sequences of 40 steps, 10 classes, seed 42; nothing is downloaded), ``[40, 1]``, with the
  generator's own 4000/1000 train/test split. Small models reach ~60-70 %, good sequence models > 90 %, so model
  capacity shows (see :func:`mnist1d_arrays`).
* ``pmnist1d`` - ``mnist1d`` with the 40 steps reordered by the fixed permutation :data:`PMNIST1D_PERMUTATION`
  (``numpy.random.default_rng(PSEQ_SEED).permutation(40)``), as permuted MNIST is to MNIST: neighbouring steps are
  no longer neighbours, so a model must hold the whole sequence in its memory, and accuracy keeps growing with a
  sequence model's memory and width where ``mnist1d`` saturates (~97 % for LMU points of 8 KiB).
* ``shapes32`` - a procedural 32x32 RGB image task with 10 shape classes (:func:`shapes32`): every image is one
  shape under a random affine map (rotation, anisotropic scale, shear, translation), brighter than a random dark
  background, both with their own texture, with clutter and noise; ``[3, 32, 32]``, 1000 images per class,
  seed :data:`SHAPES_SEED`, the split of :func:`split_indices`.
* ``smallshapes32`` - the same generator in :data:`SMALL_SHAPES_STYLE`: the shapes at 0.35-0.5 of the half image
  (about 9-13 pixels across instead of 15-23), anywhere within +-0.5 of the centre, under 0-4 strokes or dots of
  clutter; same seed, size and split. A shape covers one or two 8x8 patches, so a vision transformer needs small
  patches (more tokens, more activation memory) to tell the outlines apart, where on ``shapes32`` 16 tokens suffice.

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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from edgefmr.errors import EdgefmrError

SPLIT_SEED = 0
TEST_FRACTION = 0.2
PSEQ_SEED = 1234
PSEQ_PERMUTATION = np.random.default_rng(PSEQ_SEED).permutation(64)
PMNIST1D_PERMUTATION = np.random.default_rng(PSEQ_SEED).permutation(40)
KWS_SEED = 2024

SHAPES_SEED = 3232
SHAPES_PER_CLASS = 1000


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
# mnist1d
# ---------------------------------------------------------------------------------------------
def mnist1d_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """MNIST-1D from the ``mnist1d`` package's procedural generator: (x_train [4000, 40], y_train, x_test [1000, 40],
    y_test), float32 / int64.

    ``mnist1d.data.make_dataset`` with the package's default arguments (the published data set's: 10 one-dimensional
    digit templates, padded, dilated, scaled, translated, sheared, with correlated and i.i.d. noise, subsampled to
    40 steps, seed 42). It seeds numpy's global generator; the caller's global state is restored afterwards. The
    package's ``get_dataset`` would download a pickle: it is never called.
    """
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    state = np.random.get_state()
    try:
        d = make_dataset(args)
    finally:
        np.random.set_state(state)
    return (d["x"].astype(np.float32), d["y"].astype(np.int64), d["x_test"].astype(np.float32),
            d["y_test"].astype(np.int64))


@functools.cache
def _mnist1d_cached() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return mnist1d_arrays()


# ---------------------------------------------------------------------------------------------
# shapes32
# ---------------------------------------------------------------------------------------------
#: The ten shape classes of ``shapes32``, in label order.
SHAPES_CLASSES = ("disc", "ring", "square", "frame", "triangle", "plus", "cross", "star", "bars", "crescent")
SHAPES_SIZE = 32
_SS = 2  # supersampling factor (anti-aliased edges)


def _shape_mask(label: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Inside-masks of the shapes ``label`` [N] at local coordinates u, v [N, H, W] (a shape spans ~[-0.8, 0.8])."""
    r = np.hypot(u, v)
    m = np.maximum(np.abs(u), np.abs(v))
    a, b = (u + v) / np.sqrt(2.0), (u - v) / np.sqrt(2.0)
    theta = np.arctan2(v, u)
    masks = (
        r < 0.8,
        (r < 0.85) & (r > 0.5),
        m < 0.7,
        (m < 0.78) & (m > 0.45),
        (v > -0.55) & (v < 0.75 - 1.75 * np.abs(u)),
        ((np.abs(u) < 0.22) & (np.abs(v) < 0.8)) | ((np.abs(v) < 0.22) & (np.abs(u) < 0.8)),
        ((np.abs(a) < 0.22) & (np.abs(b) < 0.8)) | ((np.abs(b) < 0.22) & (np.abs(a) < 0.8)),
        r < 0.52 + 0.3 * np.cos(5.0 * theta),
        (np.abs(np.abs(v) - 0.42) < 0.2) & (np.abs(u) < 0.8),
        (r < 0.8) & (np.hypot(u - 0.4, v) > 0.6),
    )
    out = np.zeros(u.shape, bool)
    for k, mk in enumerate(masks):
        sel = label == k
        out[sel] = mk[sel]
    return out


def _grating(rng: np.random.Generator, n: int, x: np.ndarray, y: np.ndarray, amp: tuple[float, float]
             ) -> np.ndarray:
    """Random sinusoidal gratings [n, H, W]: frequency 2-9 cycles per image, any orientation, amplitude in amp."""
    ang = rng.uniform(0, np.pi, n)[:, None, None]
    freq = rng.uniform(2.0, 9.0, n)[:, None, None] * np.pi
    ph = rng.uniform(0, 2 * np.pi, n)[:, None, None]
    a = rng.uniform(*amp, n)[:, None, None]
    return a * np.sin(freq * (x * np.cos(ang) + y * np.sin(ang)) + ph)


@dataclass(frozen=True)
class ShapesStyle:
    """How the shapes of a shapes task are drawn: ``scale`` the range of their size (a share of the half image),
    ``shift`` the range of their translation (+-, same unit), ``clutter`` the most strokes or dots drawn over the
    image (0 to that many, uniformly)."""

    scale: tuple[float, float] = (0.6, 0.9)
    shift: float = 0.25
    clutter: int = 2


#: ``shapes32``'s style, and ``smallshapes32``'s: the same ten shapes at about half the size, anywhere in the image,
#: under up to four strokes or dots of clutter.
SHAPES_STYLE = ShapesStyle()
SMALL_SHAPES_STYLE = ShapesStyle(scale=(0.35, 0.5), shift=0.5, clutter=4)


def _shapes_batch(label: np.ndarray, rng: np.random.Generator, style: ShapesStyle = SHAPES_STYLE) -> np.ndarray:
    """Images [N, 3, 32, 32] in [0, 1] of the shapes ``label`` (see :func:`shapes32`) drawn in ``style``."""
    n = len(label)
    side = SHAPES_SIZE * _SS
    c = (np.arange(side) + 0.5) / side * 2.0 - 1.0
    y, x = np.meshgrid(c, c, indexing="ij")
    x, y = x[None], y[None]
    # random affine map of the shape: rotation, anisotropic scale, shear, translation (image units: [-1, 1])
    rot = rng.uniform(-np.pi / 9, np.pi / 9, n)  # +-20 degrees: plus and cross stay apart
    scale = rng.uniform(*style.scale, n)
    sx = scale * rng.uniform(0.85, 1.15, n)
    sy = scale * rng.uniform(0.85, 1.15, n)
    shear = rng.uniform(-0.25, 0.25, n)
    tx, ty = rng.uniform(-style.shift, style.shift, (2, n))
    cs, sn = np.cos(rot), np.sin(rot)
    # forward matrix M = R @ [[1, shear], [0, 1]] @ diag(sx, sy); local = M^-1 (p - t)
    m00, m01 = cs * sx, (cs * shear - sn) * sy
    m10, m11 = sn * sx, (sn * shear + cs) * sy
    det = m00 * m11 - m01 * m10
    px, py = x - tx[:, None, None], y - ty[:, None, None]
    u = (m11[:, None, None] * px - m01[:, None, None] * py) / det[:, None, None]
    v = (-m10[:, None, None] * px + m00[:, None, None] * py) / det[:, None, None]
    inside = _shape_mask(label, u, v).astype(np.float64)

    # colours: a random dark background; the shape brighter by 0.3-0.5 in every channel, tinted at random
    bg = rng.uniform(0.0, 0.5, (n, 3))
    fg = bg + rng.uniform(0.3, 0.5, (n, 1)) * rng.uniform(0.7, 1.0, (n, 3))
    # textures: a grating on the background and another inside the shape, smooth blotches on the background
    bg_tex = _grating(rng, n, x, y, (0.0, 0.15))
    fg_tex = _grating(rng, n, u * 0.3, v * 0.3, (0.0, 0.1))
    img = bg[:, :, None, None] * (1.0 + bg_tex[:, None])
    for _ in range(2):
        cx, cy = rng.uniform(-1, 1, (2, n, 1, 1))
        rad = rng.uniform(0.2, 0.6, (n, 1, 1))
        blob = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * rad**2))
        img = img + rng.uniform(-0.15, 0.15, (n, 3, 1, 1)) * blob[:, None]
    fgi = fg[:, :, None, None] * (1.0 + fg_tex[:, None])
    img = img * (1.0 - inside[:, None]) + fgi * inside[:, None]
    # clutter: 0 to style.clutter short thin strokes and dots in random colours, anywhere (they may occlude the shape)
    k = rng.integers(0, style.clutter + 1, n)
    for j in range(style.clutter + 1):
        on = (j < k)[:, None, None]
        cx, cy = rng.uniform(-1, 1, (2, n, 1, 1))
        ang = rng.uniform(0, np.pi, (n, 1, 1))
        length = rng.uniform(0.08, 0.2, (n, 1, 1))
        width = rng.uniform(0.03, 0.07, (n, 1, 1))
        along = (x - cx) * np.cos(ang) + (y - cy) * np.sin(ang)
        perp = -(x - cx) * np.sin(ang) + (y - cy) * np.cos(ang)
        dot = (rng.uniform(size=(n, 1, 1)) < 0.4)
        stroke = np.where(dot, np.hypot(along, perp) < length * 0.4, (np.abs(along) < length) & (np.abs(perp) < width))
        mk = (stroke & on).astype(np.float64)[:, None]
        col = rng.uniform(0, 1, (n, 3, 1, 1))
        img = img * (1.0 - mk) + col * mk
    # anti-alias, then sensor noise
    img = img.reshape(n, 3, SHAPES_SIZE, _SS, SHAPES_SIZE, _SS).mean(axis=(3, 5))
    img = img + rng.uniform(0.01, 0.04, (n, 1, 1, 1)) * rng.standard_normal(img.shape)
    return np.clip(img, 0.0, 1.0).astype(np.float32)


def shapes32(per_class: int = SHAPES_PER_CLASS, seed: int = SHAPES_SEED, style: ShapesStyle = SHAPES_STYLE
             ) -> tuple[np.ndarray, np.ndarray]:
    """Generate the shapes32 data: images [N, 3, 32, 32] float32 in [0, 1], labels [N] (classes interleaved).

    Each image holds one of the ten shapes of :data:`SHAPES_CLASSES` (disc, ring, square, square frame, triangle,
    plus, diagonal cross, five-pointed star, two parallel bars, crescent), drawn at 2x resolution and averaged down
    (anti-aliased), under a random affine map: rotation within +-20 degrees (so that plus and cross stay different
    classes), size 0.6-0.9 of the half image (a shape spans about 15-23 pixels), anisotropic scale +-15 %, shear
    +-0.25, translation +-0.25 of the half image (+-4 pixels). The background is a random dark colour (each channel
    0-0.5) with a grating (amplitude <= 15 %, 2-9 cycles per image, any orientation) and two smooth colour
    blotches; the shape is brighter by 0.3-0.5 (tinted at random per channel) with its own grating (<= 10 %).
    Clutter: 0-2 short strokes or dots of random colours anywhere in the image, drawn over the shape. Last,
    Gaussian noise of standard deviation 0.01-0.04 per image, clipped to [0, 1]. Deterministic for a seed. What
    separates the classes is the outline at a few pixels' scale (disc/ring/crescent, square/frame, plus/cross/star), so
    small patches and wider models pay off. (The sizes, contrast, clutter and noise were eased from a first version
    on which a ViT stayed near chance after the budget sweep's short training: bench/search_sweep.py, kind `span`.)
    """
    rng = np.random.default_rng(seed)
    labels = np.tile(np.arange(len(SHAPES_CLASSES)), per_class).astype(np.int64)
    xs = [_shapes_batch(labels[i : i + 500], rng, style) for i in range(0, len(labels), 500)]
    return np.concatenate(xs), labels


@functools.cache
def _shapes_cached(style: ShapesStyle = SHAPES_STYLE) -> tuple[np.ndarray, np.ndarray]:
    return shapes32(style=style)


# ---------------------------------------------------------------------------------------------
# the registry
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TaskInfo:
    """A built-in task: its name, kind, input shape, classes and a one-line description (``load_task`` loads it)."""

    name: str
    kind: Literal["image", "sequence"]
    input_shape: tuple[int, ...]
    n_classes: int
    description: str
    loader: Callable[[], Task]


def _digits_task() -> Task:
    x, y = _digits_arrays()
    return _make("digits", x[:, None, :, :], y, "image")


def _seq_digits_task() -> Task:
    x, y = _digits_arrays()
    return _make("seq-digits", x.reshape(-1, 64, 1), y, "sequence")


def _pseq_digits_task() -> Task:
    x, y = _digits_arrays()
    return _make("pseq-digits", x.reshape(-1, 64, 1)[:, PSEQ_PERMUTATION], y, "sequence")


def _kws_task() -> Task:
    x, y = _kws_arrays()
    return _make("kws-synth", x, y, "sequence")


def _mnist1d_task() -> Task:
    x, y, xt, yt = _mnist1d_cached()
    return Task("mnist1d", x[:, :, None].copy(), y.copy(), xt[:, :, None].copy(), yt.copy(), (40, 1), 10, "sequence")


def _pmnist1d_task() -> Task:
    x, y, xt, yt = _mnist1d_cached()
    p = PMNIST1D_PERMUTATION  # take copies (C order): the cached arrays stay as they are
    return Task("pmnist1d", np.take(x, p, axis=1)[:, :, None], y.copy(), np.take(xt, p, axis=1)[:, :, None], yt.copy(),
                (40, 1), 10, "sequence")


def _shapes_task() -> Task:
    x, y = _shapes_cached()
    return _make("shapes32", x, y, "image")


def _small_shapes_task() -> Task:
    x, y = _shapes_cached(SMALL_SHAPES_STYLE)
    return _make("smallshapes32", x, y, "image")


#: The built-in tasks by name, in the order they are listed (``edgefmr tasks list``).
TASKS: dict[str, TaskInfo] = {t.name: t for t in (
    TaskInfo("digits", "image", (1, 8, 8), 10, "scikit-learn's 8x8 handwritten digits, pixel / 16", _digits_task),
    TaskInfo("seq-digits", "sequence", (64, 1), 10, "the digits read row by row as 64-step sequences",
             _seq_digits_task),
    TaskInfo("pseq-digits", "sequence", (64, 1), 10, "seq-digits with the 64 steps in a fixed random order",
             _pseq_digits_task),
    TaskInfo("kws-synth", "sequence", (KWS_FRAMES, KWS_BANDS), 10,
             "synthetic keywords: four tone 'phonemes' in a class-specific order, 16-band log filterbank",
             _kws_task),
    TaskInfo("mnist1d", "sequence", (40, 1), 10,
             "MNIST-1D (the mnist1d package's procedural generator, seed 42): 40-step 1-D digit signals",
             _mnist1d_task),
    TaskInfo("pmnist1d", "sequence", (40, 1), 10,
             "mnist1d with the 40 steps in a fixed random order (permuted MNIST-1D): needs the whole sequence's memory",
             _pmnist1d_task),
    TaskInfo("shapes32", "image", (3, SHAPES_SIZE, SHAPES_SIZE), len(SHAPES_CLASSES),
             "procedural 32x32 RGB shapes (10 classes) under random affine maps, textures, clutter and noise",
             _shapes_task),
    TaskInfo("smallshapes32", "image", (3, SHAPES_SIZE, SHAPES_SIZE), len(SHAPES_CLASSES),
             "shapes32's ten shapes at about half the size, anywhere in the image, under more clutter",
             _small_shapes_task),
)}
BUILTIN_TASKS = tuple(TASKS)


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
    """A built-in task by name (:data:`BUILTIN_TASKS`) or an ``.npz`` path."""
    name = str(name_or_path)
    if name in TASKS:
        return TASKS[name].loader()
    if name.endswith(".npz") or Path(name).is_file():
        return load_npz(name)
    raise EdgefmrError(f"unknown task '{name}'; valid: {', '.join(BUILTIN_TASKS)}, or a path to an .npz file "
                       "with arrays x and y")
