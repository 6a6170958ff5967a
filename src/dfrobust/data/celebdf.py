"""The Celeb-DF (v2) layout and its official test list, turned into video records.

The release (github.com/yuezunli/celeb-deepfakeforensics, README "Dataset Structure")::

    Celeb-real/id0_0000.mp4          590 celebrity videos from YouTube         (real)
    YouTube-real/00000.mp4           300 additional YouTube videos             (real)
    Celeb-synthesis/id0_id16_0008.mp4  5639 DeepFakes made from Celeb-real    (fake)
    List_of_testing_videos.txt       518 videos: the official test set

Some copies keep each folder's videos under ``<folder>/videos/``; both are read.

Names: in ``idA_idB_NNNN`` "A is the original id, B is swapped id, NNNN is the video
index" (the authors, issue #6 of that repository), so the fake takes its frames from
``Celeb-real/idA_NNNN`` (``target``) and its face from identity ``idB`` (``source``).

Labels: the README names the folders' content (Celeb-real and YouTube-real real,
Celeb-synthesis synthesized); labels come from the folder. Each line of
``List_of_testing_videos.txt`` is ``<digit> <folder>/<file>``; the README does not spell
the digit out, and the released file writes 1 for Celeb-real and YouTube-real and 0 for
Celeb-synthesis (``1 YouTube-real/00170.mp4``, ``0 Celeb-synthesis/id0_id16_0008.mp4``):
1 = real, 0 = synthesized, the opposite of our 0 = real. Every line is checked against its
folder, and a line that disagrees is an error naming it, so a flipped list cannot slip in.

Splits: the listed videos are ``test``. The release has no validation split; the rest is
split by identity, seeded (:data:`VAL_FRACTION` of the identities, each YouTube-real
video its own identity, to ``val``), so no face reaches both train and val. A fake shows
two identities: it is kept only where both fall in one split, as for DFD, and otherwise
left out of every split (listed as missing with the reason). Compression: the release
ships one version of each video, so ``compression`` is ``""``.
"""

from __future__ import annotations

import re
from pathlib import Path

from dfrobust.data.records import DatasetIndex, MissingVideo, VideoRecord, holdout_groups
from dfrobust.errors import DfrobustError

DATASET = "celebdf"
CELEB_REAL, YOUTUBE_REAL, CELEB_SYNTHESIS = "Celeb-real", "YouTube-real", "Celeb-synthesis"
METHODS = (CELEB_REAL, YOUTUBE_REAL, CELEB_SYNTHESIS)
LABELS = {CELEB_REAL: 0, YOUTUBE_REAL: 0, CELEB_SYNTHESIS: 1}
TEST_LIST = "List_of_testing_videos.txt"
LIST_DIGIT = {CELEB_REAL: "1", YOUTUBE_REAL: "1", CELEB_SYNTHESIS: "0"}  # the list's 1 = real
VAL_FRACTION = 0.1
VIDEO_SUFFIXES = (".mp4", ".avi")
_FAKE_NAME = re.compile(r"^(id\d+)_(id\d+)_(\d+)$")
_REAL_NAME = re.compile(r"^(id\d+)_(\d+)$")


def is_celebdf_root(root: Path) -> bool:
    """True when ``root`` holds one of the Celeb-DF folders."""
    return any((root / method).is_dir() for method in METHODS)


def identities(method: str, video: str) -> tuple[str, str]:
    """The (target, source) identities of a video; source is "" for real videos.

    ``id0_id16_0008`` -> ("id0", "id16"); ``id3_0001`` -> ("id3", ""); a YouTube-real
    video (one subject each) is its own identity: ``00170`` -> ("YouTube-real/00170", "").
    """
    if method == CELEB_SYNTHESIS and (m := _FAKE_NAME.match(video)):
        return m[1], m[2]
    if method == CELEB_REAL and (m := _REAL_NAME.match(video)):
        return m[1], ""
    return f"{method}/{video}", ""


def read_test_list(path: Path) -> dict[str, str]:
    """``List_of_testing_videos.txt`` as ``{"Celeb-real/id0_0000": "1", ...}``, each line checked.

    Raises:
        DfrobustError: an unreadable file, a malformed line, an unknown folder, or a digit
            that disagrees with the folder (naming the line).
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise DfrobustError(f"cannot read the Celeb-DF test list {path}: {e}") from None
    listed: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        parts = line.split()
        folder, _, name = parts[-1].replace("\\", "/").partition("/")
        if len(parts) != 2 or folder not in LIST_DIGIT or not name:
            raise DfrobustError(
                f"{path}, line {number}: expected '<0|1> <folder>/<video>.mp4' with folder one of "
                f"{', '.join(METHODS)}, but got {line.strip()!r}"
            )
        if parts[0] != LIST_DIGIT[folder]:
            raise DfrobustError(
                f"{path}, line {number}: {parts[0]!r} for a {folder} video, but the list writes "
                f"1 for real and 0 for synthesized videos ({folder}: {LIST_DIGIT[folder]}); is this "
                "the official Celeb-DF v2 list?"
            )
        listed[f"{folder}/{Path(name).stem}"] = parts[0]
    if not listed:
        raise DfrobustError(f"the Celeb-DF test list {path} is empty; expected the 518 official test videos")
    return listed


def _list_videos(folder: Path) -> list[Path]:
    if (folder / "videos").is_dir():
        folder = folder / "videos"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file())


def index_celebdf(root: str | Path, *, seed: int = 0, val_fraction: float = VAL_FRACTION) -> DatasetIndex:
    """Find the videos of a Celeb-DF v2 root, labelled by folder, split by the official test list.

    Args:
        root: the folder holding ``Celeb-real/``, ``YouTube-real/``, ``Celeb-synthesis/`` and
            ``List_of_testing_videos.txt``.
        seed: seed of the train/val split by identity.
        val_fraction: share of the identities (outside the test list) held out for ``val``.

    Returns:
        The records (sorted by method then video) and the listed videos that are not on disk
        or were left out of every split.
    """
    root = Path(root).expanduser()
    listing = root / TEST_LIST
    if not listing.is_file():
        raise DfrobustError(
            f"{root} looks like Celeb-DF (it has {', '.join(m + '/' for m in METHODS if (root / m).is_dir())}) "
            f"but {TEST_LIST} is missing: it ships with Celeb-DF v2 and names the official test videos"
        )
    test = read_test_list(listing)
    found = {method: _list_videos(root / method) for method in METHODS}
    index = DatasetIndex(root=root, compression="", methods=METHODS, dataset=DATASET)
    on_disk = {f"{method}/{p.stem}" for method, paths in found.items() for p in paths}
    groups: list[str] = []
    for method, paths in found.items():
        for path in paths:
            if f"{method}/{path.stem}" not in test:
                groups.extend(i for i in identities(method, path.stem) if i)
    val = holdout_groups(groups, seed, val_fraction)
    for method, paths in found.items():
        for path in paths:
            index.records.append(_record(index, method, path, test, val, on_disk))
    for key in sorted(set(test) - on_disk):
        method, _, video = key.partition("/")
        index.missing.append(MissingVideo(video, method, "test", "not on disk"))
    if not index.records:
        raise DfrobustError(f"no videos found under {root}: expected e.g. {root / CELEB_REAL / 'id0_0000.mp4'}")
    index.records.sort(key=lambda r: (r.method, r.video))
    return index


def _record(
    index: DatasetIndex, method: str, path: Path, test: dict[str, str], val: set[str], on_disk: set[str]
) -> VideoRecord:
    """The record of one video; a fake left out of the splits or without its original is noted."""
    video = path.stem
    target, source = identities(method, video)
    split = _split(f"{method}/{video}", target, source, test, val)
    if method != CELEB_SYNTHESIS:
        return VideoRecord(video, path.resolve(), LABELS[method], method, "", split, dataset=DATASET)
    if not split:
        index.missing.append(MissingVideo(video, method, "", "identities in two splits: left out of every split"))
    real = f"{target}_{video.rsplit('_', 1)[-1]}" if source else ""  # idA_idB_NNNN <- Celeb-real/idA_NNNN
    if real and f"{CELEB_REAL}/{real}" not in on_disk:
        index.missing.append(MissingVideo(video, method, split, f"original of the fake: {real} not on disk"))
    return VideoRecord(video, path.resolve(), 1, method, "", split, real, source, dataset=DATASET)


def _split(key: str, target: str, source: str, test: dict[str, str], val: set[str]) -> str:
    """``test`` when listed; else ``val``/``train`` by identity ("" when two identities disagree)."""
    if key in test:
        return "test"
    splits = {("val" if identity in val else "train") for identity in (target, source) if identity}
    return splits.pop() if len(splits) == 1 else ""
