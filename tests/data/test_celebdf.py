"""Celeb-DF v2: labels from the folders, the official test list (1 = real), the identity split."""

from __future__ import annotations

from pathlib import Path

import pytest

from dfrobust.data.celebdf import TEST_LIST, identities, index_celebdf, read_test_list
from dfrobust.data.records import DatasetIndex
from dfrobust.errors import DfrobustError
from testdata import write_celebdf_root


@pytest.fixture(scope="module")
def celebdf_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_celebdf_root(tmp_path_factory.mktemp("celebdf"), frames=2, size=16)


def test_labels_come_from_the_folders_and_the_test_split_from_the_official_list(celebdf_root: Path) -> None:
    found = index_celebdf(celebdf_root)
    by_key = {r.key: r for r in found.records}
    assert {(r.method, r.label) for r in found.records} == {
        ("Celeb-real", 0),
        ("YouTube-real", 0),
        ("Celeb-synthesis", 1),
    }
    assert sorted(k for k, r in by_key.items() if r.split == "test") == [
        "Celeb-real/id0_0001",
        "Celeb-synthesis/id2_id0_0001",
        "YouTube-real/00002",
    ]
    fake = by_key["Celeb-synthesis/id0_id1_0000"]  # frames of Celeb-real/id0_0000, face of id1
    assert (fake.target, fake.source, fake.dataset, fake.compression) == ("id0_0000", "id1", "celebdf", "")
    assert {r.dataset for r in found.records} == {"celebdf"} and found.dataset == "celebdf"
    assert [(m.video, m.split) for m in found.missing if m.reason == "not on disk"] == [("id9_0000", "test")]
    assert found.orphan_fakes() == []


@pytest.mark.parametrize("seed", range(4))
def test_no_identity_reaches_both_train_and_val(celebdf_root: Path, seed: int) -> None:
    found = index_celebdf(celebdf_root, seed=seed)
    split_of: dict[str, str] = {}
    for record in (r for r in found.records if r.split in ("train", "val")):
        for identity in filter(None, identities(record.method, record.video)):
            assert split_of.setdefault(identity, record.split) == record.split, (identity, record)
    assert {"train", "val"} <= set(split_of.values())
    left_out = {r.video for r in found.records if not r.split}
    assert all(r.method == "Celeb-synthesis" for r in found.records if not r.split)
    assert {m.video for m in found.missing if "two splits" in m.reason} == left_out


def test_the_split_is_seeded(celebdf_root: Path) -> None:
    def splits(seed: int) -> dict[str, str]:
        return {r.key: r.split for r in index_celebdf(celebdf_root, seed=seed).records}

    assert splits(0) == splits(0)
    assert len({tuple(splits(seed).values()) for seed in range(6)}) > 1


def test_identities_of_the_three_folders() -> None:
    assert identities("Celeb-synthesis", "id0_id16_0008") == ("id0", "id16")
    assert identities("Celeb-real", "id3_0001") == ("id3", "")
    assert identities("YouTube-real", "00170") == ("YouTube-real/00170", "")


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["1 Celeb-real/id0_0001.mp4", "1 Celeb-synthesis/id2_id0_0001.mp4"], r"line 2: '1' for a Celeb-synthesis"),
        (["0 Celeb-real/id0_0001.mp4"], r"line 1: '0' for a Celeb-real video"),
        (["Celeb-real/id0_0001.mp4"], r"line 1: expected '<0\|1> <folder>/<video>.mp4'"),
        (["1 Other/x.mp4"], r"line 1: expected"),
        ([""], "is empty"),
    ],
)
def test_a_test_list_line_that_disagrees_or_is_malformed_is_refused(
    tmp_path: Path, lines: list[str], message: str
) -> None:
    (tmp_path / TEST_LIST).write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DfrobustError, match=message):
        read_test_list(tmp_path / TEST_LIST)


def test_the_official_list_reads_one_digit_per_video(tmp_path: Path) -> None:
    (tmp_path / TEST_LIST).write_text("1 YouTube-real/00170.mp4\n0 Celeb-synthesis/id0_id16_0008.mp4\n")
    assert read_test_list(tmp_path / TEST_LIST) == {"YouTube-real/00170": "1", "Celeb-synthesis/id0_id16_0008": "0"}


def test_a_root_without_the_test_list_is_refused(tmp_path: Path) -> None:
    (tmp_path / "Celeb-real").mkdir()
    with pytest.raises(DfrobustError, match=f"{TEST_LIST} is missing"):
        index_celebdf(tmp_path)


def test_videos_under_a_videos_subfolder_are_read(tmp_path: Path, celebdf_root: Path) -> None:
    for folder in ("Celeb-real", "YouTube-real", "Celeb-synthesis"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "videos").symlink_to(celebdf_root / folder, target_is_directory=True)
    (tmp_path / TEST_LIST).write_text((celebdf_root / TEST_LIST).read_text())
    found: DatasetIndex = index_celebdf(tmp_path)
    assert len(found.records) == len(index_celebdf(celebdf_root).records)
