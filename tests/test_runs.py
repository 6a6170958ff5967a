"""The run folder: history.csv, checkpoints and configs read back without Lightning."""

from __future__ import annotations

import csv
import functools
import math
from pathlib import Path

import pytest
import torch

from dfrobust.config import load_config
from dfrobust.errors import DfrobustError
from dfrobust.runs import History, build_model, checkpoint_path, load_checkpoint, load_run_model


def test_history_round_trip_and_resume_replaces_epochs(tmp_path) -> None:
    path = tmp_path / "history.csv"
    history = History()
    history.record(0, {"train_accuracy": 0.5, "val_auroc": torch.tensor(0.6)})
    history.record(1, {"train_accuracy": 0.7, "val_auroc": 0.8, "co_flag": True})
    history.save(path)
    with open(path, newline="") as f:
        header = next(csv.reader(f))
    assert header == ["epoch", "train_accuracy", "val_auroc", "co_flag"]

    resumed = History.load(path)
    assert resumed.rows == history.rows[:1] + [history.rows[1]]
    assert math.isnan(resumed.column("co_flag")[0])  # missing cell -> NaN
    resumed.record(1, {"train_accuracy": 0.75, "val_auroc": 0.85, "co_flag": 0})  # rerun epoch 1
    resumed.record(2, {"train_accuracy": 0.9, "val_auroc": 0.9, "co_flag": 0})
    resumed.save(path)
    final = History.load(path)
    assert final.column("epoch") == [0, 1, 2]
    assert final.column("train_accuracy") == [0.5, 0.75, 0.9]


def test_history_load_errors(tmp_path) -> None:
    assert len(History.load(tmp_path / "absent.csv", missing_ok=True)) == 0
    with pytest.raises(DfrobustError, match="absent.csv"):
        History.load(tmp_path / "absent.csv")
    (tmp_path / "bad.csv").write_text("step,loss\n1,0.5\n")
    with pytest.raises(DfrobustError, match="epoch"):
        History.load(tmp_path / "bad.csv")


def test_checkpoint_path_resolves_names_and_paths(tiny_run: Path, tmp_path: Path) -> None:
    for name in ("best", "best-robust", "last"):
        assert checkpoint_path(tiny_run, name) == tiny_run / "checkpoints" / f"{name}.ckpt"
    assert checkpoint_path(tiny_run) == tiny_run / "checkpoints" / "best.ckpt"
    elsewhere = tmp_path / "model.ckpt"
    elsewhere.write_bytes(b"")
    assert checkpoint_path(tiny_run, elsewhere) == elsewhere  # any file, wherever it lies
    with pytest.raises(DfrobustError, match=r"no checkpoint .*last.ckpt; .*none \(train the run first\)"):
        checkpoint_path(tmp_path / "untrained", "last")


def test_load_checkpoint_refuses_what_is_not_a_training_checkpoint(tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(b"PK\x03\x04 not a whole file")
    with pytest.raises(DfrobustError, match=f"cannot read checkpoint {truncated}"):
        load_checkpoint(truncated)
    weights_only = tmp_path / "weights.pt"
    torch.save({"conv.weight": torch.zeros(1)}, weights_only)
    with pytest.raises(DfrobustError, match="not a dfrobust training checkpoint"):
        load_checkpoint(weights_only)
    good = tmp_path / "good.ckpt"
    torch.save({"state_dict": {"w": torch.ones(2)}, "hyper_parameters": {"config": {}}}, good)
    assert torch.equal(load_checkpoint(good, mmap=True)["state_dict"]["w"], torch.ones(2))


def test_load_run_model_restores_the_trained_weights(tiny_run: Path) -> None:
    model, config = load_run_model(tiny_run, "last", map_location="cpu")
    assert not model.training and config.data.image_size == 32
    state = torch.load(tiny_run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    assert torch.equal(model.state_dict()["net.conv1.0.weight"], state["model.net.conv1.0.weight"])
    assert model(torch.rand(2, 3, 32, 32)).shape == (2,)


def test_load_run_model_refuses_pickled_code_and_names_missing_checkpoints(tiny_run: Path, tmp_path: Path) -> None:
    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"config": functools.partial(print, "pwned")}}, evil)
    with pytest.raises(DfrobustError, match=f"refusing to load {evil}"):
        load_run_model(tiny_run, evil)
    with pytest.raises(DfrobustError, match="available in .*: best, best-robust, last"):
        load_run_model(tiny_run, tmp_path / "nope.ckpt")


def test_build_model_loads_the_weights_file_only_when_asked(tmp_path: Path) -> None:
    config = load_config(None, {"model.name": "resnet10t", "image_size": "32"})
    state = {k: v + 1 if v.is_floating_point() else v for k, v in build_model(config, False).state_dict().items()}
    torch.save(state, tmp_path / "w.pt")
    config = load_config(None, {"model.name": "resnet10t", "image_size": "32", "model.weights": str(tmp_path / "w.pt")})
    loaded, fresh = build_model(config, initial_weights=True), build_model(config, initial_weights=False)
    assert torch.equal(loaded.state_dict()["net.conv1.0.weight"], state["net.conv1.0.weight"])
    assert not torch.equal(fresh.state_dict()["net.conv1.0.weight"], state["net.conv1.0.weight"])
    assert fresh.data_config["input_size"] == (3, 32, 32)  # data.image_size sets the input size
    assert fresh(torch.rand(2, 3, 32, 32)).shape == (2,)
