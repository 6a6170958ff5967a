"""``FFDataModule``: the three splits of a manifest for Lightning.

Resizing to the model's input size, light augmentation on the training split only, and one
of three answers to FF++'s 4:1 fake:real imbalance (``balance``: a class-balanced sampler,
a ``pos_weight`` for the loss, or nothing).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, Subset, WeightedRandomSampler

from dfrobust.data.dataset import FFDataset
from dfrobust.data.manifest import SPLITS
from dfrobust.data.transforms import build_transform
from dfrobust.hardware import default_workers


class FFDataModule(L.LightningDataModule):
    """Train/val/test loaders over a manifest, plus the fixed catastrophic-overfitting subset.

    Args:
        manifest: ``frames.csv``.
        size: input (H, W) of the model; frames are resized to it.
        interpolation: resize filter (the model's ``data_config["interpolation"]``).
        batch_size: frames per batch (per process under DDP).
        workers: loader processes; None = one per available core.
        balance: ``sampler`` (class-balanced WeightedRandomSampler), ``weight`` (use
            :attr:`pos_weight` in the loss) or ``none``.
        augment: augment the training split (flip, colour and JPEG jitter).
        monitor_frames: size of the validation subset the CO monitor attacks (0: none).
        seed: fixes the monitor subset and the sampler's draws.
        methods: the manipulation methods whose fakes train and validate (all reals are
            kept; the test split stays whole); None: every method.

    Validation yields two loaders, ``[val, monitor]`` (the second only if
    ``monitor_frames`` > 0). Every item is ``(frame, label, video_index)``.
    """

    def __init__(
        self,
        manifest: str | os.PathLike,
        size: Sequence[int],
        interpolation: str = "bilinear",
        batch_size: int = 64,
        workers: int | None = None,
        balance: str = "sampler",
        augment: bool = True,
        monitor_frames: int = 256,
        seed: int = 0,
        methods: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        self.manifest, self.size, self.interpolation = Path(manifest), tuple(size), interpolation
        self.batch_size, self.balance, self.augment = batch_size, balance, augment
        self.workers = default_workers() if workers is None else workers
        self.monitor_frames, self.seed, self.methods = monitor_frames, seed, methods
        self.splits: dict[str, FFDataset] = {}

    def setup(self, stage: str | None = None) -> None:
        """Open the splits a stage needs (fit: train + val; test: test)."""
        wanted = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",)}.get(stage or "", SPLITS)
        for split in wanted:
            self._split(split)

    @property
    def pos_weight(self) -> torch.Tensor | None:
        """n_real / n_fake of the training split when ``balance == "weight"``, else None."""
        if self.balance != "weight":
            return None
        labels = self._split("train").labels
        n_fake = int(labels.sum())
        return torch.tensor((len(labels) - n_fake) / max(n_fake, 1))

    def train_dataloader(self) -> DataLoader:
        """Shuffled (or class-balanced, with replacement) training batches."""
        train = self._split("train")
        sampler = None
        if self.balance == "sampler":
            counts = torch.bincount(train.labels, minlength=2).clamp(min=1)
            weights = (1.0 / counts.double())[train.labels]
            generator = torch.Generator().manual_seed(self.seed)
            sampler = WeightedRandomSampler(weights, len(train), replacement=True, generator=generator)
        return self._loader(train, shuffle=sampler is None, sampler=sampler, drop_last=len(train) > self.batch_size)

    def val_dataloader(self) -> list[DataLoader]:
        """``[val, monitor]``: the whole val split and its fixed seeded subset for the CO monitor."""
        val = self._split("val")
        loaders = [self._loader(val)]
        if self.monitor_frames > 0:
            order = torch.randperm(len(val), generator=torch.Generator().manual_seed(self.seed))
            loaders.append(self._loader(Subset(val, order[: self.monitor_frames].tolist())))
        return loaders

    def test_dataloader(self) -> DataLoader:
        """The test split, in manifest order."""
        return self._loader(self._split("test"))

    def _split(self, split: str) -> FFDataset:
        if split not in self.splits:
            transform = build_transform(self.size, self.interpolation, train=self.augment and split == "train")
            methods = None if split == "test" else self.methods
            self.splits[split] = FFDataset(self.manifest, split, transform, return_video=True, fake_methods=methods)
        return self.splits[split]

    def _loader(self, dataset: Dataset, shuffle: bool = False, **kwargs) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.workers,
            pin_memory=torch.cuda.is_available(),
            persistent_workers=self.workers > 0,
            **kwargs,
        )
