"""``dfrobust test --dry-run``: what an evaluation will do and about how long it will take.

Model evaluations per frame come from the budgets the registry passes each attack (an upper
bound: APGD and Square stop on a frame once it is fooled, and each member of ``auto`` only
attacks the frames still robust). The time comes from a short timed probe of forwards and
gradients on the current device, times those counts. ::

    plan = plan_eval(job)
    plan["conditions"]      # per condition: gradients and forwards per frame (at most)
    plan["estimate_s"]      # upper bound, seconds, for the frames still to do
"""

from __future__ import annotations

import time
from typing import Any

import torch
from torch.utils.data import DataLoader, Subset

from dfrobust.attacks import get_attack
from dfrobust.attacks.base import loss_and_grad
from dfrobust.evaluation.batch import UNBOUNDED_PGD, budget_label
from dfrobust.evaluation.options import EvalOptions
from dfrobust.evaluation.parts import done_positions
from dfrobust.evaluation.run import EvalJob


def model_evaluations(attack: str, budgets: dict[str, Any]) -> tuple[int, int]:
    """(gradient evaluations, forwards) one frame costs at most under ``attack`` with ``budgets``.

    The final scoring forward is included; EOT multiplies the gradients.
    """
    eot = int(budgets.get("eot", 1))
    if attack == "clean":
        return 0, 1
    if attack == "fgsm":
        return eot, 1
    if attack == "pgd":
        return int(budgets.get("steps", 10)) * int(budgets.get("restarts", 1)) * eot, 1
    if attack in ("apgd", "apgd_margin"):
        return (int(budgets.get("steps", 100)) + 1) * int(budgets.get("restarts", 1)) * eot, 1
    if attack == "square":
        return 0, int(budgets.get("n_queries", 1000)) + 2  # the clean margin, the queries, the score
    if attack == "auto":
        grads, forwards = 0, 2  # the clean margins and the final score
        for member in budgets.get("members", ()):
            spec = get_attack(member, "eval")
            mine = {k: v for k, v in budgets.items() if k in spec.eval_options}
            g, f = model_evaluations(member, mine)
            grads, forwards = grads + g, forwards + f
        return grads, forwards
    return 1, 1  # an attack this table does not know: counted as one of each


def condition_costs(options: EvalOptions) -> list[dict[str, Any]]:
    """Per condition: its label with budgets, and gradients and forwards per frame (at most)."""
    rows = []
    for c in options.conditions:
        grads, forwards = model_evaluations(c.attack, get_attack(c.attack, "eval").options(options, "eval"))
        rows.append({"condition": budget_label(c, options), "gradients": grads, "forwards": forwards})
    return rows


def probe(job: EvalJob, frames: int = 16, repeats: int = 3) -> tuple[float, float]:
    """Seconds per frame of one forward and of one gradient evaluation, timed on a few frames."""
    model = job.model.to(job.device).eval()
    picked = job.picked[:frames] or [0]
    x, y, *_ = next(iter(DataLoader(Subset(job.dataset, picked), batch_size=len(picked))))
    x, y = x.to(job.device), y.to(job.device)
    timings = []
    for step in (lambda: _forward(model, x), lambda: loss_and_grad(model, x, y)):
        step()  # warm-up: allocations, kernel selection
        _sync(job.device)
        began = time.perf_counter()
        for _ in range(repeats):
            step()
        _sync(job.device)
        timings.append((time.perf_counter() - began) / repeats / len(picked))
    return timings[0], timings[1]


def plan_eval(job: EvalJob) -> dict[str, Any]:
    """The plan of ``job``: frames (all, this share, done, to do), conditions and their model
    evaluations per frame, the probe's timings and the estimated seconds (an upper bound)."""
    share = job.share()
    done = done_positions(job.out_dir) if job.out_dir.exists() else set()
    todo = [p for p in share if p not in done]
    costs = condition_costs(job.options)
    grads = sum(row["gradients"] for row in costs)
    forwards = sum(row["forwards"] for row in costs)
    sanity = min(job.options.sanity_frames, len(job.picked)) if job.options.sanity else 0
    sanity_todo = sanity * len(todo) / max(len(job.picked), 1)  # the sanity frames are spread evenly
    t_forward, t_grad = probe(job)
    sanity_grads = job.options.pgd_steps + UNBOUNDED_PGD["steps"]  # PGD at sanity_eps and unbounded
    estimate = len(todo) * (grads * t_grad + forwards * t_forward) + sanity_todo * sanity_grads * t_grad
    return {
        "frames": len(job.picked),
        "share": len(share),
        "shard": f"{job.shard[0]}/{job.shard[1]}",
        "done": len(share) - len(todo),
        "todo": len(todo),
        "conditions": costs,
        "gradients_per_frame": grads,
        "forwards_per_frame": forwards,
        "device": str(job.device),
        "seconds_per_forward": t_forward,
        "seconds_per_gradient": t_grad,
        "estimate_s": estimate,
    }


def _forward(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return model(x)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
