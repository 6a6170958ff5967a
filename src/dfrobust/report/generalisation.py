"""The report's generalisation sections: per-method results, cross and transfer matrices.

- Per method: each run's ``method`` groups (a method's fakes with all real frames, the FF++
  convention) as a heat map (method x condition, accuracy and AUC) and a table.
- Cross: a ``cross.json`` of ``dfrobust cross`` (train set x test set).
- Transfer: a ``transfer.json`` of ``dfrobust transfer`` (source x target run).

``dfrobust report RUNS... --cross DIR`` reads DIR/cross.json and/or DIR/transfer.json.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from dfrobust.eps import eps_label
from dfrobust.errors import DfrobustError
from dfrobust.evaluation.groups import METHOD_NOTE
from dfrobust.report.results import RunResults

MATRIX_FILES = ("cross.json", "transfer.json")
_COLUMNS = ("accuracy", "auroc", "video_accuracy", "video_auroc", "asr_evasion")
_NOTES = {
    "cross": "Each run (the data it was trained on) scored on each test set. accuracy under an attack "
    "condition is the robust accuracy; asr_evasion: fake frames called real.",
    "transfer": "Each target run scored on the frames the source run's white-box attack made (saved as PNG "
    "at the source's input size). accuracy: the target's accuracy on them (its robust accuracy "
    "against the transferred attack); clean_accuracy: on the same frames unattacked; asr_evasion: "
    "fake frames the target calls real. The diagonal (source = target) is the white-box attack.",
}
Table = Callable[[Sequence[str], Sequence[Sequence[Any]]], str]


def condition_label(condition: str, eps: Any) -> str:
    """``clean`` or ``pgd 4/255`` (eps a float or a label)."""
    if condition == "clean":
        return condition
    return f"{condition} {eps_label(eps) if isinstance(eps, float) else eps}"


def load_matrices(folders: Sequence[str | os.PathLike]) -> list[dict[str, Any]]:
    """The cross.json / transfer.json of each folder (a folder may hold both)."""
    found = []
    for folder in map(Path, folders):
        files = [folder / name for name in MATRIX_FILES if (folder / name).is_file()]
        if not files:
            raise DfrobustError(f"{folder} holds no cross.json or transfer.json; run `dfrobust cross` or `transfer`")
        for path in files:
            try:
                found.append({**json.loads(path.read_text(encoding="utf-8")), "path": str(path)})
            except (OSError, ValueError) as e:
                raise DfrobustError(f"cannot read {path}: {e}; rerun the command that wrote it") from e
    return found


def method_rows(runs: Sequence[RunResults]) -> tuple[list[str], list[list[Any]]]:
    """One row per run x method x condition of the ``method`` groups."""
    header = ["model", "method", "condition", "real", "fake", *_COLUMNS]
    rows = [
        [run.name, r["group"], condition_label(r["condition"], r["eps"]), r.get("real_frames"), r.get("fake_frames")]
        + [r.get(c) for c in _COLUMNS]
        for run in runs
        for r in run.groups.get("method", [])
    ]
    return header, rows


def methods_section(runs: Sequence[RunResults], png: bytes | None, table: Table, img: Callable) -> str:
    header, rows = method_rows(runs)
    if not rows:
        return ""
    plot = img(png, "accuracy and AUC per method") if png else ""
    return f"<h2>Per manipulation method</h2><p>{html.escape(METHOD_NOTE)}.</p>{plot}{table(header, rows)}"


def matrix_rows(result: Mapping[str, Any]) -> tuple[str, list[str], list[list[Any]]]:
    """(heading, header, rows) of a cross or transfer matrix."""
    cross = result.get("kind") == "cross"
    keys = ("train", "test") if cross else ("source", "target")
    extra = () if cross else ("clean_accuracy",)
    header = [*keys, "condition", "eps", "frames", *_COLUMNS, *extra]
    rows = [[r.get(k) for k in header] for r in result.get("rows", []) if isinstance(r, Mapping)]
    heading = "Cross evaluation: train set x test set" if cross else "Transfer attacks: source x target"
    return heading, header, rows


def matrix_section(result: Mapping[str, Any], png: bytes | None, table: Table, img: Callable) -> str:
    heading, header, rows = matrix_rows(result)
    note = _NOTES["cross" if result.get("kind") == "cross" else "transfer"]
    plot = img(png, heading) if png else ""
    source = html.escape(str(result.get("path", "")))
    return f"<h2>{heading}</h2><p>{html.escape(note)}</p><p class='muted'>{source}</p>{plot}{table(header, rows)}"
