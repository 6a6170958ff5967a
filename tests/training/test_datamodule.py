"""FFDataModule: class balance, the fixed CO-monitor subset, the loaders' batches."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dfrobust.training.datamodule import FFDataModule


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
    x, y, video = next(iter(dm.test_dataloader()))
    assert x.shape == (8, 3, 24, 24) and y.dtype == video.dtype == torch.long


def _monitor_paths(dm: FFDataModule) -> list[Path]:
    monitor = dm.val_dataloader()[1]
    return [monitor.dataset.dataset.paths[i] for i in monitor.dataset.indices]


def test_the_monitor_attacks_the_same_frames_every_epoch(tiny_manifest: Path) -> None:
    options = {"batch_size": 8, "workers": 0, "monitor_frames": 10}
    dm = FFDataModule(tiny_manifest, (24, 24), seed=3, **options)
    paths = _monitor_paths(dm)
    assert len(set(paths)) == 10 and set(paths) <= set(dm.val_dataloader()[0].dataset.paths)  # distinct val frames
    torch.manual_seed(123)  # the global RNG must not pick the subset
    assert _monitor_paths(dm) == paths  # the next epoch's loader
    assert _monitor_paths(FFDataModule(tiny_manifest, (24, 24), seed=3, **options)) == paths  # a resumed run
    assert _monitor_paths(FFDataModule(tiny_manifest, (24, 24), seed=4, **options)) != paths

    first = [(x, y) for x, y, _ in dm.val_dataloader()[1]]
    again = [(x, y) for x, y, _ in dm.val_dataloader()[1]]
    assert len(first) == len(again) == 2
    for (x1, y1), (x2, y2) in zip(first, again):
        assert torch.equal(x1, x2) and torch.equal(y1, y2)  # the same pixels, not only the same labels


def test_only_the_training_split_is_augmented(tiny_manifest: Path) -> None:
    dm = FFDataModule(tiny_manifest, (32, 32), batch_size=48, workers=0, balance="none", monitor_frames=0)
    assert len(dm.val_dataloader()) == 1  # no monitor loader without monitor frames
    val = dm.val_dataloader()[0].dataset
    assert torch.equal(val[0][0], val[0][0])
    train = dm.train_dataloader().dataset
    torch.manual_seed(0)
    assert any(not torch.equal(train[0][0], train[0][0]) for _ in range(8))
    plain = FFDataModule(tiny_manifest, (32, 32), workers=0, augment=False).train_dataloader().dataset
    assert torch.equal(plain[0][0], plain[0][0])


def test_methods_limit_train_and_val_fakes_but_not_test(tiny_manifest: Path) -> None:
    dm = FFDataModule(tiny_manifest, (16, 16), workers=0, monitor_frames=0, methods=("Face2Face",))
    assert set(dm.train_dataloader().dataset.methods) == {"original", "Face2Face"}
    assert set(dm.val_dataloader()[0].dataset.methods) == {"original", "Face2Face"}
    assert set(dm.test_dataloader().dataset.methods) == {"original", "Deepfakes", "Face2Face"}
