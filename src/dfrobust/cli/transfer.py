"""``dfrobust transfer``: each source run's adversarial frames scored by each target run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dfrobust.cli.app import app
from dfrobust.cli.common import console, err_console, handles_errors
from dfrobust.cli.cross import (
    Attacks,
    BatchSize,
    Checkpoint,
    Device,
    Eps,
    Limit,
    NQueries,
    PgdSteps,
    Seed,
    Split,
    eval_options,
    matrix_table,
)


@app.command("transfer")
@handles_errors
def transfer_command(
    source: Annotated[list[Path], typer.Option("--source", help="A run to attack (repeat).")],
    target: Annotated[list[Path], typer.Option("--target", help="A run scored on the attacked frames (repeat).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for transfer.json, transfer.csv, frames and cells.")],
    attacks: Attacks = "pgd",
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
    """Transfer attacks: each source's adversarial frames scored by each target.

    Python: ``dfrobust.evaluation.cross.transfer_evaluate(sources, targets, EvalOptions(...), out)``.
    """
    from dfrobust.evaluation.cross import transfer_evaluate

    options = eval_options(
        attacks, eps, n_queries=n_queries, pgd_steps=pgd_steps, limit=limit, batch_size=batch_size, seed=seed
    )
    stage = lambda text: err_console.print(text)  # noqa: E731
    result = transfer_evaluate(
        source, target, options, out, split=split, checkpoint=checkpoint, device=device, on_stage=stage
    )
    console.print(matrix_table(result, "source", "target", "transfer: target accuracy on the source's frames"))
    err_console.print(f"results written to {out / 'transfer.json'} and {out / 'transfer.csv'}")
