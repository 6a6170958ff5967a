"""Evaluating a run folder: load its checkpoint and test frames, write ``runs/<name>/eval/``
(the files :mod:`dfrobust.evaluation.results` describes).

Example::

    job = prepare_run_eval("runs/demo", EvalOptions(eps=(4 / 255,), n_queries=300))
    summary = run_eval(job, on_progress=advance, save_adv="adv/demo")   # save_adv: optional

The frames' manifest columns (method, compression, dataset, and attack/eps for frames saved
by ``save_adv``) feed the per-group rows of :mod:`dfrobust.evaluation.groups`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dfrobust.data.dataset import FFDataset
from dfrobust.data.manifest import read_manifest
from dfrobust.data.transforms import model_transform
from dfrobust.errors import DfrobustError
from dfrobust.evaluation.adversarial_frames import AdvFrameWriter
from dfrobust.evaluation.evaluate import count_steps, evaluate
from dfrobust.evaluation.options import EvalOptions
from dfrobust.evaluation.results import save_eval
from dfrobust.hardware import resolve_device
from dfrobust.runs import EVAL_DIR, load_run_model

log = logging.getLogger(__name__)


@dataclass
class EvalJob:
    """A run's model and frames, ready for :func:`run_eval`; ``steps`` sizes a progress bar."""

    model: nn.Module
    dataset: FFDataset
    options: EvalOptions
    device: torch.device
    out_dir: Path
    meta: dict[str, Any]

    @property
    def steps(self) -> int:
        """Progress steps :func:`run_eval` reports."""
        return count_steps(len(self.dataset), self.options)


def prepare_run_eval(
    run_dir: str | os.PathLike,
    options: EvalOptions = EvalOptions(),
    *,
    checkpoint: str = "best",
    split: str = "test",
    manifest: str | os.PathLike | None = None,
    device: str = "auto",
) -> EvalJob:
    """Load a run's checkpoint and the frames of ``split`` of its manifest (or of ``manifest``).

    Frames are resized as in training (``data.image_size`` or the model's input size).

    Raises:
        DfrobustError: missing run folder, checkpoint or manifest, or an empty split.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DfrobustError(
            f"run folder {run_dir} does not exist; train it first with `dfrobust train --run {run_dir}`"
        )
    target = resolve_device(device)
    model, config = load_run_model(run_dir, checkpoint, map_location=target)
    manifest = Path(manifest or config.data.manifest)
    if not manifest.is_file():
        raise DfrobustError(f"manifest {manifest} of run {run_dir} not found; pass --manifest path/to/frames.csv")
    dataset = FFDataset(manifest, split, model_transform(model, config.data.image_size), return_video=True)
    meta = {
        "run": str(run_dir),
        "checkpoint": str(checkpoint),
        "split": split,
        "manifest": str(manifest),
        "model": config.model.name,
        "image_size": config.data.image_size,
        "device": str(target),
    }
    return EvalJob(model, dataset, options, target, run_dir / EVAL_DIR, meta)


GROUP_COLUMNS = ("method", "compression", "dataset", "attack", "eps")


def run_eval(
    job: EvalJob,
    on_progress: Callable[[int], None] | None = None,
    save_adv: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Evaluate the job and write its ``eval/`` folder; returns what ``summary.json`` holds.

    Args:
        save_adv: also write every scored frame as PNG plus a ``frames.csv`` into this folder
            (:mod:`dfrobust.evaluation.adversarial_frames`).
    """
    began = time.perf_counter()
    rows = {str(Path(r["path"])): r for r in read_manifest(job.meta["manifest"]) if r["split"] == job.meta["split"]}
    writer = None
    if save_adv is not None:
        writer = AdvFrameWriter(save_adv, rows, job.meta["split"], job.meta["run"])
    result = evaluate(job.model, job.dataset, job.options, device=job.device, on_progress=on_progress, on_batch=writer)
    present = [c for c in GROUP_COLUMNS if c in next(iter(rows.values()), {})]
    result.frame_columns = {c: [rows.get(p, {}).get(c, "") for p in result.paths] for c in present}
    meta = {**job.meta, "seconds": round(time.perf_counter() - began, 2)}
    if writer is not None:
        manifest = writer.close({**job.meta, "options": asdict(job.options)})
        meta["saved_frames"] = str(manifest)
        log.info("adversarial frames written to %s", manifest)
    return save_eval(result, job.out_dir, job.options, meta)
