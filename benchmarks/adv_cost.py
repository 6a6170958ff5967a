"""Cost of adversarial training: FGSM-RS epoch time / clean epoch time, same model and data.

Trains the same model on the same in-memory frames (random pixels, random labels: the
cost does not depend on what is learnt) once clean and once with each adversary, through
the real ``DetectorModule`` and Lightning ``Trainer`` (validation off), and prints the
fastest epoch of each and its ratio to clean. Runs alternate (clean, adversarial, clean,
...) so that load from other processes hits both alike. Target: FGSM-RS <= 2.1x clean;
the cost model (a clean step ~3 forward units, FGSM-RS adds ~2) puts the floor near 1.7x.

    python benchmarks/adv_cost.py                       # resnet18, 64 px, 512 frames
    python benchmarks/adv_cost.py --model meso4 --size 128 --methods fgsm_rs,n_fgsm,pgd
"""

from __future__ import annotations

import argparse
import logging
import time

import lightning as L
import torch
from torch.utils.data import DataLoader, TensorDataset

from dfrobust.config import load_config
from dfrobust.runs import build_model
from dfrobust.training.module import DetectorModule


class EpochTimer(L.Callback):
    """Wall and process CPU time of every training epoch.

    CPU time is the steadier figure on a shared machine: other processes slow the wall
    clock of each run differently, but hardly change the work a run does.
    """

    def __init__(self) -> None:
        self.times: list[tuple[float, float]] = []

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.start = (time.perf_counter(), time.process_time())

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.times.append((time.perf_counter() - self.start[0], time.process_time() - self.start[1]))


def epoch_times(method: str, args: argparse.Namespace, loader: DataLoader) -> list[tuple[float, float]]:
    """Train ``args.epochs`` epochs with ``method`` (``none`` = clean); (wall, CPU) s per epoch."""
    config = load_config(
        None,
        {
            "model.name": args.model,
            "image_size": str(args.size),
            "adv": method,
            "eps": "4/255",
            "steps": str(args.pgd_steps),
            "monitor_frames": "0",
            "epochs": str(args.epochs),
            "optimizer": "sgd",
            "lr": "0.01",
        },
    )
    torch.manual_seed(0)
    module = DetectorModule(build_model(config, initial_weights=False), config)
    timer = EpochTimer()
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=args.epochs,
        limit_val_batches=0,
        logger=False,
        callbacks=[timer],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module, train_dataloaders=loader)
    return timer.times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--frames", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3, help="per run; the first is warm-up")
    parser.add_argument("--repeats", type=int, default=2, help="alternating runs per method")
    parser.add_argument("--methods", default="fgsm_rs", help="adversaries to compare with clean")
    parser.add_argument("--pgd-steps", type=int, default=3)
    args = parser.parse_args()
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # one line per fit is noise here

    generator = torch.Generator().manual_seed(0)
    x = torch.rand(args.frames, 3, args.size, args.size, generator=generator)
    y = torch.randint(0, 2, (args.frames,), generator=generator)
    loader = DataLoader(
        TensorDataset(x, y, torch.arange(args.frames)), batch_size=args.batch_size, shuffle=True, drop_last=True
    )
    methods = ["none", *args.methods.split(",")]
    wall = {method: float("inf") for method in methods}
    cpu = dict(wall)
    for _ in range(args.repeats):
        for method in methods:
            for w, c in epoch_times(method, args, loader)[1:]:  # epoch 0 warms up allocators and threads
                wall[method], cpu[method] = min(wall[method], w), min(cpu[method], c)
    print(
        f"{args.model}, {args.size} px, {args.frames} frames, batch {args.batch_size}, "
        f"{torch.get_num_threads()} threads; fastest epoch of {args.repeats} x {args.epochs - 1}"
    )
    print(f"{'method':<10} {'wall s':>8} {'x clean':>8} {'CPU s':>8} {'x clean':>8}")
    for method in methods:
        name = "clean" if method == "none" else method
        print(
            f"{name:<10} {wall[method]:>8.2f} {wall[method] / wall['none']:>8.2f} "
            f"{cpu[method]:>8.2f} {cpu[method] / cpu['none']:>8.2f}"
        )


if __name__ == "__main__":
    main()
