"""``FFDataset``: one split of a ``frames.csv`` manifest as ``(frame, label)`` tensors.

A frame comes out as ``(3, H, W)`` float in [0, 1] with label 0 real / 1 fake (and, on
request, the integer index of its video, for video-level metrics).
"""

from __future__ import annotations

import os
from collections.abc import Collection
from pathlib import Path

import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset
from torchvision import transforms as T

from dfrobust.data.manifest import SPLITS, VideoIndex, read_manifest, video_key
from dfrobust.data.transforms import Transform
from dfrobust.errors import DfrobustError


class FFDataset(Dataset):
    """The frames of one split of a manifest.

    Args:
        manifest: path to ``frames.csv``; frame paths are relative to its folder.
        split: ``train``, ``val`` or ``test``.
        transform: PIL image -> (3, H, W) float tensor in [0, 1]; default: ``to_tensor``.
        return_video: also return the frame's video index (see ``video_index``).
        fake_methods: keep only the fakes of these manipulation methods (every real frame
            stays); None keeps every frame.

    Items are ``(frame, label)`` or ``(frame, label, video)`` with label an int64
    0-d tensor (0 real, 1 fake) and video an int64 index into ``video_index.keys``
    (``method/compression/video``, ``dataset/`` in front for Celeb-DF and DFDC: see
    :func:`~dfrobust.data.manifest.video_key`). ``methods`` and ``datasets`` hold each
    frame's method and data set, for grouping results without parsing keys.
    """

    def __init__(
        self,
        manifest: str | os.PathLike,
        split: str,
        transform: Transform | None = None,
        return_video: bool = False,
        fake_methods: Collection[str] | None = None,
    ) -> None:
        self.root = Path(manifest).parent
        rows = [row for row in read_manifest(manifest) if row["split"] == split]
        if not rows:
            raise DfrobustError(
                f"manifest {manifest} has no frames in split {split!r}; extract with the official "
                f"splits so that frames fall in {', '.join(SPLITS)}"
            )
        if fake_methods is not None:
            rows = _with_fakes_of(rows, fake_methods, f"manifest {manifest}, split {split!r}")
        missing = [row["path"] for row in rows if not (self.root / row["path"]).is_file()]
        if missing:
            raise DfrobustError(
                f"manifest {manifest}: {len(missing)} frame file(s) of split {split!r} are missing, "
                f"e.g. {self.root / missing[0]}; re-run `dfrobust extract` to write them"
            )
        self.paths = [self.root / row["path"] for row in rows]
        self.labels = torch.tensor([int(row["label"]) for row in rows], dtype=torch.long)
        self.methods = [row["method"] for row in rows]
        self.datasets = [row["dataset"] for row in rows]
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


def _with_fakes_of(rows: list[dict[str, str]], methods: Collection[str], where: str) -> list[dict[str, str]]:
    """The real rows and the fakes of ``methods``; a method without fakes here is an error."""
    present = sorted({row["method"] for row in rows if row["label"] == "1"})
    absent = [m for m in methods if m not in present]
    if absent:
        raise DfrobustError(f"{where} has no fake frames of {', '.join(absent)}; its methods: {', '.join(present)}")
    return [row for row in rows if row["label"] == "0" or row["method"] in methods]


def load_frame(path: Path) -> Image.Image:
    """Decode an image file fully as RGB; a corrupt or truncated file is a DfrobustError."""
    try:
        with Image.open(path) as image:
            return image.convert("RGB")  # convert() forces the full decode inside the try
    except (OSError, UnidentifiedImageError, SyntaxError) as e:
        raise DfrobustError(f"cannot decode frame {path}: {e}; delete it and re-run `dfrobust extract`") from e
