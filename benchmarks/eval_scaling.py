"""Evaluation scaling: one process x 2 threads vs ``--devices 2`` (2 processes x 1 thread).

Runs ``dfrobust test`` twice on copies of one run folder (the demo's test set by default),
times both, checks that the merged predictions.csv and summary.json (less timing fields) are
identical, and prints the model evaluations each frame cost per ensemble stage: the measured
input of the FF++ cost model in RESULTS.md.

Run (a few minutes on a busy 2-core machine; build the demo first with `dfrobust demo --fast`):
    .venv/bin/python benchmarks/eval_scaling.py --run demo/runs/fgsm_rs
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TIMING = ("seconds", "device", "run")


def get_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=Path("demo/runs/fgsm_rs"))
    parser.add_argument("--attacks", default="clean,auto")
    parser.add_argument("--eps", default="4/255")
    parser.add_argument("--apgd-steps", type=int, default=100)
    parser.add_argument("--auto-queries", type=int, default=5000)
    parser.add_argument("--batch-size", type=int, default=128)
    return parser.parse_args()


def without_timing(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: without_timing(v) for k, v in obj.items() if k not in TIMING}
    if isinstance(obj, list):
        return [without_timing(v) for v in obj]
    return obj


def evaluate(args: argparse.Namespace, run: Path, devices: int) -> float:
    """Wall seconds of one `dfrobust test` (model loading included) on ``run``."""
    command = [sys.executable, "-m", "dfrobust", "test", "--run", str(run), "--device", "cpu"]
    command += ["--attacks", args.attacks, "--eps", args.eps, "--apgd-steps", str(args.apgd_steps)]
    command += ["--auto-queries", str(args.auto_queries), "--batch-size", str(args.batch_size)]
    command += ["--devices", str(devices)]
    began = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, text=True)
    return time.perf_counter() - began


def main() -> None:
    args = get_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs, seconds = {}, {}
        for name, devices in (("1 process x 2 threads", 1), ("2 processes x 1 thread", 2)):
            runs[name] = Path(tmp) / f"run{devices}"
            shutil.copytree(args.run, runs[name], ignore=shutil.ignore_patterns("eval"))
            seconds[name] = evaluate(args, runs[name], devices)
        files = {
            name: (
                (run / "eval" / "predictions.csv").read_text(),
                without_timing(json.loads((run / "eval" / "summary.json").read_text())),
            )
            for name, run in runs.items()
        }
        one, two = files.values()
        summary = one[1]
        rows = list(csv.DictReader(one[0].splitlines()))
    print(f"frames: {summary['frames']}, videos: {summary['videos']}, conditions: {args.attacks} at {args.eps}")
    for name, s in seconds.items():
        print(f"{name}: {s:.1f} s")
    first, second = seconds.values()
    print(f"speed-up of 2 processes: {first / second:.2f}x")
    print(f"predictions.csv identical: {one[0] == two[0]}; summary.json identical (less timing): {one[1] == two[1]}")
    for row in summary["rows"]:
        if not row.get("stages"):
            continue
        print(f"{row['condition']} {row['eps']}: robust accuracy {row['accuracy']:.3f}")
        for stage in row["stages"]:
            print(
                f"  {stage['attack']:12s} attacked {stage['attacked']:4d}  broken {stage['broken']:4d}  "
                f"queries/attacked frame {stage['queries_mean']:.1f}"
            )
        per_frame = [int(r["queries"]) for r in rows if r["condition"] == row["condition"] and r["queries"]]
        print(f"  per frame: mean {statistics.mean(per_frame):.1f}, max {max(per_frame)} model evaluations")


if __name__ == "__main__":
    main()
