"""``dfrobust synth``: write the synthetic demo data set in the FF++ layout."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from dfrobust.cli.app import app
from dfrobust.cli.common import console, handles_errors, parse_list, progress_bar


@app.command()
@handles_errors
def synth(
    out: Annotated[Path, typer.Option("--out", help="Folder to write (new, empty, or resumed).")],
    pairs: Annotated[int, typer.Option(help="Pairs of people: 2P identities, 72/14/14 % split.")] = 40,
    frames: Annotated[int, typer.Option(help="Frames per video (25 fps).")] = 48,
    size: Annotated[int, typer.Option(help="Frame side in pixels (a multiple of 16, >= 64).")] = 128,
    seed: Annotated[int, typer.Option(help="Seed of every random draw.")] = 0,
    methods: Annotated[
        str,
        typer.Option(help="Comma-separated: Deepfakes, FaceSwap, Face2Face, NeuralTextures."),
    ] = "Deepfakes",
    compression: Annotated[
        str, typer.Option(help="c23 (x264 CRF 23) or c40 (CRF 40): FF++'s two compressed versions.")
    ] = "c23",
    workers: Annotated[int | None, typer.Option(help="Processes (default: one per core).")] = None,
) -> None:
    """Write synthetic faces and fakes as an FF++ root (videos, masks, splits, synth.json).

    For trying the pipeline end to end; not for claims about real deepfakes.
    Python: ``dfrobust.synth.synthesize(out, pairs=40, frames=48, size=128, seed=0,
    methods=("Deepfakes",), compression="c23")``.
    """
    from dfrobust.synth import SynthOptions, synthesize

    opts = SynthOptions(pairs, frames, size, seed, tuple(parse_list(methods) or ()), compression)
    total = 2 * opts.pairs * (1 + len(opts.methods))
    with progress_bar("synth", total=total, unit="videos") as advance:
        summary = synthesize(
            out,
            pairs=opts.pairs,
            frames=opts.frames,
            size=opts.size,
            seed=opts.seed,
            methods=opts.methods,
            compression=opts.compression,
            workers=workers,
            on_progress=advance,
        )
    table = Table(title=f"Synthetic data set in {summary.out} ({opts.compression})")
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("identities (originals)", str(summary.originals))
    table.add_row(f"fakes ({', '.join(opts.methods)}), each with a mask", str(summary.fakes))
    for split, n in summary.splits.items():
        table.add_row(f"pairs in {split}", str(n))
    table.add_row("videos written now (rest resumed)", str(summary.written))
    table.add_row("seconds", f"{summary.seconds:.1f}")
    console.print(table)
    hint = "" if opts.compression == "c23" else f" --compression {opts.compression}"
    console.print(f"Index it with: dfrobust index --root {summary.out}{hint}")
