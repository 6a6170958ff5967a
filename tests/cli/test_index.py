"""``dfrobust index`` end to end: the CSV, the summary, and clear errors."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dfrobust.cli import app
from testdata import FFPP_SAMPLE, FFPP_SPLITS

runner = CliRunner()


def test_index_writes_one_row_per_video(tmp_path: Path, shared_data: Path) -> None:
    out = tmp_path / "videos.csv"
    result = runner.invoke(app, ["index", "--root", str(FFPP_SAMPLE), "--splits", str(FFPP_SPLITS), "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == ["video", "path", "label", "method", "compression", "split", "target", "source"]
    by_video = {r["video"]: r for r in rows}
    assert len(rows) == 5
    assert by_video["634_660"]["split"] == "test" and by_video["634_660"]["label"] == "1"
    assert by_video["004"]["split"] == "val" and by_video["004"]["label"] == "0"
    assert "Face2Face/750_743 (train): original of the fake: 750 not on disk" in result.output
    assert "NeuralTextures" in result.output  # the summary table


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--root", "{tmp}"], "is empty"),
        (
            ["--root", str(FFPP_SAMPLE), "--splits", str(FFPP_SPLITS), "--methods", "Deepfake"],
            "unknown method 'Deepfake'",
        ),
        (["--root", str(FFPP_SAMPLE), "--splits", "{tmp}"], "train.json not found"),
        (["--root", str(FFPP_SAMPLE), "--splits", str(FFPP_SPLITS), "--compression", "c50"], "unknown compression"),
    ],
)
def test_index_errors_are_one_line_without_traceback(
    tmp_path: Path, shared_data: Path, args: list[str], message: str
) -> None:
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    proc = subprocess.run(
        [sys.executable, "-m", "dfrobust", "index", *args, "--out", str(tmp_path / "v.csv")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not (tmp_path / "v.csv").exists()
