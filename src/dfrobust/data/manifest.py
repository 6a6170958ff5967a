"""``frames.csv``, the manifest of extracted frames: its columns, reading, writing, video keys.

One row per frame: ``path`` (relative to the manifest's folder), ``video``, ``frame_index``,
``label`` (0 real, 1 fake), ``dataset`` (``ffpp``, ``dfd``, ``celebdf``, ``dfdc``),
``method``, ``compression``, ``split`` and ``face_box`` (empty when not cropped). Manifests
written before the ``dataset`` column existed are read as FF++ (``dfd`` for the DFD methods).
A video is keyed ``method/compression/video`` (:func:`video_key`), prefixed with
``dataset/`` for the data sets outside the FF++ download (Celeb-DF, DFDC): the fake
``000_003`` exists once per method and compression, and two data sets may name videos
alike. FF++ and DFD keys stay the ones older manifests had. Also
``extract.json``, the extraction's summary, and the merging of sharded extractions.

A job split with ``--shard I/N`` writes ``frames.shard-I-of-N.csv`` and
``extract.shard-I-of-N.json``; :func:`merge_shards` checks that all N parts are
there and were made with the same options, and joins them into ``frames.csv`` and
``extract.json``. Kept free of torch and av so reading it is cheap.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Hashable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dfrobust.atomicio import write_csv, write_json
from dfrobust.errors import DfrobustError

if TYPE_CHECKING:
    from torch import Tensor

MANIFEST_COLUMNS = ("path", "video", "frame_index", "label", "dataset", "method", "compression", "split", "face_box")
SPLITS = ("train", "val", "test")
VIDEO_KEY_COLUMNS = ("method", "compression", "video")
DEFAULT_DATASET = "ffpp"  # the data set of a row without one (manifests older than the column)
_DFD_METHODS = ("actors", "DeepFakeDetection")
_UNPREFIXED = (DEFAULT_DATASET, "dfd")  # the FF++ download: keys as before the dataset column
COUNTS = ("videos", "done", "cached", "skipped", "short", "frames", "faces_found", "faces_missed")
_SHARD_PART = re.compile(r"^extract\.shard-(\d+)-of-(\d+)\.json$")


def shard_name(filename: str, shard: tuple[int, int]) -> str:
    """``frames.csv`` -> ``frames.shard-I-of-N.csv`` for a shard, unchanged for (0, 1)."""
    index, count = shard
    if count == 1:
        return filename
    stem, dot, suffix = filename.partition(".")
    return f"{stem}.shard-{index}-of-{count}{dot}{suffix}"


def write_outputs(out: Path, results: Iterable[Any], options: dict, shard: tuple[int, int], missing: int) -> dict:
    """Write the manifest (rows of every finished video) and the summary; return the summary.

    ``results``: objects with the fields of ``frames.VideoResult``.
    """
    results = sorted(results, key=lambda r: (r.method, r.video))
    rows = [_with_dataset(row) for r in results if not r.error for row in r.rows]
    counts = dict.fromkeys(COUNTS, 0)
    for r in results:
        counts["videos"] += 1
        counts["skipped" if r.error else "cached" if r.cached else "done"] += 1
        counts["short"] += r.short
        counts["frames"] += len(r.rows)
        counts["faces_found"] += r.faces_found
        counts["faces_missed"] += r.faces_missed
    summary = {
        "options": options,
        "shards": [f"{shard[0]}/{shard[1]}"],
        "counts": counts,
        "skipped": [{"method": r.method, "video": r.video, "reason": r.error} for r in results if r.error],
        "short": [{"method": r.method, "video": r.video, "num_frames": r.num_frames} for r in results if r.short],
        "missing_videos": missing,
    }
    for stray in out.glob(f".{shard_name('*.*', shard)}.*.tmp"):  # left by a killed run
        stray.unlink(missing_ok=True)
    write_csv(out / shard_name("frames.csv", shard), rows, MANIFEST_COLUMNS)
    write_json(out / shard_name("extract.json", shard), summary)
    return summary


def merge_shards(out: str | Path) -> dict:
    """Join the shard parts under ``out`` into ``frames.csv`` and ``extract.json``.

    Raises :class:`DfrobustError` when no parts are there, parts are missing, or
    they were extracted with different options.
    """
    out = Path(out)
    parts = sorted(
        (int(m[1]), int(m[2]), p) for p in out.glob("extract.shard-*.json") if (m := _SHARD_PART.match(p.name))
    )
    if not parts:
        raise DfrobustError(
            f"no shard parts (extract.shard-I-of-N.json) in {out}: run `dfrobust extract --shard I/N` for every I first"
        )
    count = parts[0][1]
    have = {i for i, n, _ in parts if n == count}
    if len({n for _, n, _ in parts}) > 1 or have != set(range(count)):
        raise DfrobustError(
            f"{out}: expected shards 0..{count - 1} of {count}, found "
            f"{[f'{i}/{n}' for i, n, _ in parts]}; run the missing ones"
        )
    summaries = [json.loads(p.read_text(encoding="utf-8")) for _, _, p in parts]
    if any(s["options"] != summaries[0]["options"] for s in summaries):
        raise DfrobustError(
            f"{out}: the shards were extracted with different options; "
            "rerun them with one command line (only --shard and --workers may differ)"
        )
    rows: list[dict] = []
    for i, _, _ in parts:
        with open(out / shard_name("frames.csv", (i, count)), newline="", encoding="utf-8") as f:
            rows.extend(_with_dataset(row) for row in csv.DictReader(f))
    rows.sort(key=lambda r: (r["dataset"], r["method"], r["video"], int(r["frame_index"])))
    merged = {
        "options": summaries[0]["options"],
        "shards": [s for summary in summaries for s in summary["shards"]],
        "counts": {k: sum(s["counts"][k] for s in summaries) for k in COUNTS},
        "skipped": [x for s in summaries for x in s["skipped"]],
        "short": [x for s in summaries for x in s["short"]],
        "missing_videos": summaries[0]["missing_videos"],
    }
    write_csv(out / "frames.csv", rows, MANIFEST_COLUMNS)
    write_json(out / "extract.json", merged)
    return merged


def read_manifest(manifest: str | os.PathLike) -> list[dict[str, str]]:
    """Read and check ``frames.csv``: every column present, every label 0 or 1.

    A manifest without the ``dataset`` column (written before it existed) is read with
    ``dataset`` filled in: ``dfd`` for the DFD methods, else ``ffpp``.

    Returns:
        The rows as dicts of strings, in file order.
    """
    manifest = Path(manifest)
    try:
        with open(manifest, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = [c for c in MANIFEST_COLUMNS if c not in (reader.fieldnames or []) and c != "dataset"]
            if missing:
                raise DfrobustError(
                    f"manifest {manifest} lacks column(s) {missing}; expected {list(MANIFEST_COLUMNS)} "
                    "as written by `dfrobust extract`"
                )
            rows = [_with_dataset(row) for row in reader]
    except OSError as e:
        raise DfrobustError(f"cannot read manifest {manifest}: {e.strerror or e}; run `dfrobust extract` first") from e
    for line, row in enumerate(rows, start=2):
        if row["label"] not in ("0", "1"):
            raise DfrobustError(
                f"manifest {manifest}, line {line}: Expected label 0 (real) or 1 (fake), but got {row['label']!r}"
            )
    return rows


def _with_dataset(row: dict[str, str]) -> dict[str, str]:
    """``row`` with its ``dataset`` filled in when the manifest predates the column."""
    if not row.get("dataset"):
        row["dataset"] = "dfd" if row.get("method") in _DFD_METHODS else DEFAULT_DATASET
    return row


def video_key(row: Mapping[str, str], columns: Sequence[str] = VIDEO_KEY_COLUMNS) -> str:
    """The key of a manifest row's video: ``"Deepfakes/c23/000_003"`` for FF++ and DFD, with the
    data set in front elsewhere (``"celebdf/Celeb-synthesis//id0_id16_0008"``), so that two data
    sets never share a key while FF++ keys stay those of older manifests."""
    missing = [c for c in columns if c not in row]
    if missing:
        raise DfrobustError(
            f"manifest row has no column(s) {missing}; expected the frames.csv columns "
            f"{list(columns)}: re-run `dfrobust extract`"
        )
    key = "/".join(str(row[c]) for c in columns)
    dataset = row.get("dataset") or DEFAULT_DATASET
    return key if dataset in _UNPREFIXED else f"{dataset}/{key}"


class VideoIndex:
    """A stable mapping from video keys to integers ``0 .. len - 1``.

    Keys are sorted, so every process (and every rerun) that sees the same videos
    builds the same mapping, whatever order it read them in. A Dataset returns
    ``index[key]`` with each frame, which lets :class:`DetectionMetrics` keep video
    ids in an integer tensor that can be gathered across processes.
    """

    def __init__(self, keys: Iterable[Hashable]) -> None:
        self.keys: list[Hashable] = sorted(set(keys))
        self._index = {key: i for i, key in enumerate(self.keys)}

    @classmethod
    def from_rows(
        cls,
        rows: Iterable[Mapping[str, str]],
        columns: Sequence[str] = VIDEO_KEY_COLUMNS,
    ) -> VideoIndex:
        """Build the index from manifest rows (``frames.csv`` as dicts).

        The key joins ``columns`` with ``/``: a video name alone is ambiguous, since
        the fake ``000_003`` exists once per manipulation method and compression.
        """
        return cls(video_key(row, columns) for row in rows)

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, key: Hashable) -> int:
        try:
            return self._index[key]
        except KeyError:
            raise DfrobustError(
                f"unknown video {key!r}; the index holds {len(self)} videos "
                "built from the manifest: rebuild it from the same manifest"
            ) from None

    def encode(self, keys: Iterable[Hashable]) -> Tensor:
        """Integer indices of ``keys``, shape (N,) int64."""
        import torch  # deferred: extraction reads this module without torch

        return torch.tensor([self[key] for key in keys], dtype=torch.long)
