"""The CLI as a whole: ``--help`` and ``--version`` are instant and list the pipeline in order."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import dfrobust

PIPELINE = [
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
]


def _dfrobust(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dfrobust", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "100"},
    )


def test_help_lists_the_commands_in_pipeline_order_without_loading_torch() -> None:
    probe = "import sys; from dfrobust.cli import app; print('torch' in sys.modules, 'av' in sys.modules)"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert loaded.stdout.split() == ["False", "False"], loaded.stderr
    result = _dfrobust("--help")
    assert result.returncode == 0, result.stderr
    listed = re.findall(r"^│ ([a-z][\w-]*) ", result.stdout, flags=re.M)
    assert listed == PIPELINE


def test_version() -> None:
    result = _dfrobust("--version")
    assert result.returncode == 0 and dfrobust.__version__ in result.stdout


def test_lightning_messages_are_printed_once() -> None:
    """``import lightning`` adds a console handler of its own; the CLI removes it, so a
    Lightning message reaches stderr through the CLI's handler only."""
    probe = (
        "import logging; from dfrobust.cli.common import setup_logging, route_lightning_logs; "
        "setup_logging(); route_lightning_logs(); "
        "logging.getLogger('lightning.pytorch').info('probe-message')"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("probe-message") == 1, done.stderr
