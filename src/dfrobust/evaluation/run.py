"""Evaluating a run folder: load its checkpoint and test frames, write ``runs/<name>/eval/``
(the files :mod:`dfrobust.evaluation.results` describes).

Example::

    job = prepare_run_eval("runs/demo", EvalOptions(eps=(4 / 255,), n_queries=300))
    summary = run_eval(job, on_progress=advance, save_adv="adv/demo")   # save_adv: optional

Long evaluations are resumable, shardable and run on several devices
(:mod:`dfrobust.evaluation.parts`, :mod:`dfrobust.evaluation.launch`): each finished batch is
saved in ``eval/parts/``; a rerun with the same options continues; ``shard=(i, n)`` evaluates
a deterministic share of whole videos; the summary is built once every frame has a result,
identical however the work was split::

    job = prepare_run_eval("runs/demo", options, shard=(0, 2))   # then (1, 2), anywhere
    run_eval(job)                      # None while other shards are missing, else the summary
    merge_eval(job)                    # the summary from the parts, once all shards are done

The frames' manifest columns (method, compression, dataset, and attack/eps for frames saved
by ``save_adv``) feed the per-group rows of :mod:`dfrobust.evaluation.groups`.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dfrobust.data.dataset import FFDataset
from dfrobust.data.manifest import read_manifest
from dfrobust.data.transforms import model_transform
from dfrobust.errors import DfrobustError
from dfrobust.evaluation.adversarial_frames import AdvFrameWriter
from dfrobust.evaluation.evaluate import _relative, collect, evaluate_batches, plan_frames, preflight_frames
from dfrobust.evaluation.options import EvalOptions
from dfrobust.evaluation.parts import (
    claim,
    count_done,
    done_positions,
    fingerprint,
    merge_lock,
    parts_dir,
    read_parts,
    remove_parts,
    write_part,
)
from dfrobust.evaluation.results import save_eval
from dfrobust.hardware import resolve_device
from dfrobust.runs import EVAL_DIR, load_run_model

log = logging.getLogger(__name__)


@dataclass
class EvalJob:
    """A run's model and frames, ready for :func:`run_eval`; ``steps`` sizes a progress bar.

    ``shard`` = (i, n): the share of whole videos this job evaluates; ``rank`` = (r, k): the
    share of that share one of k processes takes (:mod:`dfrobust.evaluation.launch`).
    """

    model: nn.Module
    dataset: FFDataset
    options: EvalOptions
    device: torch.device
    out_dir: Path
    meta: dict[str, Any]
    shard: tuple[int, int] = (0, 1)
    rank: tuple[int, int] = (0, 1)

    @functools.cached_property
    def picked(self) -> list[int]:
        """Dataset indices of every frame of the evaluation (all shards)."""
        return plan_frames(len(self.dataset), self.options)

    def share(self) -> list[int]:
        """Positions (in :attr:`picked`) of this job's frames: its shard's and rank's videos."""
        videos = [str(self.dataset.video_index.keys[v]) for v in self.dataset.videos[self.picked]]
        mine = split_by_video(range(len(self.picked)), videos, *self.shard)
        return split_by_video(mine, videos, *self.rank)

    @property
    def steps(self) -> int:
        """Progress steps :func:`run_eval` reports: this job's frames."""
        return len(self.share())


def prepare_run_eval(
    run_dir: str | os.PathLike,
    options: EvalOptions = EvalOptions(),
    *,
    checkpoint: str = "best",
    split: str = "test",
    manifest: str | os.PathLike | None = None,
    device: str = "auto",
    shard: tuple[int, int] = (0, 1),
) -> EvalJob:
    """Load a run's checkpoint and the frames of ``split`` of its manifest (or of ``manifest``).

    Frames are resized as in training (``data.image_size`` or the model's input size).

    Raises:
        DfrobustError: missing run folder, checkpoint or manifest, or an empty split.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DfrobustError(
            f"run folder {run_dir} does not exist; train it first with `dfrobust train --run {run_dir}`"
        )
    target = resolve_device(device)
    model, config = load_run_model(run_dir, checkpoint, map_location=target)
    manifest = Path(manifest or config.data.manifest)
    if not manifest.is_file():
        raise DfrobustError(f"manifest {manifest} of run {run_dir} not found; pass --manifest path/to/frames.csv")
    dataset = FFDataset(manifest, split, model_transform(model, config.data.image_size), return_video=True)
    meta = {
        "run": str(run_dir),
        "checkpoint": str(checkpoint),
        "split": split,
        "manifest": str(manifest),
        "model": config.model.name,
        "image_size": config.data.image_size,
        "device": str(target),
    }
    split_by_video([], [], *shard)  # checks the shard before any work
    return EvalJob(model, dataset, options, target, run_dir / EVAL_DIR, meta, shard=shard)


GROUP_COLUMNS = ("method", "compression", "dataset", "attack", "eps")


def run_eval(
    job: EvalJob,
    on_progress: Callable[[int], None] | None = None,
    save_adv: str | os.PathLike | None = None,
    *,
    on_stage: Callable[[str], None] | None = None,
    merge: bool = True,
) -> dict[str, Any] | None:
    """Evaluate the job's frames not done yet, one part file per batch; then, once every frame
    of every shard is done (and ``merge``), write the ``eval/`` folder.

    Args:
        on_progress: called with the frames of each finished batch. on_stage: with the
            condition (and budget) starting.
        save_adv: also write every scored frame as PNG plus a ``frames.csv`` into this folder
            (:mod:`dfrobust.evaluation.adversarial_frames`); only for a whole, fresh evaluation.

    Returns:
        What ``summary.json`` holds, or None while frames of other shards are missing.

    Raises:
        DfrobustError: ``eval/parts/`` holds results made with other options.
    """
    began = time.perf_counter()
    claim(job.out_dir, fingerprint(job.options, job.meta, len(job.picked)))
    done = done_positions(job.out_dir)
    todo = [p for p in job.share() if p not in done]
    writer = None
    if save_adv is not None:
        if done or job.shard[1] * job.rank[1] > 1:
            raise DfrobustError("--save-adv needs a whole, fresh evaluation: no --shard, --devices or resumed parts")
        writer = AdvFrameWriter(save_adv, _manifest_rows(job), job.meta["split"], job.meta["run"])
    if done and todo:
        log.info("resuming: %d frames done, %d to go", len(done), len(todo))
    model = job.model.to(job.device).eval()
    batches = evaluate_batches(
        model, job.dataset, job.options, job.picked, todo, job.device, on_progress, on_stage, writer is not None
    )
    for batch in batches:
        write_part(job.out_dir, batch)
        if writer is not None:
            writer(
                [_relative(job.dataset.paths[job.picked[p]], job.dataset.root) for p in batch.positions], batch.scored
            )
    if not merge or count_done(job.out_dir) < len(job.picked):
        return None
    meta = {"seconds": round(time.perf_counter() - began, 2)}
    if writer is not None:
        manifest = writer.close({**job.meta, "options": asdict(job.options)})
        meta["saved_frames"] = str(manifest)
        log.info("adversarial frames written to %s", manifest)
    return merge_eval(job, meta)


def merge_eval(job: EvalJob, meta: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """Join the parts of every shard into the ``eval/`` files and delete the parts.

    Returns:
        The summary, or None when another process is merging them right now.

    Raises:
        DfrobustError: frames without results (a shard not done yet), or other options.
    """
    wanted = fingerprint(job.options, job.meta, len(job.picked))
    merged = _merged_already(job.out_dir, wanted)
    if merged is not None:
        log.info("%s holds this evaluation merged already", job.out_dir)
        return merged
    claim(job.out_dir, wanted)
    with merge_lock(job.out_dir) as mine:
        if not mine:
            log.warning(
                "another process is merging %s; if none is (a killed merge), delete %s and rerun",
                job.out_dir,
                parts_dir(job.out_dir) / "merge.lock",
            )
            return None
        result = collect(job.dataset, job.picked, job.options, read_parts(job.out_dir))
        model = job.model.to(job.device).eval()
        result.preflight = preflight_frames(model, job.dataset, job.picked, job.device)
        rows = _manifest_rows(job)
        present = [c for c in GROUP_COLUMNS if c in next(iter(rows.values()), {})]
        result.frame_columns = {c: [rows.get(p, {}).get(c, "") for p in result.paths] for c in present}
        summary = save_eval(result, job.out_dir, job.options, {**job.meta, **(meta or {"seconds": 0.0})})
        remove_parts(job.out_dir)
    return summary


def _merged_already(eval_dir: Path, wanted: dict[str, Any]) -> dict[str, Any] | None:
    """The summary.json of ``eval_dir`` if no parts are left and it was made with ``wanted``."""
    path = eval_dir / "summary.json"
    if parts_dir(eval_dir).exists() or not path.is_file():
        return None
    summary = json.loads(path.read_text(encoding="utf-8"))
    options = {k: v for k, v in summary.get("options", {}).items() if k in wanted["options"]}
    same = options == wanted["options"] and summary.get("frames") == wanted["frames"]
    return summary if same and all(summary.get(k) == wanted[k] for k in ("checkpoint", "split", "manifest")) else None


def _manifest_rows(job: EvalJob) -> dict[str, dict[str, str]]:
    """The manifest rows of the job's split, by path."""
    return {str(Path(r["path"])): r for r in read_manifest(job.meta["manifest"]) if r["split"] == job.meta["split"]}


def split_by_video(positions: Iterable[int], videos: Sequence[str], index: int, count: int) -> list[int]:
    """The positions whose video is the ``index``-th of every ``count`` videos (sorted by key).

    Whole videos go to one share, so video-level metrics need no frames from other shares,
    and the split depends only on the frames, not on the machine.
    """
    if not 0 <= index < count:
        raise DfrobustError(f"Expected a shard I/N with 0 <= I < N, got {index}/{count}")
    positions = list(positions)
    order = {v: i for i, v in enumerate(sorted({videos[p] for p in positions}))}
    return [p for p in positions if order[videos[p]] % count == index]
