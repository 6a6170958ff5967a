"""APGD parity: dfrobust.attacks.apgd vs torchattacks.APGD(loss="ce", steps=100), side by side.

Same Meso-4 (64 x 64, briefly trained on the synthetic real/fake task of
``square_parity.py`` so margins are meaningful), same images, eps 1, 2 and 4/255, three
seeds. torchattacks sees the detector through ``TwoLogitAdapter`` (logits ``[0, z]``, so its
CE is our BCE). Prints per eps and seed the robust accuracy and wall time of both, PGD-10's
robust accuracy, and with ``--ensemble`` the ``auto`` ensemble's; then the targets: ours
<= theirs + 1 point robust accuracy, >= 1.5x faster; APGD-100 <= PGD-10; auto <= its
strongest member.

Run (one thread; a few minutes on a busy 2-core machine):
    .venv/bin/python benchmarks/apgd_parity.py --threads 1 --published meso4.df
    .venv/bin/python benchmarks/apgd_parity.py --threads 1
    .venv/bin/python benchmarks/apgd_parity.py --threads 1 --eps 4/255 --seeds 0 --ensemble
"""

from __future__ import annotations

import argparse
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import torch
import torchattacks

from dfrobust.attacks import apgd, auto, margin, pgd, square
from dfrobust.models import TwoLogitAdapter
from square_parity import synthetic_batch, trained_meso4

WALL = False  # set from --wall


def get_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--eps", type=Fraction, nargs="+", default=[Fraction(1, 255), Fraction(2, 255), Fraction(4, 255)]
    )
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--train-steps", type=int, default=60)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--ensemble", action="store_true", help="also run auto (APGD-BCE, APGD-margin, Square)")
    parser.add_argument("--n-queries", type=int, default=1000, help="Square's budget inside --ensemble")
    parser.add_argument("--run", help="a run folder (e.g. the demo's runs/fgsm_rs): its model and test frames")
    parser.add_argument("--checkpoint", default="best")
    parser.add_argument(
        "--published",
        help="a pretrained tag (meso4.df): the published model on mesonet_robustness.py's frames "
        "(face crops of ../shared/data/ffpp_sample and the two MesoNet sample faces)",
    )
    parser.add_argument("--wall", action="store_true", help="time the wall clock, not the process's CPU time")
    return parser.parse_args()


def target(args: argparse.Namespace) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor, str]:
    """The model and images to attack: a run's checkpoint and a seeded sample of its test
    frames, or the synthetic Meso-4 of square_parity.py."""
    if args.published is not None:
        return published(args.published)
    if args.run is None:
        x, y = synthetic_batch(args.batch, args.size, torch.Generator().manual_seed(2))
        return trained_meso4(args.size, args.train_steps), x, y, f"synthetic Meso-4 {args.size}x{args.size}"
    from dfrobust.evaluation import EvalOptions
    from dfrobust.evaluation.run import prepare_run_eval

    job = prepare_run_eval(args.run, EvalOptions(attacks=("clean",)), checkpoint=args.checkpoint, device="cpu")
    picked = torch.randperm(len(job.dataset), generator=torch.Generator().manual_seed(0))[: args.batch].tolist()
    frames = [job.dataset[i] for i in picked]
    x, y = torch.stack([f[0] for f in frames]), torch.tensor([int(f[1]) for f in frames])
    return job.model.eval(), x, y, f"{args.run} ({job.meta['model']}, {args.checkpoint}, {x.shape[-1]} px test frames)"


def published(tag: str) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor, str]:
    """A published detector (its shipped weights) and the real frames of mesonet_robustness.py."""
    from dfrobust.data.dataset import FFDataset
    from dfrobust.data.transforms import model_transform
    from dfrobust.models import create_model
    from mesonet_robustness import DATA, build_manifest

    model = create_model(tag, pretrained=True).eval()
    work = Path(tempfile.gettempdir()) / "dfrobust_apgd_parity_frames"
    dataset = FFDataset(build_manifest(DATA, work, frames=4, seed=0), "test", model_transform(model))
    x, y = torch.stack([dataset[i][0] for i in range(len(dataset))]), dataset.labels
    return model, x, y, f"{tag} (published weights) on {len(y)} real frames, {x.shape[-1]} px"


def robust_accuracy(model: torch.nn.Module, x_adv: torch.Tensor, y: torch.Tensor) -> float:
    """Share of images x_adv leaves correctly classified (the same check for every attack)."""
    with torch.no_grad():
        return (margin(model(x_adv), y) > 0).float().mean().item()


def timed(run, *args, **kwargs) -> tuple[object, float]:
    """The result and the CPU seconds the process spent on it: on a shared, busy machine wall
    time mostly measures the neighbours (``--wall`` to time the wall clock instead)."""
    clock = time.perf_counter if WALL else time.process_time
    start = clock()
    result = run(*args, **kwargs)
    return result, clock() - start


def main() -> None:
    global WALL
    args = get_args()
    WALL = args.wall
    torch.set_num_threads(args.threads)
    model, x, y, name = target(args)
    print(
        f"{name}, batch {len(y)}, clean accuracy {robust_accuracy(model, x, y):.3f}, "
        f"{args.steps} steps, threads {torch.get_num_threads()}, {'wall' if WALL else 'CPU'} seconds"
    )
    print(
        f"{'eps':>6} {'seed':>4} {'ours acc':>8} {'ta acc':>7} {'ours s':>7} {'ta s':>7} {'speed-up':>8} "
        f"{'pgd10 acc':>9}" + (f" {'auto acc':>8} {'best member':>11}" if args.ensemble else "")
    )
    worst_gap, ours_total, ta_total, pgd_fails, auto_fails = -1.0, 0.0, 0.0, 0, 0
    for eps in args.eps:
        for seed in args.seeds:
            g = torch.Generator().manual_seed(seed)
            ours_r, ours_s = timed(apgd, model, x, y, eps=float(eps), steps=args.steps, generator=g)
            ours_x = ours_r.x_adv
            reference = torchattacks.APGD(
                TwoLogitAdapter(model).eval(), eps=float(eps), steps=args.steps, loss="ce", seed=seed
            )
            ta_x, ta_s = timed(reference, x, y)
            pgd_x = pgd(model, x, y, eps=float(eps), steps=10, generator=torch.Generator().manual_seed(seed)).x_adv
            ours, ta, by_pgd = (robust_accuracy(model, a, y) for a in (ours_x, ta_x, pgd_x))
            worst_gap, pgd_fails = max(worst_gap, ours - ta), pgd_fails + (ours > by_pgd)
            ours_total, ta_total = ours_total + ours_s, ta_total + ta_s
            line = f"{str(eps):>6} {seed:>4} {ours:>8.3f} {ta:>7.3f} {ours_s:>7.1f} {ta_s:>7.1f} {ta_s / ours_s:>7.2f}x"
            line += f" {by_pgd:>9.3f}"
            if args.ensemble:
                line += ensemble_cells(model, x, y, float(eps), seed, args)
                auto_fails += line.endswith("!")
            print(line, flush=True)
    print(f"robust accuracy: ours - torchattacks at most {100 * worst_gap:+.1f} points (target <= +1)")
    print(
        f"time: ours {ours_total:.1f} s, torchattacks {ta_total:.1f} s, speed-up {ta_total / ours_total:.2f}x "
        "(target >= 1.5x)"
    )
    print(f"APGD-100 weaker than PGD-10 in {pgd_fails} of {len(args.eps) * len(args.seeds)} runs (target 0)")
    if args.ensemble:
        print(f"auto weaker than its strongest member in {auto_fails} runs (target 0; marked !)")


def ensemble_cells(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, seed: int, args) -> str:
    """auto's robust accuracy and its strongest member's alone (``!`` where auto is weaker)."""

    def g() -> torch.Generator:
        return torch.Generator().manual_seed(seed)

    ensemble = auto(model, x, y, eps=eps, steps=args.steps, n_queries=args.n_queries, generator=g())
    alone = [
        apgd(model, x, y, eps=eps, steps=args.steps, generator=g()),
        apgd(model, x, y, eps=eps, steps=args.steps, loss="margin", generator=g()),
        square(model, x, y, eps=eps, n_queries=args.n_queries, generator=g()),
    ]
    acc = 1 - ensemble.success.float().mean().item()
    best = min(1 - r.success.float().mean().item() for r in alone)
    return f" {acc:>8.3f} {best:>11.3f}" + ("!" if acc > best + 1e-9 else "")


if __name__ == "__main__":
    main()
