"""Case 6 complement: a resumed run starts at the epoch after its last checkpoint.

``tests/test_training.py::test_killed_run_resumes_and_lists_every_epoch_once`` kills ``dfrobust
train`` with SIGKILL and resumes it, but its assertions (each epoch listed once, the final
global step) would also hold for a run that restarted from epoch 0, because a resumed run
rewrites the history rows it repeats. Here an interruption after epoch 0's checkpoint is
followed by ``resume=True``, and the epochs that actually run are recorded.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dfrobust.config import load_config
from dfrobust.runs import History
from dfrobust.training import train

TINY = {
    "model.name": "resnet10t",
    "image_size": "32",
    "epochs": "2",
    "batch_size": "16",
    "workers": "0",
    "monitor_frames": "0",
    "optimizer": "adamw",
    "lr": "0.003",
}


class Killed(Exception):
    """Stands for the SIGKILL: raised before epoch 1's checkpoints are written."""


@pytest.mark.slow
def test_resume_continues_after_the_last_checkpointed_epoch(tiny_manifest: Path, tmp_path: Path) -> None:
    config, run = load_config(None, {**TINY, "manifest": str(tiny_manifest)}), tmp_path / "run"

    def kill_at_epoch_1(row: dict) -> None:
        if row["epoch"] == 1:
            raise Killed

    with pytest.raises(Killed):
        train(config, run, on_epoch=kill_at_epoch_1)
    last = run / "checkpoints" / "last.ckpt"
    saved = torch.load(last, weights_only=True)
    assert saved["epoch"] == 0 and saved["global_step"] == 3  # 48 training frames, batch 16

    ran: list[int] = []
    train(config, run, resume=True, on_epoch=lambda row: ran.append(int(row["epoch"])))
    assert ran == [1], "the resumed run should redo only the unfinished epoch 1"
    assert torch.load(last, weights_only=True)["global_step"] == 6
    assert History.load(run / "history.csv").column("epoch") == [0, 1]
