"""What the report reads from run folders, and the headline table every output shares."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dfrobust.attacks.registry import display_rank
from dfrobust.eps import eps_label
from dfrobust.errors import DfrobustError
from dfrobust.evaluation.results import read_csv_rows, read_groups, read_summary
from dfrobust.runs import CONFIG_FILE, EVAL_DIR, HISTORY_FILE, History

SUMMARY_METRICS = ("accuracy", "precision", "recall", "f1", "auroc", "ap", "eer", "video_accuracy", "video_auroc")
TABLE_METRICS = ("accuracy", "auroc")  # the Markdown/console summary's metric columns
MAX_EXAMPLES = 2  # example frames shown per condition folder


@dataclass
class RunResults:
    """Everything the report reads from one run folder (each part may be empty).

    ``summary`` rows have ``condition`` (str), ``eps`` (float) and numeric metrics;
    ``predictions`` rows are ``predictions.csv`` rows with numbers parsed; ``checks`` the
    gradient-masking checks of summary.json (name, status, values); ``examples`` maps a
    folder of eval/examples to its (clean.png, adv.png, caption) triples; ``groups`` the
    per-group rows (``{"method": rows, ...}``, see :mod:`dfrobust.evaluation.groups`).
    """

    name: str
    path: Path
    config_text: str = ""
    history: History | None = None
    summary: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)
    predictions: list[dict[str, Any]] = field(default_factory=list)
    examples: dict[str, list[tuple[Path, Path, str]]] = field(default_factory=dict)
    groups: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def condition_rank(condition: str) -> tuple[int, str]:
    """Sort key: the attack registry's display order, then any other condition by name."""
    name = condition.lower()
    return (display_rank(name), name)


def _load_examples(examples_dir: Path, records: Sequence[Mapping[str, Any]]) -> dict[str, list[tuple[Path, Path, str]]]:
    """``{folder: [(clean.png, adv.png, caption), ...]}``, at most MAX_EXAMPLES per folder,
    a real and a fake one first where both exist.

    The caption (label and P(fake) before -> after) comes from summary.json's records.
    """
    captions = {
        str(r.get("adv", "")): f"{'fake' if r.get('label') else 'real'} "
        f"{float(r.get('prob_clean', math.nan)):.2f}->{float(r.get('prob_adv', math.nan)):.2f}"
        for r in records
        if isinstance(r, Mapping)
    }
    found: dict[str, list[tuple[Path, Path, str]]] = {}
    if not examples_dir.is_dir():
        return found
    folders = sorted(
        (p for p in examples_dir.iterdir() if p.is_dir()),
        key=lambda p: condition_rank(p.name.split("_")[0]) + (p.name,),
    )
    for folder in folders:
        triples = []
        for clean in sorted(folder.glob("*_clean.png")):
            adv = clean.with_name(clean.name.replace("_clean.png", "_adv.png"))
            caption = captions.get(str(adv.relative_to(examples_dir.parent)), "")
            if adv.is_file():
                triples.append((clean, adv, caption))
        labels = [note.split(" ")[0] for _, _, note in triples]
        firsts = [t for i, t in enumerate(triples) if labels[i] not in labels[:i]]  # one per label first
        if triples:
            found[folder.name] = (firsts + [t for t in triples if t not in firsts])[:MAX_EXAMPLES]
    return found


def load_run(path: str | os.PathLike, name: str | None = None) -> RunResults:
    """Read what a run folder holds; absent parts stay empty (the report skips them)."""
    path = Path(path)
    if not path.is_dir():
        raise DfrobustError(f"run folder {path} does not exist; pass a folder written by `dfrobust train`")
    run = RunResults(name=name or path.resolve().name, path=path)
    if (path / CONFIG_FILE).is_file():
        run.config_text = (path / CONFIG_FILE).read_text(encoding="utf-8")
    if (path / HISTORY_FILE).is_file():
        run.history = History.load(path / HISTORY_FILE)
    eval_dir = path / EVAL_DIR
    run.summary, run.warnings, run.checks, records = read_summary(eval_dir)
    run.summary.sort(key=lambda r: (condition_rank(r["condition"]), r["eps"]))
    if (eval_dir / "predictions.csv").is_file():
        run.predictions = read_csv_rows(eval_dir / "predictions.csv")
    run.examples = _load_examples(eval_dir / "examples", records)
    run.groups = read_groups(eval_dir)
    if run.history is None and not run.summary and not run.config_text:
        raise DfrobustError(
            f"{path} holds no config.yaml, history.csv or eval/ results; "
            "is it a run folder written by `dfrobust train`?"
        )
    return run


def load_runs(paths: Sequence[str | os.PathLike]) -> list[RunResults]:
    """Load several runs, making their names unique (``name``, ``name-2``, ...)."""
    runs: list[RunResults] = []
    for p in paths:
        name, seen = Path(p).resolve().name, {r.name for r in runs}
        unique = name if name not in seen else next(f"{name}-{i}" for i in range(2, 999) if f"{name}-{i}" not in seen)
        runs.append(load_run(p, unique))
    return runs


def asr_columns(runs: Sequence[RunResults]) -> list[str]:
    """Attack-success-rate and query columns present in any run's summary, in order seen."""
    names: dict[str, None] = {}
    for run in runs:
        for row in run.summary:
            names.update((k, None) for k in row if k.startswith("asr") or "quer" in k)
    return list(names)


def summary_table(runs: Sequence[RunResults]) -> tuple[list[str], list[list[str]]]:
    """The headline table: one row per model x condition x eps; accuracy, AUC and ASRs.

    Returns ``(header, rows)`` of display strings, shared by the Markdown summary,
    the HTML page and the ``dfrobust demo`` console table.
    """
    asr = [c for c in asr_columns(runs) if c.startswith("asr")]
    header = ["model", "condition", "eps", *TABLE_METRICS, *asr]
    rows = [
        [run.name, row["condition"], eps_label(row["eps"]), *(cell(row.get(c)) for c in (*TABLE_METRICS, *asr))]
        for run in runs
        for row in run.summary
    ]
    return header, rows


def cell(value: Any) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.3f}" if abs(value) < 10 else f"{value:.0f}"
    return "" if value is None else str(value)
