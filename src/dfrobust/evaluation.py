"""Robust evaluation: a detector's metrics on clean frames and under FGSM, PGD and Square.

For every batch the clean scores are computed once, then each attack condition (attack x eps)
attacks the batch once, with the model in eval mode. Each condition yields frame- and
video-level metrics (:func:`dfrobust.metrics.detection_metrics`) and the attack success rates
of :mod:`dfrobust.attack_success`; sanity checks flag gradient masking. With ``jpeg_quality``
every condition, clean included, is scored after a JPEG round trip in memory: does an attack
survive a re-upload? ::

    result = evaluate(model, FFDataset(manifest, "test", transform, return_video=True),
                      EvalOptions(eps=(4 / 255,), n_queries=300))
    result.rows()      # one dict per condition: metrics, asr_*, queries_*

:mod:`dfrobust.evaluation_run` loads a run folder and writes its ``eval/`` folder.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Subset

from dfrobust.attack_success import Check, gradient_masking_checks, query_stats, success_rates
from dfrobust.attacks import check_eps, fgsm, pgd, square
from dfrobust.data import FFDataset, Transform, build_transform
from dfrobust.errors import DfrobustError
from dfrobust.metrics import detection_metrics

EVAL_ATTACKS = ("clean", "fgsm", "pgd", "square")


def eps_label(eps: float) -> str:
    """``4/255`` for multiples of 1/255, else ``0.03``; clean is ``0``."""
    k = eps * 255
    return "0" if eps == 0 else f"{round(k)}/255" if abs(k - round(k)) < 1e-6 else f"{eps:g}"


@dataclass(frozen=True)
class Condition:
    """An attack at one budget (``clean`` has eps 0)."""

    attack: str
    eps: float = 0.0

    @property
    def label(self) -> str:
        """``pgd 4/255`` or ``clean``, for tables."""
        return self.attack if self.attack == "clean" else f"{self.attack} {eps_label(self.eps)}"

    @property
    def slug(self) -> str:
        """File-name form: ``clean`` or ``pgd_4-255``."""
        return self.attack if self.attack == "clean" else f"{self.attack}_{eps_label(self.eps).replace('/', '-')}"


@dataclass(frozen=True)
class EvalOptions:
    """What to evaluate. ``clean`` always runs: the success rates are relative to it.

    Attributes:
        attacks: names from :data:`EVAL_ATTACKS`.
        eps: L-inf budgets in pixel units of [0, 1] images (4/255).
        limit: evaluate a seeded random subset of at most this many frames.
        jpeg_quality: score every condition after a JPEG round trip at this quality.
        sanity: run PGD at ``sanity_eps`` on ``sanity_frames`` frames (gradient-masking check).
        examples: frames (half real, half fake) saved as PNG per attack condition.
    """

    attacks: tuple[str, ...] = EVAL_ATTACKS
    eps: tuple[float, ...] = (2 / 255, 4 / 255, 8 / 255)
    n_queries: int = 1000
    pgd_steps: int = 10
    limit: int | None = None
    jpeg_quality: int | None = None
    batch_size: int = 128
    seed: int = 0
    sanity: bool = True
    sanity_frames: int = 128
    sanity_eps: float = 32 / 255
    examples: int = 4

    def __post_init__(self) -> None:
        unknown = [a for a in self.attacks if a not in EVAL_ATTACKS]
        if unknown or not self.attacks:
            raise DfrobustError(f"Unknown attack(s) {unknown or '(none given)'}; expected some of: {', '.join(EVAL_ATTACKS)}")
        if not self.eps and any(a != "clean" for a in self.attacks):
            raise DfrobustError("Expected at least one eps for the attacks, e.g. --eps 4/255")
        for eps in (*self.eps, self.sanity_eps):
            check_eps(eps)
        for name in ("n_queries", "pgd_steps", "batch_size", "sanity_frames"):
            if getattr(self, name) <= 0:
                raise DfrobustError(f"Expected {name} to be a positive integer, got {getattr(self, name)}")
        if self.limit is not None and self.limit <= 0:
            raise DfrobustError(f"Expected limit to be a positive number of frames, got {self.limit}")
        if self.jpeg_quality is not None and not 1 <= self.jpeg_quality <= 100:
            raise DfrobustError(f"Expected jpeg_quality in [1, 100], got {self.jpeg_quality}")

    @property
    def conditions(self) -> list[Condition]:
        """``clean`` first, then each attack at each eps (in the order given)."""
        attacks = [a for a in dict.fromkeys(self.attacks) if a != "clean"]
        return [Condition("clean")] + [Condition(a, e) for a in attacks for e in dict.fromkeys(self.eps)]


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
        probs: condition -> (N,) P(fake). queries: condition -> (N,) Square queries.
        seconds: condition -> wall time spent on it.
        large_eps: ``(eps, accuracy)`` of the PGD sanity condition, or None.
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
            rows.append({
                "condition": c.attack, "eps": eps_label(c.eps), "eps_value": c.eps, "frames": len(pred),
                **detection_metrics(probs, self.labels, self.video_ids),
                **success_rates(self.labels, clean, pred, self.video_ids),
                **query_stats(self.queries.get(c), successful),
                "seconds": self.seconds.get(c, 0.0),
            })
        return rows

    def checks(self) -> list[Check]:
        """The gradient-masking sanity checks on these results."""
        accuracy = {(r["condition"], r["eps"]): r["accuracy"] for r in self.rows()}
        large = None if self.large_eps is None else (eps_label(self.large_eps[0]), self.large_eps[1])
        return gradient_masking_checks(accuracy, large)


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
) -> EvalResult:
    """Score ``dataset`` clean and under every condition of ``options`` (model in eval mode).

    Args:
        model: (N, 3, H, W) in [0, 1] -> (N,) fake logits; moved to ``device``, set to eval.
        dataset: frames already resized for the model (``FFDataset`` with an eval transform).
        on_progress: called with 1 after each condition of each batch (see :func:`count_steps`).
    """
    device = torch.device(device)
    model = model.to(device).eval()
    picked = _subset(len(dataset), options.limit, options.seed)
    conditions, n, keys = options.conditions, len(picked), dataset.video_index.keys
    result = EvalResult(
        paths=[_relative(dataset.paths[i], dataset.root) for i in picked],
        videos=[str(keys[v]) for v in dataset.videos[picked]],
        methods=[str(keys[v]).split("/")[0] for v in dataset.videos[picked]],
        labels=dataset.labels[picked], video_ids=dataset.videos[picked],
        probs={c: torch.empty(n) for c in conditions},
        queries={c: torch.zeros(n, dtype=torch.long) for c in conditions if c.attack == "square"},
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
        for c, generator in zip(conditions, generators):
            began = time.perf_counter()
            x_adv, spent = _attack(model, c, x, y, options, generator)
            if options.jpeg_quality is not None:
                x_adv = jpeg_roundtrip(x_adv, options.jpeg_quality)
            result.probs[c][rows] = _score(model, x_adv)
            if spent is not None:
                result.queries[c][rows] = spent.cpu()
            result.seconds[c] += time.perf_counter() - began
            if c.attack != "clean":
                result.examples += [Example(c, example_at.index(p), result.paths[p], int(y[p - start]),
                                            x[p - start].cpu(), x_adv[p - start].cpu(),
                                            float(result.probs[conditions[0]][p]), float(result.probs[c][p]))
                                    for p in example_at if start <= p < rows.stop]
            advance(1)
        if options.sanity:
            sanity_correct += _sanity_correct(model, x, y, sanity[rows].to(device), options, generators[-1])
            advance(1)
        start = rows.stop
    if sanity.any():
        result.large_eps = (options.sanity_eps, sanity_correct / int(sanity.sum()))
    return result


def _sanity_correct(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor, options: EvalOptions,
    generator: torch.Generator,
) -> int:
    """Frames of ``x[mask]`` still classified correctly under PGD at the large sanity eps."""
    if not mask.any():
        return 0
    x_big = pgd(model, x[mask], y[mask], eps=options.sanity_eps, steps=options.pgd_steps, generator=generator)
    return int(((_score(model, x_big) >= 0.5).long() == y[mask].cpu()).sum())


def _attack(
    model: nn.Module, c: Condition, x: torch.Tensor, y: torch.Tensor, options: EvalOptions, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The condition's images (and Square's queries per frame)."""
    if c.attack == "clean":
        return x, None
    if c.attack == "fgsm":
        return fgsm(model, x, y, eps=c.eps), None
    if c.attack == "pgd":
        return pgd(model, x, y, eps=c.eps, steps=options.pgd_steps, generator=generator), None
    result = square(model, x, y, eps=c.eps, n_queries=options.n_queries, generator=generator)
    return result.x_adv, result.queries


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


def to_image(x: torch.Tensor) -> Image.Image:
    """(3, H, W) float in [0, 1] -> RGB PIL image, rounded to uint8."""
    return Image.fromarray((x.detach().clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy())


def jpeg_roundtrip(x: torch.Tensor, quality: int) -> torch.Tensor:
    """Encode each image of (N, 3, H, W) in [0, 1] as JPEG in memory and decode it again."""
    out = []
    for image in x:
        buf = io.BytesIO()
        to_image(image).save(buf, format="JPEG", quality=quality)
        buf.seek(0)
        with Image.open(buf) as decoded:
            out.append(torch.from_numpy(np.asarray(decoded.convert("RGB")).copy()).permute(2, 0, 1))
    return torch.stack(out).to(x.device, torch.float32).div(255)


def model_transform(model: nn.Module, image_size: int | None = None) -> Transform:
    """The eval transform of ``model``: resize to ``image_size`` (the run's override) or its input size."""
    data_config = model.data_config
    size = (image_size, image_size) if image_size else tuple(data_config["input_size"][1:])
    return build_transform(size, data_config.get("interpolation", "bilinear"))
