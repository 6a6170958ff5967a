"""``dfrobust transfer``: each source run's adversarial frames scored by each target run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dfrobust.cli.app import app
from dfrobust.cli.common import console, err_console, handles_errors
from dfrobust.cli.cross import Attacks, Eps, Limit, eval_options, matrix_table


@app.command("transfer")
@handles_errors
def transfer_command(
    source: Annotated[list[Path], typer.Option("--source", help="A run to attack (repeat).")],
    target: Annotated[list[Path], typer.Option("--target", help="A run scored on the attacked frames (repeat).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for transfer.json, transfer.csv, frames and cells.")],
    attacks: Attacks = "pgd",
    eps: Eps = "4/255",
    split: Annotated[str, typer.Option(help="Split of each source's manifest to attack.")] = "test",
    checkpoint: Annotated[str, typer.Option(help="best, best-robust, last, or a .ckpt path.")] = "best",
    n_queries: Annotated[int, typer.Option(help="Square's query budget per frame.")] = 1000,
    pgd_steps: Annotated[int, typer.Option(help="PGD iterations.")] = 10,
    limit: Limit = None,
    batch_size: Annotated[int, typer.Option(help="Frames per batch.")] = 128,
    seed: Annotated[int, typer.Option(help="Seed of the subsets, random starts and Square.")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
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
