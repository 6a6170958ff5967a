"""Adversarial videos: attack the face in every frame, put the perturbation back, encode H.264.

What an attacker who publishes a fake video would do (Hussain et al., WACV 2021,
"Adversarial Deepfakes"): every frame is decoded, its face found (MTCNN, the square x1.3
box of ``dfrobust extract --faces``; the centred square where no face is found), the crop
resized to the detector's input size and attacked with the label "fake" (the attacker wants
"real"). The perturbation is resized back to the box and added to the frame there; pixels
outside the box are untouched. The frames are encoded with H.264 at ``crf`` (23, as FF++
c23), at the input's frame rate, the audio copied as it is. The input is never modified and
the output is written under a temporary name, renamed only once complete and measured::

    model, _ = load_detector(model="meso4.df")
    summary = attack_video(model, "fake.mp4", "adv.mp4", attack="pgd", eps=4 / 255, options={"eot": 8})
    summary.prob_fake_clean, summary.prob_fake_adversarial, summary.prob_fake_written

The summary scores the face crops (the same boxes) three times: the original frames, the
adversarial frames before encoding, and the frames decoded from the written file (what a
viewer, or a platform's detector, gets). A video's P(fake) is the mean over its frames
(DESIGN.md). PSNR and SSIM compare the adversarial and the written frames with the original.
"""

from __future__ import annotations

import inspect
import itertools
import logging
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from dfrobust.atomicio import atomic_open
from dfrobust.attacks.registry import get_attack
from dfrobust.data.faces import Box, FaceDetector, center_box, create_detector, square_box
from dfrobust.eps import check_eps
from dfrobust.errors import DfrobustError
from dfrobust.image_quality import ssim

log = logging.getLogger(__name__)

CONTAINERS = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska"}
FAKE = 1  # the frames' true label; the attack pushes them towards "real"
STAGES = ("clean", "adversarial", "written")  # where the crops are scored


@dataclass
class VideoAttackSummary:
    """What :func:`attack_video` did and measured.

    Attributes:
        prob_fake_clean / _adversarial / _written: the video's P(fake) (mean over its frames'
            face crops) in the original, in the adversarial frames before encoding, and decoded
            from the written file. ``frames_real_*``: frames scored real (P(fake) < 0.5).
        psnr_*: PSNR (dB) of the adversarial (before encoding) and of the written frames
            against the original, whole frames, from the mean squared error over all frames.
        psnr_face_* / ssim_face_*: the same inside the face boxes, where the perturbation is
            (SSIM on RGB, mean over frames); whole-frame figures are diluted by the background.
        faces_found: frames where a face was detected (the others use the centred square).
    """

    input: str
    output: str
    attack: str
    eps: float
    options: dict[str, Any]
    crf: int
    seed: int
    frames: int = 0
    faces_found: int = 0
    width: int = 0
    height: int = 0
    fps: float = 0.0
    audio: bool = False
    prob_fake_clean: float = float("nan")
    prob_fake_adversarial: float = float("nan")
    prob_fake_written: float = float("nan")
    frames_real_clean: int = 0
    frames_real_adversarial: int = 0
    frames_real_written: int = 0
    psnr_adversarial: float = float("nan")
    psnr_written: float = float("nan")
    psnr_face_adversarial: float = float("nan")
    psnr_face_written: float = float("nan")
    ssim_face_adversarial: float = float("nan")
    ssim_face_written: float = float("nan")
    seconds: float = 0.0
    boxes: list[Box] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON values, with the verdicts (fake if P(fake) >= 0.5)."""
        d = asdict(self)
        d["boxes"] = [list(b) for b in self.boxes]
        for stage in STAGES:
            d[f"verdict_{stage}"] = "fake" if d[f"prob_fake_{stage}"] >= 0.5 else "real"
        return d


def attack_video(
    model: nn.Module,
    path: str | os.PathLike,
    out: str | os.PathLike,
    *,
    attack: str = "pgd",
    eps: float = 4 / 255,
    options: Mapping[str, Any] | None = None,
    crf: int = 23,
    preset: str = "medium",
    batch_size: int = 16,
    max_frames: int | None = None,
    seed: int = 0,
    detector: FaceDetector | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> VideoAttackSummary:
    """Write an adversarial copy of the video ``path`` to ``out`` (see the module docstring).

    Args:
        model: (N, 3, H, W) in [0, 1] -> (N,) fake logits, in eval mode, with a timm-style
            ``data_config`` (its ``input_size`` is the crop size).
        attack: a registry attack for evaluation (``pgd``, ``apgd``, ``fgsm``, ``square``...).
        eps: L-inf budget in pixel units of the crop (4/255).
        options: the attack's keywords (``steps``, ``eot``, ``eot_transforms``, ``n_queries``...).
        crf, preset: x264's quality (lower is better; 23 is FF++ c23) and speed preset.
        batch_size: face crops attacked together. max_frames: only the first N frames.
        seed: seed of the attack's generator (batch ``k`` draws from ``seed + k``).
        detector: a face detector (default: MTCNN). on_progress: called with 1 per frame written.

    Raises:
        DfrobustError: unreadable input, ``out`` the input itself or of an unknown container,
            an attack that does not take an option.
    """
    began = time.perf_counter()
    path, out = Path(path), Path(out)
    spec, kwargs = _attack_call(attack, eps, options or {})
    container_format = _check_paths(path, out)
    if crf < 0 or crf > 51:
        raise DfrobustError(f"Expected crf in [0, 51] (x264), got {crf}")
    if batch_size <= 0 or (max_frames is not None and max_frames <= 0):
        raise DfrobustError(f"Expected positive batch_size and max_frames, got {batch_size} and {max_frames}")
    attacker = _Attacker(model, spec.fn, eps, kwargs, tuple(model.data_config["input_size"][1:]), seed)
    summary = VideoAttackSummary(str(path), str(out), attack, eps, dict(kwargs), crf, seed)
    with atomic_open(out, "wb") as f:
        with _open_input(path) as source, av.open(f, "w", format=container_format) as sink:
            measured = _write(
                source,
                sink,
                attacker,
                detector or create_detector("mtcnn"),
                summary,
                crf,
                preset,
                batch_size,
                max_frames,
                on_progress,
            )
        f.flush()
        written = _measure_written(attacker, path, Path(f.name), summary.boxes, batch_size)
    for stage, values in {**measured.pop("probs"), "written": written.pop("probs")}.items():
        setattr(summary, f"prob_fake_{stage}", float(np.mean(values)))
        setattr(summary, f"frames_real_{stage}", int(sum(p < 0.5 for p in values)))
    for stage, quality in (("adversarial", measured), ("written", written)):
        setattr(summary, f"psnr_{stage}", _psnr(quality["mse"]))
        setattr(summary, f"psnr_face_{stage}", _psnr(quality["face_mse"]))
        setattr(summary, f"ssim_face_{stage}", float(np.mean(quality["face_ssim"])))
    summary.seconds = time.perf_counter() - began
    scores = " -> ".join(f"{getattr(summary, f'prob_fake_{stage}'):.3f}" for stage in STAGES)
    log.info("attack-video %s: P(fake) %s (after CRF %d), %.0f s", out, scores, crf, summary.seconds)
    return summary


@dataclass(frozen=True)
class _Attacker:
    """The attack on a batch of frames: crops, attack, perturbation put back, crops scored."""

    model: nn.Module
    fn: Callable[..., Any]
    eps: float
    kwargs: dict[str, Any]
    size: tuple[int, int]  # the model's input (H, W)
    seed: int

    def __call__(
        self, frames: list[np.ndarray], boxes: list[Box], k: int
    ) -> tuple[list[np.ndarray], list[float], list[float]]:
        """Batch ``k``'s adversarial frames, and P(fake) of the clean and the adversarial crops."""
        device = next(self.model.parameters()).device
        x = crops(frames, boxes, self.size).to(device)
        y = torch.full((len(frames),), FAKE, device=device)
        generator = torch.Generator(device).manual_seed(self.seed + k)
        result = self.fn(self.model, x, y, eps=self.eps, generator=generator, **self.kwargs)
        delta = (result.x_adv.float() - x).cpu()
        adversarial = [put_back(rgb, box, d) for rgb, box, d in zip(frames, boxes, delta)]
        return adversarial, self.probs(x), self.probs(crops(adversarial, boxes, self.size))

    def probs(self, x: torch.Tensor) -> list[float]:
        """P(fake) of (N, 3, H, W) crops."""
        with torch.inference_mode():
            return torch.sigmoid(self.model(x.to(next(self.model.parameters()).device)).float()).cpu().tolist()


def _write(
    source: Any,
    sink: Any,
    attacker: _Attacker,
    detector: FaceDetector,
    summary: VideoAttackSummary,
    crf: int,
    preset: str,
    batch_size: int,
    max_frames: int | None,
    on_progress: Callable[[int], None] | None,
) -> dict[str, Any]:
    """Decode, attack and encode every frame; fill the summary's video facts and boxes.

    Returns the crops' P(fake) (``probs``: clean, adversarial) and the adversarial frames'
    squared errors and face SSIM against the original.
    """
    video_in = source.streams.video[0]
    video_in.thread_type = "AUTO"
    rate = video_in.average_rate or 25
    summary.width, summary.height, summary.fps = video_in.width, video_in.height, float(rate)
    if summary.width % 2 or summary.height % 2:
        raise DfrobustError(f"{summary.input}: {summary.width}x{summary.height} is odd; H.264 4:2:0 needs even sides")
    stream = sink.add_stream("libx264", rate=rate, options={"crf": str(crf), "preset": preset})
    stream.width, stream.height, stream.pix_fmt = summary.width, summary.height, "yuv420p"
    audio_in = source.streams.audio[0] if source.streams.audio else None
    audio_out = sink.add_stream_from_template(audio_in) if audio_in is not None else None
    measured: dict[str, Any] = {"probs": {"clean": [], "adversarial": []}, "mse": [], "face_mse": [], "face_ssim": []}
    for k, frames in enumerate(_chunks(source, video_in, batch_size, max_frames, Path(summary.input))):
        boxes, found = _face_boxes(detector, frames)
        adversarial, p_clean, p_adv = attacker(frames, boxes, k)
        for rgb in adversarial:
            sink.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        _add_quality(measured, frames, adversarial, boxes)
        summary.boxes += boxes
        summary.faces_found += found
        measured["probs"]["clean"] += p_clean
        measured["probs"]["adversarial"] += p_adv
        if on_progress:
            on_progress(len(frames))
    sink.mux(stream.encode())
    summary.frames = len(summary.boxes)
    if summary.frames == 0:
        raise DfrobustError(f"{summary.input}: the video has no frames")
    if audio_in is not None:
        summary.audio = _copy_audio(Path(summary.input), audio_out, sink, summary.frames / float(rate))
    return measured


def _attack_call(attack: str, eps: float, options: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The registry entry of ``attack`` and the keywords to call it with (unknown ones refused)."""
    spec = get_attack(attack, "eval")
    check_eps(eps)
    accepted = set(inspect.signature(spec.fn).parameters) - {"model", "x", "y", "eps", "generator"}
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise DfrobustError(
            f"Attack {attack!r} does not take {', '.join(unknown)}; it takes: {', '.join(sorted(accepted)) or 'nothing'}"
        )
    return spec, {k: v for k, v in options.items() if v is not None}


def _check_paths(path: Path, out: Path) -> str:
    """The output's container format; refuses a missing input or an output that is the input."""
    if not path.is_file():
        raise DfrobustError(f"{path} does not exist or is not a file")
    if out.exists() and out.resolve() == path.resolve():
        raise DfrobustError(f"--out {out} is the input video; the original is never modified, choose another name")
    if out.suffix.lower() not in CONTAINERS:
        raise DfrobustError(f"Expected --out ending in {', '.join(CONTAINERS)}, got {out.name}")
    return CONTAINERS[out.suffix.lower()]


def _open_input(path: Path) -> av.container.InputContainer:
    """The input opened with PyAV; unreadable files and files without video are clear errors."""
    try:
        container = av.open(os.fspath(path))
    except (av.error.FFmpegError, OSError) as e:
        raise DfrobustError(f"{path}: cannot read the video ({e}); is it a video file?") from None
    if not container.streams.video:
        container.close()
        raise DfrobustError(f"{path}: no video stream")
    return container


def _chunks(container: Any, stream: Any, size: int, limit: int | None, path: Path) -> Iterator[list[np.ndarray]]:
    """Decoded RGB frames (H, W, 3) uint8, ``size`` at a time, at most ``limit`` in all."""
    frames = itertools.islice(container.decode(stream), limit)
    try:
        while chunk := [frame.to_ndarray(format="rgb24") for frame in itertools.islice(frames, size)]:
            yield chunk
    except av.error.FFmpegError as e:
        raise DfrobustError(f"{path}: cannot decode the video ({e})") from None


def _face_boxes(detector: FaceDetector, frames: Sequence[np.ndarray]) -> tuple[list[Box], int]:
    """Square x1.3 face boxes (centred squares where no face), and how many faces were found."""
    h, w = frames[0].shape[:2]
    faces = detector.detect(frames)
    boxes = [square_box(face.box, w, h) if face is not None else center_box(w, h) for face in faces]
    return boxes, sum(face is not None for face in faces)


def crops(frames: Sequence[np.ndarray], boxes: Sequence[Box], size: tuple[int, int]) -> torch.Tensor:
    """(N, 3, H, W) float in [0, 1]: each frame's box, resized bilinearly to ``size`` = (H, W)."""
    images = [
        np.asarray(Image.fromarray(rgb).crop(box).resize(size[::-1], Image.Resampling.BILINEAR))
        for rgb, box in zip(frames, boxes)
    ]
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float().div(255)


def put_back(rgb: np.ndarray, box: Box, delta: torch.Tensor) -> np.ndarray:
    """``rgb`` (H, W, 3) uint8 with ``delta`` (3, h, w) in [0, 1] units resized to ``box`` and added there."""
    x1, y1, x2, y2 = box
    grown = F.interpolate(delta[None].float().cpu(), size=(y2 - y1, x2 - x1), mode="bilinear", align_corners=False)
    out = rgb.copy()
    region = out[y1:y2, x1:x2].astype(np.float32) + grown[0].permute(1, 2, 0).numpy() * 255
    out[y1:y2, x1:x2] = np.clip(np.rint(region), 0, 255).astype(np.uint8)
    return out


def _add_quality(
    quality: dict[str, list[float]], frames: list[np.ndarray], changed: list[np.ndarray], boxes: Sequence[Box]
) -> None:
    """Append per frame the squared error of ``changed`` against ``frames`` (uint8 RGB), whole
    and in the face box, and the SSIM in the face box."""
    for a, b, (x1, y1, x2, y2) in zip(frames, changed, boxes):
        error = (a.astype(np.int32) - b) ** 2  # exact, and fast on full-HD frames
        quality["mse"].append(float(error.mean()))
        quality["face_mse"].append(float(error[y1:y2, x1:x2].mean()))
        face_a, face_b = (torch.from_numpy(v[y1:y2, x1:x2]).permute(2, 0, 1)[None] for v in (a, b))
        quality["face_ssim"].append(ssim(face_b, face_a, data_range=255.0))


def _psnr(errors: list[float]) -> float:
    """PSNR (dB) of uint8 frames from their mean squared error over all frames."""
    error = float(np.mean(errors))
    return math.inf if error == 0 else 10 * math.log10(255**2 / error)


def _copy_audio(path: Path, audio_out: Any, sink: Any, duration: float) -> bool:
    """Remux the input's first audio stream (packets as they are) up to ``duration`` seconds."""
    copied = False
    with av.open(os.fspath(path)) as source:
        audio_in = source.streams.audio[0]
        for packet in source.demux(audio_in):
            if packet.dts is None:
                continue  # the demuxer's final empty packet
            if packet.pts is not None and float(packet.pts * audio_in.time_base) > duration:
                break
            packet.stream = audio_out
            sink.mux(packet)
            copied = True
    return copied


def _measure_written(
    attacker: _Attacker, original: Path, written: Path, boxes: list[Box], batch_size: int
) -> dict[str, Any]:
    """Decode the written file beside the original: P(fake) of its crops, squared errors, face SSIM."""
    measured: dict[str, Any] = {"probs": [], "mse": [], "face_mse": [], "face_ssim": []}
    with av.open(os.fspath(original)) as a, av.open(os.fspath(written)) as b:
        ours = (f.to_ndarray(format="rgb24") for f in b.decode(video=0))
        theirs = (f.to_ndarray(format="rgb24") for f in a.decode(video=0))
        for done in range(0, len(boxes), batch_size):
            chunk_boxes = boxes[done : done + batch_size]
            decoded = list(itertools.islice(ours, len(chunk_boxes)))
            if len(decoded) < len(chunk_boxes):
                raise DfrobustError(f"{written}: {done + len(decoded)} frames decoded of {len(boxes)} written")
            _add_quality(measured, list(itertools.islice(theirs, len(decoded))), decoded, chunk_boxes)
            measured["probs"] += attacker.probs(crops(decoded, chunk_boxes, attacker.size))
        if next(ours, None) is not None:
            raise DfrobustError(f"{written}: more frames than were written; the encoder misbehaved")
    return measured


def frame_count(path: str | os.PathLike) -> int:
    """Frames in the video ``path`` (a demux pass, no decoding); unreadable files are a clear error."""
    from dfrobust.data.video import probe_video

    if not Path(path).is_file():
        raise DfrobustError(f"{path} does not exist or is not a file")
    try:
        return probe_video(path).num_frames
    except (av.error.FFmpegError, OSError) as e:
        raise DfrobustError(f"{path}: cannot read the video ({e}); is it a video file?") from None
