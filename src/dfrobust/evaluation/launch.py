"""``dfrobust test --devices N``: N processes on torch's own launchers, rank 0 merging.

``torch.multiprocessing`` starts the processes and ``torch.distributed`` joins them (gloo on
the CPU, NCCL on GPUs, one GPU per process). Under ``torchrun`` (``WORLD_SIZE`` set) the
processes exist already: each takes its rank from the environment, so the same command
runs on several nodes. Each process evaluates its share of whole videos (``EvalJob.rank``)
and writes its batches to ``eval/parts/``; after one barrier rank 0 merges them. Results are
the same as one process's, since every frame's random draws are its own. ::

    dfrobust test --run runs/x --attacks auto --devices 8                  # one node, 8 GPUs
    torchrun --nnodes 2 --nproc_per_node 8 --rdzv_backend c10d --rdzv_endpoint HOST:29500 \\
        -m dfrobust test --run runs/x --attacks auto                        # 2 nodes x 8 GPUs

For a SLURM array, give each task ``--shard $SLURM_ARRAY_TASK_ID/N`` instead (no process
group is needed), then ``dfrobust test --merge`` with the same options.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from dfrobust.errors import DfrobustError
from dfrobust.evaluation.options import EvalOptions
from dfrobust.evaluation.parts import count_done, parts_dir
from dfrobust.evaluation.run import merge_eval, prepare_run_eval, run_eval
from dfrobust.hardware import resolve_device
from dfrobust.runs import EVAL_DIR


@dataclass(frozen=True)
class EvalRequest:
    """What a process needs to prepare its job (the arguments of ``prepare_run_eval``), picklable."""

    run_dir: str
    options: EvalOptions
    checkpoint: str = "best"
    split: str = "test"
    manifest: str | None = None
    device: str = "auto"
    shard: tuple[int, int] = (0, 1)


def under_torchrun() -> bool:
    """True in a process torchrun (or SLURM + torchrun) started as one of several."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def run_on_devices(
    request: EvalRequest, devices: int, on_progress: Callable[[int], None] | None = None
) -> dict[str, Any] | None:
    """Evaluate ``request`` in ``devices`` processes (or this torchrun process's rank).

    Returns:
        The summary once every frame is done (from rank 0), else None (other shards missing,
        or a torchrun rank other than 0).

    Raises:
        DfrobustError: a process failed (its last error line), or more GPUs asked than exist.
    """
    out_dir = Path(request.run_dir) / EVAL_DIR
    if under_torchrun():
        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        progress = _disk_progress(out_dir, on_progress) if rank == 0 else None
        return _run_rank(rank, world, "env://", request, progress)
    if resolve_device(request.device).type == "cuda" and devices > torch.cuda.device_count():
        raise DfrobustError(f"--devices {devices} asked for, but torch sees {torch.cuda.device_count()} GPU(s)")
    threads = max(1, torch.get_num_threads() // devices)  # CPU: share the cores, do not oversubscribe
    advance = _disk_progress(out_dir, on_progress)
    with tempfile.TemporaryDirectory(prefix="dfrobust-dist-") as tmp:
        args = (devices, f"file://{tmp}/rendezvous", request, threads)
        context = mp.start_processes(_worker, args=args, nprocs=devices, join=False, start_method="spawn")
        try:
            while not context.join(timeout=0.5):
                advance(0)
        except mp.ProcessRaisedException as e:
            last = str(e).strip().splitlines()[-1]
            raise DfrobustError(f"an evaluation process failed: {last}") from None
        except mp.ProcessExitedException as e:
            raise DfrobustError(f"an evaluation process died: {e}") from None
    advance(0)
    summary = out_dir / "summary.json"
    if parts_dir(out_dir).exists() or not summary.is_file():
        return None
    return json.loads(summary.read_text(encoding="utf-8"))


def _worker(rank: int, world: int, init_method: str, request: EvalRequest, threads: int) -> None:
    torch.set_num_threads(threads)
    _run_rank(rank, world, init_method, request, None)


def _run_rank(
    rank: int, world: int, init_method: str, request: EvalRequest, on_progress: Callable[[int], None] | None
) -> dict[str, Any] | None:
    """One process: join the group, evaluate this rank's share, wait for all, rank 0 merges."""
    cuda = resolve_device(request.device).type == "cuda"
    device = request.device
    if cuda:
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', rank)) % torch.cuda.device_count()}"
        torch.cuda.set_device(device)
    # A rank with less work waits at the barrier for the others: hours on a full FF++ run.
    dist.init_process_group(
        "nccl" if cuda else "gloo", init_method=init_method, rank=rank, world_size=world, timeout=timedelta(days=7)
    )
    try:
        job = prepare_run_eval(
            request.run_dir,
            request.options,
            checkpoint=request.checkpoint,
            split=request.split,
            manifest=request.manifest,
            device=device,
            shard=request.shard,
        )
        job.rank = (rank, world)
        run_eval(job, on_progress, merge=False)
        dist.barrier()
        if rank == 0 and count_done(job.out_dir) == len(job.picked):
            return merge_eval(job)
        return None
    finally:
        dist.destroy_process_group()


def _disk_progress(out_dir: Path, on_progress: Callable[[int], None] | None) -> Callable[[int], None]:
    """A progress callback that reports the frames every process has saved (read from the part
    files' names), so the count is the truth across processes."""
    seen = count_done(out_dir)
    last = time.monotonic()

    def advance(_: int) -> None:
        nonlocal seen, last
        if on_progress is None or time.monotonic() - last < 0.5:
            return
        last, done = time.monotonic(), count_done(out_dir)
        if done > seen:
            on_progress(done - seen)
            seen = done

    return advance
