"""The embedded demo data set: synthetic faces and fakes, written in the FF++ layout.

``synthesize(out)`` writes, like the official FaceForensics++ download script::

    out/original_sequences/youtube/c23/videos/000.mp4             one person each
    out/manipulated_sequences/Deepfakes/c23/videos/000_001.mp4    000's video, 001's face
    out/manipulated_sequences/Deepfakes/masks/videos/000_001.mp4  its blending mask
    out/splits/{train,val,test}.json                              pairs, 72/14/14 %
    out/synth.json                                                options + face box per frame

so every later stage reads it with no special case. ``compression="c40"`` writes the
same videos under ``c40/`` at FF++'s stronger compression (x264 CRF 40 instead of 23),
where the traces are harder to see; the masks stay at CRF 23, as FF++ ships one mask
video per fake whatever the compression. The same seed draws the same people, fakes and
splits at either compression, so a c23 and a c40 folder hold the same data set. The people are drawn
procedurally (``synth_faces``); the fakes leave their method's local traces
(``synth_fakes``). It is for trying the pipeline end to end in minutes, not for
claims about real deepfakes.

Determinism: every random draw comes from a ``numpy.random.Generator`` seeded from
``(seed, stream, ids)``; the same options give the same decoded pixels.

Resuming: a folder that holds a ``synth.json`` with the same options is resumed
(finished videos, written atomically, are kept); any other non-empty folder is refused.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dfrobust.atomicio import atomic_open, write_json
from dfrobust.errors import DfrobustError
from dfrobust.synth.faces import (
    Identity,
    Pose,
    face_boxes,
    render_background,
    render_face,
    sample_identity,
    sample_pose,
)
from dfrobust.synth.fakes import METHODS, fake_video

log = logging.getLogger(__name__)

VERSION = 2  # bump when the drawing changes: a folder of another version is not resumed (2: FaceSwap, NT)
FPS = 25
CRF = 23  # FF++ "c23"
COMPRESSION_CRF = {"c23": CRF, "c40": 40}  # FF++'s names: H.264 constant rate factor 23 and 40
MASK_CRF = CRF  # masks are encoded alike at every compression (FF++ has one set of masks)
PRESET = "fast"  # x264 speed preset: ~2x faster than the default "medium", files within ~3 %
SPLIT_FRACTIONS = {"val": 0.14, "test": 0.14}  # train takes the rest (72 %), as FF++
INFO_FILE = "synth.json"
_IDENTITY, _NOISE, _FAKE, _SPLITS = range(4)  # random streams, one per purpose


@dataclass(frozen=True)
class SynthOptions:
    """What ``synthesize`` makes; checked on construction."""

    pairs: int = 40
    frames: int = 48
    size: int = 128
    seed: int = 0
    methods: tuple[str, ...] = ("Deepfakes",)
    compression: str = "c23"

    def __post_init__(self) -> None:
        if self.compression not in COMPRESSION_CRF:
            raise DfrobustError(
                f"Expected --compression one of {', '.join(COMPRESSION_CRF)}, but got {self.compression!r}"
            )
        if not 3 <= self.pairs <= 500:
            raise DfrobustError(
                f"Expected --pairs between 3 (one pair for each of train, val, test) and 500 "
                f"(ids are 3 digits, 2 per pair), but got {self.pairs}"
            )
        if self.frames < 1:
            raise DfrobustError(f"Expected --frames >= 1, but got {self.frames}")
        if self.size < 64 or self.size > 1024 or self.size % 16:
            raise DfrobustError(f"Expected --size a multiple of 16 between 64 and 1024, but got {self.size}")
        if self.seed < 0:
            raise DfrobustError(f"Expected --seed >= 0, but got {self.seed}")
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown or not self.methods:
            raise DfrobustError(
                f"Unknown method(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(METHODS)}"
            )
        object.__setattr__(self, "methods", tuple(dict.fromkeys(self.methods)))


@dataclass
class SynthSummary:
    """What one ``synthesize`` call wrote."""

    out: Path
    identities: int
    originals: int  # original videos on disk
    fakes: int  # fake videos on disk (each with its mask video)
    written: int  # videos written by this call (originals + fakes); the rest were resumed
    seconds: float
    splits: dict[str, int] = field(default_factory=dict)  # pairs per split
    info: Path = Path()


def synthesize(
    out: Path,
    *,
    pairs: int = 40,
    frames: int = 48,
    size: int = 128,
    seed: int = 0,
    methods: Sequence[str] = ("Deepfakes",),
    compression: str = "c23",
    workers: int | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> SynthSummary:
    """Write the demo data set to ``out`` in the FF++ layout (see the module docstring).

    Args:
        pairs: P pairs of people: 2P identities ``000..2P-1``, 2P originals and 2P fakes
            (``a_b`` and ``b_a``) per method.
        frames, size: frames per video and their side in pixels (square, 25 fps).
        compression: ``c23`` (x264 CRF 23) or ``c40`` (CRF 40), FF++'s two compressed versions.
        workers: processes rendering pairs in parallel (default: one per core; 1: in-process).
        on_progress: called with the number of videos finished (originals + fakes).
    """
    start = time.perf_counter()
    opts = SynthOptions(pairs, frames, size, seed, tuple(methods), compression)
    out = Path(out)
    splits = split_pairs(opts.pairs, opts.seed)
    info = _info(opts, splits)
    _check_folder(out, info)
    write_json(out / INFO_FILE, info)
    for name, split in splits.items():
        write_json(out / "splits" / f"{name}.json", [list(p) for p in split])
    jobs = [(out, opts, a, b) for split in splits.values() for a, b in split]
    written = 0
    for n in _run(jobs, workers):
        written += n
        if on_progress:
            on_progress(_videos_per_pair(opts))
    summary = SynthSummary(
        out=out,
        identities=2 * opts.pairs,
        originals=2 * opts.pairs,
        fakes=2 * opts.pairs * len(opts.methods),
        written=written,
        seconds=time.perf_counter() - start,
        splits={name: len(split) for name, split in splits.items()},
        info=out / INFO_FILE,
    )
    log.info(
        "synth: %d videos in %s (%d written) in %.1f s",
        summary.originals + summary.fakes,
        out,
        written,
        summary.seconds,
    )
    return summary


def split_pairs(pairs: int, seed: int) -> dict[str, list[tuple[str, str]]]:
    """Pair up ids ``000..2P-1`` at random and split the pairs 72/14/14 % (each split >= 1)."""
    ids = [f"{i:03d}" for i in np.random.default_rng([seed, _SPLITS]).permutation(2 * pairs)]
    all_pairs = [(ids[2 * k], ids[2 * k + 1]) for k in range(pairs)]
    n_val, n_test = (max(1, round(f * pairs)) for f in SPLIT_FRACTIONS.values())
    n_train = pairs - n_val - n_test
    return {
        "train": all_pairs[:n_train],
        "val": all_pairs[n_train : n_train + n_val],
        "test": all_pairs[n_train + n_val :],
    }


def video_paths(
    method: str, target: str, source: str | None = None, compression: str = "c23"
) -> tuple[str, str | None]:
    """Relative paths of a video and of its mask video (``None`` for originals)."""
    if source is None:
        return f"original_sequences/youtube/{compression}/videos/{target}.mp4", None
    root = f"manipulated_sequences/{method}"
    return f"{root}/{compression}/videos/{target}_{source}.mp4", f"{root}/masks/videos/{target}_{source}.mp4"


@dataclass(frozen=True)
class Person:
    """One identity's looks, motion and backdrop for a given set of options."""

    identity: Identity
    pose: Pose
    background: np.ndarray  # (H, W, 3) float32 in [0, 1]


def make_person(video_id: str, opts: SynthOptions) -> Person:
    """The person of video ``video_id``: a pure function of (seed, id, frames, size)."""
    rng = np.random.default_rng([opts.seed, _IDENTITY, int(video_id)])
    identity = sample_identity(rng)
    pose = sample_pose(rng, identity, opts.frames, opts.size)
    return Person(identity, pose, render_background(rng, opts.size))


def render_video(video_id: str, person: Person, opts: SynthOptions) -> list[np.ndarray]:
    """The original video's frames, (H, W, 3) float32 in [0, 1], with camera noise."""
    rng = np.random.default_rng([opts.seed, _NOISE, int(video_id)])
    sigma = person.identity.noise_sigma
    return [
        render_face(person.identity, person.pose, i, person.background)
        + rng.normal(0, sigma, (opts.size, opts.size, 1)).astype(np.float32)
        for i in range(opts.frames)
    ]


def write_video(path: Path, frames: Iterator[np.ndarray] | list[np.ndarray], crf: int = CRF) -> None:
    """Encode frames ((H, W, 3) or (H, W) floats in [0, 1]) as H.264 at ``crf``, yuv420p, atomically."""
    import av  # deferred: only the writers need FFmpeg

    with atomic_open(path, "wb") as f, av.open(f, "w", format="mp4") as container:
        # one thread per encoder: x264 is then bit-exact run to run; parallelism is over videos
        options = {"crf": str(crf), "preset": PRESET, "threads": "1"}
        stream = container.add_stream("libx264", rate=FPS, options=options)
        stream.pix_fmt = "yuv420p"
        for i, frame in enumerate(frames):
            if i == 0:
                stream.height, stream.width = frame.shape[:2]
            rgb = np.clip(frame * 255 + 0.5, 0, 255).astype(np.uint8)
            if rgb.ndim == 2:
                rgb = np.repeat(rgb[..., None], 3, axis=2)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode())


def write_pair(out: Path, opts: SynthOptions, a: str, b: str) -> int:
    """Write the originals ``a``, ``b`` and, per method, fakes ``a_b``, ``b_a`` with masks.

    Videos already on disk are skipped. Returns the number of videos written.
    """
    people = {v: make_person(v, opts) for v in (a, b)}
    frames: dict[str, list[np.ndarray]] = {}
    written = 0

    def original(v: str) -> list[np.ndarray]:
        if v not in frames:
            frames[v] = render_video(v, people[v], opts)
        return frames[v]

    crf = COMPRESSION_CRF[opts.compression]
    for v in (a, b):
        path = out / video_paths("original", v, compression=opts.compression)[0]
        if not path.exists():
            write_video(path, original(v), crf)
            written += 1
    for name in opts.methods:
        for target, source in ((a, b), (b, a)):
            video, mask = (out / p for p in video_paths(name, target, source, opts.compression))
            if video.exists() and mask.exists():
                continue
            t, s = people[target], people[source]
            rng = np.random.default_rng([opts.seed, _FAKE, int(target), int(source), list(METHODS).index(name)])
            made = list(
                fake_video(METHODS[name], t.identity, s.identity, t.pose, s.pose, original(target), t.background, rng)
            )
            write_video(mask, (m for _, m in made), MASK_CRF)
            write_video(video, (f for f, _ in made), crf)
            written += 1
    return written


def _run(jobs: list[tuple[Path, SynthOptions, str, str]], workers: int | None) -> Iterator[int]:
    """Run ``write_pair`` over the jobs, in-process or in a pool; yield each job's count."""
    workers = min(workers or _cores(), len(jobs))
    if workers <= 1:
        yield from (write_pair(*job) for job in jobs)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(write_pair, *zip(*jobs))


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _videos_per_pair(opts: SynthOptions) -> int:
    return 2 + 2 * len(opts.methods)


def _info(opts: SynthOptions, splits: dict[str, list[tuple[str, str]]]) -> dict:
    """The ``synth.json`` content: options, and per video its label and face box per frame."""
    videos: dict[str, dict] = {}
    for split, members in splits.items():
        for a, b in members:
            for v in (a, b):
                person = make_person(v, opts)
                boxes = [
                    " ".join(f"{x:.1f}" for x in box) for box in face_boxes(person.identity, person.pose, opts.size)
                ]
                path, _ = video_paths("original", v, compression=opts.compression)
                videos[path] = {"video": v, "label": 0, "method": "original", "split": split, "face_boxes": boxes}
                for name in opts.methods:
                    source = b if v == a else a
                    path, mask = video_paths(name, v, source, opts.compression)
                    videos[path] = {
                        "video": f"{v}_{source}",
                        "label": 1,
                        "method": name,
                        "split": split,
                        "target": v,
                        "source": source,
                        "mask": mask,
                        "face_boxes": boxes,
                    }
    return {
        "generator": "dfrobust.synth",
        "version": VERSION,
        "options": {
            "pairs": opts.pairs,
            "frames": opts.frames,
            "size": opts.size,
            "seed": opts.seed,
            "methods": list(opts.methods),
            "fps": FPS,
            "crf": COMPRESSION_CRF[opts.compression],
        },
        "face_box_format": "x1 y1 x2 y2 in pixels: the bounding box of the face ellipse",
        "videos": videos,
    }


def _check_folder(out: Path, info: dict) -> None:
    """Refuse a non-empty folder unless it is this same data set (then it is resumed)."""
    if out.exists() and not out.is_dir():
        raise DfrobustError(f"--out {out} is a file; expected a folder (new or empty)")
    if not out.exists() or not any(out.iterdir()):
        return
    info_path = out / INFO_FILE
    if not info_path.exists():
        raise DfrobustError(f"{out} is not empty and holds no {INFO_FILE}: choose a new or empty folder")
    try:
        old = json.loads(info_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise DfrobustError(f"cannot read {info_path}: {e}; delete the folder or pick another") from None
    if old.get("version") != info["version"]:
        raise DfrobustError(
            f"{out} holds a synthetic data set drawn by another dfrobust version ({old.get('version')}, now "
            f"{info['version']}); choose a new folder, or delete it to draw it again"
        )
    if old.get("options") != info["options"]:
        raise DfrobustError(
            f"{out} holds a synthetic data set made with other options ({old.get('options')}); "
            f"rerun with those options to resume it, or choose a new folder"
        )
    log.info("resuming the synthetic data set in %s", out)
