"""Detection metrics, frame and video level.

Scores are P(fake) = sigmoid(logit) in [0, 1]; labels are 0 real, 1 fake. Every
metric comes from ``torchmetrics.functional`` (the ``Binary*`` family); only the
equal error rate is computed here, because torchmetrics' ``binary_eer`` takes the
nearest ROC point instead of interpolating where FPR = FNR.

A video's score is the mean of its frames' P(fake) (DESIGN.md) and its label is
its frames' label. The functional core :func:`detection_metrics` serves evaluation
code; :class:`DetectionMetrics` wraps it as a torchmetrics ``Metric`` whose states
are concatenated across processes, so it gives the same numbers under DDP::

    metrics = DetectionMetrics()
    metrics.update(torch.sigmoid(logits), y, video_idx)   # once per batch
    row = {f"val_{k}": v for k, v in metrics.compute().items()}
    metrics.reset()
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.functional.classification import (
    binary_accuracy,
    binary_auroc,
    binary_average_precision,
    binary_f1_score,
    binary_precision,
    binary_recall,
    binary_roc,
)
from torchmetrics.utilities.data import dim_zero_cat

from dfrobust.errors import DfrobustError

METRIC_NAMES = ("accuracy", "precision", "recall", "f1", "auroc", "ap", "eer")
"""Keys of :func:`detection_metrics`; each also appears with a ``video_`` prefix."""

_THRESHOLD_METRICS = {
    "accuracy": binary_accuracy,
    "precision": binary_precision,
    "recall": binary_recall,
    "f1": binary_f1_score,
}
_RANKING_METRICS = {"auroc": binary_auroc, "ap": binary_average_precision}


def aggregate_videos(
    probs: Tensor, labels: Tensor, videos: Tensor | Sequence[Hashable]
) -> tuple[list[Hashable], Tensor, Tensor]:
    """Per-video scores (mean of the frames' P(fake)) and labels.

    Args:
        probs: (N,) float in [0, 1].
        labels: (N,) int in {0, 1}.
        videos: (N,) integer tensor or a sequence of hashable ids (str or int).

    Returns:
        ``(ids, video_probs, video_labels)``: the V distinct ids in sorted order,
        (V,) float mean scores, (V,) int64 labels.
    """
    if isinstance(videos, Tensor):
        ids, codes = torch.unique(videos.reshape(-1), sorted=True, return_inverse=True)
        keys: list[Hashable] = ids.tolist()
    else:
        keys = sorted(set(videos))
        position = {key: i for i, key in enumerate(keys)}
        codes = torch.tensor([position[v] for v in videos], dtype=torch.long)
    if codes.numel() != probs.numel():
        raise DfrobustError(f"Expected one video id per score ({probs.numel()}), got {codes.numel()}")
    n_videos, codes, labels = len(keys), codes.to(probs.device), labels.long()
    counts = torch.bincount(codes, minlength=n_videos)
    sums = torch.bincount(codes, weights=probs.double(), minlength=n_videos)
    low = labels.new_full((n_videos,), 2).scatter_reduce(0, codes, labels, "amin")
    high = labels.new_full((n_videos,), -1).scatter_reduce(0, codes, labels, "amax")
    mixed = (low != high).nonzero().flatten().tolist()
    if mixed:
        raise DfrobustError(
            f"video(s) {[keys[i] for i in mixed[:5]]} have frames labelled both real and fake; "
            "each video id must name one video (use VideoIndex.from_rows keys)"
        )
    return keys, (sums / counts).to(probs.dtype), low


def equal_error_rate(probs: Tensor, labels: Tensor) -> float:
    """The error rate where FPR = FNR, linearly interpolated on the ROC curve.

    NaN when ``labels`` hold only one class (one of the rates is undefined).

    Args:
        probs: (N,) float in [0, 1].
        labels: (N,) int in {0, 1}.
    """
    if not _both_classes(labels):
        return math.nan
    fpr, tpr, _ = binary_roc(probs, labels)
    gap = (1 - tpr) - fpr  # FNR - FPR: starts >= 0 at (0, 0), ends -1 at (1, 1)
    i = int((gap <= 0).nonzero()[0])
    if gap[i] == 0:
        return float(fpr[i])
    t = gap[i - 1] / (gap[i - 1] - gap[i])
    return float(fpr[i - 1] + t * (fpr[i] - fpr[i - 1]))


def detection_metrics(
    probs: Tensor | Sequence[float],
    labels: Tensor | Sequence[int],
    videos: Tensor | Sequence[Hashable] | None = None,
    threshold: float = 0.5,
) -> dict[str, float]:
    """Frame- and video-level detection metrics.

    Args:
        probs: (N,) P(fake) in [0, 1] (``torch.sigmoid(logits)``, not logits).
        labels: (N,) 0 real, 1 fake.
        videos: (N,) video id of each frame (int tensor, or str/int sequence), or None.
        threshold: a score >= threshold predicts fake.

    Returns:
        ``accuracy, precision, recall, f1, auroc, ap, eer`` and the same keys with a
        ``video_`` prefix, all floats. NaN where undefined: every key with no
        samples, auroc/ap/eer when only one class is present, and every ``video_``
        key when ``videos`` is None (the keys stay, so history columns are stable).
    """
    probs, labels = (t.cpu() for t in _as_scores(probs, labels))
    result = _frame_metrics(probs, labels, threshold)
    if videos is None or probs.numel() == 0:
        video_result = dict.fromkeys(METRIC_NAMES, math.nan)
    else:
        _, video_probs, video_labels = aggregate_videos(probs, labels, videos)
        video_result = _frame_metrics(video_probs, video_labels, threshold)
    result.update({f"video_{k}": v for k, v in video_result.items()})
    return result


def _frame_metrics(probs: Tensor, labels: Tensor, threshold: float) -> dict[str, float]:
    if probs.numel() == 0:
        return dict.fromkeys(METRIC_NAMES, math.nan)
    result = {name: float(fn(probs, labels, threshold=threshold)) for name, fn in _THRESHOLD_METRICS.items()}
    both = _both_classes(labels)
    for name, fn in _RANKING_METRICS.items():
        result[name] = float(fn(probs, labels)) if both else math.nan
    result["eer"] = equal_error_rate(probs, labels)
    return result


def _both_classes(labels: Tensor) -> bool:
    return bool((labels == 0).any() and (labels == 1).any())


def _as_scores(
    probs: Tensor | Sequence[float], labels: Tensor | Sequence[int], validate: bool = True
) -> tuple[Tensor, Tensor]:
    """Flatten scores and labels (same device) and check them; the fixes are in the messages."""
    probs = torch.as_tensor(probs).detach().reshape(-1)
    labels = torch.as_tensor(labels, device=probs.device).detach().reshape(-1).long()
    if not probs.is_floating_point():
        probs = probs.float()
    if probs.numel() != labels.numel():
        raise DfrobustError(f"Expected as many labels as scores ({probs.numel()}), got {labels.numel()}")
    if not validate:
        return probs, labels
    finite = probs.isfinite().all()
    if probs.numel() and not (finite and probs.min() >= 0 and probs.max() <= 1):
        raise DfrobustError(
            f"Expected probabilities in [0, 1], got values in "
            f"[{probs.min():.3g}, {probs.max():.3g}]; "
            "pass torch.sigmoid(logits), not the logits"
        )
    if labels.numel() and not ((labels == 0) | (labels == 1)).all():
        raise DfrobustError(f"Expected labels 0 (real) or 1 (fake), got {sorted(set(labels.tolist()))}")
    return probs, labels


class DetectionMetrics(Metric):
    """Accumulates scores, labels and video indices; computes :func:`detection_metrics`.

    States are lists concatenated across processes (``dist_reduce_fx="cat"``), so
    a video whose frames were spread over several DDP ranks is still averaged
    whole. Call ``update`` per batch and ``compute`` once per epoch: ``forward``
    would compute on every batch, which is wasted work here.

    Args:
        threshold: a score >= threshold predicts fake.
        validate_args: check each batch's ranges (a device sync per batch on GPU).
        **kwargs: torchmetrics ``Metric`` options (``sync_on_compute``, ...).
    """

    is_differentiable = False
    higher_is_better = None
    full_state_update = False

    def __init__(self, threshold: float = 0.5, validate_args: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.threshold = threshold
        self.validate_args = validate_args
        self.add_state("probs", default=[], dist_reduce_fx="cat")
        self.add_state("labels", default=[], dist_reduce_fx="cat")
        self.add_state("videos", default=[], dist_reduce_fx="cat")

    def update(self, probs: Tensor, labels: Tensor, videos: Tensor | None = None) -> None:
        """Add a batch: probs (N,) in [0, 1], labels (N,) {0, 1}, videos (N,) int >= 0 or None."""
        probs, labels = _as_scores(probs, labels, self.validate_args)
        if videos is None:
            videos = torch.full_like(labels, -1)  # -1: "no id", checked in compute
        videos = videos.detach().reshape(-1).long()
        if videos.numel() != labels.numel():
            raise DfrobustError(f"Expected one video index per score ({labels.numel()}), got {videos.numel()}")
        self.probs.append(probs.to(self.device))
        self.labels.append(labels.to(self.device))
        self.videos.append(videos.to(self.device))

    def compute(self) -> dict[str, float]:
        """Everything seen since the last ``reset``, as :func:`detection_metrics` returns it."""
        if isinstance(self.probs, list) and not self.probs:  # no update on any process
            return detection_metrics(torch.empty(0), torch.empty(0))
        states = (self.probs, self.labels, self.videos)
        probs, labels, videos = (dim_zero_cat(s).cpu() for s in states)
        has_id = videos >= 0
        if not (has_id.all() or not has_id.any()):
            raise DfrobustError("some update() calls gave video ids and some did not; pass them always or never")
        return detection_metrics(probs, labels, videos if has_id.all() else None, self.threshold)
