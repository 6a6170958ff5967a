"""P(fake) for image and video files, with a trained run or published weights.

An image is scored whole (or its face crop); a video is sampled as ``dfrobust extract``
samples it (:func:`dfrobust.data.frames.sample_frame_indices`), each frame optionally cropped to
the face as extraction crops it, and the video's score is the mean of its frames' P(fake)
(DESIGN.md). A file that cannot be read gets an error and the others go on::

    model, transform = load_detector(model="meso4.df")  # weights shipped with dfrobust
    for p in predict_files(model, transform, ["a.jpg", "b.mp4"], frames=10):
        print(p.path, p.prob_fake, p.error)
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from dfrobust.data.dataset import load_frame
from dfrobust.data.transforms import Transform, model_transform
from dfrobust.errors import DfrobustError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm")


@dataclass
class Prediction:
    """The score of one file.

    Attributes:
        kind: ``image`` or ``video``.
        prob_fake: P(fake) in [0, 1] (a video: the mean over its frames), None on error.
        frames: ``(frame index, P(fake))`` per scored frame (an image: index 0).
        faces_found: frames where a face was found (``faces=True`` only; others are
            centre-cropped, as ``dfrobust extract --no-face center``).
        error: why the file could not be scored, else None.
    """

    path: str
    kind: str
    prob_fake: float | None = None
    frames: list[tuple[int, float]] = field(default_factory=list)
    faces_found: int | None = None
    error: str | None = None

    @property
    def verdict(self) -> str:
        """``fake`` (P(fake) >= 0.5), ``real``, or ``error``."""
        return "error" if self.prob_fake is None else "fake" if self.prob_fake >= 0.5 else "real"

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON values."""
        return {
            "path": self.path,
            "kind": self.kind,
            "prob_fake": self.prob_fake,
            "verdict": self.verdict,
            "frames": [{"index": i, "prob_fake": p} for i, p in self.frames],
            "faces_found": self.faces_found,
            "error": self.error,
        }


def load_detector(
    *,
    run: str | os.PathLike | None = None,
    checkpoint: str = "best",
    model: str | None = None,
    weights: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
) -> tuple[nn.Module, Transform]:
    """A detector in eval mode and its frame transform: from a run folder, or a model name + weights.

    ``model`` with a pretrained tag (``meso4.df``, see ``list_models(pretrained=True)``) and
    no ``weights`` loads the weights shipped with dfrobust.

    Raises:
        DfrobustError: both or neither source given, or weights/checkpoint that cannot be loaded.
    """
    if (run is None) == (model is None):
        raise DfrobustError(
            "Expected either a run (--run runs/NAME) or a model with weights "
            "(--model meso4.df, or --model meso4 --weights Meso4_DF.h5), but got " + ("both" if run else "neither")
        )
    image_size = None
    if run is not None:
        from dfrobust.runs import load_run_model

        detector, config = load_run_model(run, checkpoint, map_location=device)
        image_size = config.data.image_size
    else:
        from dfrobust.models import create_model, list_models

        tagged = model in list_models(pretrained=True)
        if weights is None and not tagged:
            raise DfrobustError(
                f"--model {model} needs --weights PATH, or a name with a pretrained tag "
                f"({', '.join(list_models(pretrained=True))}): a model with random weights scores nothing"
            )
        detector = create_model(model, weights=weights, pretrained=tagged)
    return detector.to(device).eval(), model_transform(detector, image_size)


def expand_paths(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Files as given; a folder becomes its image and video files (recursively, sorted)."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES + VIDEO_SUFFIXES)
        else:
            found.append(path)
    return found


def predict_files(
    model: nn.Module,
    transform: Transform,
    paths: Sequence[str | os.PathLike],
    *,
    frames: int = 10,
    faces: bool = False,
    sampling: str = "random",
    seed: int = 0,
    on_progress: Callable[[int], None] | None = None,
) -> list[Prediction]:
    """Score each file; errors are recorded per file, never raised.

    Args:
        model: (N, 3, H, W) in [0, 1] -> (N,) fake logits, in eval mode.
        transform: PIL image -> (3, H, W) in [0, 1] at the model's input size.
        frames: frames sampled per video.
        faces: crop each frame to its face (MTCNN, the extraction's square x1.3 crop).
        sampling, seed: the extraction's frame sampling (see :func:`sampling_seed`).
        on_progress: called with 1 after each file.
    """
    detector = _face_detector() if faces else None
    results = []
    for path in map(Path, paths):
        results.append(_predict_file(model, transform, path, frames, detector, sampling, seed))
        if on_progress:
            on_progress(1)
    return results


def _predict_file(
    model: nn.Module, transform: Transform, path: Path, frames: int, detector: Any, sampling: str, seed: int
) -> Prediction:
    import av

    suffix = path.suffix.lower()
    kind = "video" if suffix in VIDEO_SUFFIXES else "image"
    try:
        if not path.is_file():
            raise DfrobustError(f"{path} does not exist")
        if suffix not in IMAGE_SUFFIXES + VIDEO_SUFFIXES:
            raise DfrobustError(
                f"{path}: unknown file type; expected an image ({', '.join(IMAGE_SUFFIXES)}) "
                f"or a video ({', '.join(VIDEO_SUFFIXES)})"
            )
        indexed = (
            _video_frames(path, frames, sampling, seed) if kind == "video" else [(0, np.asarray(load_frame(path)))]
        )
        images, found = _crop_faces([rgb for _, rgb in indexed], detector)
        x = torch.stack([transform(image) for image in images])
        device = next(model.parameters()).device
        with torch.inference_mode():
            probs = torch.sigmoid(model(x.to(device)).float()).cpu().tolist()
    except (DfrobustError, av.error.FFmpegError, OSError, ValueError) as e:
        log.warning("cannot score %s: %s", path, e)
        return Prediction(str(path), kind, error=str(e))
    return Prediction(str(path), kind, float(np.mean(probs)), [(i, p) for (i, _), p in zip(indexed, probs)], found)


def _video_frames(path: Path, k: int, sampling: str, seed: int) -> list[tuple[int, np.ndarray]]:
    """``k`` frames sampled as extraction samples them, as (index, (H, W, 3) uint8)."""
    from dfrobust.data.frames import sample_frame_indices
    from dfrobust.data.video import probe_video, read_frames

    info = probe_video(path)
    if info.num_frames == 0:
        raise DfrobustError(f"{path}: the video has no frames")
    indices = sample_frame_indices(info.num_frames, k, sampling=sampling, seed=sampling_seed(path, seed))
    return list(read_frames(path, indices, info=info))


def sampling_seed(path: Path, seed: int) -> int:
    """The extraction's per-video seed for a video in an FF++ layout (so the same frames as
    ``dfrobust extract``), else a stable hash of (seed, file name)."""
    from dfrobust.data.ffpp import ACTORS, ORIGINAL, stable_seed

    parts = path.resolve().parts  # .../<group>/<method>/<compression>/videos/<video>.mp4
    if len(parts) >= 5 and parts[-2] == "videos" and parts[-5] in ("original_sequences", "manipulated_sequences"):
        method = parts[-4]
        if parts[-5] == "original_sequences":
            method = ORIGINAL if method == "youtube" else ACTORS
        return stable_seed(seed, method, path.stem)
    return stable_seed(seed, path.name)


def _crop_faces(frames: list[np.ndarray], detector: Any) -> tuple[list[Image.Image], int | None]:
    """Face crops as extraction makes them (centre crop where no face); without a detector, whole frames."""
    if detector is None:
        return [Image.fromarray(rgb) for rgb in frames], None
    from dfrobust.data.faces import center_box, crop_resize, square_box
    from dfrobust.data.frames import DEFAULT_FACE_SIZE

    crops, found = [], 0
    for rgb, face in zip(frames, detector.detect(frames)):
        h, w = rgb.shape[:2]
        found += face is not None
        box = square_box(face.box, w, h) if face is not None else center_box(w, h)
        crops.append(crop_resize(rgb, box, DEFAULT_FACE_SIZE))
    return crops, found


def _face_detector() -> Any:
    from dfrobust.data.faces import create_detector

    return create_detector("mtcnn")
