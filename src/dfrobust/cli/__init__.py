"""Command-line interface: one module per command, each thin (parse, call, show).

Heavy imports (torch, av) happen inside the commands so ``dfrobust --help`` is instant.
"""

from dfrobust.cli.app import app

# Importing a command module registers its command on ``app``; --help lists them in this
# order, the pipeline's.
from dfrobust.cli import synth  # noqa: E402,F401
from dfrobust.cli import index  # noqa: E402,F401
from dfrobust.cli import extract  # noqa: E402,F401
from dfrobust.cli import train  # noqa: E402,F401
from dfrobust.cli import test  # noqa: E402,F401
from dfrobust.cli import report  # noqa: E402,F401
from dfrobust.cli import predict  # noqa: E402,F401
from dfrobust.cli import demo  # noqa: E402,F401

__all__ = ["app"]
