"""The run folder: history.csv, checkpoints and configs read back without Lightning."""

from __future__ import annotations

import csv
import math

import pytest
import torch

from dfrobust.errors import DfrobustError
from dfrobust.runs import History


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
