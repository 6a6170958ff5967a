"""The FaceForensics++ layout and its official splits, turned into video records.

The official download script (ondyari/FaceForensics, ``download-FaceForensics.py``)
writes::

    original_sequences/youtube/<comp>/videos/000.mp4
    original_sequences/actors/<comp>/videos/01__exit_phone_room.mp4          (DFD)
    manipulated_sequences/<Method>/<comp>/videos/000_003.mp4
    manipulated_sequences/DeepFakeDetection/<comp>/videos/01_02__scene__ABCDEFGH.mp4
    manipulated_sequences/<Method>/masks/videos/000_003.mp4

A fake ``a_b`` takes its frames (target) from video ``a`` and its face (source)
from ``b``. The split files (``train.json``, ``val.json``, ``test.json``) list
pairs ``[a, b]``; a pair puts ``a``, ``b``, ``a_b`` and ``b_a`` in its split.
DFD has no official split: :func:`dfd_actor_splits` splits it by actor, seeded.
Records carry ``dataset`` "ffpp" (youtube originals, FF++ methods) or "dfd" (actors,
DeepFakeDetection). The records themselves live in :mod:`~dfrobust.data.records`.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path

from dfrobust.data.records import VIDEO_CSV_FIELDS as VIDEO_CSV_FIELDS  # re-exported: older imports
from dfrobust.data.records import DatasetIndex, MissingVideo, VideoRecord
from dfrobust.data.records import stable_seed as stable_seed  # re-exported: older imports
from dfrobust.errors import DfrobustError

log = logging.getLogger(__name__)

FFPP_METHODS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures", "FaceShifter")
DFD_METHOD = "DeepFakeDetection"
METHODS = FFPP_METHODS + (DFD_METHOD,)
ORIGINAL = "original"  # method name of the youtube originals
ACTORS = "actors"  # method name of the DFD originals
SPLITS = ("train", "val", "test")
COMPRESSIONS = ("raw", "c23", "c40")
# The download script has written lossless videos under both names over the years.
_COMPRESSION_DIRS = {"raw": ("raw", "c0"), "c0": ("raw", "c0"), "c23": ("c23",), "c40": ("c40",)}
VIDEO_SUFFIXES = (".mp4", ".avi")
DFD_SPLIT_FRACTIONS = (0.72, 0.14, 0.14)
SPLITS_URL_HINT = (
    "expected train.json, val.json and test.json, as in the FaceForensics repository "
    "(github.com/ondyari/FaceForensics, folder dataset/splits/); without --splits and "
    "<root>/splits/ the official splits shipped with dfrobust are used"
)
FFIndex = DatasetIndex  # this module's name for it before the other layouts came


# --------------------------------------------------------------------------- splits


def load_split_pairs(splits_dir: str | Path) -> dict[str, list[tuple[str, str]]]:
    """Read ``train/val/test.json`` as lists of ``(a, b)`` pairs, validating their shape."""
    splits_dir = Path(splits_dir)
    pairs: dict[str, list[tuple[str, str]]] = {}
    for split in SPLITS:
        path = splits_dir / f"{split}.json"
        if not path.is_file():
            raise DfrobustError(f"split file {path} not found: {SPLITS_URL_HINT}")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise DfrobustError(f"split file {path} is not valid JSON: {e}") from None
        if not isinstance(data, list) or not data:
            raise DfrobustError(
                f"split file {path}: expected a non-empty JSON list of [a, b] pairs, "
                f"got {type(data).__name__ if data else 'an empty list'}"
            )
        for i, pair in enumerate(data):
            if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(v, str) and v for v in pair)):
                raise DfrobustError(
                    f"split file {path}: item {i} should be a pair of video ids like "
                    f'["000", "003"], got {json.dumps(pair)}'
                )
        pairs[split] = [(a, b) for a, b in data]
    _check_disjoint(pairs, splits_dir)
    return pairs


def _check_disjoint(pairs: dict[str, list[tuple[str, str]]], splits_dir: Path) -> None:
    seen: dict[str, str] = {}
    for split, split_pairs in pairs.items():
        for pair in split_pairs:
            for video in pair:
                other = seen.setdefault(video, split)
                if other != split:
                    raise DfrobustError(
                        f"split files in {splits_dir}: video {video} is in both "
                        f"{other}.json and {split}.json; the splits must be disjoint"
                    )


def split_assignment(pairs: dict[str, list[tuple[str, str]]]) -> dict[str, str]:
    """Map every video a split names (``a``, ``b``, ``a_b``, ``b_a``) to its split."""
    assignment: dict[str, str] = {}
    for split, split_pairs in pairs.items():
        for a, b in split_pairs:
            for video in (a, b, f"{a}_{b}", f"{b}_{a}"):
                assignment[video] = split
    return assignment


def dfd_actor(video: str) -> tuple[str, str]:
    """The (target, source) actors of a DFD video name (source is "" for originals).

    ``01__exit_phone_room`` -> ("01", ""); ``01_02__meeting_serious__YVGY8LOK`` -> ("01", "02").
    """
    head = video.split("__", 1)[0]
    target, _, source = head.partition("_")
    return target, source


def dfd_actor_splits(
    actors: Iterable[str], seed: int = 0, fractions: Sequence[float] = DFD_SPLIT_FRACTIONS
) -> dict[str, str]:
    """Split DFD actors into train/val/test, seeded, so no actor spans two splits."""
    ordered = sorted(set(actors))
    random.Random(seed).shuffle(ordered)
    n = len(ordered)
    n_train = round(n * fractions[0])
    n_val = round(n * fractions[1])
    bounds = {"train": ordered[:n_train], "val": ordered[n_train : n_train + n_val]}
    bounds["test"] = ordered[n_train + n_val :]
    return {actor: split for split, members in bounds.items() for actor in members}


# --------------------------------------------------------------------------- layout


def _resolve_methods(methods: Sequence[str] | None, root: Path) -> tuple[str, ...]:
    if methods is None:
        present = [m for m in FFPP_METHODS if (root / "manipulated_sequences" / m).is_dir()]
        return tuple(present)
    lookup = {m.lower(): m for m in METHODS}
    resolved = []
    for name in methods:
        if name.lower() not in lookup:
            raise DfrobustError(f"unknown method {name!r}; expected one of {', '.join(METHODS)}")
        resolved.append(lookup[name.lower()])
    return tuple(dict.fromkeys(resolved))


def _videos_dir(base: Path, compression: str) -> Path | None:
    for name in _COMPRESSION_DIRS[compression]:
        folder = base / name / "videos"
        if folder.is_dir():
            return folder
    return None


def _list_videos(folder: Path | None) -> list[Path]:
    if folder is None:
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file())


def check_root(root: str | Path) -> Path:
    """Return ``root`` as a Path if it looks like an FF++ root, else raise a clear error."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DfrobustError(f"FF++ root {root} does not exist or is not a folder")
    if not any(root.iterdir()):
        raise DfrobustError(f"FF++ root {root} is empty: download the data set into it first")
    if not any((root / d).is_dir() for d in ("original_sequences", "manipulated_sequences")):
        raise DfrobustError(
            f"{root} is not a FaceForensics++ root: expected the folders original_sequences/ "
            "and manipulated_sequences/ written by the official download script"
        )
    return root


def official_splits_dir() -> Path:
    """The official FF++ split files shipped with dfrobust (ondyari/FaceForensics b952e41, MIT)."""
    return Path(str(resources.files("dfrobust.data") / "splits"))


def find_splits_dir(root: Path, splits_dir: str | Path | None) -> Path:
    """The folder holding the split files: the one given, else ``<root>/splits``, else the
    official splits shipped with dfrobust (logged once, with their sizes)."""
    if splits_dir is not None:
        path = Path(splits_dir).expanduser()
        if not path.is_dir():
            raise DfrobustError(f"splits folder {path} does not exist: {SPLITS_URL_HINT}")
        return path
    path = root / "splits"
    if path.is_dir():
        return path
    official = official_splits_dir()
    sizes = " / ".join(
        f"{split} {len(json.loads((official / f'{split}.json').read_text(encoding='utf-8')))}" for split in SPLITS
    )
    log.info("using the official FF++ splits shipped with dfrobust (%s pairs)", sizes)
    return official


def index_videos(
    root: str | Path,
    splits_dir: str | Path | None = None,
    *,
    methods: Sequence[str] | None = None,
    compression: str = "c23",
    dfd_seed: int = 0,
) -> FFIndex:
    """Find the videos of an FF++ root and label them with their official split.

    Args:
        root: folder written by the official download script.
        splits_dir: folder with ``train/val/test.json``; default ``<root>/splits``, else
            the official FF++ splits shipped with dfrobust.
        methods: manipulation methods to include (default: every FF++ method on disk;
            DFD only when named). Originals are always included.
        compression: ``raw`` (or ``c0``), ``c23`` or ``c40``.
        dfd_seed: seed of the actor split used for DeepFakeDetection.

    Returns:
        The records, sorted by method then video, and the list of missing videos.
    """
    if compression not in _COMPRESSION_DIRS:
        raise DfrobustError(f"unknown compression {compression!r}; expected one of raw (or c0), c23, c40")
    comp = "raw" if compression == "c0" else compression
    root = check_root(root)
    chosen = _resolve_methods(methods, root)
    ffpp_methods = [m for m in chosen if m != DFD_METHOD]
    index = FFIndex(root=root, compression=comp, methods=chosen)

    if ffpp_methods or DFD_METHOD not in chosen:
        assignment = split_assignment(load_split_pairs(find_splits_dir(root, splits_dir)))
        _index_ffpp(index, ffpp_methods, assignment)
    if DFD_METHOD in chosen:
        _index_dfd(index, dfd_seed)
    if not index.records:
        raise DfrobustError(
            f"no {compression} videos found under {root} for "
            f"{', '.join(('original',) + chosen)}: expected e.g. "
            f"{root / 'original_sequences/youtube' / comp / 'videos/000.mp4'}"
        )
    return index


def _index_ffpp(index: FFIndex, methods: Sequence[str], assignment: dict[str, str]) -> None:
    root, comp = index.root, index.compression
    originals = _list_videos(_videos_dir(root / "original_sequences/youtube", comp))
    on_disk = {p.stem for p in originals}
    for path in originals:
        index.records.append(VideoRecord(path.stem, path.resolve(), 0, ORIGINAL, comp, assignment.get(path.stem, "")))
    promised = {v: s for v, s in assignment.items() if "_" not in v}
    for video in sorted(set(promised) - on_disk):
        index.missing.append(MissingVideo(video, ORIGINAL, promised[video], "not on disk"))

    for method in methods:
        base = root / "manipulated_sequences" / method
        fakes = _list_videos(_videos_dir(base, comp))
        masks = base / "masks" / "videos"
        names = set()
        for path in fakes:
            target, _, source = path.stem.partition("_")
            split = assignment.get(path.stem, "")
            mask = masks / path.name
            index.records.append(
                VideoRecord(
                    path.stem,
                    path.resolve(),
                    1,
                    method,
                    comp,
                    split,
                    target,
                    source,
                    mask.resolve() if mask.is_file() else None,
                )
            )
            names.add(path.stem)
            if target not in on_disk:  # the real counterpart of a_b is a
                index.missing.append(
                    MissingVideo(path.stem, method, split, f"original of the fake: {target} not on disk")
                )
        expected = {v: s for v, s in assignment.items() if "_" in v}
        for video in sorted(set(expected) - names):
            index.missing.append(MissingVideo(video, method, expected[video], "not on disk"))
    index.records.sort(key=lambda r: (r.method != ORIGINAL, r.method, r.video))


def _index_dfd(index: FFIndex, seed: int) -> None:
    root, comp = index.root, index.compression
    originals = _list_videos(_videos_dir(root / "original_sequences/actors", comp))
    fakes = _list_videos(_videos_dir(root / "manipulated_sequences" / DFD_METHOD, comp))
    actors = {dfd_actor(p.stem)[0] for p in originals}
    for path in fakes:
        actors.update(a for a in dfd_actor(path.stem) if a)
    split_of = dfd_actor_splits(actors, seed)
    for path in originals:
        split = split_of[dfd_actor(path.stem)[0]]
        index.records.append(VideoRecord(path.stem, path.resolve(), 0, ACTORS, comp, split, dataset="dfd"))
    for path in fakes:
        target, source = dfd_actor(path.stem)
        # A fake shows two actors; keep it only where both fall in one split, so
        # that no actor's face reaches two splits.
        split = split_of[target] if split_of[target] == split_of.get(source) else ""
        if not split:
            index.missing.append(
                MissingVideo(path.stem, DFD_METHOD, "", "actors in two splits: left out of every split")
            )
        index.records.append(
            VideoRecord(path.stem, path.resolve(), 1, DFD_METHOD, comp, split, target, source, dataset="dfd")
        )
