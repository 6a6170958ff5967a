"""Tests for dfrobust.metrics: sklearn references, EER, video aggregation, history, plot."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from sklearn import metrics as skm

from dfrobust.errors import DfrobustError
from dfrobust.metrics import (
    METRIC_NAMES,
    DetectionMetrics,
    aggregate_videos,
    detection_metrics,
    equal_error_rate,
)


def _random_scores(seed: int, n: int = 500) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Scores that are informative but imperfect, labels, and video ids with 10 frames each."""
    g = torch.Generator().manual_seed(seed)
    video_labels = torch.randint(0, 2, (n // 10,), generator=g)
    videos = torch.arange(n // 10).repeat_interleave(10)
    labels = video_labels[videos]
    probs = torch.sigmoid(1.5 * (2 * labels - 1) + torch.randn(n, generator=g))
    return probs, labels, videos


# The two-video example: mean score and majority vote disagree on both videos.
# "a" (fake): 0.45, 0.45, 0.99 -> mean 0.63 = fake, majority real.
# "b" (real): 0.55, 0.55, 0.00 -> mean 0.367 = real, majority fake.
HAND_PROBS = torch.tensor([0.45, 0.55, 0.45, 0.55, 0.99, 0.00])
HAND_LABELS = torch.tensor([1, 0, 1, 0, 1, 0])
HAND_VIDEOS = ["a", "b", "a", "b", "a", "b"]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("threshold", [0.5, 0.3])
def test_frame_metrics_match_sklearn(seed: int, threshold: float) -> None:
    probs, labels, _ = _random_scores(seed)
    pred = (probs >= threshold).long().numpy()
    y, p = labels.numpy(), probs.numpy()
    got = detection_metrics(probs, labels, threshold=threshold)
    expected = {
        "accuracy": skm.accuracy_score(y, pred),
        "precision": skm.precision_score(y, pred),
        "recall": skm.recall_score(y, pred),
        "f1": skm.f1_score(y, pred),
        "auroc": skm.roc_auc_score(y, p),
        "ap": skm.average_precision_score(y, p),
    }
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, abs=1e-5), name
    assert 0 < got["eer"] < 0.5


def test_video_metrics_match_sklearn_on_mean_scores() -> None:
    probs, labels, videos = _random_scores(3)
    got = detection_metrics(probs, labels, videos)
    video_probs = probs.reshape(-1, 10).mean(1).numpy()  # ids are 10 consecutive frames
    video_labels = labels.reshape(-1, 10)[:, 0].numpy()
    assert got["video_accuracy"] == pytest.approx(skm.accuracy_score(video_labels, video_probs >= 0.5), abs=1e-6)
    assert got["video_f1"] == pytest.approx(skm.f1_score(video_labels, video_probs >= 0.5))
    assert got["video_auroc"] == pytest.approx(skm.roc_auc_score(video_labels, video_probs))
    assert got["video_ap"] == pytest.approx(skm.average_precision_score(video_labels, video_probs), abs=1e-6)


@pytest.mark.parametrize(
    ("probs", "labels", "eer"),
    [
        ([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1], 0.5),  # ROC passes through FPR = FNR = 0.5
        ([0.1, 0.2, 0.9, 0.5], [0, 0, 0, 1], 1 / 3),  # crossing between two ROC points
        ([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1], 0.0),  # perfectly separated
        ([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1], 1.0),  # perfectly wrong
    ],
)
def test_equal_error_rate_known_answers(probs: list, labels: list, eer: float) -> None:
    assert equal_error_rate(torch.tensor(probs), torch.tensor(labels)) == pytest.approx(eer)


def test_video_score_is_the_mean_not_the_majority_vote() -> None:
    ids, video_probs, video_labels = aggregate_videos(HAND_PROBS, HAND_LABELS, HAND_VIDEOS)
    assert ids == ["a", "b"]
    assert video_probs.tolist() == pytest.approx([(0.45 + 0.45 + 0.99) / 3, 1.1 / 3])
    assert video_labels.tolist() == [1, 0]
    got = detection_metrics(HAND_PROBS, HAND_LABELS, HAND_VIDEOS)
    assert got["accuracy"] == pytest.approx(2 / 6)
    assert got["video_accuracy"] == 1.0
    assert got["video_auroc"] == 1.0 and got["video_eer"] == 0.0
    # integer ids give the same answer as strings
    int_ids = torch.tensor([0 if v == "a" else 7 for v in HAND_VIDEOS])
    assert detection_metrics(HAND_PROBS, HAND_LABELS, int_ids) == got


def test_degenerate_inputs_give_nan_without_exceptions() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchmetrics may warn; we only forbid exceptions
        one_class = detection_metrics(torch.tensor([0.2, 0.7, 0.9]), torch.ones(3), [1, 1, 2])
        empty = detection_metrics(torch.empty(0), torch.empty(0), [])
    assert one_class["accuracy"] == pytest.approx(2 / 3)
    for name in ("auroc", "ap", "eer", "video_auroc", "video_ap", "video_eer"):
        assert math.isnan(one_class[name]), name
    assert set(empty) == {*METRIC_NAMES, *(f"video_{n}" for n in METRIC_NAMES)}
    assert all(math.isnan(v) for v in empty.values())
    no_videos = detection_metrics(HAND_PROBS, HAND_LABELS)
    assert all(math.isnan(no_videos[f"video_{n}"]) for n in METRIC_NAMES)
    assert not math.isnan(no_videos["auroc"])


@pytest.mark.parametrize(
    ("probs", "labels", "videos", "message"),
    [
        ([0.5, 2.0], [0, 1], None, "sigmoid"),
        ([0.5, 0.5], [0, 2], None, "labels 0"),
        ([0.5], [0, 1], None, "as many labels"),
        ([0.5, 0.5], [0, 1], ["v", "v"], "both real and fake"),
    ],
)
def test_bad_inputs_raise_clear_errors(probs, labels, videos, message: str) -> None:
    with pytest.raises(DfrobustError, match=message):
        detection_metrics(torch.tensor(probs), torch.tensor(labels), videos)


def test_metric_class_equals_functional_across_updates() -> None:
    probs, labels, videos = _random_scores(4)
    order = torch.randperm(len(probs), generator=torch.Generator().manual_seed(0))
    probs, labels, videos = probs[order], labels[order], videos[order]
    metric = DetectionMetrics()
    for chunk in torch.arange(len(probs)).split(77):  # uneven batches, videos split across them
        metric.update(probs[chunk], labels[chunk], videos[chunk])
    assert metric.compute() == detection_metrics(probs, labels, videos)
    metric.reset()
    with pytest.warns(UserWarning, match="before the ``update``"):  # torchmetrics' own warning
        assert all(math.isnan(v) for v in metric.compute().values())
    metric.update(probs, labels)
    assert metric.compute() == detection_metrics(probs, labels)
    metric.update(probs, labels, videos)
    with pytest.raises(DfrobustError, match="always or never"):
        metric.compute()


def _ddp_worker(rank: int, init_file: str, queue) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    probs, labels, videos = _random_scores(5)
    metric = DetectionMetrics()
    mine = torch.arange(rank, len(probs), 2)  # like DistributedSampler: a video spans both ranks
    metric.update(probs[mine], labels[mine], videos[mine])
    queue.put(metric.compute())
    dist.destroy_process_group()


@pytest.mark.slow  # two spawned processes import torch: 31 s on 2 idle cores, 95 s loaded
@pytest.mark.timeout(240)  # a hung gloo rendezvous fails instead of blocking the suite
def test_metric_class_gathers_states_across_ddp_processes(tmp_path) -> None:
    ctx = mp.get_context("spawn")
    queue = ctx.SimpleQueue()
    mp.start_processes(_ddp_worker, args=(str(tmp_path / "init"), queue), nprocs=2, start_method="spawn")
    results = [queue.get(), queue.get()]
    expected = detection_metrics(*_random_scores(5))
    for got in results:
        assert got == pytest.approx(expected)
