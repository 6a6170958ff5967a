"""``dfrobust index``: list the videos of a data-set root (FF++/DFD, Celeb-DF v2, DFDC) with labels and splits."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from dfrobust.cli.app import app
from dfrobust.cli.common import console, err_console, handles_errors, parse_list

RootOption = Annotated[
    Path,
    typer.Option(
        "--root",
        help="Data-set root, recognised from its folders: FF++/DFD (as the official download script writes it), "
        "Celeb-DF v2 or DFDC.",
    ),
]
SplitsOption = Annotated[
    Path | None,
    typer.Option(
        "--splits",
        help="FF++ only: folder with train/val/test.json (default: ROOT/splits, else the official FF++ splits "
        "shipped with dfrobust).",
    ),
]
MethodsOption = Annotated[
    str | None,
    typer.Option(
        "--methods",
        help="Comma-separated methods (default: every FF++ method on disk; for Celeb-DF and DFDC, all).",
    ),
]
CompressionOption = Annotated[
    str, typer.Option("--compression", help="FF++/DFD: raw (or c0), c23 or c40 (Celeb-DF and DFDC ship one version).")
]
SplitSeedOption = Annotated[
    int,
    typer.Option(
        "--split-seed",
        "--dfd-seed",
        help="Seed of the splits a data set does not ship: DFD by actor, Celeb-DF and DFDC validation.",
    ),
]
MAX_LISTED = 20
EXAMPLES = 3  # video ids named per method among those the splits promise


@app.command()
@handles_errors
def index(
    root: RootOption,
    splits: SplitsOption = None,
    methods: MethodsOption = None,
    compression: CompressionOption = "c23",
    out: Annotated[Path, typer.Option("--out", help="CSV to write, one row per video.")] = Path("videos.csv"),
    split_seed: SplitSeedOption = 0,
) -> None:
    """Index a data-set root: one row per video (label, data set, method, split), plus what is missing.

    Python: ``dfrobust.data.layouts.index_root(root, splits, methods=[...], compression="c23")``.
    """
    from dfrobust.atomicio import write_csv
    from dfrobust.data.layouts import index_root
    from dfrobust.data.records import VIDEO_CSV_FIELDS

    found = index_root(root, splits, methods=parse_list(methods), compression=compression, split_seed=split_seed)
    write_csv(out, (r.as_row() for r in found.records), VIDEO_CSV_FIELDS)
    console.print(_summary_table(found))
    _print_missing(found)
    err_console.print(f"{len(found.records)} videos written to {out}")


def _summary_table(found) -> Table:
    counts = found.counts()
    methods = sorted({m for _, m, _ in counts}, key=lambda m: (m not in ("original", "actors"), m))
    splits = [s for s in ("train", "val", "test", "") if any(k[0] == s for k in counts)]
    table = Table(title=f"{found.dataset} videos under {found.root} ({found.compression or 'as released'})")
    table.add_column("split")
    for method in methods:
        table.add_column(method, justify="right")
    table.add_column("real", justify="right")
    table.add_column("fake", justify="right")
    for split in splits:
        per_method = [sum(n for (s, m, _), n in counts.items() if s == split and m == method) for method in methods]
        real = sum(n for (s, _, label), n in counts.items() if s == split and label == 0)
        fake = sum(n for (s, _, label), n in counts.items() if s == split and label == 1)
        table.add_row(split or "(no split)", *map(str, per_method), str(real), str(fake))
    return table


def _print_missing(found) -> None:
    orphans = found.orphan_fakes()
    left_out = [m for m in found.missing if m not in orphans and m.reason != "not on disk"]
    absent = [m for m in found.missing if m not in orphans and m not in left_out]
    if left_out:  # DFD and Celeb-DF fakes whose two people fall in two splits
        err_console.print(
            f"[yellow]{len(left_out)} fake(s) left out of every split:[/] {left_out[0].reason.split(':')[0]} "
            f"(e.g. {', '.join(m.video for m in left_out[:EXAMPLES])})",
            highlight=False,
        )
    if orphans:
        err_console.print(f"[yellow]{len(orphans)} fake(s) whose original is missing:[/]")
        for m in orphans[:MAX_LISTED]:
            err_console.print(f"  {m.method}/{m.video} ({m.split or 'no split'}): {m.reason}")
        if len(orphans) > MAX_LISTED:
            err_console.print(f"  ... and {len(orphans) - MAX_LISTED} more")
    if absent:
        by_method: dict[str, list[str]] = {}
        for m in absent:
            by_method.setdefault(m.method, []).append(m.video)
        summary = "; ".join(
            f"{method} {len(videos)} (e.g. {', '.join(videos[:EXAMPLES])}{', ...' if len(videos) > EXAMPLES else ''})"
            for method, videos in sorted(by_method.items())
        )
        err_console.print(f"[yellow]promised by the splits but not on disk:[/] {summary}", highlight=False)
