"""Offline face detection and the square face crop of the FF++ protocol.

Two detectors, both offline:

- ``mtcnn`` (default): facenet-pytorch's MTCNN, weights inside the wheel. It runs
  batched over a video's chosen frames on a down-scaled copy (longest side
  ``max_side``), and the boxes are mapped back to original-frame pixels.
- ``dlib``: dlib's HOG detector with one upsampling, as in the FF++ reference code
  (``faceforensics/classification/detect_from_video.py``); needs ``pip install dlib-bin``.

The crop follows ``get_boundingbox`` of that reference code: a square of side
``max(w, h) * scale`` around the box centre. Where the reference clips the square
to the frame (so it may stop being square), we shift it inside the frame and
shrink it only when it is larger than the frame, so crops stay square and
contain the detected box.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from PIL import Image

from dfrobust.errors import DfrobustError

Box = tuple[int, int, int, int]  # x1, y1, x2, y2 in pixels, x2/y2 exclusive
CONFIDENT = 0.99  # score above which a face is surely one (false positives seen at 0.85 and 0.96)


@dataclass(frozen=True)
class Face:
    """A detected face: ``box`` (x1, y1, x2, y2) in original-frame pixels, detector ``score``."""

    box: tuple[float, float, float, float]
    score: float


class FaceDetector(Protocol):
    """Finds the main face in each frame of a batch of equally sized RGB frames."""

    def detect(self, frames: Sequence[np.ndarray]) -> list[Face | None]:
        """``frames``: (H, W, 3) uint8 arrays of one size; returns a face or None per frame."""
        ...


class MtcnnDetector:
    """facenet-pytorch MTCNN, batched, on frames down-scaled to ``max_side`` pixels.

    ``min_face_size`` is in pixels of the down-scaled frame (40 there is 80 in a
    1280-wide frame; FF++ faces are larger). The largest confident face wins.
    """

    def __init__(self, *, max_side: int = 640, min_face_size: int = 40, device: str = "cpu"):
        from facenet_pytorch import MTCNN

        self.max_side = max_side
        self._mtcnn = MTCNN(keep_all=True, min_face_size=min_face_size, device=device)

    def detect(self, frames: Sequence[np.ndarray]) -> list[Face | None]:
        """One face (the largest confident one) or None per frame, boxes in original-frame pixels."""
        if not frames:
            return []
        small, factor = _downscale(frames, self.max_side)
        boxes, scores = self._mtcnn.detect(np.stack(small))
        return [
            None if b is None else main_face([tuple(float(v) / factor for v in box) for box in b], s)
            for b, s in zip(boxes, scores)
        ]


class DlibDetector:
    """dlib's HOG frontal face detector with one upsampling (the FF++ reference choice)."""

    def __init__(self, *, max_side: int = 640, upsample: int = 1):
        try:
            import dlib
        except ImportError:
            raise DfrobustError(
                "The dlib detector needs the dlib package: pip install dlib-bin (or use --detector mtcnn)"
            ) from None
        self.max_side = max_side
        self.upsample = upsample
        self._detector = dlib.get_frontal_face_detector()

    def detect(self, frames: Sequence[np.ndarray]) -> list[Face | None]:
        """One face (the largest confident one) or None per frame, boxes in original-frame pixels."""
        small, factor = _downscale(frames, self.max_side)
        faces: list[Face | None] = []
        for rgb in small:
            rects, scores, _ = self._detector.run(rgb, self.upsample)
            if not rects:
                faces.append(None)
                continue
            boxes = [
                (r.left() / factor, r.top() / factor, (r.right() + 1) / factor, (r.bottom() + 1) / factor)
                for r in rects
            ]
            faces.append(main_face(boxes, scores))
        return faces


DETECTORS = {"mtcnn": MtcnnDetector, "dlib": DlibDetector}


def create_detector(name: str, **kwargs) -> FaceDetector:
    """Build a detector by name (``mtcnn`` or ``dlib``)."""
    if name not in DETECTORS:
        raise DfrobustError(f"Unknown face detector {name!r}; expected one of {sorted(DETECTORS)}")
    return DETECTORS[name](**kwargs)


def square_box(face_box: Sequence[float], width: int, height: int, scale: float = 1.3) -> Box:
    """The square crop region around a face box, inside a ``width`` x ``height`` frame.

    Side ``max(w, h) * scale`` (at least the box, at most the frame's shorter
    side), centred on the box, shifted inside the frame where it sticks out.
    """
    bx1, by1 = max(0, math.floor(face_box[0])), max(0, math.floor(face_box[1]))
    bx2, by2 = min(width, math.ceil(face_box[2])), min(height, math.ceil(face_box[3]))
    extent = max(bx2 - bx1, by2 - by1)
    side = min(max(round(extent * scale), extent), width, height)
    x1 = _place(round((bx1 + bx2 - side) / 2), bx1, bx2, side, width)
    y1 = _place(round((by1 + by2 - side) / 2), by1, by2, side, height)
    return x1, y1, x1 + side, y1 + side


def center_box(width: int, height: int) -> Box:
    """The largest centred square of a ``width`` x ``height`` frame."""
    side = min(width, height)
    x1, y1 = (width - side) // 2, (height - side) // 2
    return x1, y1, x1 + side, y1 + side


def crop_resize(rgb: np.ndarray, box: Box | None = None, size: int | None = None) -> Image.Image:
    """Crop ``rgb`` (H, W, 3) uint8 to ``box`` and resize.

    With a box, the (square) crop is resized to ``size`` x ``size``; without one,
    the whole frame is resized so its shorter side is ``size`` (aspect kept).
    ``size=None`` keeps the pixels as they are.
    """
    image = Image.fromarray(rgb)
    if box is not None:
        image = image.crop(box)
    if size is None:
        return image
    w, h = image.size
    target = (
        (size, size) if box is not None else ((size, round(h * size / w)) if w <= h else (round(w * size / h), size))
    )
    return image if target == (w, h) else image.resize(target, Image.Resampling.BILINEAR)


def _place(start: int, lo: int, hi: int, side: int, limit: int) -> int:
    """Move a square's start so it covers [lo, hi) when it can and stays in [0, limit)."""
    start = min(max(start, hi - side), lo)
    return min(max(start, 0), limit - side)


def main_face(boxes: Sequence[tuple[float, ...]], scores: Sequence[float]) -> Face:
    """The largest of the confident faces (score >= CONFIDENT), else the most confident one.

    Plain "largest" picks a large false positive over the real face now and then
    (on FF++ NeuralTextures/004_982 at score 0.85, on original/004 at 0.96 in full resolution).
    """
    best = max(scores)
    candidates = [i for i, s in enumerate(scores) if s >= min(CONFIDENT, best)]
    i = max(candidates, key=lambda k: (boxes[k][2] - boxes[k][0]) * (boxes[k][3] - boxes[k][1]))
    return Face(tuple(boxes[i]), float(scores[i]))


def _downscale(frames: Sequence[np.ndarray], max_side: int) -> tuple[list[np.ndarray], float]:
    """Shrink equally sized frames so the longest side is at most ``max_side``."""
    h, w = frames[0].shape[:2]
    factor = min(1.0, max_side / max(h, w))
    if factor == 1.0:
        return list(frames), 1.0
    size = (round(w * factor), round(h * factor))
    small = [np.asarray(Image.fromarray(f).resize(size, Image.Resampling.BILINEAR)) for f in frames]
    return small, size[0] / w
