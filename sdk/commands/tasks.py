"""`edgefmr tasks list` and `edgefmr tasks export`: the built-in tasks (edgefmr.nas.tasks) from the command line.

The commands read the task registry (`BUILTIN_TASKS`, `load_task`) and each task's description from the bullet
list of the tasks module's docstring, so a task added there appears here with no change.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import click

from edgefmr.errors import EdgefmrError


def task_descriptions() -> dict[str, str]:
    """name -> description, from the ``* ``name`` - text`` bullets of edgefmr.nas.tasks' docstring."""
    from edgefmr.nas import tasks

    doc = tasks.__doc__ or ""
    out: dict[str, str] = {}
    for m in re.finditer(r"^\* ``([^`]+)`` *[-–:] *(.+?)(?=^\* ``|^\S|\Z)", doc, re.M | re.S):
        text = re.sub(r":\w+:`~?([^`]+)`", r"\1", " ".join(m.group(2).split()))
        out[m.group(1)] = text.replace("``", "")
    return out


def task_info(name: str) -> dict[str, Any]:
    """What a built-in (or .npz) task holds: kind, input shape, classes, split sizes, description."""
    from edgefmr.nas.tasks import load_task

    t = load_task(name)
    return {"name": name, "kind": t.kind, "input_shape": list(t.input_shape), "classes": t.n_classes,
            "train": int(len(t.y_train)), "test": int(len(t.y_test)),
            "description": task_descriptions().get(name, "")}


@click.group()
def tasks() -> None:
    """The built-in tasks: list them and export their data as .npy files."""


@tasks.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the tasks as a JSON array (nothing else).")
def list_cmd(as_json: bool) -> None:
    """Every built-in task: kind, input shape, classes, train/test sizes (docs/tasks.md describes each)."""
    from edgefmr.nas.tasks import BUILTIN_TASKS

    infos = [task_info(n) for n in BUILTIN_TASKS]
    if as_json:
        click.echo(json.dumps(infos, indent=2))
        return
    from edgefmr.commands._term import console, table

    con = console()
    con.print(table(("task", "kind", "input", "classes", "train", "test"),
                    [(i["name"], i["kind"], "×".join(map(str, i["input_shape"])), i["classes"], f"{i['train']:,}",
                      f"{i['test']:,}") for i in infos], keep=("task",)))
    for i in infos:
        if i["description"]:
            con.print(f"[bold]{i['name']}[/bold]: {i['description']}")
    con.print("data: edgefmr tasks export TASK --split test --out DIR; details: docs/tasks.md")


@tasks.command("export")
@click.argument("task")
@click.option("--split", type=click.Choice(["test", "train"]), default="test", show_default=True,
              help="Which part of the task's fixed split.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder to write x_<split>.npy (float32 inputs [N, ...]) and y_<split>.npy (int64 labels [N]).")
@click.option("--count", type=click.IntRange(min=1), default=None, help="Only the first N samples.")
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
def export_cmd(task: str, split: str, out_dir: str, count: int | None, as_json: bool) -> None:
    """Write TASK's inputs and labels (a built-in task or an .npz) as .npy files, ready for `edgefmr run`,
    `verify`, `validate` and `profile --inputs ... --labels ...`."""
    import numpy as np

    from edgefmr.nas.tasks import load_task

    t = load_task(task)
    x, y = (t.x_test, t.y_test) if split == "test" else (t.x_train, t.y_train)
    if count is not None:
        x, y = x[:count], y[:count]
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise EdgefmrError(f"--out {out_dir}: cannot create the folder ({e.strerror})") from None
    xp, yp = out / f"x_{split}.npy", out / f"y_{split}.npy"
    np.save(xp, np.ascontiguousarray(x, dtype=np.float32))
    np.save(yp, np.asarray(y, dtype=np.int64))
    res = {"task": task, "split": split, "inputs": str(xp), "labels": str(yp), "count": int(len(y)),
           "input_shape": list(x.shape[1:]), "classes": t.n_classes}
    if as_json:
        click.echo(json.dumps(res))
    else:
        click.echo(f"{task} {split}: {len(y)} samples -> {xp} float32{list(x.shape)}, {yp} int64[{len(y)}]")


COMMANDS = [tasks]
