"""The family registry: family name -> (config class, model class).

``FAMILIES["vit"]`` is ``(ViTConfig, ViT)``; ``"spiking"`` is ``(SpikingConfig, SpikingTransformer)``
from :mod:`edgefmr.nas.models.spiking` and ``"lmu"`` is ``(LMUConfig, LMUFormer)`` from :mod:`edgefmr.nas.models.lmu`.
Entries are imported on first access, so one family's module never needs the others.

Contract of a family: the config class is a dataclass subclassing
:class:`edgefmr.nas.config.FamilyConfig`; the model class is an ``nn.Module`` built as
``Model(cfg, input_shape, n_classes)`` whose ``forward(x: float [B, *input_shape])`` returns logits
``[B, n_classes]``. Optional training hooks are described in :mod:`edgefmr.nas.train`.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping

from edgefmr.errors import EdgefmrError

_SOURCES = {
    "vit": ("edgefmr.nas.models.vit", "ViTConfig", "ViT"),
    "spiking": ("edgefmr.nas.models.spiking", "SpikingConfig", "SpikingTransformer"),
    "lmu": ("edgefmr.nas.models.lmu", "LMUConfig", "LMUFormer"),
}


class _Families(Mapping[str, tuple[type, type]]):
    """A read-only mapping that imports a family's module when the family is first looked up."""

    def __getitem__(self, name: str) -> tuple[type, type]:
        if name not in _SOURCES:
            raise EdgefmrError(f"unknown family '{name}'; valid: {', '.join(_SOURCES)}")
        module, cfg_name, model_name = _SOURCES[name]
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name != module:
                raise
            raise EdgefmrError(f"family '{name}' is not available: module {module} is missing") from None
        try:
            return getattr(mod, cfg_name), getattr(mod, model_name)
        except AttributeError:
            raise EdgefmrError(
                f"family '{name}' is not available: {module} lacks {cfg_name} or {model_name}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(_SOURCES)

    def __len__(self) -> int:
        return len(_SOURCES)

    def __contains__(self, name: object) -> bool:
        return name in _SOURCES


FAMILIES: Mapping[str, tuple[type, type]] = _Families()
FAMILY_NAMES = tuple(_SOURCES)


def get_family(name: str) -> tuple[type, type]:
    """(config class, model class) of a family; EdgefmrError for an unknown or unavailable family."""
    return FAMILIES[name]
