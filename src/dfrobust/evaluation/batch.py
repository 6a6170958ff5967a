"""One batch of an evaluation: every condition on the same frames, with per-frame random streams.

A frame's random draws (random starts, Square's squares, EOT draws, the sanity PGD) come
from its own generator, seeded from (seed, condition, frame key); the key hashes the frame's
path relative to the manifest. So a frame gets the same adversarial example whatever its
batch, shard, process or device count: results do not depend on how the work is split
(up to floating-point differences between kernels for different batch sizes).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from dfrobust.attacks import get_attack, pgd
from dfrobust.attacks.base import SampleGenerators
from dfrobust.eps import eps_label
from dfrobust.evaluation.images import h264_roundtrip, jpeg_roundtrip, parse_codec
from dfrobust.evaluation.options import Condition, EvalOptions

SANITY_TAG = "sanity-pgd"
UNBOUNDED_TAG = "sanity-unbounded"
# PGD without a bound (eps 1: the whole [0, 1] box) from the clean frame, in steps of 8/255:
# 32 of them reach any image, so every frame must break. Steps of 2.5 eps / steps (0.25 here)
# would overshoot and leave frames correct that small steps break.
UNBOUNDED_PGD = {"eps": 1.0, "alpha": 8 / 255, "steps": 32, "random_start": False}


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
class Batch:
    """The scores of one batch, what a part file of ``eval/parts/`` holds.

    Attributes:
        positions: the frames' positions in the evaluation's frame list (see ``plan_frames``).
        probs: condition -> (n,) P(fake). queries: attack condition -> (n,) model evaluations.
        broken_by, stages: the ensemble's per-frame member and per-stage counts (``auto`` only).
        seconds: condition -> wall time. sanity: (n,) int8, -1 not a sanity frame, 1 still
            correct under the large-eps PGD, 0 broken. unbounded: the same under PGD at eps 1
            (no bound). examples: frames kept for the report.
        scored: condition -> (n, 3, H, W) images as scored, only when asked for (never saved).
    """

    positions: list[int]
    probs: dict[Condition, torch.Tensor] = field(default_factory=dict)
    queries: dict[Condition, torch.Tensor] = field(default_factory=dict)
    broken_by: dict[Condition, list[str]] = field(default_factory=dict)
    stages: dict[Condition, list[dict[str, Any]]] = field(default_factory=dict)
    seconds: dict[Condition, float] = field(default_factory=dict)
    sanity: torch.Tensor | None = None
    unbounded: torch.Tensor | None = None
    examples: list[Example] = field(default_factory=list)
    scored: dict[Condition, torch.Tensor] | None = None


def frame_seed(seed: int, tag: str, key: str) -> int:
    """A 63-bit seed for the stream of frame ``key`` under condition ``tag``; stable across runs."""
    digest = hashlib.blake2b(f"{seed}\0{tag}\0{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def frame_generators(seed: int, tag: str, keys: Sequence[str]) -> SampleGenerators:
    """One CPU generator per frame, keyed on (seed, tag, frame key)."""
    return SampleGenerators([frame_seed(seed, tag, key) for key in keys])


def budget_label(condition: Condition, options: EvalOptions) -> str:
    """``pgd 4/255 (steps 10)``: a condition and the budgets the registry passes it."""
    budgets = get_attack(condition.attack, "eval").options(options, "eval")
    budgets = {k: v for k, v in budgets.items() if not (k == "eot" and v == 1)}  # no EOT: not worth a word
    text = ", ".join(f"{k} {','.join(v) if isinstance(v, tuple) else v}" for k, v in budgets.items())
    return f"{condition.label} ({text})" if text else condition.label


def evaluate_batch(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    frames: dict[str, Any],
    options: EvalOptions,
    on_stage: Callable[[str], None] | None = None,
    keep_images: bool = False,
) -> Batch:
    """Every condition of ``options`` (``clean`` first) on one batch; the model is in eval mode.

    Args:
        x: (n, 3, H, W) in [0, 1] on the model's device. y: (n,) labels.
        frames: ``positions`` (n ints), ``paths`` (n frame keys), ``sanity`` (n bools: run the
            sanity PGD), ``examples`` (position -> example number k).
        on_stage: called with a condition's label and budget before it runs.
        keep_images: keep each condition's images as scored in ``Batch.scored``.
    """
    positions, paths = frames["positions"], frames["paths"]
    batch = Batch(positions=list(positions), scored={} if keep_images else None)
    conditions = options.conditions
    for c in conditions:
        if on_stage is not None:
            on_stage(budget_label(c, options))
        began = time.perf_counter()
        spec = get_attack(c.attack, "eval")
        gens = frame_generators(options.seed, c.slug, paths)
        attacked = spec.fn(model, x, y, eps=c.eps, generator=gens, **spec.options(options, "eval"))
        x_adv = attacked.x_adv
        if options.jpeg_quality is None and options.codec is None:
            batch.probs[c] = torch.sigmoid(attacked.logits).cpu()
        else:
            if options.jpeg_quality is not None:
                x_adv = jpeg_roundtrip(x_adv, options.jpeg_quality)
            if options.codec is not None:
                x_adv = h264_roundtrip(x_adv, parse_codec(options.codec))
            batch.probs[c] = score(model, x_adv)
        if batch.scored is not None:
            batch.scored[c] = x_adv
        if c.attack != "clean":
            batch.queries[c] = attacked.queries.cpu()
        if attacked.details is not None and "stages" in attacked.details:
            batch.broken_by[c] = list(attacked.details["broken_by"])
            batch.stages[c] = [
                {k: stage[k] for k in ("attack", "attacked", "robust", "queries", "seconds")}
                for stage in attacked.details["stages"]
            ]
        batch.seconds[c] = time.perf_counter() - began
        if c.attack != "clean":
            batch.examples += [
                Example(
                    c,
                    k,
                    paths[i],
                    int(y[i]),
                    x[i].cpu(),
                    x_adv[i].cpu(),
                    float(batch.probs[conditions[0]][i]),
                    float(batch.probs[c][i]),
                )
                for i, k in ((i, frames["examples"][p]) for i, p in enumerate(positions) if p in frames["examples"])
            ]
    large = {"eps": options.sanity_eps, "steps": options.pgd_steps}
    batch.sanity = _sanity(model, x, y, frames, options, SANITY_TAG, on_stage, **large)
    batch.unbounded = _sanity(model, x, y, frames, options, UNBOUNDED_TAG, on_stage, **UNBOUNDED_PGD)
    return batch


def _sanity(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    frames: dict[str, Any],
    options: EvalOptions,
    tag: str,
    on_stage: Callable[[str], None] | None,
    **attack: Any,
) -> torch.Tensor:
    """(n,) int8: 1 where a sanity frame stays correct under PGD with ``attack``'s keywords
    (eps, steps...), 0 where it breaks, -1 for frames outside the sanity subset."""
    mask = torch.tensor(frames["sanity"], dtype=torch.bool)
    out = torch.full((len(mask),), -1, dtype=torch.int8)
    if not options.sanity or not mask.any():
        return out
    if on_stage is not None:
        on_stage(f"sanity pgd {eps_label(attack['eps'])} (steps {attack['steps']})")
    keys = [p for p, keep in zip(frames["paths"], mask.tolist()) if keep]
    picked = mask.to(x.device)
    attacked = pgd(model, x[picked], y[picked], generator=frame_generators(options.seed, tag, keys), **attack)
    out[mask] = (~attacked.success).to(torch.int8).cpu()
    return out


def score(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """P(fake), (N,) float on the CPU."""
    with torch.inference_mode():
        return torch.sigmoid(model(x).float()).cpu()
