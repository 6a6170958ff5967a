"""Case 4: a manifest row whose JPEG is missing or corrupt, and labels other than 0/1."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
from fault_helpers import assert_clean_failure, assert_clean_result, dfrobust, invoke

TINY = [
    "--model.name",
    "resnet10t",
    "--image_size",
    "32",
    "--epochs",
    "1",
    "--batch_size",
    "16",
    "--workers",
    "0",
    "--monitor_frames",
    "0",
    "--optimizer",
    "adamw",
]


def copy_manifest(manifest: Path, folder: Path) -> Path:
    shutil.copytree(manifest.parent, folder)
    return folder / manifest.name


def rows_of(manifest: Path) -> list[dict]:
    with open(manifest, newline="") as f:
        return list(csv.DictReader(f))


def rewrite(manifest: Path, rows: list[dict]) -> None:
    with open(manifest, "w", newline="") as f:  # test input, written on purpose non-atomically
        writer = csv.DictWriter(f, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


@pytest.mark.parametrize(("label", "line"), [("2", 5), ("-1", 5), ("fake", 5), ("", 5)])
def test_a_label_other_than_0_or_1_names_the_line(tiny_manifest: Path, tmp_path: Path, label: str, line: int) -> None:
    manifest = copy_manifest(tiny_manifest, tmp_path / "frames")
    rows = rows_of(manifest)
    rows[line - 2]["label"] = label  # line 1 is the header
    rewrite(manifest, rows)
    result = invoke("train", "--manifest", manifest, "--run", tmp_path / "run", *TINY)
    assert_clean_result(result, str(manifest), f"line {line}")
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_a_missing_jpeg_is_named_before_training_starts(tiny_manifest: Path, tmp_path: Path) -> None:
    manifest = copy_manifest(tiny_manifest, tmp_path / "frames")
    gone = rows_of(manifest)[0]["path"]
    (manifest.parent / gone).unlink()
    result = invoke("train", "--manifest", manifest, "--run", tmp_path / "run", *TINY)
    assert_clean_result(result, gone.split("/")[-1], "missing")


def test_a_corrupt_jpeg_stops_training_naming_the_file(tiny_manifest: Path, tmp_path: Path) -> None:
    manifest = copy_manifest(tiny_manifest, tmp_path / "frames")
    bad = manifest.parent / rows_of(manifest)[5]["path"]
    bad.write_bytes(bad.read_bytes()[:150])  # a truncated JPEG, as a killed copy leaves it
    proc = dfrobust("train", "--manifest", manifest, "--run", tmp_path / "run", *TINY)
    assert_clean_failure(proc, f"cannot decode frame {bad}")
