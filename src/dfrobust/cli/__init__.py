"""Command-line interface: one module per command, each thin (parse, call, show).

Heavy imports (torch, av) happen inside the commands so ``dfrobust --help`` is instant.
"""

# Importing a command module registers its command on ``app``; --help then lists them in
# the pipeline's order (PIPELINE), whatever order the imports ran in.
from dfrobust.cli import (
    attack_video,  # noqa: F401
    cross,  # noqa: F401
    demo,  # noqa: F401
    extract,  # noqa: F401
    index,  # noqa: F401
    predict,  # noqa: F401
    report,  # noqa: F401
    synth,  # noqa: F401
    test,  # noqa: F401
    train,  # noqa: F401
    transfer,  # noqa: F401
)
from dfrobust.cli.app import app

PIPELINE = (
    "synth",
    "index",
    "extract",
    "train",
    "test",
    "cross",
    "transfer",
    "report",
    "predict",
    "attack-video",
    "demo",
)
app.registered_commands.sort(key=lambda c: PIPELINE.index(c.name or c.callback.__name__))

__all__ = ["app"]
