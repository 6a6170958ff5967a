"""Attack success rates and the sanity checks against gradient masking.

Given the labels, the clean predictions and the predictions under one attack condition,
:func:`success_rates` gives four views of "how often the attack worked" (DESIGN.md):

- ``asr_flip`` (a): of the frames classified correctly on clean input, the share the attack
  flips; the usual "attack success rate".
- ``asr_error`` (b): 1 - robust accuracy, errors from any cause (clean mistakes included).
- ``asr_evasion`` (c): of the fake frames, the share classified real after the attack: what a
  forger cares about.
- ``asr_video`` (d): of the fake videos, the share "fooled": fewer than half of their frames
  flagged fake.

:func:`gradient_masking_checks` compares conditions the way Athalye et al. (ICML 2018,
arXiv:1802.00420) and Carlini et al. ("On Evaluating Adversarial Robustness",
arXiv:1902.06705) advise: a white-box iterative attack must beat a single step, a black-box
attack must not beat the white-box one, and an unbounded-ish budget must reach ~0 accuracy.
A failed check does not prove masking, but robust accuracy is then an overestimate to
distrust.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from dfrobust.metrics import aggregate_videos

ASR_KEYS = ("asr_flip", "asr_error", "asr_evasion", "asr_video")
QUERY_KEYS = ("queries_mean", "queries_median")
TOLERANCE = 0.02  # accuracy slack between attacks: about 5 frames of 256
LARGE_EPS_MAX_ACCURACY = 0.1


def _share(hits: Tensor, among: Tensor) -> float:
    """``hits.sum() / among.sum()`` over boolean masks; NaN when ``among`` is empty."""
    n = int(among.sum())
    return float((hits & among).sum()) / n if n else math.nan


def success_rates(labels: Tensor, clean_pred: Tensor, pred: Tensor, videos: Tensor) -> dict[str, float]:
    """The four attack success rates of one condition.

    Args:
        labels: (N,) 0 real, 1 fake.
        clean_pred: (N,) 0/1 predictions on clean frames.
        pred: (N,) 0/1 predictions under the attack.
        videos: (N,) int video index of each frame.

    Returns:
        ``asr_flip``, ``asr_error``, ``asr_evasion``, ``asr_video`` in [0, 1] (NaN when the
        reference set, e.g. the fake frames, is empty).
    """
    labels, clean_pred, pred = labels.long(), clean_pred.long(), pred.long()
    clean_correct, wrong = clean_pred == labels, pred != labels
    fake = labels == 1
    _, flagged_share, video_labels = aggregate_videos(pred.double(), labels, videos)
    fake_videos = video_labels == 1
    return {
        "asr_flip": _share(wrong, clean_correct),
        "asr_error": _share(wrong, torch.ones_like(wrong)),
        "asr_evasion": _share(pred == 0, fake),
        "asr_video": _share(flagged_share < 0.5, fake_videos),
    }


def query_stats(queries: Tensor | None, successful: Tensor) -> dict[str, float]:
    """Mean and median Square queries over the successful attacks (NaN when none or no queries).

    Args:
        queries: (N,) queries spent per frame, or None for attacks that do not count them.
        successful: (N,) bool, frames correct on clean input and wrong under the attack.
    """
    if queries is None or not successful.any():
        return dict.fromkeys(QUERY_KEYS, math.nan)
    spent = queries[successful].double()
    # torch.median takes the lower middle value; the mean of both middles is the usual median.
    return {"queries_mean": float(spent.mean()), "queries_median": float(spent.quantile(0.5))}
