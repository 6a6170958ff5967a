"""Image round trips an evaluation applies after the attack: does a perturbation survive?"""

from __future__ import annotations

import io
import re

import numpy as np
import torch
from PIL import Image

from dfrobust.errors import DfrobustError


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


def parse_codec(codec: str | None) -> int | None:
    """x264's CRF of a codec condition written ``h264:crf23`` (0-51); None stays None."""
    if codec is None:
        return None
    match = re.fullmatch(r"h264:crf(\d+)", str(codec).strip().lower())
    if match is None or int(match[1]) > 51:
        raise DfrobustError(f"Expected codec as h264:crfN with N in [0, 51] (e.g. h264:crf23), got {codec!r}")
    return int(match[1])


def h264_roundtrip(x: torch.Tensor, crf: int, preset: str = "medium") -> torch.Tensor:
    """Encode each image of (N, 3, H, W) in [0, 1] as a one-frame H.264 video (x264 at ``crf``,
    4:2:0) in memory and decode it again.

    Each image is its own video (an intra frame, the codec's kindest case for a perturbation),
    so its result does not depend on its batch; x264 runs on one thread, so the bytes are the
    same every run. Odd sides are padded by repeating the edge (4:2:0) and cropped back.
    """
    import av  # deferred: only this condition needs FFmpeg

    h, w = x.shape[-2:]
    pixels = (x.detach().clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()
    out = []
    for rgb in pixels:
        rgb = np.ascontiguousarray(np.pad(rgb, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge"))
        buf = io.BytesIO()
        with av.open(buf, "w", format="mp4") as container:
            options = {"crf": str(crf), "preset": preset, "threads": "1"}
            stream = container.add_stream("libx264", rate=25, options=options)
            stream.width, stream.height, stream.pix_fmt = rgb.shape[1], rgb.shape[0], "yuv420p"
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
            container.mux(stream.encode())
        buf.seek(0)
        with av.open(buf, "r", format="mp4") as container:
            decoded = next(container.decode(video=0)).to_ndarray(format="rgb24")
        out.append(torch.from_numpy(decoded[:h, :w].copy()).permute(2, 0, 1))
    return torch.stack(out).to(x.device, torch.float32).div(255)
