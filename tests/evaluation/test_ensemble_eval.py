"""``dfrobust test --attacks auto``: per-stage and ensemble robust accuracy, per-frame broken_by."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dfrobust.cli import app
from dfrobust.errors import DfrobustError
from dfrobust.evaluation import EvalOptions

runner = CliRunner()
MEMBERS = ("apgd", "apgd_margin", "square")


@pytest.fixture(scope="module")
def auto_eval(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A copy of the tiny run (checkpoints linked, not copied) evaluated with --attacks auto."""
    run = tmp_path_factory.mktemp("auto") / "tiny"
    run.mkdir()
    for path in tiny_run.iterdir():
        if path.is_dir() and path.name == "checkpoints":
            (run / path.name).symlink_to(path.resolve(), target_is_directory=True)
        elif path.is_file():
            shutil.copy(path, run / path.name)
    args = ["test", "--run", str(run), "--attacks", "auto", "--eps", "8/255,16/255", "--apgd-steps", "4"]
    args += ["--auto-queries", "40", "--limit", "24", "--batch-size", "12", "--device", "cpu", "--no-sanity"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return run / "eval", result.stdout


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_summary_holds_each_stage_and_the_ensemble(auto_eval: tuple[Path, str]) -> None:
    eval_dir, _ = auto_eval
    summary = json.loads((eval_dir / "summary.json").read_text())
    clean = next(r for r in summary["rows"] if r["condition"] == "clean")
    autos = [r for r in summary["rows"] if r["condition"] == "auto"]
    assert [r["eps"] for r in autos] == ["8/255", "16/255"] and "stages" not in clean
    for row in autos:
        stages = row["stages"]
        assert [s["attack"] for s in stages] == list(MEMBERS)
        accuracy = [s["robust_accuracy"] for s in stages]
        assert accuracy == sorted(accuracy, reverse=True) and accuracy[0] <= clean["accuracy"] + 1e-9
        assert accuracy[-1] == pytest.approx(row["accuracy"])  # the ensemble's robust accuracy
        assert stages[0]["attacked"] == round(clean["accuracy"] * row["frames"])
        assert all(s["seconds"] >= 0 and s["broken"] >= 0 for s in stages)
        assert 1 <= stages[0]["queries_mean"] <= 5 or stages[0]["attacked"] == 0  # at most 4 steps + the start
        per_condition = json.loads((eval_dir / f"auto_{row['eps'].replace('/', '-')}.json").read_text())
        assert per_condition["stages"] == stages


def test_predictions_say_which_attack_broke_each_frame(auto_eval: tuple[Path, str]) -> None:
    eval_dir, _ = auto_eval
    rows = _read_csv(eval_dir / "predictions.csv")
    summary = json.loads((eval_dir / "summary.json").read_text())
    assert all(r["broken_by"] == "" for r in rows if r["condition"] == "clean")
    for auto_row in (r for r in summary["rows"] if r["condition"] == "auto"):
        mine = [r for r in rows if r["condition"] == "auto" and r["eps"] == auto_row["eps"]]
        assert len(mine) == auto_row["frames"] == 24
        for r in mine:
            wrong = r["pred"] != r["label"]
            assert (r["broken_by"] == "clean") == (r["clean_correct"] == "0")
            assert r["broken_by"] in ("", "clean", *MEMBERS)
            assert (r["broken_by"] != "") == wrong
        for stage in auto_row["stages"]:
            assert sum(r["broken_by"] == stage["attack"] for r in mine) == stage["broken"]


def test_cli_prints_the_stages(auto_eval: tuple[Path, str]) -> None:
    _, stdout = auto_eval
    assert "robust accuracy after each attack" in stdout
    assert all(name in stdout for name in MEMBERS)


def test_report_reads_and_draws_the_stages(auto_eval: tuple[Path, str], tmp_path: Path) -> None:
    from dfrobust.report import plots
    from dfrobust.report.html import write_report
    from dfrobust.report.results import load_run

    run = load_run(auto_eval[0].parent)
    assert any(r.get("stages") for r in run.summary)
    assert plots.auto_stages([run]) is not None
    paths = write_report([auto_eval[0].parent], tmp_path / "report.html")
    page = paths.html.read_text()
    assert "Worst case over attacks" in page and "apgd_margin" in page


def test_options_check_the_members() -> None:
    assert EvalOptions(attacks=("clean", "auto")).auto_members == MEMBERS
    assert EvalOptions(attacks=("auto",), auto_members=["square"]).auto_members == ("square",)
    with pytest.raises(DfrobustError, match="Unknown ensemble member 'cw'"):
        EvalOptions(attacks=("auto",), auto_members=("apgd", "cw"))
    with pytest.raises(DfrobustError, match="auto_queries"):
        EvalOptions(attacks=("auto",), auto_queries=0)
