"""``dfrobust predict``: P(fake) of image and video files, as a table or JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from dfrobust.cli.app import app
from dfrobust.cli.common import console, handles_errors, progress_bar


@app.command()
@handles_errors
def predict(
    paths: Annotated[list[Path], typer.Argument(help="Images (jpg, png), videos (mp4, avi) or folders of them.")],
    run: Annotated[Path | None, typer.Option(help="Run folder written by dfrobust train.")] = None,
    checkpoint: Annotated[str, typer.Option(help="With --run: best, best-robust, last or a path.")] = "best",
    model: Annotated[
        str | None,
        typer.Option(
            help="Model name instead of a run: a pretrained tag (meso4.df, meso4.f2f, mesoinception4.df, mesoinception4.f2f) or a name with --weights."
        ),
    ] = None,
    weights: Annotated[Path | None, typer.Option(help="With --model: weights file (.h5, .safetensors, .pt).")] = None,
    frames: Annotated[int, typer.Option(min=1, help="Frames sampled per video.")] = 10,
    faces: Annotated[
        bool, typer.Option("--faces", help="Crop each frame to its face (MTCNN), as extract --faces.")
    ] = False,
    sampling: Annotated[str, typer.Option(help="Frame sampling of videos: random or uniform.")] = "random",
    seed: Annotated[int, typer.Option(help="Seed of the frame sampling.")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON to stdout instead of a table.")] = False,
) -> None:
    """Score files: P(fake) per image, the mean over sampled frames per video.

    Unreadable files are reported and skipped; the exit code is 1 only if nothing was scored.
    Python: ``dfrobust.predict.predict_files(*load_detector(model="meso4.df"), paths)``.
    """
    from dfrobust.data.frames import SAMPLINGS
    from dfrobust.hardware import resolve_device
    from dfrobust.predict import expand_paths, load_detector, predict_files

    if sampling not in SAMPLINGS:
        raise typer.BadParameter(f"expected one of {', '.join(SAMPLINGS)}, got {sampling!r}", param_hint="--sampling")
    target = resolve_device(device)
    detector, transform = load_detector(run=run, checkpoint=checkpoint, model=model, weights=weights, device=target)
    files = expand_paths(paths)
    with progress_bar("scoring", len(files), "files") as advance:
        results = predict_files(
            detector, transform, files, frames=frames, faces=faces, sampling=sampling, seed=seed, on_progress=advance
        )
    if as_json:
        source = (
            {"run": str(run), "checkpoint": checkpoint}
            if run
            else {"model": model, "weights": detector.data_config.get("weights", str(weights))}
        )
        typer.echo(json.dumps({**source, "threshold": 0.5, "files": [r.as_dict() for r in results]}, indent=2))
    else:
        console.print(_table(results))
    if not any(r.prob_fake is not None for r in results):
        raise typer.Exit(code=1)


def _table(results) -> Table:
    table = Table(title="P(fake) (>= 0.5: fake)")
    for name in ("file", "kind", "frames", "faces", "P(fake)", "verdict"):
        table.add_column(name, justify="right" if name in ("frames", "faces", "P(fake)") else "left")
    colour = {"fake": "red", "real": "green", "error": "yellow"}
    for r in results:
        score = f"{r.prob_fake:.4f}" if r.prob_fake is not None else r.error
        faces = "-" if r.faces_found is None else str(r.faces_found)
        table.add_row(r.path, r.kind, str(len(r.frames)), faces, score, f"[{colour[r.verdict]}]{r.verdict}[/]")
    return table
