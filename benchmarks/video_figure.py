"""The README figure: a face from the original video, the same face in the adversarial video
(decoded after H.264), and their difference amplified.

Run (seconds), after ``dfrobust attack-video CLIP --out ADV.mp4`` or benchmarks/video_evasion.py:
    .venv/bin/python benchmarks/video_figure.py CLIP ADV.mp4 docs/adversarial_video.png --frame 0
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw

from dfrobust.data.faces import create_detector, square_box

PANEL = 240  # pixels per panel side: three panels stay under 300 KB as PNG


def frame(path: Path, index: int) -> np.ndarray:
    with av.open(str(path)) as container:
        return next(itertools.islice(container.decode(video=0), index, None)).to_ndarray(format="rgb24")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("original", type=Path)
    parser.add_argument("adversarial", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--frame", type=int, default=0)
    parser.add_argument("--gain", type=float, default=10.0, help="amplification of the difference")
    args = parser.parse_args()
    original, adversarial = frame(args.original, args.frame), frame(args.adversarial, args.frame)
    h, w = original.shape[:2]
    face = create_detector("mtcnn").detect([original])[0]
    box = square_box(face.box, w, h, scale=1.3)
    difference = (adversarial.astype(np.float32) - original) * args.gain + 128
    panels = [Image.fromarray(a).crop(box) for a in (original, adversarial)]
    panels.append(Image.fromarray(np.clip(difference, 0, 255).astype(np.uint8)).crop(box))
    labels = ["original", "adversarial (after H.264)", f"difference x{args.gain:g}"]
    canvas = Image.new("RGB", (3 * PANEL, PANEL + 22), "white")
    draw = ImageDraw.Draw(canvas)
    for k, (panel, label) in enumerate(zip(panels, labels)):
        canvas.paste(panel.resize((PANEL, PANEL), Image.Resampling.LANCZOS), (k * PANEL, 22))
        draw.text((k * PANEL + 6, 5), label, fill="black")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(args.out, optimize=True)
    print(f"{args.out}: {args.out.stat().st_size / 1024:.0f} KB")


if __name__ == "__main__":
    main()
