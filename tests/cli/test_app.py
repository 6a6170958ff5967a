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
