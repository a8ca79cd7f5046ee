"""The models the FPGA acceptance covers (issue 17): the TF-converter ViTs and MLPerf-Tiny-size CNNs of
tests/fixtures, and edgefmr's default ViT, spiking and LMU models (each family's default config on its task,
lowered to the integer IR with seeded weights, as the search costs a candidate)."""

from __future__ import annotations

from functools import cache

from paths import FIXTURES

from edgefmr.ir import Graph
from edgefmr.ir.model_io import load_model

#: .tflite fixtures made by TensorFlow's converter.
FIXTURE_MODELS = ("vit16_d64_int8", "vit64_int8", "dscnn_int8", "resnet8_int8", "mobilenet_v1_025_int8")
#: edgefmr's families with their default config, and the task each is lowered on.
DEFAULT_MODELS = {"vit-default": ("vit", "digits"), "spiking-default": ("spiking", "digits"),
                  "lmu-default": ("lmu", "seq-digits")}
ACCEPTANCE = FIXTURE_MODELS + tuple(DEFAULT_MODELS)


@cache
def acceptance_model(name: str) -> Graph:
    """One acceptance model by name (FIXTURE_MODELS or DEFAULT_MODELS)."""
    if name in FIXTURE_MODELS:
        return load_model(FIXTURES / f"{name}.tflite")
    from edgefmr.nas.models.families import get_family
    from edgefmr.nas.search.cost import lower_for_cost
    from edgefmr.nas.tasks import load_task

    family, task = DEFAULT_MODELS[name]
    return lower_for_cost(get_family(family)[0](), load_task(task))
