"""Evaluating a run folder: load its checkpoint and test frames, write ``runs/<name>/eval/``.

What ``dfrobust test`` writes (each file atomically)::

    eval/clean.json, eval/<attack>_<eps>.json   one condition's metrics and success rates
    eval/predictions.csv                        one row per frame x condition
    eval/summary.csv                            one row per condition
    eval/summary.json                           rows + sanity checks + warnings + options
    eval/examples/<attack>_<eps>/<k>_clean.png, <k>_adv.png

Example::

    job = prepare_run_eval("runs/demo", EvalOptions(eps=(4 / 255,), n_queries=300))
    summary = run_eval(job, on_progress=advance)
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dfrobust.atomicio import atomic_open, write_csv, write_json
from dfrobust.attack_success import ASR_KEYS, QUERY_KEYS
from dfrobust.data import FFDataset
from dfrobust.errors import DfrobustError
from dfrobust.evaluation import (
    EVAL_ATTACKS,
    EvalOptions,
    EvalResult,
    count_steps,
    eps_label,
    evaluate,
    model_transform,
    to_image,
)
from dfrobust.hardware import resolve_device
from dfrobust.metrics import METRIC_NAMES

log = logging.getLogger(__name__)

PREDICTION_FIELDS = ("path", "video", "method", "label", "condition", "eps", "prob_fake", "pred", "clean_correct",
                     "queries")
SUMMARY_FIELDS = ("condition", "eps", "eps_value", "frames", *METRIC_NAMES, *(f"video_{m}" for m in METRIC_NAMES),
                  *ASR_KEYS, *QUERY_KEYS, "seconds")


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
    from dfrobust.training import load_run_model

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DfrobustError(f"run folder {run_dir} does not exist; train it first with `dfrobust train --run {run_dir}`")
    target = resolve_device(device)
    model, config = load_run_model(run_dir, checkpoint, map_location=target)
    manifest = Path(manifest or config.data.manifest)
    if not manifest.is_file():
        raise DfrobustError(f"manifest {manifest} of run {run_dir} not found; pass --manifest path/to/frames.csv")
    dataset = FFDataset(manifest, split, model_transform(model, config.data.image_size), return_video=True)
    meta = {"run": str(run_dir), "checkpoint": str(checkpoint), "split": split, "manifest": str(manifest),
            "model": config.model.name, "image_size": config.data.image_size, "device": str(target)}
    return EvalJob(model, dataset, options, target, run_dir / "eval", meta)


def run_eval(job: EvalJob, on_progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Evaluate the job and write its ``eval/`` folder; returns what ``summary.json`` holds."""
    began = time.perf_counter()
    result = evaluate(job.model, job.dataset, job.options, device=job.device, on_progress=on_progress)
    meta = {**job.meta, "seconds": round(time.perf_counter() - began, 2)}
    return save_eval(result, job.out_dir, job.options, meta)


def save_eval(result: EvalResult, out_dir: str | os.PathLike, options: EvalOptions, meta: dict[str, Any]) -> dict[str, Any]:
    """Write the eval files of ``result`` into ``out_dir``; returns the summary.json content.

    Args:
        meta: run, checkpoint, split... copied into summary.json as they are.
    """
    out_dir = Path(out_dir)
    rows, checks = result.rows(), result.checks()
    _remove_stale(out_dir, {c.slug for c in result.probs})
    for row, condition in zip(rows, result.probs):
        write_json(out_dir / f"{condition.slug}.json", {**meta, **row})
    write_csv(out_dir / "predictions.csv", _prediction_rows(result), PREDICTION_FIELDS)
    write_csv(out_dir / "summary.csv", ({k: _cell(row[k]) for k in SUMMARY_FIELDS} for row in rows), SUMMARY_FIELDS)
    warnings = [check.message() for check in checks if check.passed is False]
    for message in warnings:
        log.warning("possible gradient masking: %s", message)
    summary = {
        **meta,
        "seed": options.seed,
        "options": {**asdict(options), "eps_labels": [eps_label(e) for e in options.eps]},
        "frames": len(result.labels),
        "videos": len(set(result.videos)),
        "rows": rows,
        "checks": [{**asdict(c), "status": c.status, "message": c.message()} for c in checks],
        "warnings": warnings,
        "examples": _save_examples(result, out_dir),
    }
    write_json(out_dir / "summary.json", summary)
    return summary


def _prediction_rows(result: EvalResult) -> list[dict[str, Any]]:
    clean_pred = result.preds(next(iter(result.probs)))
    clean_correct = (clean_pred == result.labels).tolist()
    rows = []
    for condition, probs in result.probs.items():
        pred, queries = result.preds(condition).tolist(), result.queries.get(condition)
        for i, path in enumerate(result.paths):
            rows.append({
                "path": path, "video": result.videos[i], "method": result.methods[i], "label": int(result.labels[i]),
                "condition": condition.attack, "eps": eps_label(condition.eps), "prob_fake": f"{float(probs[i]):.6g}",
                "pred": pred[i], "clean_correct": int(clean_correct[i]),
                "queries": "" if queries is None else int(queries[i]),
            })
    return rows


def _save_examples(result: EvalResult, out_dir: Path) -> list[dict[str, Any]]:
    """Write each example's clean and attacked frame as lossless PNG; returns their records."""
    records = []
    for ex in result.examples:
        files = {}
        for kind, image in (("clean", ex.clean), ("adv", ex.adv)):
            relative = Path("examples") / ex.condition.slug / f"{ex.k}_{kind}.png"
            with atomic_open(out_dir / relative, "wb") as f:
                to_image(image).save(f, format="PNG")
            files[kind] = str(relative)
        records.append({"condition": ex.condition.attack, "eps": eps_label(ex.condition.eps), "k": ex.k,
                        "path": ex.path, "label": ex.label, "prob_clean": ex.prob_clean, "prob_adv": ex.prob_adv,
                        **files})
    return records


def _remove_stale(out_dir: Path, slugs: set[str]) -> None:
    """Delete condition files and example folders of an earlier evaluation that this one lacks,
    so that the report never mixes two evaluations."""
    stale = [p for p in out_dir.glob("*.json") if p.stem.split("_")[0] in EVAL_ATTACKS and p.stem not in slugs]
    examples = out_dir / "examples"
    stale_dirs = [d for d in examples.iterdir() if d.is_dir() and d.name not in slugs] if examples.is_dir() else []
    for path in stale:
        path.unlink()
    for folder in stale_dirs:
        shutil.rmtree(folder)
    if stale or stale_dirs:
        log.info("removed %d stale result(s) of an earlier evaluation from %s", len(stale) + len(stale_dirs), out_dir)


def _cell(value: Any) -> Any:
    """A CSV cell: NaN becomes empty, floats keep 6 significant digits."""
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6g}"
    return value
