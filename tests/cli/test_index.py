"""``dfrobust index`` end to end: the CSV, the summary, and clear errors."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dfrobust.cli import app
from testdata import FFPP_SPLITS, write_celebdf_root, write_dfdc_root, write_test_video

runner = CliRunner()
ORIGINALS = "original_sequences/youtube/c23/videos"
FAKES = "manipulated_sequences/{}/c23/videos"


def write_small_ffpp(root: Path) -> Path:
    """An FF++-shaped root of tiny clips, without splits/: ids of the official train/val/test splits."""
    for video in ("071", "054", "004", "634", "660"):  # 071/054 train, 004 val, 634/660 test
        write_test_video(root / ORIGINALS / f"{video}.mp4", frames=6, size=32)
    for video in ("071_054", "634_660"):
        write_test_video(root / FAKES.format("Deepfakes") / f"{video}.mp4", frames=6, size=32)
    write_test_video(root / FAKES.format("Face2Face") / "004_982.mp4", frames=6, size=32)
    return root


def test_index_without_splits_assigns_the_official_splits(tmp_path: Path) -> None:
    root, out = write_small_ffpp(tmp_path / "ffpp"), tmp_path / "videos.csv"
    result = runner.invoke(app, ["index", "--root", str(root), "--out", str(out)])
    assert result.exit_code == 0, result.output
    split_of = {(r["method"], r["video"]): r["split"] for r in csv.DictReader(out.open())}
    assert split_of == {
        ("original", "071"): "train",
        ("original", "054"): "train",
        ("original", "004"): "val",
        ("original", "634"): "test",
        ("original", "660"): "test",
        ("Deepfakes", "071_054"): "train",
        ("Deepfakes", "634_660"): "test",
        ("Face2Face", "004_982"): "val",
    }
    said = [line for line in result.output.splitlines() if "official FF++ splits" in line]
    assert said == ["INFO using the official FF++ splits shipped with dfrobust (train 360 / val 70 / test 70 pairs)"]


def test_index_prefers_root_splits_then_the_given_splits(tmp_path: Path) -> None:
    root = write_small_ffpp(tmp_path / "ffpp")
    mine = {"train": [["004", "982"]], "val": [["634", "660"]], "test": [["071", "054"]]}
    (root / "splits").mkdir()
    for split, pairs in mine.items():
        (root / "splits" / f"{split}.json").write_text(json.dumps(pairs))
    result = runner.invoke(app, ["index", "--root", str(root), "--out", str(tmp_path / "a.csv")])
    assert result.exit_code == 0, result.output
    split_of = {r["video"]: r["split"] for r in csv.DictReader((tmp_path / "a.csv").open())}
    assert (split_of["004"], split_of["634"], split_of["071"]) == ("train", "val", "test")  # ROOT/splits won
    assert "official FF++ splits" not in result.output
    args = ["index", "--root", str(root), "--splits", str(FFPP_SPLITS), "--out", str(tmp_path / "b.csv")]
    assert runner.invoke(app, args).exit_code == 0
    split_of = {r["video"]: r["split"] for r in csv.DictReader((tmp_path / "b.csv").open())}
    assert (split_of["004"], split_of["634"], split_of["071"]) == ("val", "test", "train")  # --splits won


def test_index_of_the_real_sample_writes_one_row_per_video(tmp_path: Path, ffpp_sample: Path) -> None:
    out = tmp_path / "videos.csv"
    result = runner.invoke(app, ["index", "--root", str(ffpp_sample), "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == ["video", "path", "label", "dataset", "method", "compression", "split", "target", "source"]
    assert {r["dataset"] for r in rows} == {"ffpp"}
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
        (["--root", "{tmp}/.."], "matches no known data-set layout: looked for FF++/DFD"),
        (["--root", "{root}", "--methods", "Deepfake"], "unknown method 'Deepfake'"),
        (["--root", "{root}", "--splits", "{tmp}"], "train.json not found"),
        (["--root", "{root}", "--splits", str(FFPP_SPLITS), "--compression", "c50"], "unknown compression"),
    ],
)
def test_index_errors_are_one_line_without_traceback(tmp_path: Path, args: list[str], message: str) -> None:
    root = tmp_path / "ffpp"
    write_test_video(root / ORIGINALS / "000.mp4", frames=2, size=16)
    (tmp_path / "empty").mkdir()
    args = [a.replace("{tmp}", str(tmp_path / "empty")).replace("{root}", str(root)) for a in args]
    proc = subprocess.run(
        [sys.executable, "-m", "dfrobust", "index", *args, "--out", str(tmp_path / "v.csv")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not (tmp_path / "v.csv").exists()


def test_index_of_a_celebdf_root_labels_by_folder_and_tests_the_official_list(tmp_path: Path) -> None:
    root, out = write_celebdf_root(tmp_path / "Celeb-DF-v2", frames=2, size=16), tmp_path / "videos.csv"
    result = runner.invoke(app, ["index", "--root", str(root), "--out", str(out), "--split-seed", "1"])
    assert result.exit_code == 0, result.output
    rows = {r["video"]: r for r in csv.DictReader(out.open())}
    assert {r["dataset"] for r in rows.values()} == {"celebdf"}
    assert (rows["id2_id0_0001"]["label"], rows["id2_id0_0001"]["split"]) == ("1", "test")
    assert (rows["00002"]["label"], rows["00002"]["method"], rows["00002"]["split"]) == ("0", "YouTube-real", "test")
    assert {r["split"] for r in rows.values()} >= {"train", "val", "test"}
    assert "celebdf videos under" in result.output and "Celeb-synthesis" in result.output


def test_index_of_a_dfdc_root_reads_the_metadata_and_the_test_labels(tmp_path: Path) -> None:
    root, out = write_dfdc_root(tmp_path / "dfdc", frames=2, size=16), tmp_path / "videos.csv"
    result = runner.invoke(app, ["index", "--root", str(root), "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = {r["video"]: r for r in csv.DictReader(out.open())}
    assert {v: (r["label"], r["split"]) for v, r in rows.items() if r["split"] == "test"} == {
        "ttt": ("1", "test"),
        "uuu": ("0", "test"),
    }
    assert (rows["bbb"]["label"], rows["bbb"]["method"], rows["bbb"]["target"]) == ("1", "DFDC-fake", "aaa")
    assert "DFDC-fake/eee" in result.output  # its original is missing
