"""``dfrobust extract``: K frames per video (optionally face crops) as JPEGs + frames.csv."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from dfrobust.cli.app import app
from dfrobust.cli.common import (
    console,
    enable_debug,
    err_console,
    handles_errors,
    parse_list,
    progress_bar,
)
from dfrobust.cli.index import CompressionOption, MethodsOption, SplitSeedOption, SplitsOption
from dfrobust.errors import DfrobustError
from dfrobust.hardware import default_workers


@app.command()
@handles_errors
def extract(
    root: Annotated[
        Path | None,
        typer.Option("--root", help="Data-set root: FF++/DFD (or `dfrobust synth` output), Celeb-DF v2 or DFDC."),
    ] = None,
    splits: SplitsOption = None,
    out: Annotated[Path, typer.Option("--out", help="Folder for the JPEGs, frames.csv and extract.json.")] = Path(
        "frames"
    ),
    methods: MethodsOption = None,
    compression: CompressionOption = "c23",
    split: Annotated[str | None, typer.Option("--split", help="Only these splits, e.g. train,val.")] = None,
    frames: Annotated[int, typer.Option(help="Frames per video (all of a shorter video).")] = 10,
    sampling: Annotated[str, typer.Option(help="random (seeded per video) or uniform.")] = "random",
    seed: Annotated[int, typer.Option(help="Seed of the random frame choice.")] = 0,
    split_seed: SplitSeedOption = 0,
    faces: Annotated[bool, typer.Option("--faces", help="Save the square face crop, not the frame.")] = False,
    face_scale: Annotated[float, typer.Option(help="Crop side = max(w, h) of the face box x this.")] = 1.3,
    size: Annotated[
        int | None,
        typer.Option(help="Face crops: side in pixels (default 256). Full frames: shorter side (default: keep)."),
    ] = None,
    no_face: Annotated[str, typer.Option(help="Frames without a face: skip, or center (centre square).")] = "skip",
    detector: Annotated[str, typer.Option(help="mtcnn (built in) or dlib (pip install dlib-bin).")] = "mtcnn",
    jpeg_quality: Annotated[int, typer.Option(help="JPEG quality, 1-100.")] = 95,
    workers: Annotated[int | None, typer.Option(help="Processes (default: one per core).")] = None,
    shard: Annotated[str, typer.Option(help="Do only part I of N (0 <= I < N), e.g. 0/4.")] = "0/1",
    merge: Annotated[
        Path | None, typer.Option("--merge", help="Join the shard parts in this folder; nothing else is done.")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log every video.")] = False,
) -> None:
    """Extract frames (or face crops) of every indexed video; resumable, parallel, shardable.

    Python: ``dfrobust.data.frames.extract_frames(ExtractConfig(root=..., out=..., faces=True))``;
    ``dfrobust.data.manifest.merge_shards(out)`` for --merge.
    """
    enable_debug(verbose)
    if merge is not None:
        from dfrobust.data.manifest import merge_shards

        summary = merge_shards(merge)
        _show(summary, merge)
        return
    if root is None:
        raise DfrobustError("Expected --root (the data-set folder), or --merge DIR to join shard parts")
    from dfrobust.data.frames import ExtractConfig, extract_frames, select_videos

    config = ExtractConfig(
        root=root,
        out=out,
        splits_dir=splits,
        methods=_tuple(parse_list(methods)),
        compression=compression,
        splits=_tuple(parse_list(split)),
        frames=frames,
        sampling=sampling,
        seed=seed,
        faces=faces,
        face_scale=face_scale,
        size=size,
        jpeg_quality=jpeg_quality,
        no_face=no_face,
        detector=detector,
        split_seed=split_seed,
        workers=workers or default_workers(),
        shard=_parse_shard(shard),
    )
    videos = select_videos(config)
    with progress_bar("extract", total=len(videos[0]), unit="videos") as advance:
        summary = extract_frames(config, on_progress=advance, videos=videos)
    _show(summary, out)


def _tuple(items: list[str] | None) -> tuple[str, ...] | None:
    return tuple(items) if items else None


def _parse_shard(text: str) -> tuple[int, int]:
    try:
        index, count = (int(v) for v in text.split("/"))
    except ValueError:
        raise DfrobustError(f"Expected --shard as I/N (e.g. 0/4), but got {text!r}") from None
    return index, count


def _show(summary: dict, out: Path) -> None:
    table = Table(title=f"Extraction into {out} (shards {', '.join(summary['shards'])})")
    table.add_column("count")
    table.add_column("value", justify="right")
    for name, value in summary["counts"].items():
        table.add_row(name.replace("_", " "), str(value))
    console.print(table)
    for item in summary["skipped"]:
        err_console.print(f"[yellow]skipped[/] {item['method']}/{item['video']}: {item['reason']}", highlight=False)
    if summary.get("missing_videos"):
        err_console.print(
            f"[yellow]{summary['missing_videos']} video(s) named by the splits are not on disk[/] "
            "(dfrobust index lists them)"
        )
    if summary["short"]:
        err_console.print(f"{len(summary['short'])} video(s) had fewer frames than asked: took them all")
