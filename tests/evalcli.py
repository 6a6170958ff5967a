"""Helpers of the scaled-evaluation tests: ``dfrobust test`` with small budgets on a copy of a
run, and its output files less their timing fields (to compare runs split differently)."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from dfrobust.cli import app

runner = CliRunner()
ARGS = [
    "--attacks",
    "clean,pgd,auto",
    "--eps",
    "8/255",
    "--pgd-steps",
    "2",
    "--apgd-steps",
    "2",
    "--auto-queries",
    "8",
    "--limit",
    "12",
    "--device",
    "cpu",
]
TIMING = ("seconds", "device", "batch_size")  # timing, and the batch size (it changes no result)


def copy_run(tiny_run: Path, dest: Path) -> Path:
    """A fresh copy of the trained run, without any eval/ folder."""
    shutil.copytree(tiny_run, dest, ignore=shutil.ignore_patterns("eval"))
    return dest


def invoke(run: Path, *extra: str) -> Any:
    """``dfrobust test`` on ``run`` with the small budgets of ARGS."""
    return runner.invoke(app, ["test", "--run", str(run), *ARGS, *extra])


def without_timing(obj: Any) -> Any:
    """``obj`` without the fields of TIMING, recursively."""
    if isinstance(obj, dict):
        return {k: without_timing(v) for k, v in obj.items() if k not in TIMING}
    if isinstance(obj, list):
        return [without_timing(v) for v in obj]
    return obj


def outputs(run: Path) -> tuple[str, dict, str]:
    """predictions.csv, summary.json less its timing fields, summary.csv less its seconds column."""
    eval_dir = run / "eval"
    summary = without_timing(json.loads((eval_dir / "summary.json").read_text()))
    summary.pop("run")
    table = [line.rsplit(",", 1)[0] for line in (eval_dir / "summary.csv").read_text().splitlines()]
    return (eval_dir / "predictions.csv").read_text(), summary, "\n".join(table)


def differences(a: Any, b: Any, where: str = "", tol: float = 1e-6) -> list[str]:
    """Paths where ``a`` and ``b`` differ beyond ``tol`` (relative, for floats), recursively."""
    if isinstance(a, dict) and isinstance(b, dict):
        keys = sorted(set(a) | set(b))
        return [d for k in keys for d in differences(a.get(k), b.get(k), f"{where}.{k}", tol)]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{where}[{i}]", tol)]
    if isinstance(a, float) and isinstance(b, float):
        return [] if math.isclose(a, b, rel_tol=tol, abs_tol=1e-12) or (a != a and b != b) else [where]
    return [] if a == b else [where]
