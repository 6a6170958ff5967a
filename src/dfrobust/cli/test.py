"""``dfrobust test``: evaluate a run clean and under FGSM, PGD, Square, APGD or auto; write ``eval/``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from dfrobust.cli.app import app
from dfrobust.cli.common import console, err_console, handles_errors, parse_list, progress_bar
from dfrobust.eps import eps_label, parse_eps
from dfrobust.errors import DfrobustError


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
    attack_eps: Annotated[
        list[str] | None,
        typer.Option(
            help="Own budgets for one attack, replacing --eps for it: square=4/255 or auto=2/255,4/255 (repeat)."
        ),
    ] = None,
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
    codec: Annotated[
        str | None, typer.Option(help="Score every condition after an H.264 round trip, e.g. h264:crf23.")
    ] = None,
    eot: Annotated[
        int, typer.Option(help="EOT draws per gradient of fgsm, pgd, apgd (random JPEG, blur, resize, noise).")
    ] = 1,
    batch_size: Annotated[int, typer.Option(help="Frames per batch.")] = 128,
    seed: Annotated[int, typer.Option(help="Seed of the subset, random starts and Square.")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    sanity: Annotated[
        bool,
        typer.Option(
            "--sanity/--no-sanity", help="Also run PGD at 32/255 and unbounded on 128 frames (masking checks)."
        ),
    ] = True,
    manifest: Annotated[Path | None, typer.Option(help="Frames to evaluate instead of the run's manifest.")] = None,
    by: Annotated[
        str | None,
        typer.Option(help="Also print rows per group: method, compression, dataset, attack (comma-separated)."),
    ] = None,
    save_adv: Annotated[
        Path | None, typer.Option(help="Write every scored frame as PNG + frames.csv into this folder.")
    ] = None,
    shard: Annotated[str, typer.Option(help="Evaluate only share I of N (whole videos), e.g. 0/4.")] = "0/1",
    merge: Annotated[bool, typer.Option("--merge", help="Only join the finished shards' parts into eval/.")] = False,
    devices: Annotated[int, typer.Option(help="Processes, one per GPU (or CPU share); rank 0 merges.")] = 1,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan and a timed estimate; run nothing.")
    ] = False,
) -> None:
    """Robust accuracy, metrics and attack success rates; writes RUN/eval/.

    Python: ``dfrobust.evaluation.run.run_eval(prepare_run_eval(run, EvalOptions(...)))``.
    """
    from dfrobust.evaluation import EvalOptions
    from dfrobust.evaluation.run import prepare_run_eval

    chosen = {} if attacks is None else {"attacks": tuple(parse_list(attacks) or ())}
    options = EvalOptions(
        **chosen,
        eps=tuple(parse_eps(e) for e in parse_list(eps) or ()),
        attack_eps=parse_attack_eps(attack_eps or []),
        n_queries=n_queries,
        pgd_steps=pgd_steps,
        apgd_steps=apgd_steps,
        auto_queries=auto_queries,
        auto_members=tuple(parse_list(auto_members) or ()),
        limit=limit,
        jpeg_quality=jpeg_quality,
        codec=codec,
        eot=eot,
        batch_size=batch_size,
        seed=seed,
        sanity=sanity,
    )
    where = {"checkpoint": checkpoint, "split": split, "manifest": manifest, "device": device}
    job = prepare_run_eval(run, options, **where, shard=parse_shard(shard))
    if dry_run:
        console.print(plan_table(job))
        return
    summary = _evaluate(job, run, options, where, merge, devices, save_adv)
    if summary is None:
        return
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


def parse_attack_eps(items: list[str]) -> dict[str, tuple[float, ...]]:
    """``["square=4/255", "auto=2/255,4/255"]`` -> ``{"square": (4/255,), "auto": (2/255, 4/255)}``."""
    budgets: dict[str, tuple[float, ...]] = {}
    for item in items:
        name, sep, values = item.partition("=")
        if not sep or not name.strip() or not parse_list(values):
            raise DfrobustError(f"Expected --attack-eps as ATTACK=EPS[,EPS...] (e.g. square=4/255), but got {item!r}")
        budgets[name.strip()] = tuple(parse_eps(e, f"eps of {name.strip()}") for e in parse_list(values) or ())
    return budgets


def parse_shard(text: str) -> tuple[int, int]:
    """``I/N`` -> (I, N), checked."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise DfrobustError(f"Expected --shard as I/N (e.g. 0/4), but got {text!r}") from None
    if not 0 <= index < count:
        raise DfrobustError(f"Expected --shard I/N with 0 <= I < N, but got {text!r}")
    return index, count


def _evaluate(job: Any, run: Path, options: Any, where: dict, merge: bool, devices: int, save_adv: Any) -> Any:
    """Merge, or evaluate this shard in one or ``devices`` processes; None when shards are missing."""
    from dfrobust.evaluation.launch import EvalRequest, run_on_devices, under_torchrun
    from dfrobust.evaluation.parts import count_done, done_positions
    from dfrobust.evaluation.run import merge_eval, run_eval

    if merge:
        summary = merge_eval(job)
    else:
        share = job.share()
        done = len(set(share) & done_positions(job.out_dir))  # a resumed run starts where it stopped
        with progress_bar(f"evaluating {len(share)} frames", len(share), "frames", completed=done) as advance:
            if devices > 1 or under_torchrun():
                manifest = None if where["manifest"] is None else str(where["manifest"])
                request = EvalRequest(str(run), options, **{**where, "manifest": manifest}, shard=job.shard)
                summary = run_on_devices(request, devices, on_progress=advance)
            else:
                summary = run_eval(job, on_progress=advance, save_adv=save_adv, on_stage=lambda t: advance(0, t))
    if summary is None and not under_torchrun():
        err_console.print(
            f"shard {job.shard[0]}/{job.shard[1]} done ({count_done(job.out_dir)} of {len(job.picked)} frames in "
            f"{job.out_dir / 'parts'}); run the other shards, then `dfrobust test --merge` with the same options"
        )
    return summary


def plan_table(job: Any) -> Table:
    """--dry-run: frames, conditions with model evaluations per frame, the probe and the estimate."""
    from dfrobust.evaluation.plan import plan_eval

    plan = plan_eval(job)
    title = (
        f"plan: {plan['todo']} frames to do ({plan['done']} done) of shard {plan['shard']} "
        f"({plan['share']} of {plan['frames']} frames), on {plan['device']}"
    )
    table = Table(title=title)
    for name in ("condition (budget)", "gradients / frame", "forwards / frame"):
        table.add_column(name, justify="left" if name.startswith("condition") else "right")
    for row in plan["conditions"]:
        table.add_row(row["condition"], str(row["gradients"]), str(row["forwards"]))
    table.add_row("total", str(plan["gradients_per_frame"]), str(plan["forwards_per_frame"]))
    hours = plan["estimate_s"] / 3600
    table.caption = (
        f"probe: {1e3 * plan['seconds_per_forward']:.2f} ms/frame forward, "
        f"{1e3 * plan['seconds_per_gradient']:.2f} ms/frame gradient; estimate at most "
        f"{plan['estimate_s']:.0f} s ({hours:.2f} h) (attacks stop early on fooled frames)"
    )
    return table


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


def stages_table(rows: list[dict[str, Any]], model: str | None = None) -> Table:
    """The ensemble's stages: robust accuracy after each member, frames it broke, queries, time.

    ``rows``: summary rows (``eps`` a label or a number); ``model`` goes into the title.
    """
    whose = f"auto, {model}" if model else "auto"
    table = Table(title=f"{whose}: robust accuracy after each attack (each runs on the frames still robust)")
    for name in ("condition", "eps", "after", "robust acc %", "broken", "queries mean", "seconds"):
        table.add_column(name, justify="left" if name in ("condition", "eps", "after") else "right")
    for row in rows:
        for stage in row.get("stages") or ():
            mean = stage["queries_mean"]
            table.add_row(
                row["condition"],
                row["eps"] if isinstance(row["eps"], str) else eps_label(row["eps"]),
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
