"""Tests of dfrobust.evaluation.adversarial_frames: ``dfrobust test --save-adv`` and reading it back."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from dfrobust.cli import app
from dfrobust.evaluation.adversarial_frames import ADV_COLUMNS

runner = CliRunner()


def test_save_adv_frames_are_a_data_set_that_test_reads_back(tiny_run: Path, tmp_path: Path) -> None:
    run, adv = tmp_path / "run", tmp_path / "adv"
    shutil.copytree(tiny_run, run, ignore=shutil.ignore_patterns("eval"))
    args = ["test", "--run", str(run), "--attacks", "clean,pgd", "--eps", "4/255", "--pgd-steps", "2"]
    result = runner.invoke(app, [*args, "--no-sanity", "--limit", "12", "--save-adv", str(adv)])
    assert result.exit_code == 0, result.output
    with open(adv / "frames.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 24 and set(ADV_COLUMNS) <= set(rows[0])
    assert {(r["attack"], r["eps"]) for r in rows} == {("clean", ""), ("pgd", "4/255")}
    assert {r["split"] for r in rows} == {"test"} and {r["source_run"] for r in rows} == {str(run)}
    # Lossless and within the budget (plus the uint8 rounding) of the clean frame it came from.
    by_source = {(r["attack"], r["source_path"]): adv / r["path"] for r in rows}
    for (attack, source), path in by_source.items():
        if attack == "pgd":
            x = np.asarray(Image.open(path), dtype=int)
            clean = np.asarray(Image.open(by_source[("clean", source)]), dtype=int)
            assert path.suffix == ".png" and np.abs(x - clean).max() <= 5
    assert json.loads((adv / "save_adv.json").read_text(encoding="utf-8"))["frames"] == 24

    again = runner.invoke(
        app,
        [
            "test",
            "--run",
            str(run),
            "--manifest",
            str(adv / "frames.csv"),
            "--attacks",
            "clean",
            "--no-sanity",
            "--by",
            "attack",
        ],
    )
    assert again.exit_code == 0, again.output
    assert "per attack" in again.stdout and "pgd 4/255" in again.stdout
    summary = json.loads((run / "eval" / "summary.json").read_text(encoding="utf-8"))
    assert summary["frames"] == 24
    assert [r["group"] for r in summary["groups"]["attack"]] == ["clean", "pgd 4/255"]
