"""``DetectorModule``: a one-logit detector trained clean or adversarially, with the CO monitor.

``adv.method`` names a training attack of the registry: ``fgsm_rs`` (Wong, Rice & Kolter,
ICLR 2020, "Fast is better than free"), ``n_fgsm`` or ``pgd`` (Madry-style PGD-AT). Every
epoch the module also attacks a fixed validation subset with PGD (model in eval mode) and
logs the accuracy left: FGSM training can collapse to ~0 robust accuracy within an epoch
("catastrophic overfitting").
"""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MeanMetric

from dfrobust.attacks import get_attack, pgd
from dfrobust.config import Config
from dfrobust.errors import DfrobustError
from dfrobust.metrics import DetectionMetrics

SELECTION_METRIC = "val_selection"  # what best.ckpt maximises: see selection_score
_AUROC_DECIMALS = 4  # AUROCs equal to 4 decimals count as tied
_MAX_LOSS = 9.0  # 1e-5 x the capped loss stays below one step of the rounded AUROC


def selection_score(auroc: float, loss: float) -> float:
    """Val AUROC (to 4 decimals), ties broken by the lower val loss, as one number.

    On easy validation data AUROC saturates at 1.0 within a few epochs, and a plain
    maximum would keep the first of the tied epochs, often an early, undertrained one.
    The score sits near 0 rather than 1, so float32 (what Lightning logs) keeps the
    small loss term.
    """
    return (round(auroc, _AUROC_DECIMALS) - 1.0) - 1e-5 * min(loss, _MAX_LOSS)


class DetectorModule(L.LightningModule):
    """A one-logit detector trained with BCE on clean or adversarial frames.

    Args:
        model: maps (N, 3, H, W) in [0, 1] to logits (N,) (``dfrobust.models``).
        config: the run's config; saved in every checkpoint as a plain dict.
        pos_weight: BCE weight of the fake class (``balance: weight``), or None.

    Batches are ``(x, y, video)`` as yielded by :class:`~dfrobust.training.datamodule.FFDataModule`;
    validation has a second loader, the fixed subset the CO monitor attacks.
    """

    def __init__(self, model: nn.Module, config: Config, pos_weight: float | None = None) -> None:
        super().__init__()
        self.save_hyperparameters({"config": asdict(config), "pos_weight": pos_weight})
        self.model, self.config = model, config
        self.register_buffer("pos_weight", None if pos_weight is None else torch.tensor(pos_weight), persistent=False)
        adv = config.adv
        self.attack = None if adv.method == "none" else get_attack(adv.method, "train")
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
            x = self.attack.fn(
                self.model,
                x,
                y,
                eps=self.config.adv.eps,
                generator=self._step_generator(x.device),
                **self.attack.options(self.config.adv, "train"),
            ).x_adv
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

    def _step_generator(self, device: torch.device) -> torch.Generator:
        """The attack's noise for this step and process: seeded from the config, the global step
        and the rank, so a run (or a resumed run) draws the same adversarial batches again."""
        seed = (self.config.train.seed * 1_000_003 + self.global_step) * 1024 + self.global_rank
        return torch.Generator(device).manual_seed(seed)

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
            attacked = pgd(
                self.model, x, y, eps=self.config.adv.eps, steps=self.config.adv.monitor_steps, generator=generator
            )
        self.robust_accuracy.update((~attacked.success).float())

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
        self.log(SELECTION_METRIC, selection_score(values["val_auroc"], values["val_loss"]), sync_dist=True)
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
