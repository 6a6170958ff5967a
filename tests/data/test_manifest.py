"""frames.csv: reading and checking it, video keys, the stable video index, shard parts."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from dfrobust.data.frames import VideoResult
from dfrobust.data.manifest import (
    MANIFEST_COLUMNS,
    VideoIndex,
    merge_shards,
    read_manifest,
    shard_name,
    video_key,
    write_outputs,
)
from dfrobust.errors import DfrobustError


def _row(
    video: str, frame: int, label: int = 0, method: str = "original", split: str = "train", dataset: str = "ffpp"
) -> dict:
    return {
        "path": f"{method}/{video}/{frame:03d}.jpg",
        "video": video,
        "frame_index": str(frame),
        "label": str(label),
        "dataset": dataset,
        "method": method,
        "compression": "c23",
        "split": split,
        "face_box": "",
    }


def _write(path: Path, rows: list[dict], columns=MANIFEST_COLUMNS) -> Path:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


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


def test_video_key_joins_method_compression_video() -> None:
    assert video_key(_row("000_003", 0, 1, "Deepfakes")) == "Deepfakes/c23/000_003"


def test_read_manifest_returns_the_rows_in_file_order(tmp_path: Path) -> None:
    rows = [_row("001", 2), _row("000", 0), _row("000_001", 1, 1, "Deepfakes", "val")]
    assert read_manifest(_write(tmp_path / "frames.csv", rows)) == rows


def test_read_manifest_names_missing_columns(tmp_path: Path) -> None:
    columns = [c for c in MANIFEST_COLUMNS if c not in ("label", "split")]
    path = _write(tmp_path / "frames.csv", [_row("000", 0)], columns)
    with pytest.raises(DfrobustError, match=r"frames.csv lacks column\(s\) \['label', 'split'\]"):
        read_manifest(path)


@pytest.mark.parametrize(("label", "line"), [("2", 3), ("", 4), ("fake", 2)])
def test_read_manifest_names_the_line_of_a_bad_label(tmp_path: Path, label: str, line: int) -> None:
    rows = [_row("000", i) for i in range(4)]
    rows[line - 2]["label"] = label  # line 1 is the header
    path = _write(tmp_path / "frames.csv", rows)
    with pytest.raises(DfrobustError, match=f"frames.csv, line {line}: Expected label 0 .* but got {label!r}"):
        read_manifest(path)


def test_read_manifest_of_an_unreadable_file_says_to_extract_first(tmp_path: Path) -> None:
    with pytest.raises(DfrobustError, match="cannot read manifest .*absent.csv.*run `dfrobust extract` first"):
        read_manifest(tmp_path / "absent.csv")
    with pytest.raises(DfrobustError, match="cannot read manifest"):
        read_manifest(tmp_path)  # a folder, not a file


def test_video_key_puts_the_data_set_in_front_outside_the_ffpp_download() -> None:
    assert video_key(_row("01__walk", 0, 0, "actors", dataset="dfd")) == "actors/c23/01__walk"
    celeb = {**_row("id0_id1_0000", 0, 1, "Celeb-synthesis", dataset="celebdf"), "compression": ""}
    assert video_key(celeb) == "celebdf/Celeb-synthesis//id0_id1_0000"
    same_name = [_row("000", 0), _row("000", 0, dataset="dfdc")]
    assert len(VideoIndex.from_rows(same_name)) == 2


def test_read_manifest_reads_a_manifest_older_than_the_dataset_column(tmp_path: Path) -> None:
    rows = [_row("000", 0), _row("000_003", 1, 1, "Deepfakes"), _row("01__walk", 0, 0, "actors")]
    old_columns = [c for c in MANIFEST_COLUMNS if c != "dataset"]
    read = read_manifest(_write(tmp_path / "frames.csv", rows, old_columns))
    assert [r["dataset"] for r in read] == ["ffpp", "ffpp", "dfd"]
    assert [video_key(r) for r in read] == ["original/c23/000", "Deepfakes/c23/000_003", "actors/c23/01__walk"]


def test_shard_name_marks_a_part_and_leaves_the_whole_alone() -> None:
    assert shard_name("frames.csv", (0, 1)) == "frames.csv"
    assert shard_name("frames.csv", (2, 4)) == "frames.shard-2-of-4.csv"
    assert shard_name("extract.json", (0, 3)) == "extract.shard-0-of-3.json"


def _results(*videos: str, **fields) -> list[VideoResult]:
    return [VideoResult("original", v, rows=[_row(v, i) for i in range(2)], num_frames=10, **fields) for v in videos]


def test_write_outputs_counts_and_writes_only_finished_videos(tmp_path: Path) -> None:
    results = [
        *_results("002", "000"),
        VideoResult("original", "001", error="cannot decode"),
        *_results("003", cached=True, short=True),
    ]
    summary = write_outputs(tmp_path, results, {"frames": 2}, (0, 1), missing=5)
    assert summary["counts"] == {
        "videos": 4,
        "done": 2,
        "cached": 1,
        "skipped": 1,
        "short": 1,
        "frames": 6,
        "faces_found": 0,
        "faces_missed": 0,
    }
    assert summary["skipped"] == [{"method": "original", "video": "001", "reason": "cannot decode"}]
    assert summary["short"] == [{"method": "original", "video": "003", "num_frames": 10}]
    assert [r["video"] for r in read_manifest(tmp_path / "frames.csv")] == ["000"] * 2 + ["002"] * 2 + ["003"] * 2
    assert json.loads((tmp_path / "extract.json").read_text()) == summary
    assert summary["missing_videos"] == 5


def test_merge_shards_joins_the_parts_in_manifest_order(tmp_path: Path) -> None:
    write_outputs(tmp_path, _results("001", "003"), {"frames": 2}, (1, 2), missing=0)
    with pytest.raises(DfrobustError, match=r"expected shards 0..1 of 2, found \['1/2'\]"):
        merge_shards(tmp_path)
    write_outputs(tmp_path, _results("000", "002"), {"frames": 2}, (0, 2), missing=0)
    merged = merge_shards(tmp_path)
    assert merged["shards"] == ["0/2", "1/2"] and merged["counts"]["videos"] == 4 and merged["counts"]["frames"] == 8
    rows = read_manifest(tmp_path / "frames.csv")
    assert [(r["video"], r["frame_index"]) for r in rows] == [
        (v, str(i)) for v in ("000", "001", "002", "003") for i in (0, 1)
    ]
    assert json.loads((tmp_path / "extract.json").read_text()) == merged


def test_merge_shards_refuses_no_parts_and_parts_of_other_options(tmp_path: Path) -> None:
    with pytest.raises(DfrobustError, match="no shard parts"):
        merge_shards(tmp_path)
    write_outputs(tmp_path, _results("000"), {"frames": 2}, (0, 2), missing=0)
    write_outputs(tmp_path, _results("001"), {"frames": 3}, (1, 2), missing=0)
    with pytest.raises(DfrobustError, match="extracted with different options"):
        merge_shards(tmp_path)
    assert not (tmp_path / "frames.csv").exists()
