"""Cases 2 and 3: missing counterparts, splits naming absent videos, broken split files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from fault_helpers import FAKES, ORIGINALS, assert_clean_failure, dfrobust, write_splits

from testdata import write_test_video

SPLITS = {"train": [["000", "001"]], "val": [["002", "003"]], "test": [["004", "005"]]}


@pytest.fixture(scope="module")
def orphan_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Originals 000, 002 on disk; fakes 001_000 (its original 001 absent) and 002_003 (003 absent)."""
    root = tmp_path_factory.mktemp("orphans")
    for video in ("000", "002"):
        write_test_video(root / ORIGINALS / f"{video}.mp4", frames=6, size=32)
    for video in ("001_000", "002_003"):
        write_test_video(root / FAKES.format("Deepfakes") / f"{video}.mp4", frames=6, size=32)
    write_splits(root / "splits", SPLITS)
    return root


def test_index_names_orphan_fakes_and_videos_the_splits_promise(orphan_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "videos.csv"
    proc = dfrobust("index", "--root", orphan_root, "--out", out)
    assert_clean_failure(
        proc,
        "Deepfakes/001_000 (train): original of the fake: 001 not on disk",
        "promised by the splits but not on disk",
        "original 4 (e.g. 001, 003, 004",
        code=0,
    )
    with open(out, newline="") as f:
        assert {r["video"] for r in csv.DictReader(f)} == {"000", "002", "001_000", "002_003"}


def test_extract_keeps_orphan_fakes_and_counts_what_is_missing(orphan_root: Path, tmp_path: Path) -> None:
    proc = dfrobust("extract", "--root", orphan_root, "--out", tmp_path, "--frames", "2", "--workers", "1")
    assert_clean_failure(proc, code=0)
    summary = json.loads((tmp_path / "extract.json").read_text())
    assert summary["counts"]["done"] == 4 and summary["missing_videos"] > 0
    assert f"{summary['missing_videos']} video(s) named by the splits are not on disk" in proc.stderr


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('[["000", "001"', "is not valid JSON"),
        ("", "is not valid JSON"),
        ("[]", "an empty list"),
        ('{"train": []}', "expected a non-empty JSON list"),
        ('[["000", "001", "002"]]', "item 0 should be a pair"),
        ('[["000", 1]]', "item 0 should be a pair"),
        ('["000"]', "item 0 should be a pair"),
        ("\xff\xfe", "is not valid JSON"),
    ],
    ids=["truncated", "empty-file", "empty-list", "object", "triple", "number", "flat", "not-utf8"],
)
def test_malformed_split_file_is_one_clear_line(orphan_root: Path, tmp_path: Path, content: str, problem: str) -> None:
    splits = write_splits(tmp_path / "splits", SPLITS)
    (splits / "val.json").write_bytes(content.encode("latin-1"))
    proc = dfrobust("index", "--root", orphan_root, "--splits", splits, "--out", tmp_path / "v.csv")
    assert_clean_failure(proc, str(splits / "val.json"), problem)
    assert not (tmp_path / "v.csv").exists()


def test_a_video_in_two_splits_is_refused_naming_both(orphan_root: Path, tmp_path: Path) -> None:
    splits = write_splits(tmp_path / "splits", {**SPLITS, "test": [["004", "000"]]})
    proc = dfrobust("extract", "--root", orphan_root, "--splits", splits, "--out", tmp_path / "out")
    assert_clean_failure(proc, "video 000 is in both train.json and test.json", str(splits))
    assert not (tmp_path / "out").exists()
