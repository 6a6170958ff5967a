"""Tests for dfrobust.metrics: sklearn references, EER, video aggregation, history, plot."""

from __future__ import annotations

import csv
import math
import warnings

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from PIL import Image
from sklearn import metrics as skm

from dfrobust.errors import DfrobustError
from dfrobust.metrics import (
    METRIC_NAMES,
    DetectionMetrics,
    History,
    VideoIndex,
    aggregate_videos,
    detection_metrics,
    equal_error_rate,
    plot_history,
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
    assert got["video_accuracy"] == pytest.approx(
        skm.accuracy_score(video_labels, video_probs >= 0.5), abs=1e-6
    )
    assert got["video_f1"] == pytest.approx(skm.f1_score(video_labels, video_probs >= 0.5))
    assert got["video_auroc"] == pytest.approx(skm.roc_auc_score(video_labels, video_probs))
    assert got["video_ap"] == pytest.approx(
        skm.average_precision_score(video_labels, video_probs), abs=1e-6
    )


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
    mp.start_processes(
        _ddp_worker, args=(str(tmp_path / "init"), queue), nprocs=2, start_method="spawn"
    )
    results = [queue.get(), queue.get()]
    expected = detection_metrics(*_random_scores(5))
    for got in results:
        assert got == pytest.approx(expected)


def test_video_index_is_stable_and_keys_include_method() -> None:
    rows = [
        {"method": "Deepfakes", "compression": "c23", "video": "000_003"},
        {"method": "Face2Face", "compression": "c23", "video": "000_003"},
        {"method": "original", "compression": "c23", "video": "000"},
        {"method": "Deepfakes", "compression": "c23", "video": "000_003"},
    ]
    index = VideoIndex.from_rows(rows)
    assert len(index) == 3
    assert VideoIndex.from_rows(reversed(rows)).keys == index.keys
    assert index["Face2Face/c23/000_003"] != index["Deepfakes/c23/000_003"]
    assert index.encode(["original/c23/000", "Deepfakes/c23/000_003"]).tolist() == [2, 0]
    with pytest.raises(DfrobustError, match="unknown video"):
        index["NeuralTextures/c23/000_003"]
    with pytest.raises(DfrobustError, match="compression"):
        VideoIndex.from_rows([{"method": "original", "video": "000"}])


def test_history_round_trip_and_resume_replaces_epochs(tmp_path) -> None:
    path = tmp_path / "history.csv"
    history = History()
    history.record(0, {"train_accuracy": 0.5, "val_auroc": torch.tensor(0.6)})
    history.record(1, {"train_accuracy": 0.7, "val_auroc": 0.8, "co_flag": True})
    history.save(path)
    with open(path, newline="") as f:
        header = next(csv.reader(f))
    assert header == ["epoch", "train_accuracy", "val_auroc", "co_flag"]

    resumed = History.load(path)
    assert resumed.rows == history.rows[:1] + [history.rows[1]]
    assert math.isnan(resumed.column("co_flag")[0])  # missing cell -> NaN
    resumed.record(1, {"train_accuracy": 0.75, "val_auroc": 0.85, "co_flag": 0})  # rerun epoch 1
    resumed.record(2, {"train_accuracy": 0.9, "val_auroc": 0.9, "co_flag": 0})
    resumed.save(path)
    final = History.load(path)
    assert final.column("epoch") == [0, 1, 2]
    assert final.column("train_accuracy") == [0.5, 0.75, 0.9]


def test_history_load_errors(tmp_path) -> None:
    assert len(History.load(tmp_path / "absent.csv", missing_ok=True)) == 0
    with pytest.raises(DfrobustError, match="absent.csv"):
        History.load(tmp_path / "absent.csv")
    (tmp_path / "bad.csv").write_text("step,loss\n1,0.5\n")
    with pytest.raises(DfrobustError, match="epoch"):
        History.load(tmp_path / "bad.csv")


def _example_history(epochs: int = 6) -> History:
    history = History()
    for epoch in range(epochs):
        row = {f"{stage}_{name}": 0.5 + 0.05 * epoch + (0.02 if stage == "train" else 0)
               for stage in ("train", "val") for name in METRIC_NAMES}
        row |= {"train_loss": 1 / (epoch + 1), "val_video_auroc": 0.6 + 0.05 * epoch}
        row |= {"val_pgd_accuracy": 0.4 if epoch < 4 else 0.0, "co_flag": float(epoch >= 4)}
        history.record(epoch, row)
    return history


def test_plot_history_writes_a_png_with_content(tmp_path) -> None:
    history = _example_history()
    history.save(tmp_path / "history.csv")
    out = tmp_path / "plots" / "history.png"
    plot_history(tmp_path / "history.csv", out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = np.asarray(Image.open(out).convert("RGB")).astype(int)
    assert pixels.std() > 0
    red = (pixels[..., 0] > 200) & (pixels[..., 1] < 60) & (pixels[..., 2] < 60)
    assert red.sum() > 20  # the flagged catastrophic-overfitting epochs
    # only the flags draw red: a CO panel with no flagged epoch has none
    unflagged = History({"epoch": e, "val_pgd_accuracy": 0.4, "co_flag": 0.0} for e in range(3))
    plot_history(unflagged, tmp_path / "unflagged.png")
    pixels = np.asarray(Image.open(tmp_path / "unflagged.png").convert("RGB")).astype(int)
    assert ((pixels[..., 0] > 200) & (pixels[..., 1] < 60) & (pixels[..., 2] < 60)).sum() == 0


def test_plot_history_from_rows_with_one_epoch(tmp_path) -> None:
    plot_history([{"epoch": 0, "train_loss": 0.7}], tmp_path / "one_epoch.png")
    pixels = np.asarray(Image.open(tmp_path / "one_epoch.png").convert("L")).astype(int)
    assert pixels.std() > 0


def test_plot_history_without_data_is_an_error(tmp_path) -> None:
    with pytest.raises(DfrobustError, match="nothing to plot"):
        plot_history(History(), tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()
