"""What the fault tests share: run the CLI as a user would, and check it failed cleanly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ORIGINALS = "original_sequences/youtube/c23/videos"
FAKES = "manipulated_sequences/{}/c23/videos"


def dfrobust(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    """``python -m dfrobust ARGS`` in a fresh process, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "dfrobust", *map(str, args)], capture_output=True, text=True, timeout=timeout
    )


def assert_clean_failure(proc: subprocess.CompletedProcess, *needles: str, code: int = 1) -> None:
    """Exit code ``code``, no traceback, and every needle (file name, problem) in the message."""
    output = proc.stdout + proc.stderr
    assert proc.returncode == code, output
    assert "Traceback" not in output, output
    for needle in needles:
        assert needle in output, f"{needle!r} not in:\n{output}"


def write_splits(folder: Path, splits: dict[str, list[list[str]]]) -> Path:
    """``train/val/test.json`` in ``folder`` (FF++'s format: lists of [a, b] pairs)."""
    folder.mkdir(parents=True, exist_ok=True)
    for split, pairs in splits.items():
        (folder / f"{split}.json").write_text(json.dumps(pairs))
    return folder


def invoke(*args: object):
    """The CLI in this process (no start-up cost): for cases whose process-level behaviour is tested elsewhere."""
    from typer.testing import CliRunner

    from dfrobust.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def assert_clean_result(result, *needles: str, code: int = 1) -> None:
    """As :func:`assert_clean_failure` for :func:`invoke`: an unhandled exception would be a traceback."""
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == code, result.output
    for needle in needles:
        assert needle in result.output, f"{needle!r} not in:\n{result.output}"
