"""``dfrobust train``: train a detector from a YAML config plus command-line overrides."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from dfrobust.cli.app import app
from dfrobust.cli.common import console, enable_debug, handles_errors, progress_bar, route_lightning_logs
from dfrobust.errors import DfrobustError

if TYPE_CHECKING:
    from dfrobust.runs import History

_HW = "Hardware"
_ADV = "Adversarial training"


def parse_overrides(args: list[str], pairs: list[str]) -> dict[str, str]:
    """``--key value`` / ``--key=value`` tokens and ``key=value`` pairs as a dict."""
    overrides: dict[str, str] = {}
    tokens = list(args)
    while tokens:
        token = tokens.pop(0)
        if not token.startswith("--") or len(token) < 3:
            raise DfrobustError(f"unexpected argument {token!r}; overrides look like --lr 0.01 or --set train.lr=0.01")
        key, sep, value = token[2:].partition("=")
        if not sep:
            if not tokens or tokens[0].startswith("--"):
                raise DfrobustError(f"option --{key} needs a value, e.g. --{key} VALUE")
            value = tokens.pop(0)
        overrides[key] = value
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise DfrobustError(f"Expected --set KEY=VALUE, but got {pair!r}")
        overrides[key.strip()] = value.strip()
    return overrides


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    epilog="Any config key is an option too: --lr 0.01, --batch-size 32, --train.schedule onecycle.",
)
@handles_errors
def train(
    ctx: typer.Context,
    run: Annotated[Path, typer.Option(help="Run folder to write, e.g. runs/clean.")],
    config: Annotated[
        Path | None, typer.Option(help="YAML config (default: the run's config.yaml on --resume).")
    ] = None,
    manifest: Annotated[Path | None, typer.Option(help="frames.csv written by `dfrobust extract`.")] = None,
    resume: Annotated[bool, typer.Option(help="Continue the run from checkpoints/last.ckpt.")] = False,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override KEY=VALUE (repeatable).")] = None,
    adv: Annotated[
        str | None, typer.Option(help="none, or a training attack: fgsm_rs, n_fgsm, pgd.", rich_help_panel=_ADV)
    ] = None,
    eps: Annotated[str | None, typer.Option(help="Budget in pixel units, e.g. 4/255.", rich_help_panel=_ADV)] = None,
    epochs: Annotated[int | None, typer.Option(help="Training epochs.")] = None,
    schedule: Annotated[str | None, typer.Option(help="LR schedule: cosine or onecycle.")] = None,
    precision: Annotated[
        str | None, typer.Option(help="32-true, bf16-mixed, 16-mixed (CUDA).", rich_help_panel=_HW)
    ] = None,
    accelerator: Annotated[str | None, typer.Option(help="auto, cpu or gpu.", rich_help_panel=_HW)] = None,
    device: Annotated[
        str | None, typer.Option(help="Force one device: cpu, cuda, cuda:1.", rich_help_panel=_HW)
    ] = None,
    devices: Annotated[str | None, typer.Option(help="Devices per node: N, auto or 0,1.", rich_help_panel=_HW)] = None,
    num_nodes: Annotated[int | None, typer.Option(help="Nodes for multi-node DDP.", rich_help_panel=_HW)] = None,
    strategy: Annotated[
        str | None, typer.Option(help="Lightning strategy: auto, ddp, ...", rich_help_panel=_HW)
    ] = None,
    verbose: Annotated[bool, typer.Option(help="Debug logging.")] = False,
) -> None:
    """Train a detector (clean or adversarial) and write runs/<name>/."""
    enable_debug(verbose)
    from lightning.pytorch.utilities import rank_zero_only

    from dfrobust.config import load_config
    from dfrobust.training import train as train_run

    route_lightning_logs()

    named = {
        "manifest": manifest,
        "adv": adv,
        "eps": eps,
        "epochs": epochs,
        "schedule": schedule,
        "precision": precision,
        "accelerator": accelerator,
        "device": device,
        "devices": devices,
        "num_nodes": num_nodes,
        "strategy": strategy,
    }
    overrides = {k: str(v) for k, v in named.items() if v is not None}
    overrides.update(parse_overrides(ctx.args, set_ or []))
    if config is None and resume and (run / "config.yaml").is_file():
        config = run / "config.yaml"
    resolved = load_config(config, overrides)
    with progress_bar("training", total=resolved.train.epochs, unit="epochs") as advance:
        result = train_run(resolved, run, resume=resume, on_epoch=lambda row: advance())
    if rank_zero_only.rank != 0 or not len(result.history):
        return
    console.print(_summary_table(result.run_dir, result.history))


def _summary_table(run_dir: Path, history: History) -> Table:
    """Last and best value of the headline metrics."""
    last = history.rows[-1]
    table = Table(title=f"dfrobust train: {run_dir}")
    table.add_column("metric")
    table.add_column("last epoch", justify="right")
    table.add_column("best", justify="right")
    for name in ("val_auroc", "val_video_auroc", "val_accuracy", "val_pgd_accuracy", "train_loss"):
        if name in last:
            best = min(history.column(name)) if name.endswith("loss") else max(history.column(name))
            table.add_row(name, f"{last[name]:.4f}", f"{best:.4f}")
    table.caption = f"{len(history)} epochs; checkpoints in {run_dir / 'checkpoints'}"
    return table
