"""``dfrobust cross``: runs x test sets (clean and attacked) -> DIR/cross.json, cross.csv.

Also the options and the matrix table that ``dfrobust transfer`` shares.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from dfrobust.cli.app import app
from dfrobust.cli.common import console, err_console, handles_errors, parse_list
from dfrobust.eps import parse_eps

Attacks = Annotated[str, typer.Option(help="Comma-separated attack names (the registry's eval attacks).")]
Eps = Annotated[str, typer.Option(help="Comma-separated L-inf budgets in pixel units.")]
Limit = Annotated[int | None, typer.Option(help="Evaluate a seeded random subset of N frames per test set.")]
Split = Annotated[str, typer.Option(help="Split of each manifest to evaluate (transfer: of each source's manifest).")]
Checkpoint = Annotated[str, typer.Option(help="best, best-robust, last, or a .ckpt path.")]
NQueries = Annotated[int, typer.Option(help="Square's query budget per frame.")]
PgdSteps = Annotated[int, typer.Option(help="PGD iterations.")]
BatchSize = Annotated[int, typer.Option(help="Frames per batch.")]
Seed = Annotated[int, typer.Option(help="Seed of the subsets, random starts and Square.")]
Device = Annotated[str, typer.Option(help="auto, cpu or cuda.")]


def eval_options(attacks: str, eps: str, **kwargs: Any):
    """The EvalOptions of the cross commands (no sanity check: each cell is a plain evaluation)."""
    from dfrobust.evaluation import EvalOptions

    return EvalOptions(
        attacks=tuple(parse_list(attacks) or ()),
        eps=tuple(parse_eps(e) for e in parse_list(eps) or ()),
        sanity=False,
        **kwargs,
    )


def matrix_table(result: dict[str, Any], rows_key: str, cols_key: str, title: str) -> Table:
    """One line per row x column x condition: accuracy, AUC, video AUC, evasion in %."""
    table = Table(title=title)
    for name in (rows_key, cols_key, "condition", "eps", "acc %", "AUC %", "video AUC %", "evasion %"):
        table.add_column(name, justify="left" if name in (rows_key, cols_key, "condition", "eps") else "right")
    for row in result["rows"]:
        values = (row.get(k) for k in ("accuracy", "auroc", "video_auroc", "asr_evasion"))
        pct = ["-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.1f}" for v in values]
        table.add_row(row[rows_key], row[cols_key], row["condition"], str(row["eps"]), *pct)
    return table


@app.command("cross")
@handles_errors
def cross_command(
    run: Annotated[list[Path], typer.Option("--run", help="A run folder (repeat for several).")],
    manifest: Annotated[list[Path], typer.Option("--manifest", help="A test set's frames.csv (repeat).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for cross.json, cross.csv and the cells.")],
    attacks: Attacks = "clean,pgd",
    eps: Eps = "4/255",
    split: Split = "test",
    checkpoint: Checkpoint = "best",
    n_queries: NQueries = 1000,
    pgd_steps: PgdSteps = 10,
    limit: Limit = None,
    batch_size: BatchSize = 128,
    seed: Seed = 0,
    device: Device = "auto",
) -> None:
    """Every run on every test set, clean and attacked: the train-set x test-set matrix.

    Python: ``dfrobust.evaluation.cross.cross_evaluate(runs, manifests, EvalOptions(...), out)``.
    """
    from dfrobust.evaluation.cross import cross_evaluate

    options = eval_options(
        attacks, eps, n_queries=n_queries, pgd_steps=pgd_steps, limit=limit, batch_size=batch_size, seed=seed
    )
    stage = lambda text: err_console.print(f"evaluating {text}")  # noqa: E731
    result = cross_evaluate(
        run, manifest, options, out, split=split, checkpoint=checkpoint, device=device, on_stage=stage
    )
    console.print(matrix_table(result, "train", "test", "train set x test set"))
    err_console.print(f"results written to {out / 'cross.json'} and {out / 'cross.csv'}")
