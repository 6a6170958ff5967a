"""The run folder: its paths, config, checkpoints and history, read without Lightning.

``dfrobust train`` writes (DESIGN.md)::

    runs/<name>/config.yaml        the resolved config (everything needed to rerun)
                checkpoints/       best.ckpt (val AUC, ties by val loss), best-robust.ckpt (CO monitor), last.ckpt
                history.csv        one row per epoch
                plots/history.png
                eval/              what dfrobust test writes (dfrobust.evaluation.results)

Checkpoints are read back with ``torch.load(weights_only=True)``: they keep only tensors
and plain Python values, the config as a dict; a file carrying pickled code is refused.
"""

from __future__ import annotations

import csv
import math
import os
import pickle
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dfrobust.atomicio import write_csv
from dfrobust.config import Config
from dfrobust.errors import DfrobustError

if TYPE_CHECKING:
    from torch import nn

CHECKPOINTS = ("best", "best-robust", "last")
CONFIG_FILE = "config.yaml"
HISTORY_FILE = "history.csv"
CHECKPOINT_DIR = "checkpoints"
EVAL_DIR = "eval"
PLOTS_DIR = "plots"


def checkpoint_path(run_dir: str | os.PathLike, checkpoint: str | os.PathLike = "best") -> Path:
    """``best``/``best-robust``/``last`` of a run folder, or a path; missing -> DfrobustError."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    path = folder / f"{checkpoint}.ckpt" if str(checkpoint) in CHECKPOINTS else Path(checkpoint)
    if not path.is_file():
        available = sorted(p.stem for p in folder.glob("*.ckpt")) if folder.is_dir() else []
        raise DfrobustError(
            f"no checkpoint {path}; available in {folder}: {', '.join(available) or 'none (train the run first)'}"
        )
    return path


def load_checkpoint(path: str | os.PathLike, map_location: Any = None, *, mmap: bool = False) -> dict[str, Any]:
    """``torch.load`` with ``weights_only=True``: a file carrying pickled code is refused.

    ``mmap=True`` maps the tensors instead of reading them: enough to check a file cheaply.
    """
    import torch  # deferred: reading a run's history or config needs no torch

    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as e:
        raise DfrobustError(
            f"refusing to load {path}: it holds pickled Python objects, not only tensors and plain values "
            f"({str(e).splitlines()[0]}); load only checkpoints written by dfrobust train"
        ) from None
    except (OSError, RuntimeError, EOFError) as e:
        raise DfrobustError(f"cannot read checkpoint {path}: {e}; it may be truncated or not a checkpoint") from None
    if (
        not isinstance(checkpoint, dict)
        or "state_dict" not in checkpoint
        or "config" not in checkpoint.get("hyper_parameters", {})
    ):
        raise DfrobustError(f"{path} is not a dfrobust training checkpoint (no state_dict and config)")
    return checkpoint


def load_run_model(
    run_dir: str | os.PathLike, checkpoint: str | os.PathLike = "best", map_location: Any = None
) -> tuple[nn.Module, Config]:
    """The trained model of a run (in eval mode) and the config it was trained with.

    Args:
        run_dir: ``runs/<name>``.
        checkpoint: ``best`` (val AUC), ``best-robust`` (CO monitor), ``last``, or a path.
        map_location: as for ``torch.load`` (e.g. ``"cpu"``).
    """
    path = checkpoint_path(run_dir, checkpoint)
    state = load_checkpoint(path, map_location)
    config = Config.from_dict(state["hyper_parameters"]["config"], source=str(path))
    model = build_model(config, initial_weights=False)
    weights = {k.removeprefix("model."): v for k, v in state["state_dict"].items() if k.startswith("model.")}
    model.load_state_dict(weights)
    return model.eval(), config


def build_model(config: Config, initial_weights: bool) -> nn.Module:
    """The config's network; ``initial_weights``: load its pretrained/``weights`` file too."""
    from dfrobust.models import create_model  # deferred: the registry imports timm

    side = config.data.image_size
    return create_model(
        config.model.name,
        weights=config.model.weights if initial_weights else None,
        pretrained=config.model.pretrained and initial_weights,
        input_size=(3, side, side) if side else None,
    )


class History:
    """One row per epoch of every logged value, saved as ``history.csv``.

    Keys are stage-prefixed metric names (``train_accuracy``, ``val_video_auroc``,
    ``val_pgd_accuracy``, ``co_flag``, ...). Recording an epoch that is already
    there replaces its row, so a run resumed from a checkpoint taken mid-way
    through the history still lists every epoch exactly once.
    """

    def __init__(self, rows: Iterable[Mapping[str, Any]] = ()) -> None:
        self._rows: dict[int, dict[str, float]] = {}
        for row in rows:
            self.record(int(row["epoch"]), {k: v for k, v in row.items() if k != "epoch"})

    def record(self, epoch: int, values: Mapping[str, Any]) -> None:
        """Set the row of ``epoch`` (numbers, bools or 0-d tensors; replaces any old row)."""
        self._rows[epoch] = {name: float(value) for name, value in values.items()}

    @property
    def rows(self) -> list[dict[str, float]]:
        """The rows in epoch order, each with ``epoch`` first."""
        return [{"epoch": epoch, **self._rows[epoch]} for epoch in sorted(self._rows)]

    @property
    def columns(self) -> list[str]:
        """``epoch``, then every other key in the order it first appeared."""
        names = dict.fromkeys(["epoch"])
        for epoch in sorted(self._rows):
            names.update(dict.fromkeys(self._rows[epoch]))
        return list(names)

    def column(self, name: str) -> list[float]:
        """The values of ``name`` by epoch (NaN where an epoch lacks it)."""
        return [row.get(name, math.nan) for row in self.rows]

    def __len__(self) -> int:
        return len(self._rows)

    def save(self, path: str | os.PathLike) -> None:
        """Write ``history.csv`` atomically (missing values are empty cells)."""
        write_csv(path, self.rows, self.columns)

    @classmethod
    def load(cls, path: str | os.PathLike, missing_ok: bool = False) -> History:
        """Read a CSV written by :meth:`save`; an empty history if absent and ``missing_ok``."""
        path = Path(path)
        if missing_ok and not path.exists():
            return cls()
        try:
            with open(path, newline="", encoding="utf-8") as f:
                rows = list(csv.DictReader(f))
            return cls({k: float(v) for k, v in row.items() if v} for row in rows)
        except (OSError, KeyError, TypeError, ValueError) as e:
            raise DfrobustError(
                f"cannot read the history {path}: {e}; expected a CSV with an 'epoch' column "
                "and numeric values, as written by dfrobust train (delete it to start afresh)"
            ) from e
