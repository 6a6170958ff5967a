"""Image transforms: PIL frame -> (3, H, W) float tensor in [0, 1] at the model's input size.

The model's input metadata (``data_config``: ``input_size``, ``interpolation``) decides the
eval transform (:func:`model_transform`); training adds light augmentation.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from typing import Any

import torch
from PIL import Image
from torchvision import transforms as T

Transform = Callable[[Image.Image], torch.Tensor]


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
    return T.Compose(
        [
            RandomJPEG(),
            resize,
            T.RandomHorizontalFlip(),
            T.ColorJitter(brightness=0.1, contrast=0.1, saturation=0.1),
            T.ToTensor(),
        ]
    )


def model_transform(model: Any, image_size: int | None = None) -> Transform:
    """The eval transform of ``model``: resize to ``image_size`` (a run's override) or its input size.

    Args:
        model: anything with a timm-style ``data_config`` dict (``dfrobust.models.Detector``).
    """
    data_config = model.data_config
    size = (image_size, image_size) if image_size else tuple(data_config["input_size"][1:])
    return build_transform(size, data_config.get("interpolation", "bilinear"))
