"""Robust evaluation: a detector's metrics on clean frames and under every attack condition.

For every batch each condition (attack x eps, ``clean`` first) attacks the batch once, with
the model in eval mode, through the attack registry. Each condition yields frame- and
video-level metrics (:func:`dfrobust.metrics.detection_metrics`) and the attack success
rates of :mod:`dfrobust.evaluation.success`; :mod:`dfrobust.evaluation.checks` flags
gradient masking. With ``jpeg_quality`` every condition, clean included, is scored after a
JPEG round trip in memory: does an attack survive a re-upload? ::

    result = evaluate(model, FFDataset(manifest, "test", transform, return_video=True),
                      EvalOptions(eps=(4 / 255,), n_queries=300))
    result.rows()      # one dict per condition: metrics, asr_*, queries_*

:mod:`dfrobust.evaluation.run` loads a run folder; :mod:`dfrobust.evaluation.results`
writes and reads its ``eval/`` folder.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from dfrobust.attacks import get_attack, pgd, preflight_check
from dfrobust.data.dataset import FFDataset
from dfrobust.eps import eps_label
from dfrobust.evaluation.checks import Check, gradient_masking_checks
from dfrobust.evaluation.images import jpeg_roundtrip
from dfrobust.evaluation.options import Condition, EvalOptions
from dfrobust.evaluation.success import query_stats, success_rates
from dfrobust.metrics import detection_metrics


@dataclass
class Example:
    """One frame kept for the report: (3, H, W) clean and attacked images in [0, 1] (as scored)."""

    condition: Condition
    k: int
    path: str
    label: int
    clean: torch.Tensor
    adv: torch.Tensor
    prob_clean: float
    prob_adv: float


@dataclass
class EvalResult:
    """Scores of every frame under every condition.

    Attributes:
        paths, videos, methods: per frame (video = ``method/compression/video`` key).
        labels: (N,) 0 real / 1 fake. video_ids: (N,) int index of the frame's video.
        probs: condition -> (N,) P(fake). queries: attack condition -> (N,) model
            evaluations spent per frame (forwards for Square, gradients for FGSM/PGD).
        seconds: condition -> wall time spent on it.
        large_eps: ``(eps, accuracy)`` of the PGD sanity condition, or None.
        preflight: warnings of :func:`dfrobust.attacks.preflight_check` on the first batch.
        broken_by: ensemble condition (``auto``) -> (N,) name of the member that fooled each
            frame, ``clean`` where the clean frame is already wrong, ``""`` where it stayed robust.
        stages: ensemble condition -> per member, counts summed over batches: ``attacked``,
            ``robust`` (frames still correct after it, before any JPEG round trip),
            ``queries`` and ``seconds`` (see :mod:`dfrobust.attacks.ensemble`).
        frame_columns: per-frame manifest columns for the groups (``method``, ``compression``,
            ``dataset``...; see :mod:`dfrobust.evaluation.groups`), filled by
            :func:`dfrobust.evaluation.run.run_eval`; empty when ``evaluate`` is called alone.
    """

    paths: list[str]
    videos: list[str]
    methods: list[str]
    labels: torch.Tensor
    video_ids: torch.Tensor
    probs: dict[Condition, torch.Tensor]
    queries: dict[Condition, torch.Tensor] = field(default_factory=dict)
    seconds: dict[Condition, float] = field(default_factory=dict)
    large_eps: tuple[float, float] | None = None
    examples: list[Example] = field(default_factory=list)
    preflight: list[str] = field(default_factory=list)
    broken_by: dict[Condition, list[str]] = field(default_factory=dict)
    stages: dict[Condition, list[dict[str, Any]]] = field(default_factory=dict)
    frame_columns: dict[str, list[str]] = field(default_factory=dict)

    def preds(self, condition: Condition) -> torch.Tensor:
        """(N,) 0/1 predictions (P(fake) >= 0.5 is fake, as in detection_metrics)."""
        return (self.probs[condition] >= 0.5).long()

    def rows(self) -> list[dict[str, Any]]:
        """One summary row per condition: metrics, success rates (a)-(d), Square queries."""
        clean = self.preds(Condition("clean"))
        rows = []
        for c, probs in self.probs.items():
            pred = self.preds(c)
            successful = (clean == self.labels) & (pred != self.labels)
            rows.append(
                {
                    "condition": c.attack,
                    "eps": eps_label(c.eps),
                    "eps_value": c.eps,
                    "frames": len(pred),
                    **detection_metrics(probs, self.labels, self.video_ids),
                    **success_rates(self.labels, clean, pred, self.video_ids),
                    **query_stats(self.queries.get(c), successful),
                    "seconds": self.seconds.get(c, 0.0),
                    **({"stages": self.stage_rows(c)} if c in self.stages else {}),
                }
            )
        return rows

    def stage_rows(self, condition: Condition) -> list[dict[str, Any]]:
        """Per ensemble member, in run order: robust accuracy after it (over all frames), frames
        it attacked and broke, mean queries per attacked frame, seconds."""
        n, rows = len(self.labels), []
        for stage in self.stages[condition]:
            attacked, robust = stage["attacked"], stage["robust"]
            rows.append(
                {
                    "attack": stage["attack"],
                    "robust_accuracy": robust / n if n else math.nan,
                    "attacked": attacked,
                    "broken": attacked - robust,
                    "queries_mean": stage["queries"] / attacked if attacked else math.nan,
                    "seconds": stage["seconds"],
                }
            )
        return rows

    def checks(self) -> list[Check]:
        """The gradient-masking sanity checks on these results."""
        accuracy = {(r["condition"], r["eps"]): r["accuracy"] for r in self.rows()}
        large = None if self.large_eps is None else (eps_label(self.large_eps[0]), self.large_eps[1])
        stages = {eps_label(c.eps): self.stage_rows(c) for c in self.stages}
        return gradient_masking_checks(accuracy, large, stages=stages)


def count_steps(n_frames: int, options: EvalOptions) -> int:
    """Progress steps of :func:`evaluate`: one per batch and condition (and sanity check)."""
    batches = -(-min(n_frames, options.limit or n_frames) // options.batch_size)
    return batches * (len(options.conditions) + options.sanity)


def evaluate(
    model: nn.Module,
    dataset: FFDataset,
    options: EvalOptions,
    *,
    device: str | torch.device = "cpu",
    on_progress: Callable[[int], None] | None = None,
    on_batch: Callable[[list[str], dict[Condition, torch.Tensor]], None] | None = None,
) -> EvalResult:
    """Score ``dataset`` clean and under every condition of ``options`` (model in eval mode).

    Args:
        model: (N, 3, H, W) in [0, 1] -> (N,) fake logits; moved to ``device``, set to eval.
        dataset: frames already resized for the model (``FFDataset`` with an eval transform).
        on_progress: called with 1 after each condition of each batch (see :func:`count_steps`).
        on_batch: called after each batch with the frames' paths and, per condition, the
            (B, 3, H, W) images as scored (e.g. to save the adversarial frames).
    """
    device = torch.device(device)
    model = model.to(device).eval()
    picked = _subset(len(dataset), options.limit, options.seed)
    conditions, n, keys = options.conditions, len(picked), dataset.video_index.keys
    result = EvalResult(
        paths=[_relative(dataset.paths[i], dataset.root) for i in picked],
        videos=[str(keys[v]) for v in dataset.videos[picked]],
        methods=[str(keys[v]).split("/")[0] for v in dataset.videos[picked]],
        labels=dataset.labels[picked],
        video_ids=dataset.videos[picked],
        probs={c: torch.empty(n) for c in conditions},
        queries={c: torch.zeros(n, dtype=torch.long) for c in conditions if c.attack != "clean"},
        seconds=dict.fromkeys(conditions, 0.0),
    )
    # One generator per condition (and the sanity PGD), so adding a condition changes no other.
    generators = [torch.Generator(device).manual_seed(options.seed + i) for i in range(len(conditions) + 1)]
    sanity = torch.zeros(n, dtype=torch.bool)
    sanity[_subset(n, options.sanity_frames, options.seed + 1)] = options.sanity
    sanity_correct = 0
    example_at = _example_positions(result.labels, options.examples, options.seed)
    advance = on_progress or (lambda _: None)
    start = 0
    for x, y, *_ in DataLoader(Subset(dataset, picked), batch_size=options.batch_size):
        x, y, rows = x.to(device), y.to(device), slice(start, start + len(y))
        if start == 0:
            result.preflight = _preflight(model, x, y)
        scored: dict[Condition, torch.Tensor] = {}
        for c, generator in zip(conditions, generators):
            began = time.perf_counter()
            spec = get_attack(c.attack, "eval")
            attacked = spec.fn(model, x, y, eps=c.eps, generator=generator, **spec.options(options, "eval"))
            x_adv = attacked.x_adv
            if options.jpeg_quality is None:
                result.probs[c][rows] = torch.sigmoid(attacked.logits).cpu()
            else:
                x_adv = jpeg_roundtrip(x_adv, options.jpeg_quality)
                result.probs[c][rows] = _score(model, x_adv)
            if c in result.queries:
                result.queries[c][rows] = attacked.queries.cpu()
            if attacked.details is not None and "stages" in attacked.details:
                _add_stages(result, c, attacked.details)
            result.seconds[c] += time.perf_counter() - began
            if on_batch is not None:
                scored[c] = x_adv
            if c.attack != "clean":
                result.examples += [
                    Example(
                        c,
                        example_at.index(p),
                        result.paths[p],
                        int(y[p - start]),
                        x[p - start].cpu(),
                        x_adv[p - start].cpu(),
                        float(result.probs[conditions[0]][p]),
                        float(result.probs[c][p]),
                    )
                    for p in example_at
                    if start <= p < rows.stop
                ]
            advance(1)
        if on_batch is not None:
            on_batch(result.paths[rows], scored)
        if options.sanity:
            sanity_correct += _sanity_correct(model, x, y, sanity[rows].to(device), options, generators[-1])
            advance(1)
        start = rows.stop
    if sanity.any():
        result.large_eps = (options.sanity_eps, sanity_correct / int(sanity.sum()))
    return result


def _add_stages(result: EvalResult, condition: Condition, details: dict[str, Any]) -> None:
    """Append one batch's ``broken_by`` and add its per-stage counts to the running totals."""
    result.broken_by.setdefault(condition, []).extend(details["broken_by"])
    totals = result.stages.setdefault(condition, [])
    for i, stage in enumerate(details["stages"]):
        if i == len(totals):
            totals.append({"attack": stage["attack"], "attacked": 0, "robust": 0, "queries": 0, "seconds": 0.0})
        for key in ("attacked", "robust", "queries", "seconds"):
            totals[i][key] += stage[key]


def _sanity_correct(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    mask: torch.Tensor,
    options: EvalOptions,
    generator: torch.Generator,
) -> int:
    """Frames of ``x[mask]`` still classified correctly under PGD at the large sanity eps."""
    if not mask.any():
        return 0
    attacked = pgd(model, x[mask], y[mask], eps=options.sanity_eps, steps=options.pgd_steps, generator=generator)
    return int((~attacked.success).sum())


def _preflight(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[str]:
    """The preflight warnings on one batch, re-issued (the CLI logs them) and returned."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        preflight_check(model, x, y)
    for w in caught:
        warnings.warn(w.message, stacklevel=3)
    return [str(w.message) for w in caught]


def _score(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """P(fake), (N,) float on the CPU."""
    with torch.inference_mode():
        return torch.sigmoid(model(x).float()).cpu()


def _subset(n: int, limit: int | None, seed: int) -> list[int]:
    """A seeded random subset of ``range(n)`` of at most ``limit`` items, in increasing order."""
    if limit is None or limit >= n:
        return list(range(n))
    return sorted(torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:limit].tolist())


def _example_positions(labels: torch.Tensor, k: int, seed: int) -> list[int]:
    """Up to ``k`` positions, half real and half fake when the classes allow, seeded."""
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    real, fake = [int(i) for i in order if labels[i] == 0], [int(i) for i in order if labels[i] == 1]
    n_real = min(len(real), max(k // 2, k - len(fake)))
    return sorted(real[:n_real] + fake[: k - n_real])


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
