"""What every command shares: the Rich consoles, error handling, progress, parsing."""

from __future__ import annotations

import functools
import logging
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from dfrobust.errors import DfrobustError

# Tables and results on stdout; messages, warnings and progress on stderr. Messages
# are never wrapped, so a log or a test sees each one on one line.
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])


def setup_logging(verbose: bool = False) -> None:
    """Route library logging to stderr, once: through Rich on a terminal, else one plain line per
    message (Rich would wrap a long path at 80 columns, and a log or grep would miss the name)."""
    if err_console.is_terminal:
        handler: logging.Handler = RichHandler(console=err_console, show_path=False, show_time=False)
        fmt = "%(message)s"
    else:
        handler, fmt = logging.StreamHandler(sys.stderr), "%(levelname)s %(message)s"
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format=fmt, handlers=[handler], force=True)
    logging.captureWarnings(True)
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)", category=Warning)
    # Lightning's advertisement for its cloud logger is not a message about the run.
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(
        lambda record: "litlogger" not in record.getMessage()
    )


def route_lightning_logs() -> None:
    """Import Lightning and drop the console handler ``import lightning`` adds to its logger.

    Lightning adds that handler unconditionally, and its messages also reach the handler of
    :func:`setup_logging`, so every Lightning line was printed twice. Called by the commands
    that train, right before they do.
    """
    import lightning  # noqa: F401 - the import adds the handler removed below

    logging.getLogger("lightning").handlers.clear()


def enable_debug(verbose: bool) -> None:
    """A command's own ``--verbose``: raise the level to DEBUG, never lower what ``-v`` set."""
    if verbose:
        logging.getLogger().setLevel(logging.DEBUG)


def handles_errors(func: F) -> F:
    """Turn a :class:`DfrobustError` into one red line on stderr and exit code 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except DfrobustError as e:
            err_console.print(f"[bold red]error:[/] {e}", highlight=False)
            raise typer.Exit(code=1) from None
        except KeyboardInterrupt:
            err_console.print("[yellow]interrupted[/]: finished work is kept; rerun to resume.")
            raise typer.Exit(code=130) from None

    return wrapper  # type: ignore[return-value]


def parse_list(text: str | None) -> list[str] | None:
    """Split a comma-separated option (``"a,b"``) into stripped, non-empty items."""
    if text is None:
        return None
    return [item.strip() for item in text.split(",") if item.strip()]


@contextmanager
def progress_bar(
    description: str, total: int, unit: str = "items", completed: int = 0
) -> Iterator[Callable[..., None]]:
    """A Rich progress bar on stderr; yields ``advance(n=1, stage=None)`` for the library callback.

    ``completed``: work already done before (a resumed job), shown but not counted in the rate
    or the time left; ``stage``: a line shown beside the bar (what runs now).
    """
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TextColumn("{task.fields[stage]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=False,
        disable=not err_console.is_terminal and os.environ.get("DFROBUST_PROGRESS") != "1",
    )
    task = progress.add_task(description, total=total, completed=completed, rate="", stage="")

    def advance(n: int = 1, stage: str | None = None) -> None:
        if stage is not None:
            progress.update(task, stage=stage)
        if n:
            progress.advance(task, n)
        t = progress.tasks[task]
        if t.elapsed and n:
            progress.update(task, rate=f"{(t.completed - completed) / t.elapsed:.2f} {unit}/s")

    with progress:
        yield advance
