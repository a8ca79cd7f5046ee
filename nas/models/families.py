"""The family registry: family name -> (config class, model class).

``FAMILIES["vit"]`` is ``(ViTConfig, ViT)``; ``"spiking"`` is ``(SpikingConfig, SpikingTransformer)``
from :mod:`edgefmr.nas.models.spiking` and ``"lmu"`` is ``(LMUConfig, LMUFormer)`` from :mod:`edgefmr.nas.models.lmu`.

Contract of a family: the config class is a dataclass subclassing
:class:`edgefmr.nas.models.config.FamilyConfig`; the model class is an ``nn.Module`` built as
``Model(cfg, input_shape, n_classes)`` whose ``forward(x: float [B, *input_shape])`` returns logits
``[B, n_classes]``. Optional training hooks are described in :mod:`edgefmr.nas.train`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from edgefmr.errors import EdgefmrError
from edgefmr.nas.models.lmu import LMUConfig, LMUFormer
from edgefmr.nas.models.spiking import SpikingConfig, SpikingTransformer
from edgefmr.nas.models.vit import ViT, ViTConfig

_FAMILIES: dict[str, tuple[type, type]] = {
    "vit": (ViTConfig, ViT),
    "spiking": (SpikingConfig, SpikingTransformer),
    "lmu": (LMUConfig, LMUFormer),
}


class _Families(Mapping[str, tuple[type, type]]):
    """A read-only mapping of the families; an unknown name is an EdgefmrError listing the valid ones."""

    def __getitem__(self, name: str) -> tuple[type, type]:
        if name not in _FAMILIES:
            raise EdgefmrError(f"unknown family '{name}'; valid: {', '.join(_FAMILIES)}")
        return _FAMILIES[name]

    def __iter__(self) -> Iterator[str]:
        return iter(_FAMILIES)

    def __len__(self) -> int:
        return len(_FAMILIES)

    def __contains__(self, name: object) -> bool:
        return name in _FAMILIES


FAMILIES: Mapping[str, tuple[type, type]] = _Families()
FAMILY_NAMES = tuple(_FAMILIES)


def get_family(name: str) -> tuple[type, type]:
    """(config class, model class) of a family; EdgefmrError for an unknown or unavailable family."""
    return FAMILIES[name]
