"""Training a detector, clean or adversarial, with a catastrophic-overfitting monitor.

One LightningModule, :class:`DetectorModule`, trains on clean frames or on adversarial ones
(``adv.method``: ``fgsm-rs`` as in Wong, Rice & Kolter, ICLR 2020, "Fast is better
than free"; ``n-fgsm``; ``pgd`` for Madry-style PGD-AT). Every epoch it also attacks
a fixed validation subset with PGD (model in eval mode) and logs the accuracy left:
FGSM training can collapse to ~0 robust accuracy within an epoch ("catastrophic
overfitting"), which the :class:`HistoryWriter` flags. :func:`train` assembles data,
model, callbacks and Trainer and writes the run folder::

    runs/<name>/config.yaml  history.csv  plots/history.png
                checkpoints/best.ckpt  best-robust.ckpt  last.ckpt

:func:`load_run_model` reads a checkpoint back with ``torch.load(weights_only=True)``:
checkpoints keep only tensors and plain Python values, the config as a dict.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import pickle
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_only
from torch import nn
from torchmetrics import MeanMetric

from dfrobust.attacks import get_attack, pgd
from dfrobust.config import Config, TrainConfig, config_differences, load_config, save_config
from dfrobust.data import FFDataModule
from dfrobust.errors import DfrobustError
from dfrobust.metrics import DetectionMetrics, History, plot_history

log = logging.getLogger(__name__)
# ``import lightning`` gives its logger a console handler of its own, so with the
# application's handler every Lightning message was printed twice: drop Lightning's.
logging.getLogger("lightning").handlers.clear()
# Lightning's advertisement for its cloud logger is not a message about the run.
logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(lambda record: "litlogger" not in record.getMessage())

CHECKPOINTS = ("best", "best-robust", "last")
# Keys that may change when a run is resumed: where and how fast it runs, not what it learns.
RESUMABLE_KEYS = {"data.workers", "data.manifest", "train.accelerator", "train.devices",
                  "train.device", "train.num_nodes", "train.strategy"}


class DetectorModule(L.LightningModule):
    """A one-logit detector trained with BCE on clean or adversarial frames.

    Args:
        model: maps (N, 3, H, W) in [0, 1] to logits (N,) (``dfrobust.models``).
        config: the run's config; saved in every checkpoint as a plain dict.
        pos_weight: BCE weight of the fake class (``balance: weight``), or None.

    Batches are ``(x, y, video)`` as yielded by :class:`dfrobust.data.FFDataModule`;
    validation has a second loader, the fixed subset the CO monitor attacks.
    """

    def __init__(self, model: nn.Module, config: Config, pos_weight: float | None = None) -> None:
        super().__init__()
        self.save_hyperparameters({"config": asdict(config), "pos_weight": pos_weight})
        self.model, self.config = model, config
        self.register_buffer("pos_weight", None if pos_weight is None else torch.tensor(pos_weight), persistent=False)
        adv = config.adv
        self.attack = None if adv.method == "none" else functools.partial(
            get_attack(adv.method.replace("-", "_")), eps=adv.eps, alpha=adv.alpha,
            **({"steps": adv.steps} if adv.method == "pgd" else {}))
        self.train_metrics, self.val_metrics = DetectionMetrics(), DetectionMetrics()
        self.train_loss, self.val_loss, self.robust_accuracy = MeanMetric(), MeanMetric(), MeanMetric()
        self.epoch_values: dict[str, float] = {}  # the last validated epoch's row, for HistoryWriter

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(logits.float(), y.float(), pos_weight=self.pos_weight)

    def training_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> torch.Tensor:
        x, y, video = batch
        if self.attack is not None:
            # In train mode, as fast_adversarial: BatchNorm sees (and tracks) the attacked batch.
            x = self.attack(self.model, x, y)
        logits = self.model(x)
        loss = self.loss(logits, y)
        if not torch.isfinite(loss):
            raise DfrobustError(
                f"the training loss became {loss.item()} at epoch {self.current_epoch}, step "
                f"{self.global_step}; checkpoints/last.ckpt still holds the last good epoch. Lower "
                "train.lr (or use train.precision 32-true) and rerun, or resume with --resume"
            )
        self.train_loss.update(loss.detach(), weight=len(y))
        self.train_metrics.update(torch.sigmoid(logits.detach().float()), y, video)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int, dataloader_idx: int = 0) -> None:
        x, y, video = batch
        if dataloader_idx == 0:
            logits = self.model(x)
            self.val_loss.update(self.loss(logits, y), weight=len(y))
            self.val_metrics.update(torch.sigmoid(logits.float()), y, video)
            return
        # CO monitor: PGD on the fixed subset, eval mode, same random start every epoch.
        generator = torch.Generator(x.device).manual_seed(self.config.train.seed + batch_idx)
        with torch.enable_grad():  # Lightning validates under no_grad
            x_adv = pgd(self.model, x, y, eps=self.config.adv.eps, steps=self.config.adv.monitor_steps,
                        generator=generator)
        self.robust_accuracy.update(((2 * y - 1) * self.model(x_adv) > 0).float())

    def on_validation_epoch_end(self) -> None:
        values = {"train_loss": _compute(self.train_loss)}
        values.update({f"train_{k}": v for k, v in self.train_metrics.compute().items()})
        values["val_loss"] = _compute(self.val_loss)
        values.update({f"val_{k}": v for k, v in self.val_metrics.compute().items()})
        if self.config.adv.monitor_frames > 0:
            values["val_pgd_accuracy"] = _compute(self.robust_accuracy)
        for metric in (self.train_metrics, self.val_metrics, self.train_loss, self.val_loss, self.robust_accuracy):
            metric.reset()
        for name in ("val_auroc", "val_pgd_accuracy"):  # what the checkpoints monitor
            if name in values:
                self.log(name, values[name], sync_dist=True)
        self.epoch_values = values

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Refuse to save a diverged model, so last.ckpt stays the last good one."""
        bad = [k for k, v in checkpoint["state_dict"].items() if v.is_floating_point() and not v.isfinite().all()]
        if bad:
            raise DfrobustError(f"the model's weights are not finite ({bad[0]}, ...); not saving a checkpoint")

    def configure_optimizers(self) -> dict[str, Any]:
        t = self.config.train
        if t.optimizer == "sgd":
            optimizer = torch.optim.SGD(self.parameters(), lr=t.lr, momentum=t.momentum, weight_decay=t.weight_decay)
        else:
            optimizer = torch.optim.AdamW(self.parameters(), lr=t.lr, weight_decay=t.weight_decay)
        steps = int(self.trainer.estimated_stepping_batches)
        if t.schedule == "cosine":
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
        else:
            scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=t.lr, total_steps=steps)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def _compute(metric: MeanMetric) -> float:
    return float(metric.compute()) if metric.update_called else math.nan


class HistoryWriter(Callback):
    """Rank 0 keeps ``history.csv`` (one row per epoch) and flags catastrophic overfitting.

    A row holds the DetectorModule's epoch values plus ``epoch``, ``lr``, ``epoch_time`` and
    ``co_flag`` (1 when ``val_pgd_accuracy`` fell more than ``co_drop`` below its best
    so far). Written before the epoch's checkpoints, so a resumed run rewrites the
    epochs it repeats instead of losing any.
    """

    def __init__(self, run_dir: Path, co_drop: float, on_epoch: Callable[[dict[str, float]], None] | None = None):
        self.path, self.co_drop, self.on_epoch = run_dir / "history.csv", co_drop, on_epoch
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
            earlier = [v for e, v in zip(self.history.column("epoch"), self.history.column("val_pgd_accuracy"))
                       if e < epoch and not math.isnan(v)]
            values["co_flag"] = bool(earlier and max(earlier) - values["val_pgd_accuracy"] > self.co_drop)
            if values["co_flag"]:
                log.warning("epoch %d: PGD accuracy fell to %.3f from a best of %.3f: catastrophic overfitting? "
                            "checkpoints/best-robust.ckpt keeps the best robust model",
                            epoch, values["val_pgd_accuracy"], max(earlier))
        self.history.record(epoch, values)
        self.history.save(self.path)
        log.info("epoch %d  loss %.4f  val_auroc %.4f  val_pgd_accuracy %.4f  %.1fs", epoch, values["train_loss"],
                 values["val_auroc"], values.get("val_pgd_accuracy", math.nan), values["epoch_time"])
        if self.on_epoch is not None:
            self.on_epoch({"epoch": epoch, **values})

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero and len(self.history):
            plot_history(self.history, self.path.parent / "plots" / "history.png")


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
    last = run_dir / "checkpoints" / "last.ckpt"
    _check_run_folder(config, run_dir, resume)
    L.seed_everything(config.train.seed, workers=True, verbose=False)
    model = build_model(config, initial_weights=True)
    data_config = model.data_config
    size = tuple(data_config["input_size"][1:])
    d = config.data
    datamodule = FFDataModule(d.manifest, size, data_config.get("interpolation", "bilinear"), d.batch_size,
                              d.workers, d.balance, d.augment, config.adv.monitor_frames, config.train.seed)
    pos_weight = datamodule.pos_weight
    module = DetectorModule(model, config, None if pos_weight is None else float(pos_weight))
    checkpoints = [ModelCheckpoint(last.parent, "best", monitor="val_auroc", mode="max", save_last=True,
                                   enable_version_counter=False)]
    if config.adv.monitor_frames > 0:
        checkpoints.append(ModelCheckpoint(last.parent, "best-robust", monitor="val_pgd_accuracy", mode="max",
                                           enable_version_counter=False))
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
        save_config(config, run_dir / "config.yaml")
    ckpt_path = last if resume and last.exists() else None
    if resume and ckpt_path is None:
        log.warning("%s has no last.ckpt yet: starting the run from the beginning", run_dir)
    if ckpt_path is not None:
        # A clear error for a truncated or pickle-carrying file, before Lightning reads it for real.
        load_checkpoint(ckpt_path, map_location="cpu", mmap=True)
    trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    found = {name: last.parent / f"{name}.ckpt" for name in CHECKPOINTS}
    return TrainResult(run_dir, writer.history, {k: p for k, p in found.items() if p.exists()})


def build_model(config: Config, initial_weights: bool) -> nn.Module:
    """The config's network; ``initial_weights``: load its pretrained/``weights`` file too."""
    from dfrobust.models import create_model  # deferred: the registry imports timm

    side = config.data.image_size
    return create_model(
        config.model.name,
        weights=config.model.weights if initial_weights else None,
        pretrained=config.model.pretrained and initial_weights,
        input_size=(3, side, side) if side else None,
    )


def _check_run_folder(config: Config, run_dir: Path, resume: bool) -> None:
    if not config.data.manifest:
        raise DfrobustError("no manifest: pass --manifest path/to/frames.csv (or set data.manifest in the config)")
    saved = run_dir / "config.yaml"
    if not resume:
        if (run_dir / "checkpoints" / "last.ckpt").exists():
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
    return {"accelerator": accelerator, "devices": devices, "num_nodes": t.num_nodes,
            "strategy": t.strategy, "precision": t.precision}


def checkpoint_path(run_dir: str | os.PathLike, checkpoint: str | os.PathLike = "best") -> Path:
    """``best``/``best-robust``/``last`` of a run folder, or a path; missing -> DfrobustError."""
    folder = Path(run_dir) / "checkpoints"
    path = folder / f"{checkpoint}.ckpt" if str(checkpoint) in CHECKPOINTS else Path(checkpoint)
    if not path.is_file():
        available = sorted(p.stem for p in folder.glob("*.ckpt")) if folder.is_dir() else []
        raise DfrobustError(
            f"no checkpoint {path}; available in {folder}: {', '.join(available) or 'none (train the run first)'}"
        )
    return path


def load_checkpoint(path: str | os.PathLike, map_location: Any = None, *, mmap: bool = False) -> dict[str, Any]:
    """``torch.load`` with ``weights_only=True``: a file carrying pickled code is refused.

    ``mmap=True`` maps the tensors instead of reading them: enough to check a file cheaply.
    """
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as e:
        raise DfrobustError(
            f"refusing to load {path}: it holds pickled Python objects, not only tensors and plain values "
            f"({str(e).splitlines()[0]}); load only checkpoints written by dfrobust train"
        ) from None
    except (OSError, RuntimeError, EOFError) as e:
        raise DfrobustError(f"cannot read checkpoint {path}: {e}; it may be truncated or not a checkpoint") from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint or "config" not in checkpoint.get(
            "hyper_parameters", {}):
        raise DfrobustError(f"{path} is not a dfrobust training checkpoint (no state_dict and config)")
    return checkpoint


def load_run_model(
    run_dir: str | os.PathLike, checkpoint: str | os.PathLike = "best", map_location: Any = None
) -> tuple[nn.Module, Config]:
    """The trained model of a run (in eval mode) and the config it was trained with.

    Args:
        run_dir: ``runs/<name>``.
        checkpoint: ``best`` (val AUC), ``best-robust`` (CO monitor), ``last``, or a path.
        map_location: as for ``torch.load`` (e.g. ``"cpu"``).
    """
    path = checkpoint_path(run_dir, checkpoint)
    state = load_checkpoint(path, map_location)
    config = Config.from_dict(state["hyper_parameters"]["config"], source=str(path))
    model = build_model(config, initial_weights=False)
    weights = {k.removeprefix("model."): v for k, v in state["state_dict"].items() if k.startswith("model.")}
    model.load_state_dict(weights)
    return model.eval(), config
