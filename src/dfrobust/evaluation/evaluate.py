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
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from dfrobust.attacks import get_attack, preflight_check
from dfrobust.data.dataset import FFDataset
from dfrobust.eps import eps_label
from dfrobust.errors import DfrobustError
from dfrobust.evaluation.batch import Batch, Example, evaluate_batch
from dfrobust.evaluation.checks import Check, gradient_masking_checks
from dfrobust.evaluation.options import Condition, EvalOptions
from dfrobust.evaluation.success import query_stats, success_rates
from dfrobust.metrics import detection_metrics


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
        unbounded: accuracy of the sanity frames under PGD at eps 1 (no bound), or None.
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
    unbounded: float | None = None
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
        single_step = [c.attack for c in self.probs if get_attack(c.attack).single_step]
        return gradient_masking_checks(
            accuracy, large, stages=stages, unbounded=self.unbounded, single_step=single_step
        )


def count_steps(n_frames: int, options: EvalOptions) -> int:
    """Progress steps of :func:`evaluate`: its frames (progress is reported per batch, in frames)."""
    return min(n_frames, options.limit or n_frames)


def plan_frames(n_frames: int, options: EvalOptions) -> list[int]:
    """The dataset indices an evaluation scores: all, or the seeded subset of ``options.limit``.

    Positions in this list name the frames everywhere below (shards, part files, examples).
    """
    return _subset(n_frames, options.limit, options.seed)


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
        on_progress: called with the number of frames after each batch (see :func:`count_steps`).
        on_batch: called after each batch with the frames' paths and, per condition, the
            (B, 3, H, W) images as scored (e.g. to save the adversarial frames).
    """
    device = torch.device(device)
    model = model.to(device).eval()
    picked = plan_frames(len(dataset), options)
    preflight = preflight_frames(model, dataset, picked, device)
    batches = []
    todo = range(len(picked))
    for batch in evaluate_batches(
        model, dataset, options, picked, todo, device, on_progress, keep_images=on_batch is not None
    ):
        if on_batch is not None:
            on_batch([_relative(dataset.paths[picked[p]], dataset.root) for p in batch.positions], batch.scored)
            batch.scored = None
        batches.append(batch)
    result = collect(dataset, picked, options, batches)
    result.preflight = preflight
    return result


def evaluate_batches(
    model: nn.Module,
    dataset: FFDataset,
    options: EvalOptions,
    picked: Sequence[int],
    todo: Iterable[int],
    device: torch.device,
    on_progress: Callable[[int], None] | None = None,
    on_stage: Callable[[str], None] | None = None,
    keep_images: bool = False,
) -> Iterator[Batch]:
    """Yield the :class:`Batch` of each ``options.batch_size`` frames of ``todo`` (positions in
    ``picked``, in order); the model must already be on ``device`` in eval mode.

    The sanity subset and the example frames are chosen over all of ``picked``, so they do not
    depend on which positions this call (a shard, a resumed run) evaluates.
    """
    todo, n = list(todo), len(picked)
    paths = [_relative(dataset.paths[i], dataset.root) for i in picked]
    sanity_at = set(_subset(n, options.sanity_frames, options.seed + 1)) if options.sanity else set()
    example_at = _example_positions(dataset.labels[list(picked)], options.examples, options.seed)
    examples = {p: k for k, p in enumerate(example_at)}
    loader = DataLoader(Subset(dataset, [picked[p] for p in todo]), batch_size=options.batch_size)
    for start, (x, y, *_) in zip(range(0, len(todo), options.batch_size), loader):
        chunk = todo[start : start + options.batch_size]
        frames = {
            "positions": chunk,
            "paths": [paths[p] for p in chunk],
            "sanity": [p in sanity_at for p in chunk],
            "examples": examples,
        }
        yield evaluate_batch(model, x.to(device), y.to(device), frames, options, on_stage, keep_images)
        if on_progress is not None:
            on_progress(len(chunk))


def collect(dataset: FFDataset, picked: Sequence[int], options: EvalOptions, batches: Iterable[Batch]) -> EvalResult:
    """Join the batches of every frame of ``picked`` (any order, any split) into one :class:`EvalResult`.

    Raises:
        DfrobustError: a frame is missing from the batches.
    """
    picked, conditions, keys = list(picked), options.conditions, dataset.video_index.keys
    n = len(picked)
    result = EvalResult(
        paths=[_relative(dataset.paths[i], dataset.root) for i in picked],
        videos=[str(keys[v]) for v in dataset.videos[picked]],
        methods=[dataset.methods[i] for i in picked],
        labels=dataset.labels[picked],
        video_ids=dataset.videos[picked],
        probs={c: torch.full((n,), math.nan) for c in conditions},
        queries={c: torch.zeros(n, dtype=torch.long) for c in conditions if c.attack != "clean"},
        seconds=dict.fromkeys(conditions, 0.0),
    )
    covered, sanity = torch.zeros(n, dtype=torch.bool), torch.full((n,), -1, dtype=torch.int8)
    unbounded = sanity.clone()
    for batch in sorted(batches, key=lambda b: b.positions[0]):
        rows = torch.tensor(batch.positions, dtype=torch.long)
        covered[rows] = True
        for c in conditions:
            result.probs[c][rows] = batch.probs[c]
            if c in result.queries:
                result.queries[c][rows] = batch.queries[c]
            result.seconds[c] += batch.seconds.get(c, 0.0)
        for c, names in batch.broken_by.items():
            frame_names = result.broken_by.setdefault(c, [""] * n)
            for p, name in zip(batch.positions, names):
                frame_names[p] = name
            _add_stages(result, c, batch.stages[c])
        sanity[rows] = batch.sanity
        if batch.unbounded is not None:  # parts written before the unbounded check lack it
            unbounded[rows] = batch.unbounded
        result.examples += batch.examples
    if not covered.all():
        raise DfrobustError(f"{int((~covered).sum())} of {n} frames have no results yet; evaluate them first")
    order = {c: i for i, c in enumerate(conditions)}
    result.examples.sort(key=lambda e: (order[e.condition], e.k))
    checked = sanity >= 0
    if checked.any():
        result.large_eps = (options.sanity_eps, int((sanity == 1).sum()) / int(checked.sum()))
    if (unbounded >= 0).any():
        result.unbounded = int((unbounded == 1).sum()) / int((unbounded >= 0).sum())
    return result


def _add_stages(result: EvalResult, condition: Condition, stages: list[dict[str, Any]]) -> None:
    """Add one batch's per-stage counts of an ensemble condition to the running totals."""
    totals = result.stages.setdefault(condition, [])
    for i, stage in enumerate(stages):
        if i == len(totals):
            totals.append({"attack": stage["attack"], "attacked": 0, "robust": 0, "queries": 0, "seconds": 0.0})
        for key in ("attacked", "robust", "queries", "seconds"):
            totals[i][key] += stage[key]


def preflight_frames(model: nn.Module, dataset: FFDataset, picked: Sequence[int], device: torch.device) -> list[str]:
    """:func:`dfrobust.attacks.preflight_check` on the first 16 frames of ``picked``: the same
    frames however the evaluation is split."""
    if not picked:
        return []
    x, y, *_ = next(iter(DataLoader(Subset(dataset, list(picked[:16])), batch_size=16)))
    return _preflight(model, x.to(device), y.to(device))


def _preflight(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[str]:
    """The preflight warnings on one batch, re-issued (the CLI logs them) and returned."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        preflight_check(model, x, y)
    for w in caught:
        warnings.warn(w.message, stacklevel=3)
    return [str(w.message) for w in caught]


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
