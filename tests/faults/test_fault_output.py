"""Case 10: a read-only or full output folder: a clear error, nothing half-written, nothing done lost.

Tests run as root here, where ``chmod 0o555`` does not stop writes, so an unwritable folder is
simulated by a path whose parent is a *file* (as root) and a full disk by ``os.replace`` or
``os.fsync`` raising ENOSPC.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
from fault_helpers import ORIGINALS, assert_clean_failure, assert_clean_result, dfrobust, invoke, write_splits

from dfrobust import atomicio
from dfrobust.atomicio import OutputError, write_json, write_text
from testdata import write_test_video

SPLITS = {"train": [["000", "001"]], "val": [["002", "003"]], "test": [["004", "005"]]}


@pytest.fixture
def unwritable(tmp_path: Path) -> Path:
    """A folder that cannot be written: read-only for a normal user, under a file for root."""
    if os.geteuid() == 0:
        (tmp_path / "a-file").write_text("x")
        return tmp_path / "a-file" / "out"
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    return folder / "out"


def full_disk(monkeypatch: pytest.MonkeyPatch, after: int = 0, target: str = "replace") -> list[str]:
    """``os.replace`` (or ``os.fsync``) succeeds ``after`` times, then fails with ENOSPC; returns the calls."""
    calls: list[str] = []
    real = getattr(os, target)

    def fail(*args):
        calls.append(str(args[-1]))
        if len(calls) > after:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*args)

    monkeypatch.setattr(os, target, fail)
    return calls


@pytest.fixture(scope="module")
def small_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("root")
    for video in ("000", "001", "002", "003"):
        write_test_video(root / ORIGINALS / f"{video}.mp4", frames=8, size=32)
    write_splits(root / "splits", SPLITS)
    return root


# --------------------------------------------------------------------------- atomicio


def test_atomic_write_into_an_unwritable_folder_names_the_file(unwritable: Path) -> None:
    with pytest.raises(OutputError, match=f"cannot write {unwritable / 'r.json'}"):
        write_json(unwritable / "r.json", {"a": 1})


@pytest.mark.parametrize("target", ["replace", "fsync"])
def test_a_full_disk_keeps_the_old_file_and_leaves_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str
) -> None:
    path = tmp_path / "history.csv"
    write_text(path, "epoch\n0\n")
    full_disk(monkeypatch, target=target)
    with pytest.raises(OutputError, match=f"cannot write {path}: No space left on device"):
        write_text(path, "epoch\n0\n1\n")
    assert path.read_text() == "epoch\n0\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.csv"]


def test_an_interrupted_write_leaves_no_temp(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt), atomicio.atomic_open(tmp_path / "x.jpg", "wb") as f:
        f.write(b"half")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- index


def test_index_into_an_unwritable_folder_fresh_process(small_root: Path, unwritable: Path) -> None:
    proc = dfrobust("index", "--root", small_root, "--out", unwritable / "videos.csv")
    assert_clean_failure(proc, f"cannot write {unwritable / 'videos.csv'}")


def test_index_on_a_full_disk(small_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    full_disk(monkeypatch)
    result = invoke("index", "--root", small_root, "--out", tmp_path / "videos.csv")
    assert_clean_result(result, "No space left on device", str(tmp_path / "videos.csv"))
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- extract


def test_extract_into_an_unwritable_folder_fresh_process(small_root: Path, unwritable: Path) -> None:
    proc = dfrobust("extract", "--root", small_root, "--out", unwritable, "--frames", "2", "--workers", "1")
    assert_clean_failure(proc, str(unwritable))


def test_extract_into_an_unwritable_folder_says_it_cannot_write(small_root: Path, unwritable: Path) -> None:
    result = invoke("extract", "--root", small_root, "--out", unwritable, "--frames", "2", "--workers", "1")
    assert_clean_result(result, f"cannot write {unwritable}")
    assert "delete it" not in result.output


def test_extract_on_a_disk_full_at_a_marker_stops_then_resumes(
    small_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    args = ["extract", "--root", small_root, "--out", out, "--frames", "2", "--workers", "1"]
    full_disk(monkeypatch, after=5)  # video 000: 2 JPEGs + marker; 001: 2 JPEGs, then its marker fails
    result = invoke(*args)
    assert_clean_result(result, f"cannot write {out / 'original/001/frames.json'}: No space left on device")
    assert not (out / "frames.csv").exists() and not (out / "extract.json").exists()
    assert (out / "original/000/frames.json").exists() and not list(out.rglob(".*.tmp"))

    monkeypatch.undo()  # space freed: the rerun keeps video 000 and does the rest once
    assert_clean_result(invoke(*args), code=0)
    counts = json.loads((out / "extract.json").read_text())["counts"]
    assert (counts["cached"], counts["done"], counts["skipped"]) == (1, 3, 0)


def test_extract_on_a_disk_full_at_a_jpeg_stops_at_once(
    small_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    calls = full_disk(monkeypatch, after=3)  # video 000 done; the first JPEG of 001 fails
    result = invoke("extract", "--root", small_root, "--out", out, "--frames", "2", "--workers", "1")
    assert_clean_result(result, "No space left on device", str(out / "original/001"))
    assert len(calls) == 4, f"went on writing after the disk was full: {calls[4:]}"
    assert "skipped" not in result.output
    assert (out / "original/000/frames.json").exists() and not (out / "frames.csv").exists()


# --------------------------------------------------------------------------- train


def test_train_into_an_unwritable_run_folder(tiny_manifest: Path, unwritable: Path) -> None:
    result = invoke(
        "train",
        "--manifest",
        tiny_manifest,
        "--run",
        unwritable,
        "--epochs",
        "1",
        "--model.name",
        "resnet10t",
        "--image_size",
        "32",
        "--workers",
        "0",
        "--monitor_frames",
        "0",
    )
    assert_clean_result(result, f"cannot write {unwritable}")
