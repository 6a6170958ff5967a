"""Tests of dfrobust.demo and ``dfrobust demo``: the whole pipeline, end to end, small."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dfrobust.config import load_config
from dfrobust.demo import CONFIG_NAMES, FAST, demo_config_path, run_demo
from dfrobust.eps import eps_label


def test_demo_configs_are_found_and_differ_only_in_the_adversary() -> None:
    clean, robust = (load_config(demo_config_path(name)) for name in CONFIG_NAMES.values())
    assert clean.adv.method == "none" and robust.adv.method == "fgsm_rs"
    assert (clean.model, clean.data, clean.train) == (robust.model, robust.data, robust.train)


@pytest.mark.slow
@pytest.mark.timeout(900)  # about 90 s on 2 idle cores; several times that on a loaded machine
def test_demo_fast_from_nothing_to_a_report_then_resumes(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    env = {**os.environ, "COLUMNS": "200"}
    result = subprocess.run(
        [sys.executable, "-m", "dfrobust", "demo", "--fast", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    tables = " ".join(lines).split("└")  # summary, auto stages x 2, per-method and transfer tables, in order
    first = lines[: next(i for i, x in enumerate(lines) if x.startswith("└"))]
    table = [line for line in first if line.startswith("│")]
    sweep = [eps_label(e) for e in FAST.sweep]
    conditions = (
        [("clean", "0")] + [(a, e) for a in ("fgsm", "pgd") for e in sweep] + [("square", "4/255"), ("auto", "4/255")]
    )
    assert [[cell.strip() for cell in line.split("│")[1:4]] for line in table] == [
        [model, condition, eps] for model in ("clean", "fgsm_rs") for condition, eps in conditions
    ]
    for k, model in enumerate(("clean", "fgsm_rs"), start=1):
        assert f"auto, {model}" in tables[k] and "apgd_margin" in tables[k] and "square" in tables[k]
    assert f"report: {(out / 'report.html').resolve()}" in result.stdout.replace("\n", "")
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.count("<img ") >= 6 and "Run fgsm_rs" in page and "catastrophic" in page
    assert "Per manipulation method" in page and "Transfer attacks: source x target" in page
    assert "Deepfakes" in tables[3] and "Face2Face" in tables[3] and "fgsm 8/255" not in tables[3]
    transfer = json.loads((out / "transfer" / "transfer.json").read_text(encoding="utf-8"))
    assert [(r["source"], r["target"], r["condition"]) for r in transfer["rows"]] == [
        ("clean", "clean", "pgd"),
        ("clean", "fgsm_rs", "pgd"),
    ]
    assert (out / "report.md").is_file()
    for run in ("clean", "fgsm_rs"):
        summary = json.loads((out / "runs" / run / "eval" / "summary.json").read_text(encoding="utf-8"))
        assert [(r["condition"], r["eps"]) for r in summary["rows"]] == conditions
        assert [s["attack"] for s in summary["rows"][-1]["stages"]] == ["apgd", "apgd_margin", "square"]
        assert summary["options"]["n_queries"] == FAST.n_queries
        assert summary["options"]["auto_queries"] == FAST.auto_queries
        assert {r["group"] for r in summary["groups"]["method"]} == {"Deepfakes", "Face2Face"}

    # A rerun keeps every finished stage: same checkpoints, same evaluation files.
    kept = [out / "runs" / r / f for r in ("clean", "fgsm_rs") for f in ("checkpoints/last.ckpt", "eval/summary.json")]
    kept.append(out / "transfer" / "cells" / "clean__to__fgsm_rs" / "summary.json")
    before = [p.stat().st_mtime_ns for p in kept]
    again = run_demo(out, fast=True)
    assert [p.stat().st_mtime_ns for p in kept] == before
    assert again.report.html == out / "report.html" and len(again.report.runs) == 2
