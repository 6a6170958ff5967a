"""Image round trips an evaluation applies after the attack: does a perturbation survive?"""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image


def to_image(x: torch.Tensor) -> Image.Image:
    """(3, H, W) float in [0, 1] -> RGB PIL image, rounded to uint8."""
    return Image.fromarray((x.detach().clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy())


def jpeg_roundtrip(x: torch.Tensor, quality: int) -> torch.Tensor:
    """Encode each image of (N, 3, H, W) in [0, 1] as JPEG in memory and decode it again."""
    out = []
    for image in x:
        buf = io.BytesIO()
        to_image(image).save(buf, format="JPEG", quality=quality)
        buf.seek(0)
        with Image.open(buf) as decoded:
            out.append(torch.from_numpy(np.asarray(decoded.convert("RGB")).copy()).permute(2, 0, 1))
    return torch.stack(out).to(x.device, torch.float32).div(255)
