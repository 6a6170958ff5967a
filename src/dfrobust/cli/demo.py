"""``dfrobust demo``: the whole pipeline on synthetic data, from nothing to a report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dfrobust.cli.app import app
from dfrobust.cli.common import console, err_console, handles_errors, progress_bar, route_lightning_logs
from dfrobust.cli.report import summary_rich_table


@app.command()
@handles_errors
def demo(
    out: Annotated[Path, typer.Option("--out", help="Folder for the data, runs and report.")] = Path("demo"),
    fast: Annotated[bool, typer.Option("--fast", help="Smaller everything (about a minute; a smoke test).")] = False,
    force: Annotated[bool, typer.Option("--force", help="Delete the demo's folders and redo every stage.")] = False,
    workers: Annotated[int | None, typer.Option(help="Processes for synth/extract (default: one per core).")] = None,
) -> None:
    """Synth -> extract -> train clean and FGSM-RS -> test (clean; FGSM and PGD at 1-16/255; Square and
    the auto ensemble at 4/255; overall and per method) -> transfer (the clean model's PGD frames
    scored by both) -> report.

    Rerunning skips finished stages. Python: ``dfrobust.demo.run_demo("demo", fast=False)``.
    """
    import json

    from dfrobust.cli.cross import matrix_table
    from dfrobust.cli.test import stages_table
    from dfrobust.demo import run_demo
    from dfrobust.eps import eps_label

    route_lightning_logs()
    from dfrobust.report import summary_table
    from dfrobust.report.generalisation import method_rows
    from dfrobust.report.results import cell

    result = run_demo(out, fast=fast, force=force, progress=progress_bar, workers=workers)
    header, rows = summary_table(result.report.runs)
    console.print(summary_rich_table(header, rows, "dfrobust demo: model x condition"))
    for run in result.report.runs:
        console.print(stages_table(run.summary, model=run.name))
    header, rows = method_rows(result.report.runs)
    keep = [header.index(c) for c in ("model", "method", "condition", "accuracy", "auroc")]
    at_eps = f" {eps_label(result.options.eps)}"  # the sweep's other budgets are in the report
    rows = [[cell(row[i]) for i in keep] for row in rows if row[2] == "clean" or row[2].endswith(at_eps)]
    title = f"per manipulation method (its fakes + all reals), eps {eps_label(result.options.eps)}"
    console.print(summary_rich_table([header[i] for i in keep], rows, title))
    transfer = json.loads((out / "transfer" / "transfer.json").read_text(encoding="utf-8"))
    console.print(matrix_table(transfer, "source", "target", "transfer: the clean model's PGD frames"))
    timings = ", ".join(f"{stage} {s:.0f} s" for stage, s in result.seconds.items())
    err_console.print(f"stages: {timings}")
    console.print(f"report: {result.report.html.resolve()}")
