"""``eval/parts/``: an evaluation's finished batches on disk, so a long evaluation resumes.

Each finished batch is one file, written atomically (temporary name, then rename), so a
``kill -9`` loses at most the batch in flight; a rerun with the same options evaluates only
the frames no part holds. Shards and processes write into the same folder (each frame
belongs to one of them), and the merge joins the parts once every frame has one::

    eval/parts/options.json                 what the results depend on (the fingerprint)
    eval/parts/part-<first>-<count>.pt      one batch: positions, P(fake), queries, stages...
    eval/parts/merge.lock                   held by the process that merges

Results made with other options are refused (one line naming the first differing option).
After the merge the parts are deleted: the files :mod:`dfrobust.evaluation.results` writes
hold everything, and a later evaluation with other options starts afresh.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from dfrobust.atomicio import atomic_open, write_json
from dfrobust.errors import DfrobustError
from dfrobust.evaluation.batch import Batch
from dfrobust.evaluation.options import EvalOptions

PARTS_DIR = "parts"
# Options that change how the work is done, not its results (per-frame streams).
NOT_IN_FINGERPRINT = ("batch_size",)
_PART = re.compile(r"part-(\d+)-(\d+)\.pt")


def parts_dir(eval_dir: str | os.PathLike) -> Path:
    """``eval/parts/``."""
    return Path(eval_dir) / PARTS_DIR


def fingerprint(options: EvalOptions, meta: dict[str, Any], frames: int) -> dict[str, Any]:
    """What an evaluation's results depend on: its options (all but the batch size), the
    checkpoint, split, manifest and model, and the number of frames planned."""
    opts = {k: v for k, v in asdict(options).items() if k not in NOT_IN_FINGERPRINT}
    keep = ("checkpoint", "split", "manifest", "model", "image_size")
    return json.loads(json.dumps({**{k: meta.get(k) for k in keep}, "frames": frames, "options": opts}))


def claim(eval_dir: str | os.PathLike, wanted: dict[str, Any]) -> None:
    """Record ``wanted`` as the parts' fingerprint, or check that it matches the recorded one.

    Raises:
        DfrobustError: the parts were made with other options (one line saying which).
    """
    path = parts_dir(eval_dir) / "options.json"
    if path.is_file():
        try:
            found = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise DfrobustError(f"cannot read {path}: {e}; delete {path.parent} to start over") from e
        if found != wanted:
            key, ours, theirs = _first_difference(wanted, found)
            raise DfrobustError(
                f"{path.parent} holds an unfinished evaluation made with {key} = {theirs!r}, not {ours!r}; "
                f"rerun with its options to resume it, or delete {path.parent} to start over"
            )
        return
    write_json(path, wanted)


def _first_difference(ours: dict[str, Any], theirs: dict[str, Any], prefix: str = "") -> tuple[str, Any, Any]:
    for key in sorted(set(ours) | set(theirs)):
        a, b = ours.get(key), theirs.get(key)
        if isinstance(a, dict) and isinstance(b, dict) and a != b:
            return _first_difference(a, b, f"{prefix}{key}.")
        if a != b:
            return f"{prefix.removeprefix('options.')}{key}", a, b
    return "?", None, None


def write_part(eval_dir: str | os.PathLike, batch: Batch) -> Path:
    """Save one finished batch atomically; named by its first position and its frame count."""
    path = parts_dir(eval_dir) / f"part-{batch.positions[0]:08d}-{len(batch.positions):05d}.pt"
    with atomic_open(path, "wb") as f:
        torch.save({k: v for k, v in vars(batch).items() if k != "scored"}, f)  # pickled: Conditions, Examples
    return path


def _part_files(eval_dir: str | os.PathLike) -> Iterator[tuple[Path, int]]:
    folder = parts_dir(eval_dir)
    if folder.is_dir():
        for path in sorted(folder.iterdir()):
            match = _PART.fullmatch(path.name)
            if match:
                yield path, int(match.group(2))


def count_done(eval_dir: str | os.PathLike) -> int:
    """Frames the parts hold, from the file names alone (cheap enough to poll for progress)."""
    return sum(count for _, count in _part_files(eval_dir))


def read_parts(eval_dir: str | os.PathLike) -> list[Batch]:
    """Every finished batch in ``eval/parts/``."""
    batches = []
    for path, _ in _part_files(eval_dir):
        try:
            data = torch.load(path, map_location="cpu", weights_only=False)  # our own file
        except Exception as e:  # a part is either whole (atomic) or a foreign file
            raise DfrobustError(f"cannot read {path}: {e}; delete it and rerun to redo its batch") from e
        batches.append(Batch(**data))
    return batches


def done_positions(eval_dir: str | os.PathLike) -> set[int]:
    """Positions of the frames the parts hold."""
    return {p for batch in read_parts(eval_dir) for p in batch.positions}


@contextlib.contextmanager
def merge_lock(eval_dir: str | os.PathLike) -> Iterator[bool]:
    """Yield True for the one process that may merge (and then delete) the parts, else False."""
    path = parts_dir(eval_dir) / "merge.lock"
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        yield False
        return
    os.close(fd)
    try:
        yield True
    finally:
        path.unlink(missing_ok=True)


def remove_parts(eval_dir: str | os.PathLike) -> None:
    """Delete ``eval/parts/`` once merged."""
    shutil.rmtree(parts_dir(eval_dir), ignore_errors=True)
