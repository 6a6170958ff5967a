"""dfrobust.evaluation.run through the CLI: sharded, merged and resumed evaluations give the
files of one uninterrupted run; results made with other options are refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dfrobust.evaluation import run as run_module
from evalcli import copy_run, invoke, outputs


@pytest.fixture(scope="module")
def whole(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict, str]:
    """The files of one uninterrupted, unsharded run."""
    run = copy_run(tiny_run, tmp_path_factory.mktemp("whole") / "run")
    result = invoke(run, "--batch-size", "6")
    assert result.exit_code == 0, result.output
    assert not (run / "eval" / "parts").exists()  # merged, then removed
    return outputs(run)


@pytest.mark.slow
def test_two_shards_and_merge_give_the_unsharded_files(
    whole: tuple[str, dict, str], tiny_run: Path, tmp_path: Path
) -> None:
    run = copy_run(tiny_run, tmp_path / "run")
    first = invoke(run, "--shard", "0/2", "--batch-size", "4")
    assert first.exit_code == 0, first.output
    assert "run the other shards" in first.output and not (run / "eval" / "summary.json").exists()
    early = invoke(run, "--merge")
    assert early.exit_code == 1 and "have no results yet" in early.output
    second = invoke(run, "--shard", "1/2", "--batch-size", "5")
    assert second.exit_code == 0, second.output
    assert (run / "eval" / "summary.json").exists()  # the last shard to finish merges
    assert outputs(run) == whole
    merged = invoke(run, "--merge")  # a SLURM job's merge step after that: nothing to redo
    assert merged.exit_code == 0, merged.output
    assert outputs(run) == whole


@pytest.mark.slow
def test_a_run_killed_midway_resumes_to_the_same_files(
    whole: tuple[str, dict, str], tiny_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = copy_run(tiny_run, tmp_path / "run")
    real_write, written = run_module.write_part, []

    def dies_after_two(eval_dir: Path, batch: Any) -> Path:
        if len(written) == 2:
            raise KeyboardInterrupt  # as a kill between batches: the batch in flight is lost
        written.append(batch.positions)
        return real_write(eval_dir, batch)

    monkeypatch.setattr(run_module, "write_part", dies_after_two)
    killed = invoke(run, "--batch-size", "4")  # 3 batches: killed in the third
    assert killed.exit_code == 130 and len(list((run / "eval" / "parts").glob("part-*.pt"))) == 2
    monkeypatch.setattr(run_module, "write_part", real_write)
    other = invoke(run, "--batch-size", "6", "--pgd-steps", "3")
    assert other.exit_code == 1
    line = other.output.strip().splitlines()[-1]
    assert "pgd_steps = 2, not 3" in line and "delete" in line
    resumed = invoke(run, "--batch-size", "7")  # the batch size may differ: it changes no result
    assert resumed.exit_code == 0, resumed.output
    assert outputs(run) == whole


def test_dry_run_prints_the_plan_and_an_estimate(tiny_run: Path, tmp_path: Path) -> None:
    run = copy_run(tiny_run, tmp_path / "run")
    result = invoke(run, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "plan: 12 frames to do" in result.output and "estimate at most" in result.output
    assert "auto 8/255 (steps 2, n_queries 8" in result.output
    assert not (run / "eval").exists()


def test_a_bad_shard_is_one_clear_line(tiny_run: Path) -> None:
    result = invoke(tiny_run, "--shard", "2/2")
    assert result.exit_code == 1 and "0 <= I < N" in result.output
