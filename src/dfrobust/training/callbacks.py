"""``HistoryWriter``: rank 0 keeps ``history.csv`` and flags catastrophic overfitting."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import Callback

from dfrobust.report.plots import plot_history
from dfrobust.runs import HISTORY_FILE, PLOTS_DIR, History
from dfrobust.training.module import DetectorModule

log = logging.getLogger(__name__)


class HistoryWriter(Callback):
    """Rank 0 keeps ``history.csv`` (one row per epoch) and flags catastrophic overfitting.

    A row holds the DetectorModule's epoch values plus ``epoch``, ``lr``, ``epoch_time`` and
    ``co_flag`` (1 when ``val_pgd_accuracy`` fell more than ``co_drop`` below its best
    so far). Written before the epoch's checkpoints, so a resumed run rewrites the
    epochs it repeats instead of losing any.
    """

    def __init__(self, run_dir: Path, co_drop: float, on_epoch: Callable[[dict[str, float]], None] | None = None):
        self.path, self.co_drop, self.on_epoch = run_dir / HISTORY_FILE, co_drop, on_epoch
        self.history, self.started = History(), time.monotonic()

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero:
            self.history = History.load(self.path, missing_ok=True)

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.started = time.monotonic()

    def on_validation_end(self, trainer: L.Trainer, pl_module: DetectorModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        epoch, values = trainer.current_epoch, dict(pl_module.epoch_values)
        values["lr"] = trainer.optimizers[0].param_groups[0]["lr"]
        values["epoch_time"] = time.monotonic() - self.started
        if "val_pgd_accuracy" in values:
            earlier = [
                v
                for e, v in zip(self.history.column("epoch"), self.history.column("val_pgd_accuracy"))
                if e < epoch and not math.isnan(v)
            ]
            values["co_flag"] = bool(earlier and max(earlier) - values["val_pgd_accuracy"] > self.co_drop)
            if values["co_flag"]:
                log.warning(
                    "epoch %d: PGD accuracy fell to %.3f from a best of %.3f: catastrophic overfitting? "
                    "checkpoints/best-robust.ckpt keeps the best robust model",
                    epoch,
                    values["val_pgd_accuracy"],
                    max(earlier),
                )
        self.history.record(epoch, values)
        self.history.save(self.path)
        log.info(
            "epoch %d  loss %.4f  val_auroc %.4f  val_pgd_accuracy %.4f  %.1fs",
            epoch,
            values["train_loss"],
            values["val_auroc"],
            values.get("val_pgd_accuracy", math.nan),
            values["epoch_time"],
        )
        if self.on_epoch is not None:
            self.on_epoch({"epoch": epoch, **values})

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero and len(self.history):
            plot_history(self.history, self.path.parent / PLOTS_DIR / "history.png")
