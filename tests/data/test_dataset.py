"""Tests for dfrobust.data: the manifest dataset, transforms and the DataModule."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image

from dfrobust.data.dataset import FFDataset
from dfrobust.data.manifest import read_manifest
from dfrobust.data.transforms import RandomJPEG, build_transform
from dfrobust.errors import DfrobustError
from dfrobust.training.datamodule import FFDataModule


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


def test_video_keys_separate_methods_and_count_each_video_once(tiny_manifest: Path) -> None:
    dataset = FFDataset(tiny_manifest, "train", return_video=True)
    assert len(dataset.video_index) == 12
    assert torch.bincount(dataset.videos).tolist() == [4] * 12


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


def test_transforms_resize_and_augment_only_training() -> None:
    image = Image.new("RGB", (40, 30), (10, 200, 90))
    image.paste((250, 0, 0), (0, 0, 20, 30))  # left half red: a flip changes the tensor
    evaluate = build_transform((16, 24))
    assert evaluate(image).shape == (3, 16, 24)
    assert torch.equal(evaluate(image), evaluate(image))
    torch.manual_seed(0)
    augment = build_transform((16, 24), train=True)
    outputs = [augment(image) for _ in range(8)]
    assert all(out.shape == (3, 16, 24) and out.min() >= 0 and out.max() <= 1 for out in outputs)
    assert any(not torch.allclose(outputs[0], out) for out in outputs[1:])


def test_random_jpeg_changes_pixels_but_not_size() -> None:
    image = Image.effect_noise((32, 32), 60).convert("RGB")
    out = RandomJPEG(quality=(10, 10), p=1.0)(image)
    assert out.size == image.size and out.tobytes() != image.tobytes()


def test_datamodule_balances_classes_with_the_sampler(tiny_manifest: Path) -> None:
    dm = FFDataModule(tiny_manifest, (32, 32), batch_size=16, workers=0, balance="sampler", augment=False)
    labels = torch.cat([y for _, y, _ in dm.train_dataloader()] * 4)
    assert 0.35 < labels.float().mean() < 0.65  # the data hold 2 fakes per real
    assert dm.pos_weight is None


def test_datamodule_class_weight_and_monitor_subset(tiny_manifest: Path) -> None:
    dm = FFDataModule(tiny_manifest, (24, 24), batch_size=8, workers=0, balance="weight", monitor_frames=10, seed=3)
    assert dm.pos_weight.item() == pytest.approx(0.5)  # n_real / n_fake
    val, monitor = dm.val_dataloader()
    assert len(val.dataset) == 48 and len(monitor.dataset) == 10
    first = [y for _, y, _ in monitor]
    again = [y for _, y, _ in dm.val_dataloader()[1]]
    assert all(torch.equal(a, b) for a, b in zip(first, again))  # the same frames every epoch
    x, y, video = next(iter(dm.test_dataloader()))
    assert x.shape == (8, 3, 24, 24) and y.dtype == video.dtype == torch.long
