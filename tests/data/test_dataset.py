"""FFDataset: one split of frames.csv as (frame, label[, video]) tensors, with clear errors."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image
from torchvision.transforms import functional as TF

from dfrobust.data.dataset import FFDataset
from dfrobust.data.manifest import read_manifest
from dfrobust.errors import DfrobustError


def _copy_manifest(manifest: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny data set that a test may damage."""
    shutil.copytree(manifest.parent, tmp_path / "frames")
    return tmp_path / "frames" / "frames.csv"


def _rewrite(manifest: Path, edit) -> None:
    with open(manifest, newline="") as f:
        rows = list(csv.DictReader(f))
    rows, fields = edit(rows)
    with open(manifest, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def test_dataset_yields_frames_in_unit_range_with_labels_and_videos(tiny_manifest: Path) -> None:
    dataset = FFDataset(tiny_manifest, "val")
    assert len(dataset) == 4 * 3 * 4  # 4 real videos + 8 fakes, 4 frames each
    frame, label = dataset[0]
    assert frame.shape == (3, 32, 32) and frame.dtype == torch.float32
    assert frame.min() >= 0 and frame.max() <= 1
    assert label.item() in (0, 1)
    assert sorted(set(dataset.labels.tolist())) == [0, 1]

    with_video = FFDataset(tiny_manifest, "val", return_video=True)
    _, _, video = with_video[len(with_video) - 1]
    key = with_video.video_index.keys[int(video)]
    assert key.startswith("Face2Face/c23/")  # method/compression/video: fakes of two methods differ


def test_items_are_the_split_rows_frames_in_manifest_order(tiny_manifest: Path) -> None:
    rows = [r for r in read_manifest(tiny_manifest) if r["split"] == "test"]
    dataset = FFDataset(tiny_manifest, "test", return_video=True)
    assert dataset.paths == [tiny_manifest.parent / r["path"] for r in rows]
    for i in (0, 17, len(dataset) - 1):
        frame, label, video = dataset[i]
        with Image.open(tiny_manifest.parent / rows[i]["path"]) as image:
            assert torch.equal(frame, TF.to_tensor(image.convert("RGB")))  # that very file, decoded
        assert label.item() == int(rows[i]["label"])
        assert (
            dataset.video_index.keys[int(video)] == f"{rows[i]['method']}/{rows[i]['compression']}/{rows[i]['video']}"
        )
    resized = FFDataset(tiny_manifest, "test", transform=lambda image: TF.to_tensor(image.resize((8, 8))))
    assert resized[0][0].shape == (3, 8, 8)


def test_video_keys_separate_methods_and_count_each_video_once(tiny_manifest: Path) -> None:
    dataset = FFDataset(tiny_manifest, "train", return_video=True)
    assert len(dataset.video_index) == 12
    assert torch.bincount(dataset.videos).tolist() == [4] * 12
    assert set(dataset.methods) == {"original", "Deepfakes", "Face2Face"} and set(dataset.datasets) == {"ffpp"}


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda rows: (rows, [f for f in rows[0] if f != "label"]), "lacks column(s) ['label']"),
        (lambda rows: ([{**r, "label": "2"} if i == 3 else r for i, r in enumerate(rows)], list(rows[0])), "line 5"),
    ],
)
def test_bad_manifest_is_a_clear_error(tiny_manifest: Path, tmp_path: Path, edit, message: str) -> None:
    manifest = _copy_manifest(tiny_manifest, tmp_path)
    _rewrite(manifest, edit)
    with pytest.raises(DfrobustError, match="frames.csv") as info:
        FFDataset(manifest, "train")
    assert message in str(info.value)


def test_missing_frame_file_is_named(tiny_manifest: Path, tmp_path: Path) -> None:
    manifest = _copy_manifest(tiny_manifest, tmp_path)
    first = read_manifest(manifest)[0]["path"]
    (manifest.parent / first).unlink()
    with pytest.raises(DfrobustError, match="missing, e.g. .*" + first.split("/")[-1]):
        FFDataset(manifest, "train")


def test_corrupt_jpeg_fails_at_load_naming_the_file(tiny_manifest: Path, tmp_path: Path) -> None:
    manifest = _copy_manifest(tiny_manifest, tmp_path)
    path = manifest.parent / read_manifest(manifest)[0]["path"]
    path.write_bytes(path.read_bytes()[:200])  # truncated JPEG
    dataset = FFDataset(manifest, "train")
    with pytest.raises(DfrobustError, match=f"cannot decode frame {path}"):
        dataset[0]


def test_empty_split_is_an_error(tiny_manifest: Path, tmp_path: Path) -> None:
    manifest = _copy_manifest(tiny_manifest, tmp_path)
    _rewrite(manifest, lambda rows: ([{**r, "split": ""} for r in rows], list(rows[0])))
    with pytest.raises(DfrobustError, match="no frames in split 'val'"):
        FFDataset(manifest, "val")


def test_fake_methods_keep_every_real_and_only_those_fakes(tiny_manifest: Path) -> None:
    whole = FFDataset(tiny_manifest, "train")
    seen = FFDataset(tiny_manifest, "train", fake_methods=["Deepfakes"])
    assert set(seen.methods) == {"original", "Deepfakes"}
    assert int((seen.labels == 0).sum()) == int((whole.labels == 0).sum())  # every real frame stays
    assert int(seen.labels.sum()) == sum(m == "Deepfakes" for m in whole.methods)
    with pytest.raises(
        DfrobustError, match=r"split 'train' has no fake frames of FaceSwap; its methods: Deepfakes, Face2Face"
    ):
        FFDataset(tiny_manifest, "train", fake_methods=["Deepfakes", "FaceSwap"])
