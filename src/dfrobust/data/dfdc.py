"""The DFDC layout (Deepfake Detection Challenge, Dolhansky et al. 2020) turned into video records.

Read from the root, one level deep::

    dfdc_train_part_0/metadata.json, *.mp4     training parts (also the Kaggle
    ...                                         train_sample_videos/ folder): any
                                                folder with a metadata.json
    test/labels.csv, test/*.mp4                 the public test set: any folder
                                                (or the root) with a labels.csv

``metadata.json`` maps a file name to ``{"label": "REAL"|"FAKE", "split": "train",
"original": "<real file>.mp4"}`` (Kaggle, deepfake-detection-challenge, Data page:
"label - whether the video is REAL or FAKE; original - in the case that a train set
video is FAKE, the original video is listed here; split - this is always equal to
train"). ``labels.csv`` has the columns ``filename,label`` with ``label`` 1 for a fake
and 0 for a real video, the challenge's own convention (its log-loss scores y = 1 when
the video is FAKE); strings REAL/FAKE are accepted too. A FAKE may be an audio-only
swap, which no frame shows: the labels are kept as published.

Splits: the public test set is ``test``. The training parts have no validation split; a
seeded :data:`VAL_FRACTION` of the groups (a real video with every fake made from it) goes
to ``val``, the rest to ``train``, so a fake never lands apart from its original. Actors
recur across originals, so this split is by video, not by actor (DFDC publishes no actor
ids). A metadata ``split`` of ``val`` or ``test`` is kept as given. Methods: ``DFDC-real``
and ``DFDC-fake`` (the metadata does not name the face-swap method); compression ``""``:
the release ships one version of each video.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from dfrobust.data.records import DatasetIndex, MissingVideo, VideoRecord, holdout_groups
from dfrobust.errors import DfrobustError

DATASET = "dfdc"
REAL, FAKE = "DFDC-real", "DFDC-fake"
METHODS = (REAL, FAKE)
METADATA = "metadata.json"
TEST_LABELS = "labels.csv"
VAL_FRACTION = 0.1
_METADATA_LABELS = {"REAL": 0, "FAKE": 1}
_CSV_LABELS = {"0": 0, "1": 1, "REAL": 0, "FAKE": 1}


def training_parts(root: Path) -> list[Path]:
    """The folders under ``root`` (one level) holding a ``metadata.json``, sorted."""
    return sorted(p for p in root.iterdir() if p.is_dir() and (p / METADATA).is_file())


def public_test_folders(root: Path) -> list[Path]:
    """The public test folders: ``root`` itself or its subfolders holding a ``labels.csv``."""
    return [p for p in (root, *sorted(q for q in root.iterdir() if q.is_dir())) if (p / TEST_LABELS).is_file()]


def is_dfdc_root(root: Path) -> bool:
    """True when ``root`` holds a DFDC training part or the public test set."""
    return bool(training_parts(root) or public_test_folders(root))


def read_metadata(path: Path) -> dict[str, dict]:
    """A part's ``metadata.json``: ``{file: {"label": "REAL"|"FAKE", ...}}``, each entry checked."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DfrobustError(f"cannot read DFDC metadata {path}: {e}") from None
    if not isinstance(data, dict):
        raise DfrobustError(f"DFDC metadata {path}: expected a JSON object of file name -> entry")
    for name, entry in data.items():
        if not isinstance(entry, dict) or entry.get("label") not in _METADATA_LABELS:
            raise DfrobustError(
                f'DFDC metadata {path}, entry {name!r}: expected {{"label": "REAL" or "FAKE", ...}}, '
                f"but got {json.dumps(entry)[:80]}"
            )
    return data


def read_test_labels(path: Path) -> dict[str, int]:
    """The public test set's ``labels.csv`` as ``{file name: label}`` (1 fake, 0 real)."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if not {"filename", "label"} <= set(reader.fieldnames or ()):
                raise DfrobustError(
                    f"DFDC test labels {path}: expected the columns filename,label, got {reader.fieldnames}"
                )
            rows = list(reader)
    except (OSError, UnicodeDecodeError) as e:
        raise DfrobustError(f"cannot read DFDC test labels {path}: {e}") from None
    labels: dict[str, int] = {}
    for line, row in enumerate(rows, start=2):
        value = (row["label"] or "").strip().upper()
        if value not in _CSV_LABELS:
            raise DfrobustError(
                f"DFDC test labels {path}, line {line}: Expected label 1 (fake) or 0 (real), but got {row['label']!r}"
            )
        labels[row["filename"].strip()] = _CSV_LABELS[value]
    return labels


def index_dfdc(root: str | Path, *, seed: int = 0, val_fraction: float = VAL_FRACTION) -> DatasetIndex:
    """Find the videos of a DFDC root: training parts by their metadata, the public test set by labels.csv.

    Args:
        root: folder holding ``dfdc_train_part_*/`` and/or the public test folder.
        seed: seed of the train/val split by group (a real video and its fakes).
        val_fraction: share of the training groups held out for ``val``.

    Returns:
        The records (sorted by method then video) and the listed videos that are not on disk.
    """
    root = Path(root).expanduser()
    index = DatasetIndex(root=root, compression="", methods=METHODS, dataset=DATASET)
    entries = [
        (part, name, entry) for part in training_parts(root) for name, entry in read_metadata(part / METADATA).items()
    ]
    on_disk = {name for part, name, _ in entries if (part / name).is_file()}
    group = {name: Path(entry.get("original") or name).stem for _, name, entry in entries}
    val = holdout_groups(group.values(), seed, val_fraction)
    for part, name, entry in entries:
        label = _METADATA_LABELS[entry["label"]]
        split = entry.get("split") if entry.get("split") in ("val", "test") else "train"
        split = "val" if split == "train" and group[name] in val else split
        if (part / name).is_file():
            original = Path(entry.get("original") or "").stem if label else ""
            index.records.append(_record(part / name, label, split, original))
            if original and entry["original"] not in on_disk:
                index.missing.append(
                    MissingVideo(Path(name).stem, FAKE, split, f"original of the fake: {original} not on disk")
                )
        else:
            index.missing.append(MissingVideo(Path(name).stem, _method(label), split, "not on disk"))
    for folder in public_test_folders(root):
        for name, label in read_test_labels(folder / TEST_LABELS).items():
            if (folder / name).is_file():
                index.records.append(_record(folder / name, label, "test", ""))
            else:
                index.missing.append(MissingVideo(Path(name).stem, _method(label), "test", "not on disk"))
    if not index.records:
        raise DfrobustError(
            f"no DFDC videos found under {root}: the {METADATA} and {TEST_LABELS} files there name files "
            "that are not on disk; unpack the videos next to them"
        )
    index.records.sort(key=lambda r: (r.method, r.video))
    return index


def _method(label: int) -> str:
    return FAKE if label else REAL


def _record(path: Path, label: int, split: str, original: str) -> VideoRecord:
    return VideoRecord(path.stem, path.resolve(), label, _method(label), "", split, original, dataset=DATASET)
