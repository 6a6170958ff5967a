"""The extraction job: K frames per video, optionally face-cropped, as JPEGs + a manifest.

Output under ``out``::

    <method>/<video>/<frame_index:04d>.jpg   the frames ("original" for youtube originals)
    <method>/<video>/frames.json             done-marker: written after the video's JPEGs
    frames.csv, extract.json                 manifest and summary (a shard writes
                                             frames.shard-I-of-N.csv, extract.shard-I-of-N.json;
                                             :func:`merge_shards` joins them)

Every file is written atomically, and a video counts as done only once its
done-marker exists, so a job killed at any point resumes where it stopped: a
rerun skips finished videos and rebuilds the manifest from the markers. Frame
indices depend only on (seed, method, video), never on the run.

Example::

    summary = extract_frames(ExtractConfig(root="FF++", out="frames", faces=True))

The root may be any layout :func:`~dfrobust.data.layouts.index_root` recognises (FF++/DFD,
Celeb-DF v2, DFDC); method names are unique across data sets, so the folders never clash.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import random
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from dfrobust.atomicio import OutputError, atomic_open, write_json
from dfrobust.data.layouts import index_root
from dfrobust.data.manifest import shard_name, write_outputs
from dfrobust.data.records import VideoRecord, stable_seed
from dfrobust.errors import DfrobustError
from dfrobust.hardware import default_workers

log = logging.getLogger(__name__)

SAMPLINGS = ("random", "uniform")
NO_FACE = ("skip", "center")
DEFAULT_FACE_SIZE = 256
DONE_MARKER = "frames.json"
FACE_BATCH = 16  # frames held in memory and sent to the detector at once


@dataclass(frozen=True)
class ExtractConfig:
    """Everything the job needs; the fields in :meth:`output_options` decide the files.

    ``size``: side of the saved face crops (default 256); for full frames the shorter
    side after resizing (default: keep the original size). ``shard`` = (i, n), 0 <= i < n.
    ``split_seed``: seed of the splits a data set does not ship (DFD, Celeb-DF and DFDC
    validation; see :func:`~dfrobust.data.layouts.index_root`); like ``splits_dir`` it
    changes labels, not files, so a resumed job takes the splits of today's index.
    """

    root: Path
    out: Path
    splits_dir: Path | None = None
    methods: tuple[str, ...] | None = None
    compression: str = "c23"
    splits: tuple[str, ...] | None = None
    frames: int = 10
    sampling: str = "random"
    seed: int = 0
    faces: bool = False
    face_scale: float = 1.3
    size: int | None = None
    jpeg_quality: int = 95
    no_face: str = "skip"
    detector: str = "mtcnn"
    split_seed: int = 0
    workers: int = 1
    shard: tuple[int, int] = (0, 1)

    def __post_init__(self) -> None:
        for name in ("root", "out", "splits_dir"):  # accept str paths from Python callers
            if getattr(self, name) is not None:
                object.__setattr__(self, name, Path(getattr(self, name)))
        checks = [
            (self.frames >= 1, "frames", "an integer >= 1", self.frames),
            (self.sampling in SAMPLINGS, "sampling", f"one of {SAMPLINGS}", self.sampling),
            (self.no_face in NO_FACE, "no_face", f"one of {NO_FACE}", self.no_face),
            (self.face_scale >= 1.0, "face_scale", "a number >= 1 (1.3 in FF++)", self.face_scale),
            (self.size is None or self.size >= 8, "size", "an integer >= 8", self.size),
            (1 <= self.jpeg_quality <= 100, "jpeg_quality", "an integer in [1, 100]", self.jpeg_quality),
            (self.workers >= 1, "workers", "an integer >= 1", self.workers),
            (0 <= self.shard[0] < self.shard[1], "shard", "I/N with 0 <= I < N", self.shard),
        ]
        for ok, name, expected, got in checks:
            if not ok:
                raise DfrobustError(f"Expected {name} to be {expected}, but got {got!r}")

    def output_options(self) -> dict:
        """The options that decide which files are written (a resumed job must match them)."""
        keys = (
            "compression",
            "frames",
            "sampling",
            "seed",
            "faces",
            "face_scale",
            "size",
            "jpeg_quality",
            "no_face",
            "detector",
        )
        options = {k: getattr(self, k) for k in keys}
        if not self.faces:
            for k in ("face_scale", "no_face", "detector"):
                options.pop(k)
        elif self.size is None:
            options["size"] = DEFAULT_FACE_SIZE
        return options


@dataclass
class VideoResult:
    """What happened to one video: its manifest rows, or why it was skipped."""

    method: str
    video: str
    rows: list[dict] = field(default_factory=list)
    num_frames: int = 0
    short: bool = False
    faces_found: int = 0
    faces_missed: int = 0
    error: str = ""  # non-empty: the video was skipped for this reason
    cached: bool = False  # done by an earlier run


def sample_frame_indices(num_frames: int, k: int, *, sampling: str = "random", seed: int = 0) -> list[int]:
    """``k`` sorted frame indices of ``range(num_frames)``: all of them when ``k >= num_frames``.

    ``random``: without replacement, from ``random.Random(seed)`` (so the same seed gives
    the same indices on every machine); ``uniform``: the centres of ``k`` equal segments.
    """
    if k >= num_frames:
        return list(range(num_frames))
    if sampling == "uniform":
        return [int((i + 0.5) * num_frames / k) for i in range(k)]
    return sorted(random.Random(seed).sample(range(num_frames), k))


def video_seed(seed: int, record: VideoRecord) -> int:
    """The per-video seed: a stable hash of (seed, method, video), not Python's ``hash``."""
    return stable_seed(seed, record.method, record.video)


def shard_records(records: list[VideoRecord], index: int, count: int) -> list[VideoRecord]:
    """The ``index``-th of ``count`` disjoint parts of the (method, video)-sorted records."""
    ordered = sorted(records, key=lambda r: (r.method, r.video))
    return ordered[index::count]


def select_videos(config: ExtractConfig) -> tuple[list[VideoRecord], int]:
    """This shard's videos (index, split filter, shard) and the number the splits miss."""
    index = index_root(
        config.root,
        config.splits_dir,
        methods=config.methods,
        compression=config.compression,
        split_seed=config.split_seed,
    )
    records = [r for r in index.records if not config.splits or r.split in config.splits]
    if not records:
        raise DfrobustError(
            f"no videos under {config.root} in splits {list(config.splits or ())}; expected some of train, val, test"
        )
    return shard_records(records, *config.shard), len(index.missing)


def extract_frames(
    config: ExtractConfig,
    on_progress: Callable[[int], None] | None = None,
    videos: tuple[list[VideoRecord], int] | None = None,
) -> dict:
    """Run (or resume) the extraction of ``config``; returns the ``extract.json`` summary.

    Videos already done (their done-marker exists) are not touched again. A video
    that cannot be read is logged and skipped. Raises :class:`DfrobustError` when
    not a single frame could be extracted, after writing the summary.
    ``videos``: the result of :func:`select_videos` when the caller needed it first
    (e.g. to size a progress bar).
    """
    records, missing = videos or select_videos(config)
    try:
        config.out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot write {config.out}: {e.strerror or e}") from None
    results = list(_run(records, config, on_progress))
    options = {
        "root": str(config.root),
        "splits_dir": str(config.splits_dir or ""),
        "methods": list(config.methods or ()),
        "splits": list(config.splits or ()),
        "split_seed": config.split_seed,
        **config.output_options(),
    }
    summary = write_outputs(config.out, results, options, config.shard, missing)
    if not summary["counts"]["frames"]:
        reasons = "; ".join(f"{s['method']}/{s['video']}: {s['reason']}" for s in summary["skipped"][:3])
        raise DfrobustError(
            f"no frame could be extracted from {len(records)} video(s) ({reasons}); "
            f"see {config.out / shard_name('extract.json', config.shard)}"
        )
    return summary


def _run(
    records: list[VideoRecord], config: ExtractConfig, on_progress: Callable[[int], None] | None
) -> Iterator[VideoResult]:
    """Yield one result per record: cached ones first, then the extracted ones as they finish."""
    advance = on_progress or (lambda n=1: None)
    pending = []
    for record in records:
        cached = _load_marker(config, record)
        if cached is None:
            pending.append(record)
        else:
            advance(1)
            yield cached
    workers = min(config.workers, len(pending))
    if workers <= 1:
        for record in pending:
            yield _extract_video(record, config, decode_threads=True)
            advance(1)
        return
    cores = default_workers()
    with ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker, initargs=(config.faces,)
    ) as pool:
        try:
            jobs = [(r, config, cores > workers) for r in pending]
            for result in pool.map(_extract_video_job, jobs, chunksize=1):
                advance(1)
                yield result
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def _init_worker(faces: bool) -> None:
    """Worker start-up: one torch thread each, the processes share the cores."""
    if faces:
        import torch

        torch.set_num_threads(1)


def _extract_video_job(job: tuple[VideoRecord, ExtractConfig, bool]) -> VideoResult:
    record, config, decode_threads = job
    return _extract_video(record, config, decode_threads=decode_threads)


def _extract_video(record: VideoRecord, config: ExtractConfig, *, decode_threads: bool) -> VideoResult:
    """Extract one video's frames, write its JPEGs then its done-marker; never raises on bad videos."""
    import av

    from dfrobust.data.video import probe_video, read_frames

    folder = config.out / record.method / record.video
    for stray in folder.glob(".*.tmp"):  # left by a killed run
        stray.unlink(missing_ok=True)
    result = VideoResult(record.method, record.video)
    try:
        info = probe_video(record.path)
        if info.num_frames == 0:
            raise DfrobustError("the video has no frames")
        indices = sample_frame_indices(
            info.num_frames, config.frames, sampling=config.sampling, seed=video_seed(config.seed, record)
        )
        result.num_frames, result.short = info.num_frames, info.num_frames < config.frames
        batch: list[tuple[int, object]] = []
        for item in read_frames(record.path, indices, info=info, threads=decode_threads):
            batch.append(item)
            if len(batch) == FACE_BATCH:
                _write_batch(batch, record, config, folder, result)
                batch = []
        _write_batch(batch, record, config, folder, result)
    except OutputError:
        raise  # a full or read-only output folder fails every later video too: stop the job
    except (av.error.FFmpegError, DfrobustError, OSError) as e:
        reason = str(e) if isinstance(e, DfrobustError) else f"{type(e).__name__}: {e}"
        log.warning("skipped %s/%s (%s): %s", record.method, record.video, record.path, reason)
        return VideoResult(record.method, record.video, error=reason)
    if result.short:
        log.info(
            "%s/%s has %d frames (< %d): took them all", record.method, record.video, info.num_frames, config.frames
        )
    write_json(folder / DONE_MARKER, {"options": config.output_options(), **asdict(result)})
    return result


def _write_batch(batch: list, record: VideoRecord, config: ExtractConfig, folder: Path, result: VideoResult) -> None:
    """Crop (with --faces), resize and save a batch of ``(index, rgb)`` frames; add their rows."""
    from dfrobust.data.faces import center_box, crop_resize, square_box

    if not batch:
        return
    boxes: list = [None] * len(batch)
    if config.faces:
        h, w = batch[0][1].shape[:2]
        for i, face in enumerate(_detector(config.detector).detect([rgb for _, rgb in batch])):
            result.faces_found += face is not None
            result.faces_missed += face is None
            if face is not None:
                boxes[i] = square_box(face.box, w, h, config.face_scale)
            elif config.no_face == "center":
                boxes[i] = center_box(w, h)
    size = config.output_options()["size"]
    for (index, rgb), box in zip(batch, boxes):
        if config.faces and box is None:
            continue  # no face, --no-face skip
        name = f"{index:04d}.jpg"
        with atomic_open(folder / name, "wb") as f:
            crop_resize(rgb, box, size).save(f, format="JPEG", quality=config.jpeg_quality)
        result.rows.append(
            {
                "path": f"{record.method}/{record.video}/{name}",
                "video": record.video,
                "frame_index": index,
                "label": record.label,
                "dataset": record.dataset,
                "method": record.method,
                "compression": record.compression,
                "split": record.split,
                "face_box": " ".join(map(str, box)) if box else "",
            }
        )


_DETECTORS: dict = {}  # one detector per process, built on first use


def _detector(name: str):
    from dfrobust.data.faces import create_detector

    if name not in _DETECTORS:
        _DETECTORS[name] = create_detector(name)
    return _DETECTORS[name]


def _load_marker(config: ExtractConfig, record: VideoRecord) -> VideoResult | None:
    """The result of an earlier run from its done-marker, or None if the video is not done."""
    path = config.out / record.method / record.video / DONE_MARKER
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise DfrobustError(f"cannot read {path} ({e}); delete it to extract that video again") from None
    options = data.pop("options", None)
    if options != config.output_options():
        raise DfrobustError(
            f"{config.out} holds frames extracted with other options ({path}: {options}, now "
            f"{config.output_options()}); use another --out folder or delete {config.out}"
        )
    known = {f.name for f in fields(VideoResult)}
    result = VideoResult(**{**{k: v for k, v in data.items() if k in known}, "cached": True})
    # The files depend only on the options checked above; the labels come from today's index
    # (another --splits or --split-seed, or a marker written before the dataset column).
    result.rows = [
        {**row, "label": record.label, "dataset": record.dataset, "split": record.split} for row in result.rows
    ]
    return result
