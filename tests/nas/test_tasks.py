"""Built-in tasks, the fixed split and user .npz data."""

from __future__ import annotations

import numpy as np
import pytest

from edgefmr.errors import EdgefmrError
from edgefmr.nas.tasks import (
    KWS_KEYWORDS,
    PSEQ_PERMUTATION,
    TEST_FRACTION,
    Task,
    kws_synth,
    load_task,
    split_indices,
)


@pytest.mark.parametrize("name,shape,kind", [
    ("digits", (1, 8, 8), "image"),
    ("seq-digits", (64, 1), "sequence"),
    ("pseq-digits", (64, 1), "sequence"),
    ("kws-synth", (50, 16), "sequence"),
])
def test_builtin_shapes_and_split(name: str, shape: tuple[int, ...], kind: str) -> None:
    t = load_task(name)
    assert isinstance(t, Task) and t.name == name and t.kind == kind
    assert t.input_shape == shape and t.n_classes == 10
    assert t.x_train.dtype == np.float32 and t.y_train.dtype == np.int64
    assert t.x_train.shape[1:] == shape and t.x_test.shape[1:] == shape
    n = len(t.y_train) + len(t.y_test)
    assert abs(len(t.y_test) / n - TEST_FRACTION) < 0.01
    assert set(np.unique(t.y_test)) == set(range(10))  # stratified
    again = load_task(name)
    np.testing.assert_array_equal(again.x_test, t.x_test)
    np.testing.assert_array_equal(again.y_train, t.y_train)


def test_digits_values_and_sequence_views() -> None:
    img, seq, pseq = load_task("digits"), load_task("seq-digits"), load_task("pseq-digits")
    assert img.x_train.min() == 0.0 and img.x_train.max() == 1.0
    assert len(img.y_train) + len(img.y_test) == 1797
    np.testing.assert_array_equal(seq.x_train[:, :, 0], img.x_train.reshape(-1, 64))
    np.testing.assert_array_equal(pseq.x_test, seq.x_test[:, PSEQ_PERMUTATION])
    assert sorted(PSEQ_PERMUTATION.tolist()) == list(range(64))
    assert (PSEQ_PERMUTATION != np.arange(64)).sum() > 50


def test_split_is_disjoint_stratified_and_fixed() -> None:
    y = np.repeat(np.arange(4), [10, 20, 5, 1])
    tr, te = split_indices(y)
    assert len(np.intersect1d(tr, te)) == 0 and len(tr) + len(te) == len(y)
    assert [int((y[te] == c).sum()) for c in range(4)] == [2, 4, 1, 0]
    np.testing.assert_array_equal(split_indices(y)[1], te)


def test_kws_synth_needs_order() -> None:
    """Classes hold the same sounds: a bag of frames is near chance, lagged frame pairs are not."""
    from sklearn.neighbors import NearestCentroid

    t = load_task("kws-synth")
    assert len(set(map(frozenset, KWS_KEYWORDS))) == 1 and len(set(KWS_KEYWORDS)) == 10

    def bag(x: np.ndarray) -> np.ndarray:
        return x.mean(axis=1)

    def bigram(x: np.ndarray) -> np.ndarray:  # products of frames 6 apart: sees the order of the sounds
        return np.einsum("ntf,ntg->nfg", x[:, :-6], x[:, 6:]).reshape(len(x), -1)

    bag_acc = NearestCentroid().fit(bag(t.x_train), t.y_train).score(bag(t.x_test), t.y_test)
    seq_acc = NearestCentroid().fit(bigram(t.x_train), t.y_train).score(bigram(t.x_test), t.y_test)
    assert bag_acc < 0.25
    assert seq_acc > 0.9


def test_kws_synth_is_deterministic() -> None:
    a, ya = kws_synth(per_class=2, seed=7)
    b, yb = kws_synth(per_class=2, seed=7)
    c, _ = kws_synth(per_class=2, seed=8)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ya, yb)
    assert not np.allclose(a, c)
    assert a.shape == (20, 50, 16) and np.isfinite(a).all()


def test_unknown_task_lists_valid_names() -> None:
    with pytest.raises(EdgefmrError,
                       match="unknown task .mnist.*kws-synth, mnist1d, pmnist1d, shapes32, smallshapes32"):
        load_task("mnist")


def test_npz_split_and_shapes(tmp_path) -> None:
    rng = np.random.default_rng(0)
    p = tmp_path / "seq.npz"
    np.savez(p, x=rng.normal(size=(50, 12)), y=np.arange(50) % 5)
    t = load_task(str(p))
    assert t.kind == "sequence" and t.input_shape == (12, 1) and t.n_classes == 5
    assert len(t.y_test) == 10 and len(t.y_train) == 40
    p2 = tmp_path / "img.npz"
    np.savez(p2, x=rng.normal(size=(30, 6, 6)), y=np.arange(30) % 3, kind="image",
             x_test=rng.normal(size=(7, 6, 6)), y_test=np.arange(7) % 3)
    t2 = load_task(str(p2))
    assert t2.kind == "image" and t2.input_shape == (1, 6, 6)
    assert len(t2.y_train) == 30 and len(t2.y_test) == 7


@pytest.mark.parametrize("arrays,message", [
    ({"x": np.zeros((4, 3))}, "missing array 'y'"),
    ({"y": np.zeros(4, int)}, "missing array 'x'"),
    ({"x": np.zeros((4, 3)), "y": np.zeros(5, int)}, "5 labels but the inputs have 4"),
    ({"x": np.zeros(4), "y": np.zeros(4, int)}, r"shape \[N, T\]"),
    ({"x": np.zeros((4, 3)), "y": np.array([0, 1.5, 0, 1])}, "integer class labels"),
    ({"x": np.array([["a"] * 3] * 4), "y": np.zeros(4, int)}, "numeric array"),
    ({"x": np.zeros((4, 3)), "y": np.array([0, -1, 0, 1])}, "negative labels"),
    ({"x": np.zeros((10, 3)), "y": np.arange(10) % 2, "x_test": np.zeros((2, 4)), "y_test": np.zeros(2, int)},
     "must match"),
    ({"x": np.zeros((4, 3)), "y": np.zeros(4, int), "x_test": np.zeros((2, 3))}, "given together"),
    ({"x": np.zeros((4, 3)), "y": np.zeros(4, int), "z": np.zeros(1)}, "unknown array 'z'"),
    ({"x": np.zeros((4, 3)), "y": np.zeros(4, int), "kind": "video"}, "'kind' must be"),
    ({"x": np.full((10, 3), np.nan), "y": np.arange(10) % 2}, "NaN"),
])
def test_npz_errors(tmp_path, arrays: dict, message: str) -> None:
    p = tmp_path / "bad.npz"
    np.savez(p, **arrays)
    with pytest.raises(EdgefmrError, match=message):
        load_task(str(p))


def test_npz_not_an_archive(tmp_path) -> None:
    p = tmp_path / "x.npz"
    p.write_text("hello")
    with pytest.raises(EdgefmrError, match="not a readable .npz"):
        load_task(str(p))
    with pytest.raises(EdgefmrError, match="does not exist"):
        load_task(str(tmp_path / "missing.npz"))


def test_registry_lists_every_builtin_task() -> None:
    from edgefmr.nas.tasks import BUILTIN_TASKS, TASKS

    assert BUILTIN_TASKS == tuple(TASKS)
    assert {"digits", "seq-digits", "pseq-digits", "kws-synth", "mnist1d", "pmnist1d", "shapes32",
            "smallshapes32"} <= set(BUILTIN_TASKS)
    for name in ("digits", "seq-digits", "mnist1d"):
        info, t = TASKS[name], load_task(name)
        assert (info.kind, info.input_shape, info.n_classes) == (t.kind, t.input_shape, t.n_classes)
        assert info.description


def test_mnist1d_is_generated_offline_and_leaves_the_global_rng_alone() -> None:
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    t = load_task("mnist1d")
    np.testing.assert_array_equal(np.random.get_state()[1], before)
    assert t.input_shape == (40, 1) and t.kind == "sequence" and t.n_classes == 10
    assert len(t.y_train) == 4000 and len(t.y_test) == 1000
    assert t.x_train.dtype == np.float32 and np.isfinite(t.x_train).all()
    assert set(np.unique(t.y_test)) == set(range(10))
    from edgefmr.nas.tasks import mnist1d_arrays

    again = mnist1d_arrays()
    np.testing.assert_array_equal(again[0], t.x_train[:, :, 0])
    np.testing.assert_array_equal(again[3], t.y_test)


def test_pmnist1d_is_mnist1d_with_its_steps_in_one_fixed_order() -> None:
    from edgefmr.nas.tasks import PMNIST1D_PERMUTATION

    t, p = load_task("mnist1d"), load_task("pmnist1d")
    assert sorted(PMNIST1D_PERMUTATION) == list(range(40)) and (PMNIST1D_PERMUTATION != np.arange(40)).any()
    assert (p.input_shape, p.kind, p.n_classes) == (t.input_shape, t.kind, t.n_classes)
    np.testing.assert_array_equal(p.y_train, t.y_train)
    np.testing.assert_array_equal(p.y_test, t.y_test)
    np.testing.assert_array_equal(p.x_train, t.x_train[:, PMNIST1D_PERMUTATION])
    np.testing.assert_array_equal(p.x_test, t.x_test[:, PMNIST1D_PERMUTATION])


def test_shapes32_is_deterministic_balanced_and_in_range() -> None:
    from edgefmr.nas.tasks import SHAPES_CLASSES, shapes32

    a, ya = shapes32(per_class=3, seed=5)
    b, yb = shapes32(per_class=3, seed=5)
    c, _ = shapes32(per_class=3, seed=6)
    assert a.shape == (30, 3, 32, 32) and a.dtype == np.float32
    assert a.min() >= 0.0 and a.max() <= 1.0
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ya, yb)
    assert not np.allclose(a, c)
    assert np.bincount(ya).tolist() == [3] * len(SHAPES_CLASSES) == [3] * 10


def test_shapes32_classes_are_distinct_shapes() -> None:
    """At the identity map every class has its own, non-empty mask."""
    from edgefmr.nas.tasks import SHAPES_CLASSES, _shape_mask

    c = np.linspace(-1, 1, 64)
    v, u = np.meshgrid(c, c, indexing="ij")
    k = len(SHAPES_CLASSES)
    masks = _shape_mask(np.arange(k), np.broadcast_to(u, (k, 64, 64)), np.broadcast_to(v, (k, 64, 64)))
    assert all(m.sum() > 100 for m in masks)
    for i in range(k):
        for j in range(i + 1, k):
            assert (masks[i] != masks[j]).sum() > 50, (SHAPES_CLASSES[i], SHAPES_CLASSES[j])


def test_smallshapes32_draws_the_same_classes_smaller_and_shapes32_keeps_its_style() -> None:
    from edgefmr.nas.tasks import SHAPES_STYLE, SMALL_SHAPES_STYLE, shapes32

    a, ya = shapes32(per_class=10, seed=5)
    np.testing.assert_array_equal(a, shapes32(per_class=10, seed=5, style=SHAPES_STYLE)[0])
    b, yb = shapes32(per_class=10, seed=5, style=SMALL_SHAPES_STYLE)
    np.testing.assert_array_equal(ya, yb)
    assert b.shape == a.shape and b.min() >= 0.0 and b.max() <= 1.0

    def bright_share(x: np.ndarray) -> float:  # pixels well above the image's median: the shape (and clutter)
        g = x.mean(axis=1)
        return float((g - np.median(g.reshape(len(g), -1), axis=1)[:, None, None] > 0.2).mean())

    assert bright_share(a) > 2 * bright_share(b)  # (0.35-0.5 / 0.6-0.9)^2: about a third of the area


def test_smallshapes32_task(monkeypatch: pytest.MonkeyPatch) -> None:
    import edgefmr.nas.tasks as tasks

    real = tasks.shapes32
    monkeypatch.setattr(tasks, "shapes32", lambda style: real(per_class=20, style=style))  # 200 images, not 10,000
    tasks._shapes_cached.cache_clear()
    try:
        t, s = load_task("smallshapes32"), load_task("shapes32")
    finally:
        tasks._shapes_cached.cache_clear()
    assert (t.name, t.input_shape, t.n_classes, t.kind) == ("smallshapes32", (3, 32, 32), 10, "image")
    assert (len(t.y_train), len(t.y_test)) == (160, 40)
    np.testing.assert_array_equal(t.y_test, s.y_test)  # the same labels and split, other images
    x, _ = real(per_class=20, style=tasks.SMALL_SHAPES_STYLE)
    assert any(np.array_equal(t.x_test[0], xi) for xi in x) and not np.allclose(t.x_test, s.x_test)
