"""HistoryWriter: history.csv rows, the catastrophic-overfitting flag, rank 0 only."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import pytest

from dfrobust.runs import History
from dfrobust.training.callbacks import HistoryWriter


def _trainer(epoch: int, *, rank0: bool = True, sanity: bool = False, lr: float = 0.1) -> SimpleNamespace:
    return SimpleNamespace(
        current_epoch=epoch,
        is_global_zero=rank0,
        sanity_checking=sanity,
        optimizers=[SimpleNamespace(param_groups=[{"lr": lr}])],
    )


def _module(robust: float) -> SimpleNamespace:
    return SimpleNamespace(epoch_values={"train_loss": 0.5, "val_auroc": 0.9, "val_pgd_accuracy": robust})


def test_history_writer_flags_a_pgd_accuracy_collapse(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    writer = HistoryWriter(tmp_path, co_drop=0.2)
    for epoch, robust in enumerate([0.40, 0.55, 0.30, 0.50]):
        trainer = SimpleNamespace(
            current_epoch=epoch,
            is_global_zero=True,
            sanity_checking=False,
            optimizers=[SimpleNamespace(param_groups=[{"lr": 0.1}])],
        )
        module = SimpleNamespace(epoch_values={"train_loss": 0.5, "val_auroc": 0.9, "val_pgd_accuracy": robust})
        with caplog.at_level(logging.WARNING):
            writer.on_validation_end(trainer, module)
    assert History.load(tmp_path / "history.csv").column("co_flag") == [0, 0, 1, 0]
    assert "catastrophic overfitting" in caplog.text and "0.300" in caplog.text


def test_rows_hold_lr_and_time_and_reach_the_epoch_callback(tmp_path: Path) -> None:
    seen = []
    writer = HistoryWriter(tmp_path, co_drop=0.2, on_epoch=seen.append)
    writer.on_train_epoch_start(_trainer(0), None)
    writer.on_validation_end(_trainer(0, lr=0.03), _module(0.4))
    history = History.load(tmp_path / "history.csv")
    assert history.column("lr") == [0.03] and history.column("epoch_time")[0] >= 0
    assert seen[0]["epoch"] == 0 and seen[0]["val_pgd_accuracy"] == 0.4 and seen[0]["co_flag"] is False


def test_sanity_check_and_other_ranks_write_nothing(tmp_path: Path) -> None:
    writer = HistoryWriter(tmp_path, co_drop=0.2)
    writer.on_validation_end(_trainer(0, sanity=True), _module(0.4))
    writer.on_validation_end(_trainer(0, rank0=False), _module(0.4))
    assert not (tmp_path / "history.csv").exists()


def test_a_resumed_run_compares_with_the_epochs_before_it(tmp_path: Path) -> None:
    first = HistoryWriter(tmp_path, co_drop=0.2)
    for epoch, robust in enumerate([0.6, 0.5]):
        first.on_validation_end(_trainer(epoch), _module(robust))
    resumed = HistoryWriter(tmp_path, co_drop=0.2)
    resumed.on_fit_start(_trainer(1), None)  # reads history.csv back
    resumed.on_validation_end(_trainer(1), _module(0.55))  # epoch 1 again: replaced, not appended
    resumed.on_validation_end(_trainer(2), _module(0.3))  # 0.3 below the best 0.6 of the first run
    history = History.load(tmp_path / "history.csv")
    assert history.column("epoch") == [0, 1, 2]
    assert history.column("val_pgd_accuracy") == [0.6, 0.55, 0.3] and history.column("co_flag") == [0, 0, 1]
