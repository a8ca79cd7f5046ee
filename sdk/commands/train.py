"""`edgefmr train`: train a model family on a task and write a checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import click

from edgefmr.errors import EdgefmrError

FAMILY_CHOICES = ("vit", "spiking", "lmu")


def _read_config(path: str) -> dict:
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise EdgefmrError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise EdgefmrError(f"{path}: not a JSON file ({e})") from None
    if not isinstance(data, dict):
        raise EdgefmrError(f"{path}: the config must be a JSON object of key: value pairs")
    return data


@click.command()
@click.option("--family", required=True, type=click.Choice(FAMILY_CHOICES), help="Model family.")
@click.option("--task", required=True,
              help="A built-in task (edgefmr tasks list) or an .npz file with x and y.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="JSON file with config keys of the family (unknown keys are errors).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Override one config key (repeatable), e.g. --set depth=2 --set attention=hash.")
@click.option("--epochs", type=int, default=None, help="Training epochs (default: the family's).")
@click.option("--lr", type=float, default=None, help="Peak learning rate of AdamW (default: the family's).")
@click.option("--batch-size", type=int, default=None, help="Batch size (default: the family's).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of initialisation, order, augmentation.")
@click.option("--init", "init_path", type=click.Path(dir_okay=False),
              help="Start from this checkpoint's weights (same family; layers the config adds start fresh).")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Checkpoint to write (.pt).")
@click.option("--json", "as_json", is_flag=True, help="No progress bar; print the result as JSON.")
def train(family: str, task: str, config_path: str | None, sets: tuple[str, ...], epochs: int | None,
          lr: float | None, batch_size: int | None, seed: int, init_path: str | None, out: str, as_json: bool) -> None:
    """Train a FAMILY model on TASK and save it to --out, then print its test accuracy."""
    from edgefmr.nas import train as trainer
    from edgefmr.nas.models.macs import macs
    from edgefmr.nas.tasks import load_task

    cfg_cls = trainer.get_family(family)[0]
    cfg = cfg_cls.from_dict(_read_config(config_path)) if config_path else cfg_cls()
    cfg = cfg.with_overrides(list(sets))
    t = load_task(task)
    init_state = None
    if init_path:
        init_model, info = trainer.load_checkpoint(init_path)
        if info["family"] != family:
            raise EdgefmrError(f"{init_path}: a {info['family']} checkpoint cannot initialise a {family} model")
        init_state = init_model.state_dict()
    d = trainer.train_defaults(family)
    model, metrics = trainer.train(
        family, t, cfg,
        epochs=epochs if epochs is not None else d["epochs"],
        lr=lr if lr is not None else d["lr"],
        batch_size=batch_size if batch_size is not None else d["batch_size"],
        seed=seed, progress=not as_json, init_state=init_state,
        **{k: v for k, v in d.items() if k not in ("epochs", "lr", "batch_size")})
    metrics["macs"] = macs(model, t.input_shape)
    trainer.save_checkpoint(out, family, cfg, t.name, t.input_shape, t.n_classes, model, metrics)
    if as_json:
        click.echo(json.dumps({"family": family, "task": t.name, "out": out, "config": cfg.to_dict(),
                               **metrics}, indent=2))
        return
    click.echo(f"{family} on {t.name}: test accuracy {100 * metrics['accuracy']:.2f}% "
               f"({len(t.y_test)} samples), train {100 * metrics['train_accuracy']:.2f}%, "
               f"{metrics['params']:,} params, {metrics['macs']:,} MACs, {metrics['train_seconds']:.0f} s -> {out}")


COMMANDS = [train]
