"""The report's figures: the training history plot and the comparison plots."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from dfrobust.errors import DfrobustError
from dfrobust.metrics import METRIC_NAMES
from dfrobust.report.plots import plot_history
from dfrobust.runs import History


def _example_history(epochs: int = 6) -> History:
    history = History()
    for epoch in range(epochs):
        row = {
            f"{stage}_{name}": 0.5 + 0.05 * epoch + (0.02 if stage == "train" else 0)
            for stage in ("train", "val")
            for name in METRIC_NAMES
        }
        row |= {"train_loss": 1 / (epoch + 1), "val_video_auroc": 0.6 + 0.05 * epoch}
        row |= {"val_pgd_accuracy": 0.4 if epoch < 4 else 0.0, "co_flag": float(epoch >= 4)}
        history.record(epoch, row)
    return history


def test_plot_history_writes_a_png_with_content(tmp_path) -> None:
    history = _example_history()
    history.save(tmp_path / "history.csv")
    out = tmp_path / "plots" / "history.png"
    plot_history(tmp_path / "history.csv", out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = np.asarray(Image.open(out).convert("RGB")).astype(int)
    assert pixels.std() > 0
    red = (pixels[..., 0] > 200) & (pixels[..., 1] < 60) & (pixels[..., 2] < 60)
    assert red.sum() > 20  # the flagged catastrophic-overfitting epochs
    # only the flags draw red: a CO panel with no flagged epoch has none
    unflagged = History({"epoch": e, "val_pgd_accuracy": 0.4, "co_flag": 0.0} for e in range(3))
    plot_history(unflagged, tmp_path / "unflagged.png")
    pixels = np.asarray(Image.open(tmp_path / "unflagged.png").convert("RGB")).astype(int)
    assert ((pixels[..., 0] > 200) & (pixels[..., 1] < 60) & (pixels[..., 2] < 60)).sum() == 0


def test_plot_history_from_rows_with_one_epoch(tmp_path) -> None:
    plot_history([{"epoch": 0, "train_loss": 0.7}], tmp_path / "one_epoch.png")
    pixels = np.asarray(Image.open(tmp_path / "one_epoch.png").convert("L")).astype(int)
    assert pixels.std() > 0


def test_plot_history_without_data_is_an_error(tmp_path) -> None:
    with pytest.raises(DfrobustError, match="nothing to plot"):
        plot_history(History(), tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()
