"""Search spaces: the choices of every dimension a family exposes, and the attention variant per layer.

A :class:`Space` is data: a family, its dimensions (:class:`Dim`: a config key and its choices), the attention
variants a layer may use (chosen per layer, mixed, as in "Neural Architecture Search on Efficient Transformers and
Beyond") and config keys held fixed. A point of the space is a dict of dimension values; :meth:`Space.config` turns
it into the family's config (:mod:`edgefmr.nas.models.vit`, :mod:`~edgefmr.nas.models.spiking`,
:mod:`~edgefmr.nas.models.lmu`).

Dimension kinds (they matter to the supernet, :mod:`edgefmr.nas.search.supernet`):

* ``size`` - a width, depth or count: bigger values give bigger tensors (the supernet holds the largest; the
  sandwich rule trains the largest and smallest);
* ``shape`` - changes parameter shapes or names in other ways (patch size, heads, low-rank factor): the supernet is
  sized over every choice;
* ``other`` - no effect on parameters (thresholds, time constants, activation, pooling).

A dimension may be conditional (``when=(dim, value)``): it exists only when another dimension has that value (e.g.
the LIF threshold of an LMU only when it is spiking). :func:`default_space` gives each family's space for a task
(choices that do not fit the input, such as a patch size that does not divide the image, are left out);
:meth:`Space.with_choices` restricts or replaces choices (``--space FILE``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgefmr.errors import EdgefmrError
from edgefmr.nas.models.config import FamilyConfig
from edgefmr.nas.models.families import FAMILY_NAMES, get_family
from edgefmr.nas.train import build_model

KINDS = ("size", "shape", "other")


@dataclass(frozen=True)
class Dim:
    """One search dimension: a config key, its choices, its kind and an optional condition."""

    name: str
    choices: tuple[Any, ...]
    kind: str = "size"
    when: tuple[str, Any] | None = None

    def __post_init__(self) -> None:
        if not self.choices:
            raise EdgefmrError(f"search dimension '{self.name}': no choices")
        if self.kind not in KINDS:
            raise EdgefmrError(f"search dimension '{self.name}': kind {self.kind!r}; valid: {', '.join(KINDS)}")
        for c in self.choices:
            if not isinstance(c, bool | int | float | str):
                raise EdgefmrError(f"search dimension '{self.name}': choice {c!r} is not a number, bool or string")


@dataclass(frozen=True)
class Space:
    """A family's search space (see the module docstring)."""

    family: str
    dims: tuple[Dim, ...]
    attention: tuple[str, ...] = ()
    fixed: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = [d.name for d in self.dims]
        if len(set(names)) != len(names):
            raise EdgefmrError(f"{self.family} search space: a dimension is listed twice in {names}")
        cfg_keys = get_family(self.family)[0].keys()
        for n in [*names, *self.fixed]:
            if n not in cfg_keys:
                raise EdgefmrError(f"{self.family} search space: '{n}' is not a {self.family} config key; valid: "
                                   f"{', '.join(cfg_keys)}")
        for d in self.dims:
            if d.when is not None and d.when[0] not in names[: names.index(d.name)]:
                raise EdgefmrError(f"{self.family} search space: '{d.name}' depends on '{d.when[0]}', which must "
                                   "be an earlier dimension")
        if self.attention and "depth" not in names and "depth" not in self.fixed:
            raise EdgefmrError(f"{self.family} search space: per-layer attention needs a depth")

    # ------------------------------------------------------------------------------------------ access
    def dim(self, name: str) -> Dim:
        for d in self.dims:
            if d.name == name:
                return d
        raise EdgefmrError(f"{self.family} search space has no dimension '{name}'")

    @property
    def max_depth(self) -> int:
        return int(max(self.dim("depth").choices)) if any(d.name == "depth" for d in self.dims) \
            else int(self.fixed["depth"])

    def active(self, values: Mapping[str, Any]) -> list[Dim]:
        """The dimensions present for ``values`` (conditions checked in order)."""
        out: list[Dim] = []
        for d in self.dims:
            if d.when is None or values.get(d.when[0]) == d.when[1]:
                out.append(d)
        return out

    def depth_of(self, values: Mapping[str, Any]) -> int:
        return int(values.get("depth", self.fixed.get("depth", 1)))

    def param_name(self, key: str) -> str:
        """The Optuna parameter name of a dimension (``attention_3`` for layer 3's variant)."""
        return f"{self.family}.{key}"

    # ----------------------------------------------------------------------------------------- points
    def suggest(self, trial: Any) -> dict[str, Any]:
        """A point chosen by an Optuna trial (``suggest_categorical`` per dimension, then per layer's attention)."""
        values: dict[str, Any] = {}
        for d in self.dims:
            if d.when is None or values.get(d.when[0]) == d.when[1]:
                values[d.name] = trial.suggest_categorical(self.param_name(d.name), list(d.choices))
        if self.attention:
            values["attention"] = [trial.suggest_categorical(self.param_name(f"attention_{i}"), list(self.attention))
                                   for i in range(self.depth_of(values))]
        return values

    def from_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The point of an Optuna trial's ``params`` (the inverse of :meth:`suggest`)."""

        class _Fixed:
            def suggest_categorical(self, name: str, choices: list[Any]) -> Any:
                if name not in params:
                    raise EdgefmrError(f"trial parameters lack '{name}'")
                return params[name]

        return self.suggest(_Fixed())

    def params_of(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Optuna parameters of a point (for ``enqueue_trial``)."""
        out = {self.param_name(d.name): values[d.name] for d in self.active(values)}
        for i, a in enumerate(values.get("attention", [])):
            out[self.param_name(f"attention_{i}")] = a
        return out

    def _walk(self, choose: Callable[[Dim], Any]) -> dict[str, Any]:
        """A point: ``choose(d)`` for every dimension present (conditions checked in order)."""
        values: dict[str, Any] = {}
        for d in self.dims:
            if d.when is None or values.get(d.when[0]) == d.when[1]:
                values[d.name] = choose(d)
        return values

    def sample(self, rng: np.random.Generator, size: str | None = None) -> dict[str, Any]:
        """A random point; ``size="max"``/``"min"`` puts every size dimension at its largest/smallest choice
        (the sandwich rule's largest and smallest subnets), the other dimensions stay random."""

        def choose(d: Dim) -> Any:
            if size is not None and d.kind == "size":
                return max(d.choices) if size == "max" else min(d.choices)
            return d.choices[int(rng.integers(len(d.choices)))]

        values = self._walk(choose)
        if self.attention:
            values["attention"] = [self.attention[int(rng.integers(len(self.attention)))]
                                   for _ in range(self.depth_of(values))]
        return values

    def smallest(self) -> list[dict[str, Any]]:
        """The smallest points: size dimensions at their minimum, one point per choice of each shape dimension (other
        dimensions at their first choice, attention the first variant). The search evaluates them first, so that
        an impossible budget is recognised early."""
        shape = [d for d in self.dims if d.kind == "shape" and d.when is None]
        out = []
        for combo in itertools.product(*(d.choices for d in shape)):
            pick = dict(zip([d.name for d in shape], combo, strict=True))
            values = self._walk(lambda d, pick=pick: pick.get(d.name, min(d.choices) if d.kind == "size"
                                                              else d.choices[0]))
            if self.attention:
                values["attention"] = [self.attention[0]] * self.depth_of(values)
            out.append(values)
        return out

    def point(self, recipe: Mapping[str, Any]) -> dict[str, Any]:
        """The point of a partial recipe (e.g. a hand-designed baseline): its keys as given (``attention`` may be one
        variant for every layer), every other active dimension at the family config's default when that is one of
        its choices, else at its smallest/first choice. EdgefmrError names a key that is not in the space."""
        defaults = get_family(self.family)[0]().to_dict()
        names = {d.name for d in self.dims}
        for k, v in recipe.items():
            if k not in names and k != "attention" and self.fixed.get(k, v) != v:
                raise EdgefmrError(f"{self.family} recipe: '{k}' = {v!r} is neither a dimension of the space nor its "
                                   f"fixed value {self.fixed.get(k)!r}")

        def choose(d: Dim) -> Any:
            if d.name in recipe:
                return recipe[d.name]
            if defaults.get(d.name) in d.choices:
                return defaults[d.name]
            return min(d.choices) if d.kind == "size" else d.choices[0]

        values = self._walk(choose)
        if self.attention:
            att = recipe.get("attention", self.attention[0])
            values["attention"] = [att] * self.depth_of(values) if isinstance(att, str) else list(att)
        self.config(values)
        return values

    def extremes(self) -> list[dict[str, Any]]:
        """Points that together reach the largest extent of every parameter: size dimensions at their maximum, every
        combination of the shape dimensions' choices, every attention variant in all layers (supernet sizing)."""
        shape = [d for d in self.dims if d.kind == "shape"]
        out = []
        for combo in itertools.product(*(d.choices for d in shape)):
            pick = dict(zip([d.name for d in shape], combo, strict=True))
            for variant in self.attention or (None,):
                values = self._walk(lambda d, pick=pick: pick[d.name] if d.name in pick else
                                    max(d.choices) if d.kind == "size" else d.choices[0])
                if variant is not None:
                    values["attention"] = [variant] * self.depth_of(values)
                out.append(values)
        return out

    def config(self, values: Mapping[str, Any]) -> FamilyConfig:
        """The family config of a point (EdgefmrError if the combination is invalid)."""
        cfg_cls, _ = get_family(self.family)
        d = {**self.fixed, **{k: v for k, v in values.items()}}
        return cfg_cls.from_dict(d)

    def size(self) -> int:
        """Number of distinct points (conditional dimensions counted where they apply)."""
        total = 0
        conds = [d for d in self.dims if d.when is not None]
        base = [d for d in self.dims if d.when is None]
        for combo in itertools.product(*(d.choices for d in base)):
            values = dict(zip([d.name for d in base], combo, strict=True))
            n = math.prod(len(d.choices) for d in conds if values.get(d.when[0]) == d.when[1])  # type: ignore[index]
            if self.attention:
                n *= len(self.attention) ** self.depth_of(values)
            total += n
        return total

    # --------------------------------------------------------------------------------------- identity
    def to_dict(self) -> dict[str, Any]:
        return {"family": self.family,
                "dims": [{"name": d.name, "choices": list(d.choices), "kind": d.kind,
                          **({"when": list(d.when)} if d.when else {})} for d in self.dims],
                "attention": list(self.attention), "fixed": dict(self.fixed)}

    def key(self) -> str:
        """A short hash of the space (part of the supernet's cache key and the default study name)."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:12]

    def with_choices(self, overrides: Mapping[str, Any], where: str = "--space") -> Space:
        """A copy with some dimensions' choices replaced: ``{"embed_dim": [16, 32], "attention": ["softmax"],
        "fixed": {"pooling": "cls"}}``. A dimension given a single value stays a dimension with one choice."""
        dims = list(self.dims)
        attention = self.attention
        fixed = dict(self.fixed)
        names = [d.name for d in dims]
        for k, v in overrides.items():
            if k == "attention":
                attention = tuple(_choices(v, f"{where}: {self.family}.attention"))
            elif k == "fixed":
                if not isinstance(v, dict):
                    raise EdgefmrError(f"{where}: {self.family}.fixed must be an object of config keys")
                fixed.update(v)
                for fk in v:
                    if fk in names:
                        raise EdgefmrError(f"{where}: {self.family}.fixed.{fk} is also a search dimension; "
                                           "give it one choice instead")
            elif k in names:
                i = names.index(k)
                dims[i] = dataclasses.replace(dims[i], choices=tuple(_choices(v, f"{where}: {self.family}.{k}")))
            else:
                valid = ", ".join([*names, *(["attention"] if self.attention else []), "fixed"])
                raise EdgefmrError(f"{where}: '{k}' is not a dimension of the {self.family} space; valid: {valid}")
        if self.attention == () and "attention" in overrides:
            raise EdgefmrError(f"{where}: the {self.family} space has no per-layer attention")
        return Space(self.family, tuple(dims), attention, fixed)


def _choices(v: Any, where: str) -> list[Any]:
    vals = v if isinstance(v, list) else [v]
    if not vals:
        raise EdgefmrError(f"{where}: give at least one choice")
    for c in vals:
        if not isinstance(c, bool | int | float | str):
            raise EdgefmrError(f"{where}: choice {c!r} is not a number, bool or string")
    return vals


# ------------------------------------------------------------------------------------------- defaults

def _divisors(n: int, cands: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(c for c in cands if n % c == 0)


def _vit_space(input_shape: tuple[int, ...]) -> Space:
    side = min(input_shape[1:]) if len(input_shape) == 3 else input_shape[0]
    # at most a 16 x 16 grid of tokens (256) up to 32 pixels, an 8 x 8 grid (64) for larger images: more tokens cost
    # an MCU seconds per inference. The 256-token points of 32-pixel images are those whose activations (and
    # attention scores) need 64-128 KiB and more of SRAM on a Cortex-M4; the 64-token ones stay under ~43 KiB.
    grid = 16 if side <= 32 else 8
    patches = tuple(p for p in (2, 4, 8) if p <= max(2, side // 2) and (side <= 16 or side // p <= grid)) or (1,)
    return Space("vit", (
        Dim("patch_size", patches, "shape"),
        Dim("embed_dim", (16, 24, 32, 48, 64)),
        Dim("depth", (1, 2, 3, 4)),
        Dim("heads", (1, 2, 4), "shape"),
        Dim("mlp_ratio", (1.0, 2.0, 3.0, 4.0)),
        Dim("rank_factor", (0.5, 1.0), "shape"),
        Dim("activation", ("gelu", "relu"), "other"),
        Dim("hash_bits", (4, 8)),
    ), attention=("softmax", "clipped", "gated", "hash"), fixed={"pooling": "mean"})


def _spiking_space(input_shape: tuple[int, ...]) -> Space:
    if len(input_shape) == 3:
        patches = tuple(p for p in (2, 4) if input_shape[1] % p == 0 and input_shape[2] % p == 0)
    else:
        patches = _divisors(input_shape[0], (2, 4, 8))
    return Space("spiking", (
        Dim("T", (1, 2, 4)),
        Dim("patch_size", patches or (1,), "shape"),
        Dim("stem_dim", (8, 16, 32)),
        Dim("embed_dim", (16, 32, 48, 64)),
        Dim("depth", (1, 2)),
        Dim("heads", (1, 2, 4), "shape"),
        Dim("mlp_ratio", (1.0, 2.0, 4.0)),
        Dim("threshold", (0.5, 1.0), "other"),
        Dim("attn_threshold", (0.25, 0.5), "other"),
        Dim("tau", (1.5, 2.0), "other"),
    ), attention=("sdsa", "softmax", "clipped", "gated", "hash"), fixed={"rpe": True})


def _lmu_space(input_shape: tuple[int, ...]) -> Space:
    length = input_shape[0] if len(input_shape) == 2 else input_shape[1]
    patches = tuple(p for p in (1, 2, 4) if p <= length)
    return Space("lmu", (
        Dim("patch", patches, "other"),
        Dim("kernel", tuple(k for k in (4, 8) if k >= max(patches))),
        Dim("order", (4, 8, 16, 32)),
        Dim("theta", (0.0, float(max(1, length // 4))), "other"),
        Dim("hidden", (16, 24, 32, 48, 64)),
        Dim("memory_size", (2, 4, 8, 16)),
        Dim("depth", (1, 2)),
        Dim("mlp_ratio", (1.0, 2.0)),
        Dim("act", ("gelu", "relu"), "other"),
        Dim("pool", ("last", "mean"), "other"),
        Dim("spiking", (False, True), "other"),
        Dim("threshold", (0.5, 1.0), "other", when=("spiking", True)),
    ))


_DEFAULTS = {"vit": _vit_space, "spiking": _spiking_space, "lmu": _lmu_space}


def mcuformer_space(input_shape: tuple[int, ...]) -> Space:
    """A ViT space at MCUFormer's scale (Liang et al., NeurIPS 2023) for ``[C, H, W]`` images of 96-240 pixels:
    patch sizes that give a 6x6 to 15x15 token grid, embedding 96-240, depth 4-12, 3 or 4 heads, MLP ratio 2-4 and
    the low-rank factor of every linear (MCUFormer's low-rank decomposition of the weights, 0.1-0.5 or full rank)
    that lets such models fit 1 MB of flash; softmax attention, mean pooling."""
    if len(input_shape) != 3:
        raise EdgefmrError(f"the MCUFormer space is for images [C, H, W], got input shape {list(input_shape)}")
    side = min(input_shape[1:])
    patches = tuple(p for p in range(4, side + 1) if input_shape[1] % p == 0 and input_shape[2] % p == 0
                    and 6 <= side // p <= 15)
    if not patches:
        raise EdgefmrError(f"the MCUFormer space needs images whose side has a divisor giving 6-15 patches, got "
                           f"{list(input_shape)}")
    return Space("vit", (
        Dim("patch_size", patches, "shape"),
        Dim("embed_dim", (96, 144, 192, 240)),
        Dim("depth", (4, 6, 8, 10, 12)),
        Dim("heads", (3, 4), "other"),  # softmax attention: the heads split the same weights
        Dim("mlp_ratio", (2.0, 3.0, 4.0)),
        Dim("rank_factor", (0.1, 0.2, 0.3, 0.5, 1.0)),  # a larger factor only makes the factored weights larger
    ), fixed={"pooling": "mean", "attention": "softmax"})


def default_space(family: str, input_shape: tuple[int, ...]) -> Space:
    """The default search space of ``family`` for inputs of ``input_shape`` ([C, H, W] images or [T, F] sequences)."""
    if family not in _DEFAULTS:
        raise EdgefmrError(f"unknown family '{family}'; valid: {', '.join(FAMILY_NAMES)}")
    return _DEFAULTS[family](tuple(input_shape))


def check_space(space: Space, input_shape: tuple[int, ...], n_classes: int) -> None:
    """EdgefmrError if some point of the space is not a valid model for this input: every coupled pair of choices
    (embed width and heads, patch and kernel) and every shape choice is tried."""

    names = [d.name for d in space.dims]
    coupled = {"vit": ("embed_dim", "heads"), "spiking": ("embed_dim", "heads"), "lmu": ("patch", "kernel")}
    pair = [n for n in coupled.get(space.family, ()) if n in names]
    base = space.smallest()[0]
    for combo in itertools.product(*(space.dim(n).choices for n in pair)):
        v = {**base, **dict(zip(pair, combo, strict=True))}
        try:
            space.config(v)
        except EdgefmrError as e:
            shown = ", ".join(f"{k}={x}" for k, x in zip(pair, combo, strict=True))
            raise EdgefmrError(f"{space.family} search space: {shown} is not a valid combination ({e})") from None
    for v in space.smallest():
        try:
            build_model(space.family, space.config(v), input_shape, n_classes)
        except EdgefmrError as e:
            shown = {k: x for k, x in v.items() if k != "attention"}
            raise EdgefmrError(f"{space.family} search space: the point {shown} does not fit inputs "
                               f"{list(input_shape)}: {e}") from None


def load_space_file(path: str, families: list[str], input_shape: tuple[int, ...]) -> dict[str, Space]:
    """Spaces from a JSON file ``{"vit": {"embed_dim": [16, 32], ...}, ...}`` applied over the defaults."""
    try:
        with open(path) as f:
            data = json.load(f)
    except OSError as e:
        raise EdgefmrError(f"--space {path}: cannot read ({e.strerror})") from None
    except json.JSONDecodeError as e:
        raise EdgefmrError(f"--space {path}: not valid JSON ({e.msg} at line {e.lineno})") from None
    if not isinstance(data, dict):
        raise EdgefmrError(f"--space {path}: expected an object with one entry per family")
    for k in data:
        if k not in FAMILY_NAMES:
            raise EdgefmrError(f"--space {path}: unknown family '{k}'; valid: {', '.join(FAMILY_NAMES)}")
    out = {}
    for fam in families:
        sp = default_space(fam, input_shape)
        if fam in data:
            if not isinstance(data[fam], dict):
                raise EdgefmrError(f"--space {path}: '{fam}' must be an object of dimension choices")
            sp = sp.with_choices(data[fam], where=f"--space {path}")
        out[fam] = sp
    return out


def arch_key(family: str, values: Mapping[str, Any]) -> str:
    """A canonical string of a point (for memoising evaluations and caching subnets)."""
    return family + ":" + json.dumps({k: values[k] for k in sorted(values)}, sort_keys=True)


def describe(values: Mapping[str, Any]) -> str:
    """A compact one-line description of a point."""
    parts = []
    for k, v in values.items():
        if k == "attention":
            parts.append("attn=" + "/".join(v))
        else:
            parts.append(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}")
    return " ".join(parts)
