"""``dfrobust report``: one self-contained HTML page comparing one or more runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from dfrobust.cli.app import app
from dfrobust.cli.common import console, err_console, handles_errors


def summary_rich_table(header: list[str], rows: list[list[str]], title: str) -> Table:
    """The report's summary table (model x condition x eps) for the console."""
    table = Table(title=title)
    for i, name in enumerate(header):
        table.add_column(name, justify="left" if i < 2 else "right")
    for row in rows:
        table.add_row(*row)
    return table


@app.command()
@handles_errors
def report(
    runs: Annotated[list[Path], typer.Argument(help="Run folders written by `dfrobust train` (and `test`).")],
    out: Annotated[Path, typer.Option("--out", help="HTML file to write; report.md and PNGs go beside it.")] = Path(
        "report.html"
    ),
    cross: Annotated[
        list[Path] | None,
        typer.Option("--cross", help="A folder of `dfrobust cross` or `transfer` (cross.json, transfer.json); repeat."),
    ] = None,
) -> None:
    """Write an offline HTML report (plots embedded), a Markdown summary and the PNG plots.

    Python: ``dfrobust.report.write_report(["runs/clean", "runs/fgsm_rs"], "report.html")``.
    """
    from dfrobust.report import summary_table, write_report

    paths = write_report(runs, out, cross=cross or ())
    header, rows = summary_table(paths.runs)
    if rows:
        console.print(summary_rich_table(header, rows, "Robust evaluation"))
    err_console.print(f"report written to {paths.html} (summary {paths.markdown.name}, {len(paths.images)} PNGs)")
