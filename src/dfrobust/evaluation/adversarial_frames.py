"""Adversarial frames as a data set: ``dfrobust test --save-adv DIR``.

Every frame an evaluation scores is written losslessly (PNG, rounded to uint8) under
``DIR/<condition>/`` at the model's input size, as the model saw it, with one manifest::

    DIR/clean/<source path>.png           the clean frames (a reference for the same pixels)
    DIR/pgd_4-255/<source path>.png       one folder per attack condition
    DIR/frames.csv                        the frames.csv columns + source_path, attack, eps, source_run
    DIR/save_adv.json                     the source run, checkpoint, manifest, split and options

``frames.csv`` keeps each source frame's video, label, method, compression (and data set);
its ``split`` is the evaluated split and ``face_box`` is empty (the PNG is the model's
input already). ``source_path`` is the frame's path in the source manifest (relative to its
folder). So ``dfrobust test --run R2 --manifest DIR/frames.csv --attacks clean`` scores another
model on these frames (a transfer attack), and its ``attack`` groups separate the conditions.

Rounding to uint8 moves a pixel by at most 0.5/255, so a saved frame is within eps + 0.5/255
of its source; the score of the model that made it can differ slightly from the one in
``eval/``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from dfrobust.atomicio import atomic_open, write_csv, write_json
from dfrobust.data.manifest import MANIFEST_COLUMNS
from dfrobust.eps import eps_label
from dfrobust.evaluation.images import to_image
from dfrobust.evaluation.options import Condition

ADV_COLUMNS = ("source_path", "attack", "eps", "source_run")
MANIFEST_NAME = "frames.csv"


class AdvFrameWriter:
    """The ``on_batch`` callback of :func:`dfrobust.evaluation.evaluate` that saves the frames.

    Args:
        out: the data set's folder.
        source_rows: source manifest rows by their ``path`` (as ``EvalResult.paths`` spells it).
        split: written in the ``split`` column (the evaluated split).
        source_run: the run whose model made the frames.
        conditions: the conditions to keep (default: all, ``clean`` included).
    """

    def __init__(
        self,
        out: str | os.PathLike,
        source_rows: Mapping[str, Mapping[str, str]],
        split: str,
        source_run: str,
        conditions: set[Condition] | None = None,
    ) -> None:
        self.out, self.source_rows, self.split = Path(out), source_rows, split
        self.source_run, self.conditions = source_run, conditions
        self.rows: list[dict[str, Any]] = []

    def __call__(self, paths: list[str], scored: Mapping[Condition, torch.Tensor]) -> None:
        for condition, images in scored.items():
            if self.conditions is not None and condition not in self.conditions:
                continue
            for path, image in zip(paths, images):
                relative = (Path(condition.slug) / path).with_suffix(".png")
                with atomic_open(self.out / relative, "wb") as f:
                    to_image(image).save(f, format="PNG")
                source = self.source_rows.get(path, {})
                self.rows.append(
                    {
                        **{k: source.get(k, "") for k in MANIFEST_COLUMNS},
                        "path": relative.as_posix(),
                        "split": self.split,
                        "face_box": "",
                        "source_path": path,
                        "attack": condition.attack,
                        "eps": "" if condition.attack == "clean" else eps_label(condition.eps),
                        "source_run": self.source_run,
                    }
                )

    def close(self, meta: Mapping[str, Any]) -> Path:
        """Write ``frames.csv`` (conditions in order, then frames) and ``save_adv.json``."""
        manifest = self.out / MANIFEST_NAME
        write_csv(manifest, self.rows, (*MANIFEST_COLUMNS, *ADV_COLUMNS))
        write_json(self.out / "save_adv.json", {**meta, "frames": len(self.rows)})
        return manifest
