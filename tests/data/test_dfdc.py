"""DFDC: metadata.json labels (REAL/FAKE), the public test set's labels.csv (1 = fake), the val split."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dfrobust.data.dfdc import index_dfdc, read_metadata, read_test_labels
from dfrobust.errors import DfrobustError
from testdata import write_dfdc_root


@pytest.fixture(scope="module")
def dfdc_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dfdc_root(tmp_path_factory.mktemp("dfdc"), frames=2, size=16)


def test_labels_and_test_split_follow_the_official_files(dfdc_root: Path) -> None:
    found = index_dfdc(dfdc_root)
    label_of = {r.video: (r.label, r.method, r.split) for r in found.records}
    assert {v: label for v, (label, _, _) in label_of.items()} == {
        "aaa": 0, "bbb": 1, "ccc": 0, "ddd": 1, "eee": 1, "fff": 0, "ggg": 1, "ttt": 1, "uuu": 0,
    }  # fmt: skip
    assert {m for _, m, _ in label_of.values()} == {"DFDC-real", "DFDC-fake"}
    assert sorted(v for v, (_, _, split) in label_of.items() if split == "test") == ["ttt", "uuu"]
    assert {r.dataset for r in found.records} == {"dfdc"} and {r.compression for r in found.records} == {""}
    assert next(r for r in found.records if r.video == "bbb").target == "aaa"
    assert [(m.video, m.reason) for m in found.missing] == [
        ("eee", "original of the fake: zzz not on disk"),
        ("hhh", "not on disk"),
    ]


@pytest.mark.parametrize("seed", range(6))
def test_a_fake_shares_the_split_of_its_original_and_val_is_not_empty(dfdc_root: Path, seed: int) -> None:
    split_of = {r.video: r.split for r in index_dfdc(dfdc_root, seed=seed).records}
    assert (
        split_of["bbb"] == split_of["aaa"] and split_of["ddd"] == split_of["ccc"] and split_of["ggg"] == split_of["fff"]
    )
    assert "val" in split_of.values() and "train" in split_of.values()


def test_bad_metadata_names_the_file_and_entry(tmp_path: Path) -> None:
    (tmp_path / "metadata.json").write_text(json.dumps({"a.mp4": {"label": "fake"}}))
    with pytest.raises(DfrobustError, match=r"metadata\.json, entry 'a\.mp4': expected"):
        read_metadata(tmp_path / "metadata.json")
    (tmp_path / "metadata.json").write_text("[1, 2]")
    with pytest.raises(DfrobustError, match="expected a JSON object"):
        read_metadata(tmp_path / "metadata.json")


def test_test_labels_are_one_for_fake_and_a_bad_label_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("filename,label\na.mp4,1\nb.mp4,0\nc.mp4,FAKE\n")
    assert read_test_labels(path) == {"a.mp4": 1, "b.mp4": 0, "c.mp4": 1}
    path.write_text("filename,label\na.mp4,1\nb.mp4,0.7\n")
    with pytest.raises(DfrobustError, match=r"line 3: Expected label 1 \(fake\) or 0 \(real\), but got '0.7'"):
        read_test_labels(path)
    path.write_text("name,is_fake\na.mp4,1\n")
    with pytest.raises(DfrobustError, match="expected the columns filename,label"):
        read_test_labels(path)


def test_a_root_whose_files_name_no_video_on_disk_is_refused(tmp_path: Path) -> None:
    (tmp_path / "dfdc_train_part_0").mkdir()
    (tmp_path / "dfdc_train_part_0" / "metadata.json").write_text(json.dumps({"a.mp4": {"label": "REAL"}}))
    with pytest.raises(DfrobustError, match="name files that are not on disk"):
        index_dfdc(tmp_path)
