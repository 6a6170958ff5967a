"""Case 1: broken videos. Each is skipped with its name and reason; the good ones are extracted."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import av
import numpy as np
import pytest
from fault_helpers import ORIGINALS, assert_clean_failure, dfrobust, write_splits
from PIL import Image

from testdata import write_test_video

FRAMES = 5  # asked per video


def write_audio_only_mp4(path: Path) -> Path:
    """An mp4 holding one AAC audio stream and no video stream."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        for i in range(10):
            samples = np.zeros((1, 1024), np.float32)
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 16000, i * 1024
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture(scope="module")
def broken_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Originals: 000 good, 001 short (3 frames), 002 truncated, 003 empty, 004 text, 005 audio only."""
    root = tmp_path_factory.mktemp("broken")
    videos = root / ORIGINALS
    write_test_video(videos / "000.mp4", frames=20)
    write_test_video(videos / "001.mp4", frames=3)
    data = write_test_video(videos / "002.mp4", frames=20).read_bytes()
    (videos / "002.mp4").write_bytes(data[: len(data) // 2])
    (videos / "003.mp4").write_bytes(b"")
    (videos / "004.mp4").write_text("this is a text file, not a video\n")
    write_audio_only_mp4(videos / "005.mp4")
    write_splits(root / "splits", {"train": [["000", "001"]], "val": [["002", "003"]], "test": [["004", "005"]]})
    return root


BROKEN = {"002": "truncated", "003": "zero bytes", "004": "text file", "005": "audio only"}


@pytest.fixture(scope="module")
def extracted(broken_root: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("out")
    return dfrobust("extract", "--root", broken_root, "--out", out, "--frames", FRAMES, "--workers", "1"), out


def test_broken_videos_are_skipped_by_name_and_the_rest_extracted(extracted) -> None:
    proc, out = extracted
    assert_clean_failure(proc, *(f"skipped original/{video}" for video in BROKEN), code=0)
    summary = json.loads((out / "extract.json").read_text())
    assert {s["video"] for s in summary["skipped"]} == set(BROKEN)
    assert all(s["reason"] for s in summary["skipped"])
    with open(out / "frames.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted({r["video"] for r in rows}) == ["000", "001"]
    for row in rows:
        Image.open(out / row["path"]).load()  # every listed JPEG is whole
    assert not list(out.rglob("*.tmp"))


def test_each_skipped_video_is_logged_on_one_line_with_its_path(broken_root: Path, extracted) -> None:
    proc, _ = extracted
    lines = proc.stderr.splitlines()
    for video in BROKEN:
        path = broken_root / ORIGINALS / f"{video}.mp4"
        assert any(f"skipped original/{video} ({path})" in line for line in lines), proc.stderr


def test_a_video_shorter_than_asked_gives_all_its_frames(extracted) -> None:
    proc, out = extracted
    with open(out / "frames.csv", newline="") as f:
        short = [int(r["frame_index"]) for r in csv.DictReader(f) if r["video"] == "001"]
    assert sorted(short) == [0, 1, 2]
    assert "fewer frames than asked" in proc.stderr


@pytest.mark.parametrize("video", sorted(BROKEN))
def test_each_broken_video_reason_names_the_problem(extracted, video: str) -> None:
    _, out = extracted
    reason = {s["video"]: s["reason"] for s in json.loads((out / "extract.json").read_text())["skipped"]}[video]
    expected = {"003": "empty file (0 bytes)", "005": "no video stream"}.get(video)
    assert expected is None or expected in reason
    assert "Traceback" not in reason


def test_only_broken_videos_is_an_error_exit_1(broken_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    for video in BROKEN:
        (root / ORIGINALS).mkdir(parents=True, exist_ok=True)
        (root / ORIGINALS / f"{video}.mp4").symlink_to(broken_root / ORIGINALS / f"{video}.mp4")
    proc = dfrobust(
        "extract",
        "--root",
        root,
        "--splits",
        broken_root / "splits",
        "--out",
        tmp_path / "out",
        "--frames",
        FRAMES,
        "--workers",
        "1",
    )
    assert_clean_failure(proc, "no frame could be extracted", "original/00")
    manifest = tmp_path / "out" / "frames.csv"
    assert not manifest.exists() or len(manifest.read_text().splitlines()) == 1  # a header, no rows
