"""Tests of dfrobust.evaluation.cross: ``dfrobust cross``, ``dfrobust transfer`` and their report sections."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from dfrobust.atomicio import write_csv
from dfrobust.cli import app
from dfrobust.data.manifest import read_manifest
from dfrobust.evaluation.cross import unique_labels

runner = CliRunner()


def test_unique_labels_name_runs_by_folder_and_manifests_by_their_folder() -> None:
    assert unique_labels(["a/x", "b/x", "c/y"]) == ["x", "x-2", "y"]
    assert unique_labels(["ffpp_c23/frames.csv", "celebdf/frames.csv"], manifests=True) == ["ffpp_c23", "celebdf"]
    assert unique_labels(["ffpp/frames.csv", "ffpp/frames_c40.csv"], manifests=True) == ["ffpp", "frames_c40"]


def _deepfakes_only(manifest: Path, out: Path) -> Path:
    """Another test set: the originals and Deepfakes of ``manifest``, labelled c40, absolute paths."""
    rows = [
        {**r, "path": str((manifest.parent / r["path"]).resolve()), "compression": "c40"}
        for r in read_manifest(manifest)
        if r["method"] in ("original", "Deepfakes")
    ]
    write_csv(out / "frames.csv", rows, list(rows[0]))
    return out / "frames.csv"


def test_cross_and_transfer_matrices_in_json_csv_and_the_report(
    tiny_run: Path, tiny_manifest: Path, tmp_path: Path
) -> None:
    run = tmp_path / "clean_run"
    shutil.copytree(tiny_run, run, ignore=shutil.ignore_patterns("eval"))
    other = _deepfakes_only(tiny_manifest, tmp_path / "df_c40")
    fast = ["--attacks", "clean,fgsm", "--eps", "4/255", "--limit", "12"]
    args = ["cross", "--run", str(run), "--manifest", str(tiny_manifest), "--manifest", str(other), *fast]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "cross")])
    assert result.exit_code == 0, result.output
    cross = json.loads((tmp_path / "cross" / "cross.json").read_text(encoding="utf-8"))
    assert [(r["train"], r["test"], r["condition"]) for r in cross["rows"]] == [
        ("clean_run", test, c) for test in (tiny_manifest.parent.name, "df_c40") for c in ("clean", "fgsm")
    ]
    assert all(0 <= r["accuracy"] <= 1 and r["frames"] == 12 for r in cross["rows"])
    for cell in cross["cells"].values():
        assert (Path(cell) / "summary.json").is_file()
    with open(tmp_path / "cross" / "cross.csv", newline="", encoding="utf-8") as f:
        assert len(list(csv.DictReader(f))) == 4
    assert "train set x test set" in result.stdout

    args = ["transfer", "--source", str(run), "--target", str(run), "--attacks", "fgsm", "--eps", "4/255"]
    result = runner.invoke(app, [*args, "--limit", "12", "--out", str(tmp_path / "transfer")])
    assert result.exit_code == 0, result.output
    transfer = json.loads((tmp_path / "transfer" / "transfer.json").read_text(encoding="utf-8"))
    [row] = transfer["rows"]
    assert (row["source"], row["target"], row["condition"], row["eps"]) == ("clean_run", "clean_run", "fgsm", "4/255")
    assert row["frames"] == 12 and 0 <= row["accuracy"] <= 1 and 0 <= row["clean_accuracy"] <= 1
    assert (tmp_path / "transfer" / "adv" / "clean_run" / "frames.csv").is_file()

    out = tmp_path / "report" / "report.html"
    args = ["report", str(run), "--cross", str(tmp_path / "cross"), "--cross", str(tmp_path / "transfer")]
    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    for heading in ("Cross evaluation: train set x test set", "Transfer attacks: source x target"):
        assert f"<h2>{heading}</h2>" in page and f"## {heading}" in out.with_suffix(".md").read_text(encoding="utf-8")
    assert "df_c40" in page and "clean_accuracy" in page
    assert (tmp_path / "report" / "report_matrix_0.png").is_file() and (
        tmp_path / "report" / "report_matrix_1.png"
    ).is_file()
    missing = runner.invoke(app, ["report", str(run), "--cross", str(tmp_path), "--out", str(out)])
    assert missing.exit_code == 1 and "no cross.json or transfer.json" in missing.output
