"""``train``: data, model, callbacks and Trainer assembled into a run folder.

Writes (see :mod:`dfrobust.runs`)::

    runs/<name>/config.yaml  history.csv  plots/history.png
                checkpoints/best.ckpt  best-robust.ckpt  last.ckpt
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint

from dfrobust.config import Config, TrainConfig, config_differences, load_config, save_config
from dfrobust.errors import DfrobustError
from dfrobust.runs import CHECKPOINT_DIR, CHECKPOINTS, CONFIG_FILE, History, build_model, load_checkpoint
from dfrobust.training.callbacks import HistoryWriter
from dfrobust.training.datamodule import FFDataModule
from dfrobust.training.module import SELECTION_METRIC, DetectorModule

log = logging.getLogger(__name__)

# Keys that may change when a run is resumed: where and how fast it runs, not what it learns.
RESUMABLE_KEYS = {
    "data.workers",
    "data.manifest",
    "train.accelerator",
    "train.devices",
    "train.device",
    "train.num_nodes",
    "train.strategy",
}


@dataclass
class TrainResult:
    """What :func:`train` leaves: the run folder, its history (rank 0) and checkpoints."""

    run_dir: Path
    history: History
    checkpoints: dict[str, Path]


def train(
    config: Config,
    run_dir: str | os.PathLike,
    *,
    resume: bool = False,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
) -> TrainResult:
    """Train a detector as ``config`` says and write the run folder ``run_dir``.

    Args:
        config: the resolved config (``data.manifest`` must name a frames.csv).
        run_dir: ``runs/<name>``; must not hold a run unless ``resume``.
        resume: continue from ``checkpoints/last.ckpt`` (the config must match the
            saved one except in :data:`RESUMABLE_KEYS`).
        on_epoch: called on rank 0 with each epoch's history row.
    """
    run_dir = Path(run_dir)
    last = run_dir / CHECKPOINT_DIR / "last.ckpt"
    _check_run_folder(config, run_dir, resume)
    L.seed_everything(config.train.seed, workers=True, verbose=False)
    model = build_model(config, initial_weights=True)
    data_config = model.data_config
    size = tuple(data_config["input_size"][1:])
    d = config.data
    datamodule = FFDataModule(
        d.manifest,
        size,
        data_config.get("interpolation", "bilinear"),
        d.batch_size,
        d.workers,
        d.balance,
        d.augment,
        config.adv.monitor_frames,
        config.train.seed,
        d.method_list,
    )
    pos_weight = datamodule.pos_weight
    module = DetectorModule(model, config, None if pos_weight is None else float(pos_weight))
    checkpoints = [
        ModelCheckpoint(
            last.parent, "best", monitor=SELECTION_METRIC, mode="max", save_last=True, enable_version_counter=False
        )
    ]
    if config.adv.monitor_frames > 0:
        checkpoints.append(
            ModelCheckpoint(
                last.parent, "best-robust", monitor="val_pgd_accuracy", mode="max", enable_version_counter=False
            )
        )
    # A clean model is expected to lose PGD accuracy as it learns: flag collapses of adversarial training only.
    co_drop = config.adv.co_drop if config.adv.method != "none" else math.inf
    writer = HistoryWriter(run_dir, co_drop, on_epoch)
    trainer = L.Trainer(
        **trainer_options(config.train),
        max_epochs=config.train.epochs,
        callbacks=[writer, *checkpoints],
        logger=False,
        inference_mode=False,  # the CO monitor needs gradients during validation
        num_sanity_val_steps=0,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=run_dir,
    )
    if trainer.is_global_zero:
        save_config(config, run_dir / CONFIG_FILE)
    ckpt_path = last if resume and last.exists() else None
    if resume and ckpt_path is None:
        log.warning("%s has no last.ckpt yet: starting the run from the beginning", run_dir)
    if ckpt_path is not None:
        # A clear error for a truncated or pickle-carrying file, before Lightning reads it for real.
        load_checkpoint(ckpt_path, map_location="cpu", mmap=True)
    trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    found = {name: last.parent / f"{name}.ckpt" for name in CHECKPOINTS}
    return TrainResult(run_dir, writer.history, {k: p for k, p in found.items() if p.exists()})


def _check_run_folder(config: Config, run_dir: Path, resume: bool) -> None:
    if not config.data.manifest:
        raise DfrobustError("no manifest: pass --manifest path/to/frames.csv (or set data.manifest in the config)")
    saved = run_dir / CONFIG_FILE
    if not resume:
        if (run_dir / CHECKPOINT_DIR / "last.ckpt").exists():
            raise DfrobustError(f"{run_dir} already holds a run; pass --resume to continue it, or choose another --run")
        return
    if saved.exists():
        changed = set(config_differences(load_config(saved), config)) - RESUMABLE_KEYS
        if changed:
            raise DfrobustError(
                f"cannot resume {run_dir} with a different config ({', '.join(sorted(changed))} changed since "
                f"{saved}); resume without those overrides, or start a new --run"
            )


def trainer_options(t: TrainConfig) -> dict[str, Any]:
    """Lightning Trainer hardware options; ``device`` (``cpu``, ``cuda:1``) forces one device."""
    accelerator, devices = t.accelerator, t.devices
    if t.device is not None:
        kind, _, index = t.device.partition(":")
        accelerator, devices = kind, [int(index)] if index else 1
    if accelerator == "cuda":
        accelerator = "gpu"
    return {
        "accelerator": accelerator,
        "devices": devices,
        "num_nodes": t.num_nodes,
        "strategy": t.strategy,
        "precision": t.precision,
    }
