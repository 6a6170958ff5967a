"""``dfrobust test``: evaluate a run clean and under FGSM, PGD, Square, APGD or auto; write ``eval/``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from dfrobust.cli.app import app
from dfrobust.cli.common import console, err_console, handles_errors, parse_list, progress_bar
from dfrobust.eps import parse_eps


@app.command("test")
@handles_errors
def test_command(
    run: Annotated[Path, typer.Option("--run", help="Run folder written by dfrobust train (runs/NAME).")],
    checkpoint: Annotated[str, typer.Option(help="best, best-robust, last, or a .ckpt path.")] = "best",
    split: Annotated[str, typer.Option(help="Manifest split to evaluate.")] = "test",
    attacks: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated attack names (the registry's eval attacks); default: clean,fgsm,pgd,square; also apgd, apgd_margin, auto (the ensemble)."
        ),
    ] = None,
    eps: Annotated[str, typer.Option(help="Comma-separated L-inf budgets in pixel units.")] = "2/255,4/255,8/255",
    n_queries: Annotated[int, typer.Option(help="Square's query budget per frame.")] = 1000,
    pgd_steps: Annotated[int, typer.Option(help="PGD iterations.")] = 10,
    apgd_steps: Annotated[int, typer.Option(help="APGD iterations (apgd, apgd_margin, auto).")] = 100,
    auto_queries: Annotated[int, typer.Option(help="Square's query budget inside the auto ensemble.")] = 5000,
    auto_members: Annotated[
        str, typer.Option(help="The auto ensemble's attacks, in the order they run.")
    ] = "apgd,apgd_margin,square",
    limit: Annotated[int | None, typer.Option(help="Evaluate a seeded random subset of N frames.")] = None,
    jpeg_quality: Annotated[
        int | None, typer.Option(help="Score every condition after a JPEG round trip at this quality.")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Frames per batch.")] = 128,
    seed: Annotated[int, typer.Option(help="Seed of the subset, random starts and Square.")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    sanity: Annotated[
        bool, typer.Option("--sanity/--no-sanity", help="Also run PGD at 32/255 on 128 frames (masking check).")
    ] = True,
    manifest: Annotated[Path | None, typer.Option(help="Frames to evaluate instead of the run's manifest.")] = None,
    by: Annotated[
        str | None,
        typer.Option(help="Also print rows per group: method, compression, dataset, attack (comma-separated)."),
    ] = None,
    save_adv: Annotated[
        Path | None, typer.Option(help="Write every scored frame as PNG + frames.csv into this folder.")
    ] = None,
) -> None:
    """Robust accuracy, metrics and attack success rates; writes RUN/eval/.

    Python: ``dfrobust.evaluation.run.run_eval(prepare_run_eval(run, EvalOptions(...)))``.
    """
    from dfrobust.evaluation import EvalOptions
    from dfrobust.evaluation.run import prepare_run_eval, run_eval

    chosen = {} if attacks is None else {"attacks": tuple(parse_list(attacks) or ())}
    options = EvalOptions(
        **chosen,
        eps=tuple(parse_eps(e) for e in parse_list(eps) or ()),
        n_queries=n_queries,
        pgd_steps=pgd_steps,
        apgd_steps=apgd_steps,
        auto_queries=auto_queries,
        auto_members=tuple(parse_list(auto_members) or ()),
        limit=limit,
        jpeg_quality=jpeg_quality,
        batch_size=batch_size,
        seed=seed,
        sanity=sanity,
    )
    job = prepare_run_eval(run, options, checkpoint=checkpoint, split=split, manifest=manifest, device=device)
    with progress_bar(f"evaluating {len(job.dataset)} frames", job.steps, "steps") as advance:
        summary = run_eval(job, on_progress=advance, save_adv=save_adv)
    console.print(summary_table(summary))
    for grouping in parse_list(by) or ():
        if grouping not in summary["groups"]:
            err_console.print(f"no {grouping} groups (groups here: {', '.join(summary['groups']) or 'none'})")
            continue
        console.print(summary_table({**summary, "rows": summary["groups"][grouping]}, group=grouping))
        if grouping == "method":
            err_console.print(summary["groups_note"])
    if any(row.get("stages") for row in summary["rows"]):
        console.print(stages_table(summary["rows"]))
    console.print(checks_table(summary["checks"]))
    for warning in summary["warnings"]:
        err_console.print(f"[yellow]warning:[/] possible gradient masking: {warning}", highlight=False)
    err_console.print(f"results written to {job.out_dir}")
    if save_adv is not None:
        err_console.print(f"frames written to {summary['saved_frames']}")


def _pct(value: Any) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}"


def summary_table(summary: dict[str, Any], group: str | None = None) -> Table:
    """Rows condition x eps (per ``group`` first, when given); accuracy, AUC, F1, video accuracy,
    ASR (a), (c), (d) in %, queries."""
    title = f"{summary['run']} ({summary['checkpoint']}, {summary['split']}, {summary['frames']} frames)"
    table = Table(title=title if group is None else f"{title} per {group}")
    if group is not None:
        table.add_column(group)
    for name in (
        "condition",
        "eps",
        "acc %",
        "AUC %",
        "F1 %",
        "video acc %",
        "ASR(a) %",
        "ASR(c) %",
        "ASR(d) %",
        "queries mean/median",
    ):
        table.add_column(name, justify="left" if name in ("condition", "eps") else "right")
    for row in summary["rows"]:
        mean, median = row["queries_mean"], row["queries_median"]
        queries = "-" if mean is None or math.isnan(mean) else f"{mean:.0f}/{median:.0f}"
        table.add_row(
            *([str(row["group"])] if group is not None else []),
            row["condition"],
            row["eps"],
            *(
                _pct(row[k])
                for k in ("accuracy", "auroc", "f1", "video_accuracy", "asr_flip", "asr_evasion", "asr_video")
            ),
            queries,
        )
    return table


def stages_table(rows: list[dict[str, Any]]) -> Table:
    """The ensemble's stages: robust accuracy after each member, frames it broke, queries, time."""
    table = Table(title="auto: robust accuracy after each attack (each runs on the frames still robust)")
    for name in ("condition", "eps", "after", "robust acc %", "broken", "queries mean", "seconds"):
        table.add_column(name, justify="left" if name in ("condition", "eps", "after") else "right")
    for row in rows:
        for stage in row.get("stages") or ():
            mean = stage["queries_mean"]
            table.add_row(
                row["condition"],
                row["eps"],
                stage["attack"],
                _pct(stage["robust_accuracy"]),
                str(stage["broken"]),
                "-" if mean is None or math.isnan(mean) else f"{mean:.0f}",
                f"{stage['seconds']:.1f}",
            )
    return table


def checks_table(checks: list[dict[str, Any]]) -> Table:
    """One row per gradient-masking check: name, pass/warn/skipped, the numbers compared."""
    table = Table(title="sanity checks against gradient masking")
    for name in ("check", "status", "values"):
        table.add_column(name)
    colour = {"pass": "green", "warn": "yellow", "skipped": "dim"}
    for check in checks:
        values = ", ".join(f"{k} {v:.3f}" for k, v in check["values"].items())
        table.add_row(check["name"], f"[{colour[check['status']]}]{check['status']}[/]", values or "-")
    return table
