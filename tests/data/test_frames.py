"""The extraction job: exact frames, faces, manifest, resume, shards, bad videos, CLI."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from dfrobust.cli import app
from dfrobust.data.ffpp import VideoRecord
from dfrobust.data.frames import ExtractConfig, extract_frames, sample_frame_indices, shard_records, video_seed
from dfrobust.data.manifest import MANIFEST_COLUMNS, merge_shards
from dfrobust.errors import DfrobustError
from testdata import FFPP_SPLITS, write_test_video

ORIGINALS = "original_sequences/youtube/c23/videos"
FAKES = "manipulated_sequences/{}/c23/videos"


def write_tiny_ffpp(root: Path, frames: int = 30) -> Path:
    """FF++ layout: originals 000-003, Deepfakes 000_001/001_000 (train), 002_003 (val, 6 frames)."""
    for video in ("000", "001", "002", "003"):
        write_test_video(root / ORIGINALS / f"{video}.mp4", frames=frames)
    for video in ("000_001", "001_000"):
        write_test_video(root / FAKES.format("Deepfakes") / f"{video}.mp4", frames=frames)
    write_test_video(root / FAKES.format("Deepfakes") / "002_003.mp4", frames=6)
    splits = {"train": [["000", "001"]], "val": [["002", "003"]], "test": [["004", "005"]]}
    for split, pairs in splits.items():
        (root / "splits").mkdir(exist_ok=True)
        (root / "splits" / f"{split}.json").write_text(json.dumps(pairs))
    return root


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory) -> Path:
    return write_tiny_ffpp(tmp_path_factory.mktemp("ffpp"))


def read_manifest(out: Path, name: str = "frames.csv") -> list[dict]:
    with open(out / name, newline="") as f:
        return list(csv.DictReader(f))


def temp_files(out: Path) -> list[Path]:
    return [p for p in out.rglob("*") if p.name.endswith(".tmp")]


# --------------------------------------------------------------------------- units


def test_random_indices_are_seeded_sorted_and_distinct():
    a = sample_frame_indices(300, 10, seed=7)
    assert a == sample_frame_indices(300, 10, seed=7) == sorted(set(a)) and len(a) == 10
    assert a != sample_frame_indices(300, 10, seed=8)
    assert all(0 <= i < 300 for i in a)


def test_uniform_indices_are_evenly_spaced_and_short_videos_give_all_frames():
    assert sample_frame_indices(100, 4, sampling="uniform") == [12, 37, 62, 87]
    assert sample_frame_indices(6, 10, seed=3) == list(range(6))


def test_video_seed_is_a_stable_hash_not_pythons_hash():
    record = VideoRecord("000", Path("000.mp4"), 0, "original", "c23", "train")
    assert video_seed(0, record) == 4214152224  # the same in every process and on every machine
    assert video_seed(0, record) != video_seed(0, VideoRecord("000", Path("x"), 1, "Deepfakes", "c23", ""))


def test_shards_are_disjoint_and_cover_every_video():
    records = [VideoRecord(f"{i:03d}", Path("x"), 0, "original", "c23", "") for i in range(10)]
    parts = [shard_records(records[::-1], i, 3) for i in range(3)]
    names = [r.video for part in parts for r in part]
    assert sorted(names) == [r.video for r in records] and len(set(names)) == 10
    assert parts == [shard_records(records, i, 3) for i in range(3)]  # order of input irrelevant


@pytest.mark.parametrize("bad", [{"frames": 0}, {"sampling": "every"}, {"shard": (2, 2)}, {"no_face": "drop"}])
def test_config_rejects_bad_values_with_the_expected_range(bad):
    with pytest.raises(DfrobustError, match="Expected"):
        ExtractConfig(root=Path("r"), out=Path("o"), **bad)


# --------------------------------------------------------------------------- the job on tiny videos


def test_full_frames_keep_their_size_and_show_the_requested_index(tiny_root, tmp_path):
    out = tmp_path / "frames"
    summary = extract_frames(ExtractConfig(root=tiny_root, out=out, frames=10, workers=1))
    rows = read_manifest(out)
    assert list(rows[0]) == list(MANIFEST_COLUMNS)
    assert summary["counts"] == {
        "videos": 7,
        "done": 7,
        "cached": 0,
        "skipped": 0,
        "short": 1,
        "frames": 66,
        "faces_found": 0,
        "faces_missed": 0,
    }
    assert summary["short"] == [{"method": "Deepfakes", "video": "002_003", "num_frames": 6}]
    for row in rows:
        image = np.asarray(Image.open(out / row["path"]))
        assert image.shape == (64, 64, 3) and row["face_box"] == ""
        assert abs(int(image[:, :, 0].mean()) - 5 * int(row["frame_index"])) <= 3  # red = 5 x index
        assert row["label"] == str(int(row["method"] != "original"))
        assert row["path"] == f"{row['method']}/{row['video']}/{int(row['frame_index']):04d}.jpg"
    splits = {r["video"]: r["split"] for r in rows}
    assert splits["000_001"] == "train" and splits["003"] == "val"
    assert json.loads((out / "extract.json").read_text())["counts"] == summary["counts"]


def test_rerun_does_no_work_and_other_options_are_refused(tiny_root, tmp_path):
    out = tmp_path / "frames"
    config = ExtractConfig(root=tiny_root, out=out, frames=4, splits=("train",))
    extract_frames(config)
    first = read_manifest(out)
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.jpg")}
    summary = extract_frames(config)
    assert summary["counts"]["done"] == 0 and summary["counts"]["cached"] == 4
    assert read_manifest(out) == first
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.jpg")} == stamps
    with pytest.raises(DfrobustError, match="other options"):
        extract_frames(ExtractConfig(root=tiny_root, out=out, frames=4, splits=("train",), seed=1))


def test_same_seed_same_indices_in_a_fresh_folder_and_for_a_single_video(tiny_root, tmp_path):
    def indices(out, **kw):
        extract_frames(ExtractConfig(root=tiny_root, out=out, frames=5, seed=3, **kw))
        return {(r["method"], r["video"], r["frame_index"]) for r in read_manifest(out)}

    everything = indices(tmp_path / "a")
    assert indices(tmp_path / "b") == everything
    only_val = indices(tmp_path / "c", splits=("val",), methods=("Deepfakes",))
    assert only_val and only_val < everything


def test_resized_full_frames(tiny_root, tmp_path):
    extract_frames(ExtractConfig(root=tiny_root, out=tmp_path, frames=1, size=32, splits=("val",)))
    assert {Image.open(tmp_path / r["path"]).size for r in read_manifest(tmp_path)} == {(32, 32)}


def test_two_workers_write_what_one_writes(tiny_root, tmp_path):
    one = extract_frames(ExtractConfig(root=tiny_root, out=tmp_path / "1", frames=3, workers=1))
    two = extract_frames(ExtractConfig(root=tiny_root, out=tmp_path / "2", frames=3, workers=2))
    assert one["counts"] == two["counts"]
    assert read_manifest(tmp_path / "1") == read_manifest(tmp_path / "2")


def test_shards_merge_into_the_unsharded_manifest(tiny_root, tmp_path):
    extract_frames(ExtractConfig(root=tiny_root, out=tmp_path / "all", frames=3))
    out = tmp_path / "sharded"
    extract_frames(ExtractConfig(root=tiny_root, out=out, frames=3, shard=(1, 3)))
    with pytest.raises(DfrobustError, match="expected shards 0..2"):
        merge_shards(out)
    for i in (0, 2):
        extract_frames(ExtractConfig(root=tiny_root, out=out, frames=3, shard=(i, 3)))
    assert not (out / "frames.csv").exists()
    result = CliRunner().invoke(app, ["extract", "--merge", str(out)])
    assert result.exit_code == 0, result.output
    assert read_manifest(out) == read_manifest(tmp_path / "all")
    merged = json.loads((out / "extract.json").read_text())
    assert merged["counts"]["videos"] == 7 and merged["shards"] == ["0/3", "1/3", "2/3"]


def test_faces_without_a_face_center_or_skip(tiny_root, tmp_path):
    config = dict(root=tiny_root, frames=2, faces=True, size=48, splits=("val",), methods=("Deepfakes",))
    summary = extract_frames(ExtractConfig(out=tmp_path / "c", no_face="center", **config))
    assert summary["counts"]["faces_missed"] == summary["counts"]["frames"] == 6
    rows = read_manifest(tmp_path / "c")
    assert {r["face_box"] for r in rows} == {"0 0 64 64"}
    assert {Image.open(tmp_path / "c" / r["path"]).size for r in rows} == {(48, 48)}
    with pytest.raises(DfrobustError, match="no frame could be extracted"):
        extract_frames(ExtractConfig(out=tmp_path / "s", no_face="skip", **config))


# --------------------------------------------------------------------------- real FF++ videos


@pytest.mark.slow
def test_real_frames_are_exactly_the_requested_indices(tmp_path, ffpp_sample):
    """Each JPEG matches its own frame of a plain sequential decode best, at PSNR > 35 dB.

    The best match is sought on every other pixel (4x cheaper, still 230k pixels a frame);
    the PSNR is on every pixel.
    """
    out = tmp_path / "frames"
    extract_frames(
        ExtractConfig(
            root=ffpp_sample, splits_dir=FFPP_SPLITS, out=out, frames=3, methods=("NeuralTextures",), splits=("val",)
        )
    )  # 004, 004_982
    rows = read_manifest(out)
    assert {(r["method"], r["video"]) for r in rows} == {("original", "004"), ("NeuralTextures", "004_982")}
    for method, video in {(r["method"], r["video"]) for r in rows}:
        mine = {
            int(r["frame_index"]): np.asarray(Image.open(out / r["path"]), np.float32)
            for r in rows
            if r["video"] == video
        }
        path = next(ffpp_sample.rglob(f"{video}.mp4"))
        errors = {i: [] for i in mine}  # JPEG index -> MSE against every decoded frame
        with av.open(str(path)) as container:
            for n, frame in enumerate(container.decode(video=0)):
                rgb = frame.to_ndarray(format="rgb24")
                for i, jpeg in mine.items():
                    errors[i].append(float(np.mean((rgb[::2, ::2] - jpeg[::2, ::2]) ** 2)))
                    if n == i:
                        psnr = 10 * np.log10(255**2 / np.mean((rgb - jpeg) ** 2))
                        assert psnr > 35, f"{method}/{video}: JPEG {i} at {psnr:.1f} dB"
        for i, mse in errors.items():
            assert int(np.argmin(mse)) == i, f"{method}/{video}: JPEG {i} looks like frame {np.argmin(mse)}"


@pytest.mark.slow
def test_real_face_crops(tmp_path, ffpp_sample):
    out = tmp_path / "faces"
    summary = extract_frames(
        ExtractConfig(
            root=ffpp_sample,  # no splits_dir: the official splits shipped with dfrobust
            out=out,
            frames=3,
            faces=True,
            splits=("val",),
            methods=("NeuralTextures",),
        )
    )
    counts = summary["counts"]
    assert counts["faces_found"] / (counts["faces_found"] + counts["faces_missed"]) >= 0.95
    for row in read_manifest(out):
        x1, y1, x2, y2 = map(int, row["face_box"].split())
        assert x2 - x1 == y2 - y1 > 100 and x1 >= 0 and x2 <= 1280 and y1 >= 0 and y2 <= 720
        assert Image.open(out / row["path"]).size == (256, 256)


def link_sample(sample: Path, root: Path, names: list[str]) -> None:
    """An FF++ layout of symlinks to the real 004.mp4 under other names (no splits/ folder)."""
    for name in names:
        (root / ORIGINALS).mkdir(parents=True, exist_ok=True)
        (root / ORIGINALS / f"{name}.mp4").symlink_to(sample / ORIGINALS / "004.mp4")


def test_corrupt_video_is_reported_and_skipped_cli(tmp_path):
    root = tmp_path / "ffpp"  # no --splits and no ROOT/splits: the official splits (004 val)
    write_test_video(root / ORIGINALS / "004.mp4", frames=12, size=32)
    (root / FAKES.format("FaceSwap")).mkdir(parents=True)
    (root / FAKES.format("FaceSwap") / "004_982.mp4").write_text("this is not a video\n")
    args = ["extract", "--root", str(root), "--frames", "2", "--workers", "1"]
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "skipped FaceSwap/004_982" in result.output
    assert result.output.count("using the official FF++ splits shipped with dfrobust") == 1
    summary = json.loads((tmp_path / "out/extract.json").read_text())
    assert summary["counts"]["skipped"] == 1 and summary["counts"]["frames"] == 2
    assert "InvalidData" in summary["skipped"][0]["reason"]
    assert {(r["video"], r["split"]) for r in read_manifest(tmp_path / "out")} == {("004", "val")}

    (root / ORIGINALS / "004.mp4").unlink()
    (root / ORIGINALS / "004.mp4").write_bytes(b"\x00" * 100)
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "none")])
    assert result.exit_code == 1 and "no frame could be extracted" in result.output


@pytest.mark.slow
def test_kill_9_mid_job_then_rerun_completes_without_duplicates(tmp_path, ffpp_sample):
    root, out = tmp_path / "ffpp", tmp_path / "out"
    names = [f"{i:03d}" for i in range(8)]
    link_sample(ffpp_sample, root, names)
    cmd = [
        sys.executable,
        "-m",
        "dfrobust",
        "extract",
        "--root",
        str(root),
        "--splits",
        str(FFPP_SPLITS),
        "--out",
        str(out),
        "--frames",
        "3",
        "--workers",
        "1",
    ]
    job = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240  # a loaded machine takes a while to import torch and start
    while not list(out.glob("original/*/frames.json")) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(job.pid, signal.SIGKILL)
    job.wait()
    done_before = len(list(out.glob("original/*/frames.json")))
    assert 1 <= done_before < len(names), "the job should have been killed mid-way"

    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "extract.json").read_text())
    assert summary["counts"]["cached"] == done_before and summary["counts"]["done"] == len(names) - done_before
    rows = read_manifest(out)
    assert len(rows) == len({r["path"] for r in rows}) == 3 * len(names)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.jpg")) == sorted(r["path"] for r in rows)
    assert temp_files(out) == []
    for row in rows:
        Image.open(out / row["path"]).load()  # every JPEG complete


# --------------------------------------------------------------------------- other data sets


def test_extract_of_a_celebdf_root_writes_its_dataset_labels_and_splits(tmp_path):
    from dfrobust.data.dataset import FFDataset
    from dfrobust.data.layouts import index_root
    from testdata import write_celebdf_root

    root, out = write_celebdf_root(tmp_path / "Celeb-DF-v2", frames=6, size=32), tmp_path / "frames"
    result = CliRunner().invoke(
        app, ["extract", "--root", str(root), "--out", str(out), "--frames", "2", "--workers", "1"]
    )
    assert result.exit_code == 0, result.output
    rows = read_manifest(out)
    assert list(rows[0]) == list(MANIFEST_COLUMNS)
    expected = {(r.method, r.video): (str(r.label), r.split) for r in index_root(root).records}
    assert {(r["method"], r["video"]): (r["label"], r["split"]) for r in rows} == expected
    assert {(r["dataset"], r["compression"]) for r in rows} == {("celebdf", "")}
    assert all((out / r["path"]).is_file() and r["path"].startswith(r["method"] + "/") for r in rows)
    test = FFDataset(out / "frames.csv", "test", return_video=True)
    assert "celebdf/Celeb-synthesis//id2_id0_0001" in test.video_index.keys


def test_frames_done_before_the_dataset_column_get_it_on_resume(tiny_root, tmp_path):
    out = tmp_path / "frames"
    extract_frames(ExtractConfig(root=tiny_root, out=out, frames=2))
    marker = out / "original" / "000" / "frames.json"
    data = json.loads(marker.read_text())
    data["rows"] = [{k: v for k, v in row.items() if k != "dataset"} for row in data["rows"]]
    marker.write_text(json.dumps(data))
    summary = extract_frames(ExtractConfig(root=tiny_root, out=out, frames=2))
    assert summary["counts"]["cached"] == 7
    assert {r["dataset"] for r in read_manifest(out)} == {"ffpp"}
