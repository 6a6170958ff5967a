"""FF++ layout and official splits, on the real split files and sample videos."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from dfrobust.data.ffpp import (
    dfd_actor,
    dfd_actor_splits,
    find_splits_dir,
    index_videos,
    load_split_pairs,
    official_splits_dir,
    split_assignment,
    stable_seed,
)
from dfrobust.errors import DfrobustError
from testdata import FFPP_SPLITS, write_test_video


def test_official_splits_have_the_published_shape() -> None:
    assert official_splits_dir() == FFPP_SPLITS
    pairs = load_split_pairs(FFPP_SPLITS)
    assert {k: len(v) for k, v in pairs.items()} == {"train": 360, "val": 70, "test": 70}
    videos = {split: {v for pair in p for v in pair} for split, p in pairs.items()}
    assert not videos["train"] & videos["val"]
    assert not videos["train"] & videos["test"]
    assert not videos["val"] & videos["test"]
    assert set().union(*videos.values()) == {f"{i:03d}" for i in range(1000)}


def test_a_pair_puts_originals_and_both_fakes_in_its_split() -> None:
    pairs = load_split_pairs(FFPP_SPLITS)
    assignment = split_assignment(pairs)
    for split, split_pairs in pairs.items():
        for a, b in split_pairs:
            assert {assignment[v] for v in (a, b, f"{a}_{b}", f"{b}_{a}")} == {split}
    assert len(assignment) == 1000 + 2 * 500


def test_sample_root_is_indexed_with_labels_methods_and_splits(ffpp_sample: Path) -> None:
    found = index_videos(ffpp_sample, FFPP_SPLITS)
    by_key = {r.key: r for r in found.records}
    assert sorted(by_key) == [
        "Face2Face/750_743",
        "FaceSwap/634_660",
        "NeuralTextures/004_982",
        "original/004",
        "original/634",
    ]
    assert (by_key["original/634"].split, by_key["FaceSwap/634_660"].split) == ("test", "test")
    assert (by_key["original/004"].split, by_key["NeuralTextures/004_982"].split) == ("val", "val")
    assert by_key["Face2Face/750_743"].split == "train"
    assert [by_key[k].label for k in ("original/004", "original/634")] == [0, 0]
    assert all(r.label == 1 for r in found.records if r.method != "original")
    fake = by_key["FaceSwap/634_660"]
    assert (fake.target, fake.source, fake.compression) == ("634", "660", "c23")
    assert fake.path.is_file()
    orphans = found.orphan_fakes()
    assert [(m.video, m.method, m.split) for m in orphans] == [("750_743", "Face2Face", "train")]
    assert "750" in orphans[0].reason


def test_splits_default_to_root_splits_folder_then_the_shipped_ones(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "root"
    write_test_video(root / "original_sequences/youtube/c23/videos/004.mp4", frames=2, size=16)
    with caplog.at_level(logging.INFO, logger="dfrobust.data.ffpp"):
        assert find_splits_dir(root, None) == official_splits_dir()
        assert [r.split for r in index_videos(root).records] == ["val"]  # 004 is in the official val split
    said = [r.getMessage() for r in caplog.records if "official" in r.getMessage()]
    assert said == ["using the official FF++ splits shipped with dfrobust (train 360 / val 70 / test 70 pairs)"] * 2
    _write_splits(root, {"test": '[["004", "005"]]', "train": '[["000", "001"]]', "val": '[["002", "003"]]'})
    assert find_splits_dir(root, None) == root / "splits"
    assert [r.split for r in index_videos(root).records] == ["test"]
    assert find_splits_dir(root, FFPP_SPLITS) == FFPP_SPLITS
    with pytest.raises(DfrobustError, match="does not exist"):
        find_splits_dir(root, tmp_path / "nowhere")


def test_compression_c0_and_raw_are_one_folder(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write_test_video(root / "original_sequences/youtube/c0/videos/004.mp4", frames=2, size=16)
    for name in ("raw", "c0"):
        found = index_videos(root, FFPP_SPLITS, compression=name)
        assert [(r.video, r.compression) for r in found.records] == [("004", "raw")]


def test_masks_are_attached_when_present(tmp_path: Path, ffpp_sample: Path) -> None:
    root = _copy_sample(ffpp_sample, tmp_path)
    masks = root / "manipulated_sequences/FaceSwap/masks/videos"
    masks.mkdir(parents=True)
    (masks / "634_660.mp4").write_bytes(b"mask")
    by_key = {r.key: r for r in index_videos(root, FFPP_SPLITS).records}
    assert by_key["FaceSwap/634_660"].mask == (masks / "634_660.mp4").resolve()
    assert by_key["NeuralTextures/004_982"].mask is None


def test_methods_filter_and_unknown_method(ffpp_sample: Path) -> None:
    found = index_videos(ffpp_sample, FFPP_SPLITS, methods=["faceswap"])
    assert {r.method for r in found.records} == {"original", "FaceSwap"}
    with pytest.raises(DfrobustError, match="unknown method 'Foo'.*Deepfakes"):
        index_videos(ffpp_sample, FFPP_SPLITS, methods=["Foo"])


def test_dfd_videos_split_by_actor(tmp_path: Path) -> None:
    root = tmp_path / "root"
    originals = root / "original_sequences/actors/c23/videos"
    fakes = root / "manipulated_sequences/DeepFakeDetection/c23/videos"
    originals.mkdir(parents=True)
    fakes.mkdir(parents=True)
    actors = [f"{i:02d}" for i in range(1, 29)]
    for actor in actors:
        (originals / f"{actor}__talking.mp4").write_bytes(b"x")
    for t, s in zip(actors, actors[1:] + actors[:1]):
        (fakes / f"{t}_{s}__talking__ABCDEFGH.mp4").write_bytes(b"x")
    found = index_videos(root, methods=["DeepFakeDetection"], dfd_seed=3)
    split_of = dfd_actor_splits(actors, seed=3)
    assert sorted(set(split_of.values())) == ["test", "train", "val"]
    for record in found.records:
        target, source = dfd_actor(record.video)
        if record.label == 0 or split_of[target] == split_of[source]:
            assert record.split == split_of[target]
        else:
            assert record.split == ""
    assert dfd_actor_splits(actors, seed=3) == split_of
    assert dfd_actor_splits(actors, seed=4) != split_of


def test_stable_seed_is_stable() -> None:
    assert stable_seed(0, "000_003", "Deepfakes") == stable_seed(0, "000_003", "Deepfakes")
    assert stable_seed(0, "000_003") != stable_seed(1, "000_003")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "non-empty JSON list"),
        ('{"a": 1}', "non-empty JSON list"),
        ('[["000", "001", "002"]]', "item 0 should be a pair"),
        ('[["000", 1]]', "item 0 should be a pair"),
    ],
)
def test_malformed_split_files_are_reported(tmp_path: Path, content: str, message: str) -> None:
    splits = _write_splits(tmp_path, {"train": content})
    with pytest.raises(DfrobustError, match=message) as info:
        load_split_pairs(splits)
    assert "train.json" in str(info.value)


def test_a_video_in_two_splits_is_reported(tmp_path: Path) -> None:
    splits = _write_splits(tmp_path, {"val": '[["000", "009"]]'})
    with pytest.raises(DfrobustError, match="000 is in both train.json and val.json"):
        load_split_pairs(splits)


def test_bad_roots_are_reported(tmp_path: Path) -> None:
    with pytest.raises(DfrobustError, match="does not exist"):
        index_videos(tmp_path / "nowhere", FFPP_SPLITS)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DfrobustError, match="is empty"):
        index_videos(tmp_path / "empty", FFPP_SPLITS)
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(b"x")
    with pytest.raises(DfrobustError, match="not a FaceForensics\\+\\+ root"):
        index_videos(tmp_path / "photos", FFPP_SPLITS)
    (tmp_path / "bare" / "original_sequences").mkdir(parents=True)
    with pytest.raises(DfrobustError, match="no c23 videos found"):
        index_videos(tmp_path / "bare", FFPP_SPLITS)
    with pytest.raises(DfrobustError, match="train.json not found.*dataset/splits"):
        index_videos(tmp_path / "bare", tmp_path / "empty")


def _copy_sample(sample: Path, tmp_path: Path) -> Path:
    root = tmp_path / "root"
    shutil.copytree(sample, root)
    return root


def _write_splits(tmp_path: Path, overrides: dict[str, str]) -> Path:
    splits = tmp_path / "splits"
    splits.mkdir()
    default = {"train": '[["000", "001"]]', "val": '[["002", "003"]]', "test": '[["004", "005"]]'}
    for split, content in {**default, **overrides}.items():
        (splits / f"{split}.json").write_text(content)
    return splits
