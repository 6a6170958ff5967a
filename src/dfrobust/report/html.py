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
import html
import logging
import math
import os
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple

from dfrobust.atomicio import write_bytes, write_text
from dfrobust.eps import eps_label
from dfrobust.errors import DfrobustError
from dfrobust.report.generalisation import load_matrices, matrix_rows, matrix_section, method_rows, methods_section
from dfrobust.report.results import RunResults, asr_columns, cell, load_runs, summary_table
from dfrobust.runs import History

log = logging.getLogger(__name__)


class ReportPaths(NamedTuple):
    """The files :func:`write_report` wrote, and the runs it read (for a console table)."""

    html: Path
    markdown: Path
    images: list[Path]
    runs: list[RunResults]


def _html_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(cell(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v).replace("|", "\\|") for v in row) + " |" for row in rows]
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
    return best + (
        f"catastrophic overfitting flagged at epoch(s) {flagged}."
        if flagged
        else "no catastrophic overfitting flagged."
    )


_CSS = """body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px auto;
max-width:1180px;color:#222;line-height:1.4}h1,h2,h3{color:#113}table{border-collapse:collapse;
margin:8px 0 16px;font-size:14px}th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#eef}td:first-child,td:nth-child(2){text-align:left}img{max-width:100%;
border:1px solid #ddd;margin:4px 0}pre{background:#f6f6f6;padding:8px;overflow:auto;font-size:12px}
.warn{color:#a40;font-weight:bold}.muted{color:#666}"""


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'


def write_report(
    runs: Sequence[str | os.PathLike], out: str | os.PathLike, cross: Sequence[str | os.PathLike] = ()
) -> ReportPaths:
    """Write ``out`` (HTML), ``<stem>.md`` and the plot PNGs ``<stem>_<plot>.png`` beside it.

    Args:
        runs: one or more run folders (e.g. the clean and the FGSM-RS model).
        out: the HTML file to write; its folder is created.
        cross: folders holding a ``cross.json`` and/or ``transfer.json`` (``dfrobust cross``,
            ``dfrobust transfer``): a section each.
    """
    from dfrobust.report import heatmaps, plots  # deferred: matplotlib is slow to import

    if not runs:
        raise DfrobustError("no run folder given; pass one or more, e.g. runs/clean runs/fgsm_rs")
    out = Path(out)
    loaded = load_runs(runs)
    matrices = load_matrices(cross)
    figures = plots.all_figures(loaded)
    extra = {"methods": heatmaps.method_heatmap(loaded)}
    extra.update({f"matrix_{i}": heatmaps.matrix_heatmap(m) for i, m in enumerate(matrices)})
    figures.update({key: png for key, png in extra.items() if png is not None})
    images: list[Path] = []
    for key, png in figures.items():
        images.append(out.with_name(f"{out.stem}_{key}.png"))
        write_bytes(images[-1], png)
    for i, run in enumerate(loaded):
        if run.history is not None and len(run.history):
            try:
                plots.plot_history(run.history, out.with_name(f"{out.stem}_history_{i}.png"))
            except DfrobustError as e:  # a history without plottable columns: table only
                log.warning("%s: no history plot: %s", run.name, e)
                continue
            images.append(out.with_name(f"{out.stem}_history_{i}.png"))
            figures[f"history_{i}"] = images[-1].read_bytes()
    page = _html_page(loaded, figures, matrices)
    write_text(out, page)
    markdown = out.with_suffix(".md")
    write_text(markdown, _markdown(loaded, images, matrices))
    log.info("report written to %s (%d plots)", out, len(images))
    return ReportPaths(out, markdown, images, loaded)


_SECTIONS = (  # (figure key prefix, heading)
    ("bars", "Metrics per condition and model"),
    ("accuracy_eps", "Accuracy vs eps"),
    ("roc", "ROC curves per condition"),
    ("square_queries", "Square attack: success vs queries"),
)
_STAGES_NOTE = (
    "The auto ensemble runs each attack only on the frames every earlier one failed on; a frame is "
    "robust only if all fail. Bars: clean accuracy, the accuracy each attack removes, the ensemble's "
    "robust accuracy."
)


def _html_page(runs: Sequence[RunResults], pngs: Mapping[str, bytes], matrices: Sequence[Mapping] = ()) -> str:
    names = ", ".join(r.name for r in runs)
    parts = [
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>dfrobust report: {html.escape(names)}</title><style>{_CSS}</style></head><body>",
        f"<h1>dfrobust report</h1><p class='muted'>{html.escape(names)} &middot; generated "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC</p>",
    ]
    header, rows = summary_table(runs)
    if rows:
        parts.append("<h2>Summary</h2>" + _html_table(header, rows))
    for key, heading in _SECTIONS:
        if key in pngs:
            parts.append(f"<h2>{heading}</h2>{_img(pngs[key], heading)}")
    parts.append(_stages_section(runs, pngs.get("auto_stages")))
    parts.append(methods_section(runs, pngs.get("methods"), _html_table, _img))
    parts += [matrix_section(m, pngs.get(f"matrix_{i}"), _html_table, _img) for i, m in enumerate(matrices)]
    parts.append(_robustness_section(runs))
    for i, run in enumerate(runs):
        parts.append(_run_section(run, pngs.get(f"history_{i}"), pngs.get(f"examples_{i}")))
    parts.append("</body></html>")
    return "\n".join(p for p in parts if p)


def _stages_section(runs: Sequence[RunResults], png: bytes | None) -> str:
    """The ``auto`` ensemble: waterfall plot and one table row per model x eps x stage."""
    rows = [
        [
            run.name,
            eps_label(row["eps"]),
            stage.get("attack", ""),
            cell(stage.get("robust_accuracy")),
            stage.get("broken", ""),
            cell(stage.get("queries_mean")),
            cell(stage.get("seconds")),
        ]
        for run in runs
        for row in run.summary
        if isinstance(row.get("stages"), list)
        for stage in row["stages"]
        if isinstance(stage, Mapping)
    ]
    if not rows:
        return ""
    header = ["model", "eps", "after", "robust accuracy", "frames broken", "queries mean", "seconds"]
    plot = _img(png, "robust accuracy by stage") if png else ""
    return f"<h2>Worst case over attacks (auto)</h2><p>{_STAGES_NOTE}</p>{plot}{_html_table(header, rows)}"


def _robustness_section(runs: Sequence[RunResults]) -> str:
    columns = asr_columns(runs)
    rows = [
        [run.name, row["condition"], eps_label(row["eps"]), *(row.get(c) for c in columns)]
        for run in runs
        for row in run.summary
        if row["condition"] != "clean"
    ]
    parts = []
    if rows and columns:
        parts.append("<h2>Attack success rates</h2>" + _html_table(["model", "condition", "eps", *columns], rows))
    warnings = [(run.name, w) for run in runs for w in run.warnings]
    if any(run.summary for run in runs):
        items = "".join(f"<li class='warn'>{html.escape(n)}: {html.escape(w)}</li>" for n, w in warnings)
        parts.append(
            "<h3>Gradient-masking checks</h3>"
            + (f"<ul>{items}</ul>" if items else "<p>No gradient-masking warning.</p>")
        )
    checks = [
        [run.name, c.get("name", ""), c.get("status", ""), _check_values(c.get("values"))]
        for run in runs
        for c in run.checks
        if isinstance(c, Mapping)
    ]
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
        parts.append(
            "<h3>Example frames</h3><p class='muted'>clean, adversarial, and the "
            "perturbation magnified (0.5 + k (adv - clean), k filling [0, 1])</p>"
        )
        parts.append(_img(examples_png, f"{run.name} examples"))
    if run.config_text:
        parts.append(f"<h3>Resolved config</h3><pre>{html.escape(run.config_text)}</pre>")
    return "".join(parts)


def _markdown(runs: Sequence[RunResults], images: Sequence[Path], matrices: Sequence[Mapping] = ()) -> str:
    lines = [f"# dfrobust report: {', '.join(r.name for r in runs)}", ""]
    header, rows = summary_table(runs)
    if rows:
        lines += [_markdown_table(header, rows), ""]
    header, rows = method_rows(runs)
    if rows:
        lines += ["## Per manipulation method", "", _markdown_table(header, rows), ""]
    for matrix in matrices:
        heading, header, rows = matrix_rows(matrix)
        lines += [f"## {heading}", "", _markdown_table(header, rows), ""]
    for run in runs:
        if run.history is not None and len(run.history):
            lines.append(f"- {run.name}: {len(run.history)} epochs; {_co_flags(run.history)}")
        lines += [f"- {run.name}: warning: {w}" for w in run.warnings]
    lines += ["", *(f"![{p.stem}]({p.name})" for p in images), ""]
    return "\n".join(lines)
