"""The report: one self-contained HTML page (plus PNGs and a Markdown summary) comparing runs.

A run folder (DESIGN.md) holds ``config.yaml``, ``history.csv`` and, once tested,
``eval/summary.json`` (or ``summary.csv``), ``eval/predictions.csv`` and
``eval/examples/<condition>_<eps>/<k>_{clean,adv}.png``. Each part is optional: a
run without ``eval/`` still gets its history and config, and a missing column
skips its plot or table cell instead of failing::

    paths = write_report(["runs/clean", "runs/fgsm_rs"], "report.html")

The page embeds every plot as a base64 PNG data URI and carries no script, external
CSS or font, so it opens offline and can be mailed as one file. All text that comes
from file names, CSVs or configs is HTML-escaped.
"""

from __future__ import annotations

import base64
import csv
import html
import json
import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple

from dfrobust.atomicio import write_bytes, write_text
from dfrobust.errors import DfrobustError
from dfrobust.evaluation import eps_label
from dfrobust.metrics import History, plot_history

log = logging.getLogger(__name__)

CONDITION_ORDER = ("clean", "fgsm", "pgd", "square")
SUMMARY_METRICS = ("accuracy", "precision", "recall", "f1", "auroc", "ap", "eer",
                   "video_accuracy", "video_auroc")
TABLE_METRICS = ("accuracy", "auroc")  # the Markdown/console summary's metric columns
MAX_EXAMPLES = 2  # example frames shown per condition folder


@dataclass
class RunResults:
    """Everything the report reads from one run folder (each part may be empty).

    ``summary`` rows have ``condition`` (str), ``eps`` (float) and numeric metrics;
    ``predictions`` rows are ``predictions.csv`` rows with numbers parsed; ``checks`` the
    gradient-masking checks of summary.json (name, status, values); ``examples`` maps a
    folder of eval/examples to its (clean.png, adv.png, caption) triples.
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


class ReportPaths(NamedTuple):
    """The files :func:`write_report` wrote, and the runs it read (for a console table)."""

    html: Path
    markdown: Path
    images: list[Path]
    runs: list[RunResults]


def _number(text: Any) -> Any:
    """A CSV cell as a float when it is one (``true``/``false`` as 1/0), else the text."""
    if isinstance(text, (int, float)) or text is None:
        return math.nan if text is None else text
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return float(lowered == "true")
    try:
        return float(text)
    except ValueError:
        if "/" in text:
            try:
                a, b = text.split("/")
                return float(a) / float(b)
            except (ValueError, ZeroDivisionError):
                pass
        return math.nan if not lowered or lowered in ("nan", "none", "null") else text


def _read_csv(path: Path) -> list[dict[str, Any]]:
    try:
        with open(path, newline="", encoding="utf-8") as f:
            return [{k: _number(v) for k, v in row.items() if k} for row in csv.DictReader(f)]
    except (OSError, csv.Error, UnicodeDecodeError) as e:
        raise DfrobustError(f"cannot read {path}: {e}; re-run `dfrobust test` to rewrite it") from e


def _load_summary(eval_dir: Path) -> tuple[list[dict[str, Any]], list[str], list[dict], list[dict]]:
    """Summary rows, gradient-masking warnings and checks, and example records.

    From summary.json, or else (rows only) summary.csv.
    """
    rows: list[dict[str, Any]] = []
    warnings: list[str] = []
    checks: list[dict] = []
    examples: list[dict] = []
    json_path, csv_path = eval_dir / "summary.json", eval_dir / "summary.csv"
    if json_path.is_file():
        try:
            data = json.loads(json_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise DfrobustError(f"cannot read {json_path}: {e}; re-run `dfrobust test`") from e
        rows = [{k: _number(v) for k, v in row.items()} for row in data.get("rows", [])]
        warnings = [str(w) for w in data.get("warnings", [])]
        checks = data.get("checks", [])
        examples = data.get("examples", [])
    if not rows and csv_path.is_file():
        rows = _read_csv(csv_path)
    for row in rows:
        row["condition"] = str(row.get("condition", "?"))
        eps = row.get("eps_value", row.get("eps"))  # eps is a label like 4/255, eps_value the float
        row["eps"] = eps if isinstance(eps, float) and not math.isnan(eps) else 0.0
    rows.sort(key=lambda r: (condition_rank(r["condition"]), r["eps"]))
    return rows, warnings, checks, examples


def condition_rank(condition: str) -> tuple[int, str]:
    """Sort key: clean, fgsm, pgd, square, then any other condition by name."""
    name = condition.lower()
    return (CONDITION_ORDER.index(name) if name in CONDITION_ORDER else len(CONDITION_ORDER), name)


def _load_examples(examples_dir: Path, records: Sequence[Mapping[str, Any]]) -> dict[str, list[tuple[Path, Path, str]]]:
    """``{folder: [(clean.png, adv.png, caption), ...]}``, at most MAX_EXAMPLES per folder,
    a real and a fake one first where both exist.

    The caption (label and P(fake) before -> after) comes from summary.json's records.
    """
    captions = {str(r.get("adv", "")): f"{'fake' if r.get('label') else 'real'} "
                f"{float(r.get('prob_clean', math.nan)):.2f}->{float(r.get('prob_adv', math.nan)):.2f}"
                for r in records if isinstance(r, Mapping)}
    found: dict[str, list[tuple[Path, Path, str]]] = {}
    if not examples_dir.is_dir():
        return found
    folders = sorted((p for p in examples_dir.iterdir() if p.is_dir()),
                     key=lambda p: condition_rank(p.name.split("_")[0]) + (p.name,))
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
    if (path / "config.yaml").is_file():
        run.config_text = (path / "config.yaml").read_text(encoding="utf-8")
    if (path / "history.csv").is_file():
        run.history = History.load(path / "history.csv")
    eval_dir = path / "eval"
    run.summary, run.warnings, run.checks, records = _load_summary(eval_dir)
    if (eval_dir / "predictions.csv").is_file():
        run.predictions = _read_csv(eval_dir / "predictions.csv")
    run.examples = _load_examples(eval_dir / "examples", records)
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
    rows = [[run.name, row["condition"], eps_label(row["eps"]),
             *(_cell(row.get(c)) for c in (*TABLE_METRICS, *asr))]
            for run in runs for row in run.summary]
    return header, rows


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.3f}" if abs(value) < 10 else f"{value:.0f}"
    return "" if value is None else str(value)


def _html_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v).replace("|", "\\|") for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _co_flags(history: History) -> str:
    """One line on the catastrophic-overfitting monitor: best PGD accuracy and flagged epochs."""
    if "val_pgd_accuracy" not in history.columns:
        return "No catastrophic-overfitting monitor in this run (clean training)."
    values = history.column("val_pgd_accuracy")
    epochs = history.column("epoch")
    finite = [(v, int(e)) for v, e in zip(values, epochs) if not math.isnan(v)]
    flagged = [int(e) for e, f in zip(epochs, history.column("co_flag")) if f > 0]
    best = f"best PGD accuracy {max(finite)[0]:.3f} (epoch {max(finite)[1]}); " if finite else ""
    return best + (f"catastrophic overfitting flagged at epoch(s) {flagged}." if flagged
                   else "no catastrophic overfitting flagged.")


_CSS = """body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px auto;
max-width:1180px;color:#222;line-height:1.4}h1,h2,h3{color:#113}table{border-collapse:collapse;
margin:8px 0 16px;font-size:14px}th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#eef}td:first-child,td:nth-child(2){text-align:left}img{max-width:100%;
border:1px solid #ddd;margin:4px 0}pre{background:#f6f6f6;padding:8px;overflow:auto;font-size:12px}
.warn{color:#a40;font-weight:bold}.muted{color:#666}"""


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'


def write_report(runs: Sequence[str | os.PathLike], out: str | os.PathLike) -> ReportPaths:
    """Write ``out`` (HTML), ``<stem>.md`` and the plot PNGs ``<stem>_<plot>.png`` beside it.

    Args:
        runs: one or more run folders (e.g. the clean and the FGSM-RS model).
        out: the HTML file to write; its folder is created.
    """
    from dfrobust import plots  # deferred: matplotlib is slow to import

    if not runs:
        raise DfrobustError("no run folder given; pass one or more, e.g. runs/clean runs/fgsm_rs")
    out = Path(out)
    loaded = load_runs(runs)
    figures = plots.all_figures(loaded)
    images: list[Path] = []
    for key, png in figures.items():
        images.append(out.with_name(f"{out.stem}_{key}.png"))
        write_bytes(images[-1], png)
    for i, run in enumerate(loaded):
        if run.history is not None and len(run.history):
            try:
                plot_history(run.history, out.with_name(f"{out.stem}_history_{i}.png"))
            except DfrobustError as e:  # a history without plottable columns: table only
                log.warning("%s: no history plot: %s", run.name, e)
                continue
            images.append(out.with_name(f"{out.stem}_history_{i}.png"))
            figures[f"history_{i}"] = images[-1].read_bytes()
    page = _html_page(loaded, figures)
    write_text(out, page)
    markdown = out.with_suffix(".md")
    write_text(markdown, _markdown(loaded, images))
    log.info("report written to %s (%d plots)", out, len(images))
    return ReportPaths(out, markdown, images, loaded)


_SECTIONS = (  # (figure key prefix, heading)
    ("bars", "Metrics per condition and model"),
    ("accuracy_eps", "Accuracy vs eps"),
    ("roc", "ROC curves per condition"),
    ("square_queries", "Square attack: success vs queries"),
)


def _html_page(runs: Sequence[RunResults], pngs: Mapping[str, bytes]) -> str:
    names = ", ".join(r.name for r in runs)
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
             f"<title>dfrobust report: {html.escape(names)}</title><style>{_CSS}</style></head><body>",
             f"<h1>dfrobust report</h1><p class='muted'>{html.escape(names)} &middot; generated "
             f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC</p>"]
    header, rows = summary_table(runs)
    if rows:
        parts.append("<h2>Summary</h2>" + _html_table(header, rows))
    for key, heading in _SECTIONS:
        if key in pngs:
            parts.append(f"<h2>{heading}</h2>{_img(pngs[key], heading)}")
    parts.append(_robustness_section(runs))
    for i, run in enumerate(runs):
        parts.append(_run_section(run, pngs.get(f"history_{i}"), pngs.get(f"examples_{i}")))
    parts.append("</body></html>")
    return "\n".join(p for p in parts if p)


def _robustness_section(runs: Sequence[RunResults]) -> str:
    columns = asr_columns(runs)
    rows = [[run.name, row["condition"], eps_label(row["eps"]), *(row.get(c) for c in columns)]
            for run in runs for row in run.summary if row["condition"] != "clean"]
    parts = []
    if rows and columns:
        parts.append("<h2>Attack success rates</h2>" + _html_table(["model", "condition", "eps", *columns], rows))
    warnings = [(run.name, w) for run in runs for w in run.warnings]
    if any(run.summary for run in runs):
        items = "".join(f"<li class='warn'>{html.escape(n)}: {html.escape(w)}</li>" for n, w in warnings)
        parts.append("<h3>Gradient-masking checks</h3>" +
                     (f"<ul>{items}</ul>" if items else "<p>No gradient-masking warning.</p>"))
    checks = [[run.name, c.get("name", ""), c.get("status", ""), _check_values(c.get("values"))]
              for run in runs for c in run.checks if isinstance(c, Mapping)]
    if checks:
        parts.append(_html_table(["model", "check", "status", "values"], checks))
    return "".join(parts)


def _check_values(values: Any) -> str:
    if not isinstance(values, Mapping):
        return ""
    return ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in values.items())


def _run_section(run: RunResults, history_png: bytes | None, examples_png: bytes | None) -> str:
    parts = [f"<h2>Run {html.escape(run.name)}</h2><p class='muted'>{html.escape(str(run.path))}</p>"]
    if run.history is not None and len(run.history):
        parts.append(f"<h3>Training history ({len(run.history)} epochs)</h3>")
        parts.append(f"<p>{html.escape(_co_flags(run.history))}</p>")
        if history_png:
            parts.append(_img(history_png, f"{run.name} history"))
    if examples_png:
        parts.append("<h3>Example frames</h3><p class='muted'>clean, adversarial, and the "
                     "perturbation magnified (0.5 + k (adv - clean), k filling [0, 1])</p>")
        parts.append(_img(examples_png, f"{run.name} examples"))
    if run.config_text:
        parts.append(f"<h3>Resolved config</h3><pre>{html.escape(run.config_text)}</pre>")
    return "".join(parts)


def _markdown(runs: Sequence[RunResults], images: Sequence[Path]) -> str:
    lines = [f"# dfrobust report: {', '.join(r.name for r in runs)}", ""]
    header, rows = summary_table(runs)
    if rows:
        lines += [_markdown_table(header, rows), ""]
    for run in runs:
        if run.history is not None and len(run.history):
            lines.append(f"- {run.name}: {len(run.history)} epochs; {_co_flags(run.history)}")
        lines += [f"- {run.name}: warning: {w}" for w in run.warnings]
    lines += ["", *(f"![{p.stem}]({p.name})" for p in images), ""]
    return "\n".join(lines)
