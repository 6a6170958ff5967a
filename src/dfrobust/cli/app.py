"""The Typer application object shared by the command modules."""

from typing import Annotated

import typer

from dfrobust import __version__
from dfrobust.cli.common import console, setup_logging

app = typer.Typer(
    name="dfrobust",
    help="Adversarially robust deepfake detection on FaceForensics++.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _print_version(value: bool) -> None:
    if value:
        console.print(f"dfrobust {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug messages.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Adversarially robust deepfake detection on FaceForensics++."""
    setup_logging(verbose)
