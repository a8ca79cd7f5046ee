"""A finished search run again keeps its exported model (issue #18): no second fine-tuning, model.efm untouched,
unless the chosen trial, the study or the fine-tuning changed or model.efm is not the one it wrote."""

import json
from types import SimpleNamespace

from paths import FIXTURES

from edgefmr.ir import graph_hash, save
from edgefmr.ir.model_io import load_model
from edgefmr.nas.search.driver import Search


def _setup(tmp_path):
    g = load_model(FIXTURES / "cnn_digits_int8.tflite")
    files = {"model": str(tmp_path / "model.efm"), "checkpoint": str(tmp_path / "model.pt"),
             "quantization_report": str(tmp_path / "quant.json")}
    save(g, files["model"])
    for k in ("checkpoint", "quantization_report"):
        (tmp_path / files[k].split("/")[-1]).write_text("{}")
    chosen = {"number": 7, "model_hash": graph_hash(g), "finetune_epochs": 15, "test_accuracy_int": 0.9,
              "build_command": "edgefmr build ..."}
    (tmp_path / "search.json").write_text(json.dumps({"study": "s1", "chosen": chosen, "files": files}))
    return SimpleNamespace(out=tmp_path, study_name="s1", settings=SimpleNamespace(finetune_epochs=15),
                           _EXPORT_KEYS=Search._EXPORT_KEYS)


def test_rerun_reuses_the_export(tmp_path):
    s = _setup(tmp_path)
    done = Search._exported(s, {"number": 7})
    assert done is not None and done["export"]["test_accuracy_int"] == 0.9
    assert done["files"]["model"] == str(tmp_path / "model.efm")


def test_rerun_exports_again_when_anything_changed(tmp_path):
    s = _setup(tmp_path)
    assert Search._exported(s, {"number": 8}) is None                      # another trial chosen
    s.settings.finetune_epochs = 5
    assert Search._exported(s, {"number": 7}) is None                      # other fine-tuning
    s.settings.finetune_epochs = 15
    s.study_name = "s2"
    assert Search._exported(s, {"number": 7}) is None                      # another study
    s.study_name = "s1"
    save(load_model(FIXTURES / "vit_digits_int8.tflite"), tmp_path / "model.efm")
    assert Search._exported(s, {"number": 7}) is None                      # model.efm replaced
