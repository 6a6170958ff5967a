"""Video records: what every data-set layout yields, and what ``videos.csv`` holds.

Each layout module (:mod:`~dfrobust.data.ffpp` for FF++ and DFD,
:mod:`~dfrobust.data.celebdf`, :mod:`~dfrobust.data.dfdc`) turns a folder into the same
:class:`VideoRecord` objects, gathered in a :class:`DatasetIndex`; the rest of the pipeline
(``dfrobust index``, the extraction job, ``frames.csv``) never needs to know which layout a
video came from beyond its ``dataset`` field. Kept free of torch and av.

Method names are unique across data sets (``original``/``Deepfakes``... for FF++,
``actors``/``DeepFakeDetection`` for DFD, ``Celeb-real``/``YouTube-real``/``Celeb-synthesis``
for Celeb-DF, ``DFDC-real``/``DFDC-fake`` for DFDC), so the extraction's
``<method>/<video>/`` folders never mix two data sets.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

DATASETS = ("ffpp", "dfd", "celebdf", "dfdc")
DEFAULT_DATASET = "ffpp"  # what a videos.csv or frames.csv without a dataset column holds
VIDEO_CSV_FIELDS = ("video", "path", "label", "dataset", "method", "compression", "split", "target", "source")


@dataclass(frozen=True)
class VideoRecord:
    """One video of a data set, with everything a later stage needs to label it."""

    video: str  # "000", "000_003", "id0_id16_0008", "aaqaifqrwn" (file name without suffix)
    path: Path
    label: int  # 0 real, 1 fake
    method: str  # "original", "Deepfakes", "actors", "Celeb-real", "DFDC-fake", ...
    compression: str  # FF++/DFD: "raw", "c23" or "c40"; "" where a data set ships one version
    split: str  # "train", "val", "test", or "" when no split names it
    target: str = ""  # fakes: the video (or identity) that gives the frames (a of a_b)
    source: str = ""  # fakes: the video (or identity) that gives the face (b of a_b)
    mask: Path | None = None  # the blending-mask video, when FF++ provides it
    dataset: str = DEFAULT_DATASET  # one of DATASETS

    @property
    def key(self) -> str:
        """Unique name across methods: ``Deepfakes/000_003``, ``original/000``."""
        return f"{self.method}/{self.video}"

    def as_row(self) -> dict[str, str | int]:
        """The ``videos.csv`` row of this record."""
        return {
            "video": self.video,
            "path": str(self.path),
            "label": self.label,
            "dataset": self.dataset,
            "method": self.method,
            "compression": self.compression,
            "split": self.split,
            "target": self.target,
            "source": self.source,
        }


@dataclass(frozen=True)
class MissingVideo:
    """A video the splits promise (or a fake needs) that is not on disk, or one left out."""

    video: str
    method: str
    split: str
    reason: str


@dataclass
class DatasetIndex:
    """The videos found under a root, and what is missing from it."""

    root: Path
    compression: str
    methods: tuple[str, ...]
    records: list[VideoRecord] = field(default_factory=list)
    missing: list[MissingVideo] = field(default_factory=list)
    dataset: str = DEFAULT_DATASET  # the layout the root was read as

    def counts(self) -> Counter[tuple[str, str, int]]:
        """Number of videos per (split, method, label)."""
        return Counter((r.split, r.method, r.label) for r in self.records)

    def orphan_fakes(self) -> list[MissingVideo]:
        """Fakes on disk whose original (target or source) is missing."""
        return [m for m in self.missing if m.reason.startswith("original of")]


def stable_seed(*parts: object) -> int:
    """A 32-bit seed from any values, the same on every machine and run (unlike ``hash``)."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=4).digest()
    return int.from_bytes(digest, "little")


def holdout_groups(groups: Iterable[str], seed: int, fraction: float) -> set[str]:
    """A seeded ``fraction`` of ``groups`` (at least one when there are two or more).

    Used for the validation splits the official files do not give (Celeb-DF, DFDC): whole
    groups (an identity, a real video with its fakes) are held out, never single videos.
    """
    ordered = sorted(set(groups))
    random.Random(seed).shuffle(ordered)
    count = round(len(ordered) * fraction)
    if len(ordered) >= 2:
        count = max(count, 1)
    return set(ordered[:count])
