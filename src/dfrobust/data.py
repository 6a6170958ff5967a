"""Frames from a ``frames.csv`` manifest as tensors: the dataset, transforms and DataModule.

``FFDataset`` reads one split of the manifest written by ``dfrobust extract``; a frame
comes out as ``(3, H, W)`` float in [0, 1] with label 0 real / 1 fake (and, on request,
the integer index of its video, for video-level metrics). ``FFDataModule`` wraps the
three splits for Lightning: resizing to the model's input size, light augmentation
on the training split only, and one of three answers to FF++'s 4:1 fake:real
imbalance (``balance``: a class-balanced sampler, a ``pos_weight`` for the loss, or
nothing).
"""

from __future__ import annotations

import csv
import io
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import lightning as L
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import DataLoader, Dataset, Subset, WeightedRandomSampler
from torchvision import transforms as T

from dfrobust.errors import DfrobustError
from dfrobust.hardware import default_workers
from dfrobust.metrics import VideoIndex, video_key

log = logging.getLogger(__name__)

MANIFEST_COLUMNS = ("path", "video", "frame_index", "label", "method", "compression", "split", "face_box")
SPLITS = ("train", "val", "test")
Transform = Callable[[Image.Image], torch.Tensor]


def read_manifest(manifest: str | os.PathLike) -> list[dict[str, str]]:
    """Read and check ``frames.csv``: every column present, every label 0 or 1.

    Returns:
        The rows as dicts of strings, in file order.
    """
    manifest = Path(manifest)
    try:
        with open(manifest, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = [c for c in MANIFEST_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise DfrobustError(
                    f"manifest {manifest} lacks column(s) {missing}; expected {list(MANIFEST_COLUMNS)} "
                    "as written by `dfrobust extract`"
                )
            rows = list(reader)
    except OSError as e:
        raise DfrobustError(f"cannot read manifest {manifest}: {e.strerror or e}; run `dfrobust extract` first") from e
    for line, row in enumerate(rows, start=2):
        if row["label"] not in ("0", "1"):
            raise DfrobustError(
                f"manifest {manifest}, line {line}: Expected label 0 (real) or 1 (fake), but got {row['label']!r}"
            )
    return rows


class FFDataset(Dataset):
    """The frames of one split of a manifest.

    Args:
        manifest: path to ``frames.csv``; frame paths are relative to its folder.
        split: ``train``, ``val`` or ``test``.
        transform: PIL image -> (3, H, W) float tensor in [0, 1]; default: ``to_tensor``.
        return_video: also return the frame's video index (see ``video_index``).

    Items are ``(frame, label)`` or ``(frame, label, video)`` with label an int64
    0-d tensor (0 real, 1 fake) and video an int64 index into ``video_index.keys``
    (``method/compression/video``: the fake ``000_003`` exists once per method).
    """

    def __init__(
        self,
        manifest: str | os.PathLike,
        split: str,
        transform: Transform | None = None,
        return_video: bool = False,
    ) -> None:
        self.root = Path(manifest).parent
        rows = [row for row in read_manifest(manifest) if row["split"] == split]
        if not rows:
            raise DfrobustError(
                f"manifest {manifest} has no frames in split {split!r}; extract with the official "
                f"splits so that frames fall in {', '.join(SPLITS)}"
            )
        missing = [row["path"] for row in rows if not (self.root / row["path"]).is_file()]
        if missing:
            raise DfrobustError(
                f"manifest {manifest}: {len(missing)} frame file(s) of split {split!r} are missing, "
                f"e.g. {self.root / missing[0]}; re-run `dfrobust extract` to write them"
            )
        self.paths = [self.root / row["path"] for row in rows]
        self.labels = torch.tensor([int(row["label"]) for row in rows], dtype=torch.long)
        self.video_index = VideoIndex.from_rows(rows)
        self.videos = self.video_index.encode(video_key(row) for row in rows)
        self.transform = transform or T.functional.to_tensor
        self.return_video = return_video

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, ...]:
        frame = self.transform(load_frame(self.paths[i]))
        if self.return_video:
            return frame, self.labels[i], self.videos[i]
        return frame, self.labels[i]


def load_frame(path: Path) -> Image.Image:
    """Decode an image file fully as RGB; a corrupt or truncated file is a DfrobustError."""
    try:
        with Image.open(path) as image:
            return image.convert("RGB")  # convert() forces the full decode inside the try
    except (OSError, UnidentifiedImageError, SyntaxError) as e:
        raise DfrobustError(f"cannot decode frame {path}: {e}; delete it and re-run `dfrobust extract`") from e


class RandomJPEG:
    """Re-encode a PIL image as JPEG at a random quality, with probability ``p``.

    FF++ frames come at several compression levels; this keeps the detector from
    keying on one level's artefacts. Uses torch's RNG (seeded per DataLoader worker).
    """

    def __init__(self, quality: tuple[int, int] = (60, 100), p: float = 0.5) -> None:
        self.quality, self.p = quality, p

    def __call__(self, image: Image.Image) -> Image.Image:
        if torch.rand(()) >= self.p:
            return image
        buf = io.BytesIO()
        image.save(buf, format="JPEG", quality=int(torch.randint(self.quality[0], self.quality[1] + 1, ())))
        buf.seek(0)
        return Image.open(buf).convert("RGB")


def build_transform(size: Sequence[int], interpolation: str = "bilinear", train: bool = False) -> Transform:
    """Resize to ``size`` = (H, W); on ``train`` add flip, small colour jitter, JPEG jitter.

    Args:
        size: the model's input size (H, W), from ``model.data_config["input_size"][1:]``.
        interpolation: ``nearest``, ``bilinear`` or ``bicubic`` (the model's data_config).
    """
    resize = T.Resize(tuple(size), interpolation=T.InterpolationMode(interpolation))
    if not train:
        return T.Compose([resize, T.ToTensor()])
    return T.Compose([
        RandomJPEG(),
        resize,
        T.RandomHorizontalFlip(),
        T.ColorJitter(brightness=0.1, contrast=0.1, saturation=0.1),
        T.ToTensor(),
    ])


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
    ) -> None:
        super().__init__()
        self.manifest, self.size, self.interpolation = Path(manifest), tuple(size), interpolation
        self.batch_size, self.balance, self.augment = batch_size, balance, augment
        self.workers = default_workers() if workers is None else workers
        self.monitor_frames, self.seed = monitor_frames, seed
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
            self.splits[split] = FFDataset(self.manifest, split, transform, return_video=True)
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
