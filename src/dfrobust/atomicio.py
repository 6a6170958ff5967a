"""Atomic file writes: a result file is either complete or absent.

Every result (JPEG, manifest, JSON, checkpoint) is written to a hidden temporary
name in the same folder and renamed into place, so a ``kill -9`` or a full disk
never leaves a half-written file that a rerun would take for finished work.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from dfrobust.errors import DfrobustError


class OutputError(DfrobustError):
    """A result file could not be written (read-only folder, disk full, a file where a folder
    should be). Unlike a bad input, this stops a job: every later write would fail the same way."""


def _temp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs: Any) -> Iterator[IO]:
    """Open ``path`` for writing through a temporary file renamed on success.

    On any exception the temporary file is removed and ``path`` is untouched.
    An ``OSError`` (read-only folder, disk full) becomes an :class:`OutputError`
    naming the file.
    """
    if "r" in mode or "a" in mode:
        raise ValueError(f"atomic_open only writes; got mode {mode!r}")
    path = Path(path)
    tmp = _temp_name(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        _discard(tmp)
        raise OutputError(f"cannot write {path}: {e.strerror or e}") from e
    except BaseException:
        _discard(tmp)
        raise


def _discard(tmp: Path) -> None:
    """Remove a temporary file if there is one; an unusable folder must not hide the first error."""
    with contextlib.suppress(OSError):
        tmp.unlink(missing_ok=True)


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_open(path, "wb") as f:
        f.write(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_open(path, "w", encoding="utf-8") as f:
        f.write(text)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON atomically (NaN is written as ``null``)."""
    write_text(path, json.dumps(_nan_to_none(obj), indent=2, sort_keys=False) + "\n")


def write_csv(path: str | os.PathLike, rows: Iterable[Mapping[str, Any]], fieldnames: Sequence[str]) -> None:
    """Write dict rows as CSV with a header atomically."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(fieldnames), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    write_text(path, buf.getvalue())


def _nan_to_none(obj: Any) -> Any:
    if isinstance(obj, float) and obj != obj:
        return None
    if isinstance(obj, dict):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_nan_to_none(v) for v in obj]
    return obj
