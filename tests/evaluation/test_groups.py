"""Tests of dfrobust.evaluation.groups and ``dfrobust test --by``: results per method, compression..."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from dfrobust.cli import app
from dfrobust.evaluation import Condition, EvalResult
from dfrobust.evaluation.groups import group_masks, group_rows
from dfrobust.metrics import detection_metrics

CLEAN, PGD = Condition("clean"), Condition("pgd", 4 / 255)


def _result(compressions: list[str] | None = None) -> EvalResult:
    """Six frames: two real, two Deepfakes, two Face2Face (one video each)."""
    methods = ["original", "original", "Deepfakes", "Deepfakes", "Face2Face", "Face2Face"]
    videos = [f"{m}/c23/{i // 2}" for i, m in enumerate(methods)]
    result = EvalResult(
        paths=[f"f{i}.png" for i in range(6)],
        videos=videos,
        methods=methods,
        labels=torch.tensor([0, 0, 1, 1, 1, 1]),
        video_ids=torch.tensor([0, 0, 1, 1, 2, 2]),
        probs={CLEAN: torch.tensor([0.1, 0.6, 0.9, 0.8, 0.7, 0.4]), PGD: torch.tensor([0.9, 0.6, 0.2, 0.8, 0.3, 0.1])},
        queries={PGD: torch.full((6,), 10)},
    )
    if compressions:
        result.frame_columns = {"method": methods, "compression": compressions}
    return result


def test_method_groups_hold_the_methods_fakes_and_every_real_frame() -> None:
    result = _result()
    masks = group_masks(result, "method")
    assert list(masks) == ["Deepfakes", "Face2Face"]  # no "original" group: reals are in each
    assert masks["Deepfakes"].tolist() == [True, True, True, True, False, False]
    rows = group_rows(result)
    assert set(rows) == {"method"}  # one compression: no compression groups
    deepfakes = [r for r in rows["method"] if r["group"] == "Deepfakes"]
    assert [r["condition"] for r in deepfakes] == ["clean", "pgd"]
    assert deepfakes[0]["real_frames"] == deepfakes[0]["fake_frames"] == 2
    expected = detection_metrics(result.probs[CLEAN][:4], result.labels[:4], result.video_ids[:4])
    assert deepfakes[0]["accuracy"] == pytest.approx(expected["accuracy"]) == 0.75
    assert deepfakes[0]["auroc"] == pytest.approx(expected["auroc"])
    assert deepfakes[1]["asr_evasion"] == pytest.approx(0.5)  # Deepfakes frame 2 called real under PGD


def test_compression_groups_partition_the_frames_when_mixed() -> None:
    rows = group_rows(_result(["c23", "c40", "c23", "c40", "c23", "c40"]))
    assert {r["group"] for r in rows["compression"]} == {"c23", "c40"}
    assert all(r["frames"] == 3 for r in rows["compression"])


def test_cli_test_by_method_prints_and_writes_per_method_rows(tiny_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run, ignore=shutil.ignore_patterns("eval"))
    args = ["test", "--run", str(run), "--attacks", "clean,fgsm", "--eps", "4/255", "--no-sanity", "--by", "method"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "per method" in result.stdout and "Deepfakes" in result.stdout and "Face2Face" in result.stdout
    summary = json.loads((run / "eval" / "summary.json").read_text(encoding="utf-8"))
    methods = summary["groups"]["method"]
    assert [(r["group"], r["condition"]) for r in methods] == [
        (m, c) for m in ("Deepfakes", "Face2Face") for c in ("clean", "fgsm")
    ]
    assert "all real frames" in summary["groups_note"]
    with open(run / "eval" / "summary_by_group.csv", newline="", encoding="utf-8") as f:
        assert [(r["grouping"], r["group"]) for r in csv.DictReader(f)] == [("method", r["group"]) for r in methods]
    with open(run / "eval" / "predictions.csv", newline="", encoding="utf-8") as f:
        assert {r["compression"] for r in csv.DictReader(f)} == {"c23"}
