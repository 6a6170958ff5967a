"""Square Attack parity: dfrobust.attacks.square vs torchattacks.Square, side by side.

Same Meso-4 (64 x 64, briefly trained on a synthetic real/fake task so margins are
meaningful), same images, same budget and eps, three seeds. Prints per seed the success rate
(share of correctly classified images flipped) and the wall time of each, then the ratios:
our success rate should be >= torchattacks' - 2 points, our throughput >= 1.5x.

Run (about 2 minutes with one thread; two threads on a busy 2-core machine took 10):
    .venv/bin/python benchmarks/square_parity.py --threads 1
    .venv/bin/python benchmarks/square_parity.py --n-queries 300 --batch 128 --eps 4/255
"""

from __future__ import annotations

import argparse
import time
from fractions import Fraction

import torch
import torch.nn.functional as F
import torchattacks

from dfrobust.attacks import margin, square
from dfrobust.models import TwoLogitAdapter, create_model


def get_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-queries", type=int, default=300)
    parser.add_argument("--eps", type=Fraction, default=Fraction(4, 255))
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--train-steps", type=int, default=60)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (FACTS.md used 2)")
    return parser.parse_args()


def synthetic_batch(n: int, size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Smooth random 'faces'; fakes carry a faint high-frequency blending pattern."""
    low = torch.rand((n, 3, size // 8, size // 8), generator=generator)
    x = F.interpolate(low, size=size, mode="bilinear", align_corners=False)
    y = torch.randint(0, 2, (n,), generator=generator)
    pattern = torch.rand((n, 1, size, size), generator=generator) - 0.5
    x = (x + 0.05 * y[:, None, None, None] * pattern).clamp(0, 1)  # faint: a hard task
    return x, y


def trained_meso4(size: int, steps: int) -> torch.nn.Module:
    """A Meso-4 trained a few Adam steps: a fixed, non-trivial target for both attacks."""
    torch.manual_seed(0)
    model = create_model("meso4", input_size=(3, size, size))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(1)
    for _ in range(steps):
        x, y = synthetic_batch(64, size, generator)
        loss = F.binary_cross_entropy_with_logits(model(x), y.float())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def flipped(model: torch.nn.Module, x_adv: torch.Tensor, y: torch.Tensor, correct: torch.Tensor) -> float:
    """Share of clean-correct images that x_adv misclassifies (same check for both attacks)."""
    with torch.no_grad():
        return (margin(model(x_adv), y)[correct] <= 0).float().mean().item()


def main() -> None:
    args = get_args()
    torch.set_num_threads(args.threads)
    model = trained_meso4(args.size, args.train_steps)
    x, y = synthetic_batch(args.batch, args.size, torch.Generator().manual_seed(2))
    with torch.no_grad():
        correct = margin(model(x), y) > 0
    eps = float(args.eps)
    print(
        f"Meso-4 {args.size}x{args.size}, batch {args.batch}, clean accuracy {correct.float().mean():.3f}, "
        f"eps {args.eps}, {args.n_queries} queries, threads {torch.get_num_threads()}"
    )
    print(f"{'seed':>4} {'ours succ':>9} {'ta succ':>8} {'ours s':>7} {'ta s':>7} {'speed-up':>8} {'ours mean q':>11}")
    totals = {"ours": [0.0, 0.0], "ta": [0.0, 0.0]}  # success, seconds
    for seed in args.seeds:
        start = time.perf_counter()
        result = square(model, x, y, eps=eps, n_queries=args.n_queries, seed=seed)
        ours_s = time.perf_counter() - start
        reference = torchattacks.Square(TwoLogitAdapter(model).eval(), eps=eps, n_queries=args.n_queries, seed=seed)
        start = time.perf_counter()
        x_ta = reference(x, y)
        ta_s = time.perf_counter() - start
        ours, ta = flipped(model, result.x_adv, y, correct), flipped(model, x_ta, y, correct)
        for key, succ, secs in (("ours", ours, ours_s), ("ta", ta, ta_s)):
            totals[key][0] += succ / len(args.seeds)
            totals[key][1] += secs
        mean_q = result.queries[correct].float().mean().item()
        print(
            f"{seed:>4} {ours:>9.3f} {ta:>8.3f} {ours_s:>7.1f} {ta_s:>7.1f} {ta_s / ours_s:>7.2f}x {mean_q:>11.1f}",
            flush=True,
        )
    (ours, ours_s), (ta, ta_s) = totals["ours"], totals["ta"]
    print(
        f"mean success: ours {ours:.3f}, torchattacks {ta:.3f}, difference {100 * (ours - ta):+.1f} points "
        f"(target >= -2)"
    )
    print(
        f"throughput: ours {len(args.seeds) * args.batch / ours_s:.1f} img/s, torchattacks "
        f"{len(args.seeds) * args.batch / ta_s:.1f} img/s, ratio {ta_s / ours_s:.2f}x (target >= 1.5x)"
    )


if __name__ == "__main__":
    main()
