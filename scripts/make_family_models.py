"""Make the family-model fixtures of the kernel bench: edgefmr's own models, trained briefly and quantized (PTQ).

    .venv/bin/python scripts/make_family_models.py [--epochs-scale S]

Writes tests/fixtures/family/<name>.efm and <name>_x.npy (the first test inputs, quantized to the graph's int8
input) for: the families bench's ViT (digits, patch 2, embed 64, 4 heads, depth 2, MLP 2) with each attention
variant (softmax, clipped, gated, hash), its spiking transformer (SPIKING_ACCEPTANCE) and LMUFormers (the kws-synth
LMU and the spiking LMU of LMU_ACCEPTANCE). Training is short (the bench measures instructions, which depend on
the architecture; the spiking models' on their firing rates too, so those are trained to a working accuracy); the
accuracy reached is stored in each graph's metadata. Seeded: a rerun on the same machine gives the same files.
The demo's model (`make demo`: out/demo/search/model.efm) is copied in as demo_vit when it exists.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.families import _BASE, _SPIKING, SPIKING_ACCEPTANCE, VIT_CONFIG  # noqa: E402
from edgefmr.ir import efm  # noqa: E402
from edgefmr.ir.model_io import prepare_input  # noqa: E402
from edgefmr.nas.models.lmu import LMUConfig  # noqa: E402
from edgefmr.nas.models.spiking import SpikingConfig  # noqa: E402
from edgefmr.nas.models.vit import ViTConfig  # noqa: E402
from edgefmr.nas.tasks import load_task  # noqa: E402
from edgefmr.nas.train import train  # noqa: E402
from edgefmr.quant.pipeline import quantize_task  # noqa: E402
from edgefmr.quant.quantizer import QuantOptions  # noqa: E402

OUT = ROOT / "tests" / "fixtures" / "family"
N_INPUTS = 2

#: name -> (family, task, config, epochs)
MODELS = {
    **{f"vit_{a}": ("vit", "digits", ViTConfig.from_dict({**VIT_CONFIG, "attention": a}), 15)
       for a in ("softmax", "clipped", "gated", "hash")},
    "spiking": ("spiking", "digits", SpikingConfig.from_dict(SPIKING_ACCEPTANCE["config"]), 12),
    "lmu": ("lmu", "kws-synth", LMUConfig.from_dict(_BASE), 6),
    "lmu_spiking": ("lmu", "seq-digits", LMUConfig.from_dict(_SPIKING), 10),
}


def make(name: str, epochs_scale: float) -> None:
    family, task_name, cfg, epochs = MODELS[name]
    torch.manual_seed(0)
    task = load_task(task_name)
    model, metrics = train(family, task, cfg, epochs=max(1, round(epochs * epochs_scale)), seed=0, progress=False)
    res = quantize_task(model, family, task, QuantOptions(), where=name, eval_samples=200,
                        metadata={"fixture": name, "train_epochs": max(1, round(epochs * epochs_scale))})
    g = res.graph
    efm.save(g, OUT / f"{name}.efm")
    xs = np.stack([prepare_input(g, task.x_test[i:i + 1], f"{name} input")[0] for i in range(N_INPUTS)])
    np.save(OUT / f"{name}_x.npy", xs)
    print(f"{name}: float {100 * metrics['accuracy']:.1f}%, int8 {100 * res.report['int_accuracy']:.1f}% "
          f"(first 200 test samples), {len(g.nodes)} nodes", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs-scale", type=float, default=1.0)
    ap.add_argument("names", nargs="*", default=[*MODELS, "demo_vit"])
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    for name in args.names:
        if name == "demo_vit":
            copy_demo()
        else:
            make(name, args.epochs_scale)


def copy_demo() -> None:
    """The model `make demo` searched (when it exists), with digits test inputs."""
    demo = ROOT / "out" / "demo" / "search" / "model.efm"
    if not demo.is_file():
        print(f"demo_vit: {demo} not found (run `make demo` first); skipped", flush=True)
        return
    shutil.copy(demo, OUT / "demo_vit.efm")
    g = efm.load(demo)
    x = load_task("digits").x_test
    np.save(OUT / "demo_vit_x.npy", np.stack([prepare_input(g, x[i:i + 1])[0] for i in range(N_INPUTS)]))
    print(f"demo_vit: copied from {demo}, {len(g.nodes)} nodes", flush=True)


if __name__ == "__main__":
    main()
