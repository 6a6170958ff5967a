"""dfrobust.evaluation.launch: ``dfrobust test --devices 2`` on the CPU (gloo), as one process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalcli import copy_run, differences, invoke, outputs


@pytest.mark.slow
def test_two_processes_give_the_summary_of_one(tiny_run: Path, tmp_path: Path) -> None:
    one, two = copy_run(tiny_run, tmp_path / "one"), copy_run(tiny_run, tmp_path / "two")
    first = invoke(one, "--batch-size", "6")
    assert first.exit_code == 0, first.output
    result = invoke(two, "--batch-size", "6", "--devices", "2")
    assert result.exit_code == 0, result.output
    assert "ASR(a)" in result.stdout  # rank 0 merged; the parent prints its summary
    (predictions, summary, _), (predictions_1, summary_1, _) = outputs(two), outputs(one)
    assert predictions == predictions_1  # P(fake) to 6 digits, decisions, queries, broken_by
    # Each process runs 1 thread, the single one 2: float sums may differ in the last bits.
    assert differences(summary, summary_1) == []
    assert json.loads((two / "eval" / "summary.json").read_text())["frames"] == 12
