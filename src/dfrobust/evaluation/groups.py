"""Results per group of frames: per manipulation method, compression, data set, source attack.

Every evaluation reports each condition overall and per group (``summary.json``'s
``"groups"``, ``summary_by_group.csv``). The groupings:

- ``method``, the FaceForensics++ convention: the group of a manipulation method holds that
  method's fake frames **and every real frame** (``Deepfakes`` = Deepfakes fakes + all
  originals), so each group has both classes and its AUC means "this method's fakes against
  the real videos". Real frames are those labelled 0, whatever their method column says
  (``original``, ``Celeb-real``...).
- ``compression``, ``dataset``: a plain partition of the frames (both labels), reported only
  when the frames mix several values.
- ``attack``: for frames saved by ``dfrobust test --save-adv`` (manifest column ``attack`` and
  ``eps``), a partition by the condition that made them (``clean``, ``pgd 4/255``), again only
  when several are mixed.

Each group row holds what an overall row holds (metrics, video metrics, attack success rates,
queries) plus ``grouping``, ``group``, ``frames`` and ``real_frames``/``fake_frames``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from dfrobust.evaluation.evaluate import EvalResult

GROUPINGS = ("method", "compression", "dataset", "attack")
METHOD_NOTE = "method groups follow the FF++ convention: each holds that method's fake frames and all real frames"


def frame_values(result: EvalResult, grouping: str) -> list[str] | None:
    """Per frame, its value for ``grouping`` (None when the frames do not carry it).

    ``method`` falls back to ``result.methods`` and ``compression`` to the middle part of the
    ``method/compression/video`` key when ``frame_columns`` lacks them (``evaluate`` alone).
    """
    columns = result.frame_columns
    if grouping == "attack" and "attack" in columns:
        eps = columns.get("eps", [""] * len(columns["attack"]))
        return [a if a == "clean" or not e else f"{a} {e}" for a, e in zip(columns["attack"], eps)]
    if grouping in columns:
        return list(columns[grouping])
    if grouping == "method":
        return list(result.methods)
    if grouping == "compression" and all(v.count("/") == 2 for v in result.videos):
        return [v.split("/")[1] for v in result.videos]
    return None


def group_masks(result: EvalResult, grouping: str) -> dict[str, torch.Tensor]:
    """Group name -> (N,) bool mask of its frames, in sorted order; empty when not applicable.

    ``method``: one group per method of the fake frames, each with all real frames as well.
    Other groupings: one group per value, only when there are at least two values.
    """
    values = frame_values(result, grouping)
    if values is None or len(values) != len(result.labels):
        return {}
    if grouping == "method":
        fake = result.labels == 1
        methods = sorted({v for v, is_fake in zip(values, fake.tolist()) if is_fake})
        return {m: ~fake | torch.tensor([v == m for v in values]) for m in methods}
    distinct = sorted(set(values))
    if len(distinct) < 2:
        return {}
    return {g: torch.tensor([v == g for v in values]) for g in distinct}


def subset(result: EvalResult, mask: torch.Tensor) -> EvalResult:
    """The frames of ``mask`` as an EvalResult of their own (no examples, stages or timings)."""
    keep = mask.nonzero().flatten().tolist()
    return EvalResult(
        paths=[result.paths[i] for i in keep],
        videos=[result.videos[i] for i in keep],
        methods=[result.methods[i] for i in keep],
        labels=result.labels[mask],
        video_ids=result.video_ids[mask],
        probs={c: p[mask] for c, p in result.probs.items()},
        queries={c: q[mask] for c, q in result.queries.items()},
    )


def group_rows(result: EvalResult, groupings: Sequence[str] = GROUPINGS) -> dict[str, list[dict[str, Any]]]:
    """``{grouping: rows}``: per group, one row per condition (as :meth:`EvalResult.rows`).

    Groupings that do not apply (a single compression, no attack column) are left out.
    """
    out: dict[str, list[dict[str, Any]]] = {}
    for grouping in groupings:
        rows = []
        for group, mask in group_masks(result, grouping).items():
            part = subset(result, mask)
            counts = {"real_frames": int((part.labels == 0).sum()), "fake_frames": int((part.labels == 1).sum())}
            for row in part.rows():
                row.pop("seconds", None)
                rows.append({"grouping": grouping, "group": group, **counts, **row})
        if rows:
            out[grouping] = rows
    return out
