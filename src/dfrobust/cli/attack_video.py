"""``dfrobust attack-video``: an adversarial copy of a video, attacked face by face, encoded H.264."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from dfrobust.cli.app import app
from dfrobust.cli.common import console, err_console, handles_errors, progress_bar
from dfrobust.eps import parse_eps


@app.command("attack-video")
@handles_errors
def attack_video_command(
    video: Annotated[Path, typer.Argument(help="The video to attack (mp4, avi, mov...); never modified.")],
    out: Annotated[Path, typer.Option(help="Adversarial video to write (.mp4, .mov or .mkv).")],
    run: Annotated[Path | None, typer.Option(help="Run folder written by dfrobust train.")] = None,
    checkpoint: Annotated[str, typer.Option(help="With --run: best, best-robust, last or a path.")] = "best",
    model: Annotated[
        str | None, typer.Option(help="Model instead of a run: a pretrained tag (meso4.df) or a name with --weights.")
    ] = None,
    weights: Annotated[Path | None, typer.Option(help="With --model: weights file (.h5, .safetensors, .pt).")] = None,
    attack: Annotated[str, typer.Option(help="A registry attack: pgd, apgd, apgd_margin, fgsm, square...")] = "pgd",
    eps: Annotated[str, typer.Option(help="L-inf budget in pixel units of the face crop.")] = "4/255",
    steps: Annotated[int | None, typer.Option(help="Iterations of pgd/apgd (their default if not given).")] = None,
    n_queries: Annotated[int | None, typer.Option(help="Square's query budget per frame.")] = None,
    eot: Annotated[int, typer.Option(min=1, help="EOT draws per step (pgd, apgd, fgsm); 1: no EOT.")] = 1,
    eot_transforms: Annotated[
        str | None,
        typer.Option(help="EOT transformations, comma-separated; default with --eot > 1: jpeg,blur,resize,noise."),
    ] = None,
    crf: Annotated[int, typer.Option(help="x264 quality of the output (23 as FF++ c23; lower is better).")] = 23,
    preset: Annotated[str, typer.Option(help="x264 speed preset.")] = "medium",
    batch_size: Annotated[int, typer.Option(min=1, help="Face crops attacked together.")] = 16,
    max_frames: Annotated[int | None, typer.Option(min=1, help="Only the first N frames.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the attack's random draws.")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    summary: Annotated[Path | None, typer.Option(help="Summary JSON to write; default: OUT with .json.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON instead of a table.")] = False,
) -> None:
    """Attack the face in every frame, put the perturbation back, encode H.264 at --crf.

    The face crops are scored before the attack, after it, and decoded from the written file.
    Python: ``dfrobust.adversarial_video.attack_video(model, VIDEO, OUT, attack="pgd", eps=4 / 255)``.
    """
    from dfrobust.adversarial_video import attack_video, frame_count
    from dfrobust.atomicio import write_json
    from dfrobust.hardware import resolve_device
    from dfrobust.predict import load_detector

    budget = parse_eps(eps)
    options: dict[str, Any] = {"steps": steps, "n_queries": n_queries}
    if eot > 1 or eot_transforms is not None:
        options.update(eot=eot, eot_transforms=eot_transforms)
    options = {k: v for k, v in options.items() if v is not None}
    total = frame_count(video)
    total = min(total, max_frames) if max_frames else total
    target = resolve_device(device)
    detector, _ = load_detector(run=run, checkpoint=checkpoint, model=model, weights=weights, device=target)
    with progress_bar(f"attacking {video.name}", total, "frames") as advance:
        result = attack_video(
            detector,
            video,
            out,
            attack=attack,
            eps=budget,
            options=options,
            crf=crf,
            preset=preset,
            batch_size=batch_size,
            max_frames=max_frames,
            seed=seed,
            on_progress=advance,
        )
    source = {"run": str(run), "checkpoint": checkpoint} if run else {"model": model, "weights": str(weights or "")}
    record = {**source, **result.as_dict()}
    summary_path = summary or out.with_suffix(".json")
    write_json(summary_path, record)
    if as_json:
        typer.echo(json.dumps({k: v for k, v in record.items() if k != "boxes"}, indent=2))
    else:
        console.print(_table(result))
        err_console.print(f"wrote {out} and {summary_path}")


def _table(result) -> Table:
    table = Table(title=f"{result.attack} eps {result.eps * 255:.3g}/255 on {result.frames} frames")
    for name in ("frames", "P(fake)", "verdict", "frames real", "PSNR dB", "face PSNR dB", "face SSIM"):
        table.add_column(name, justify="left" if name in ("frames", "verdict") else "right")
    colour = {"fake": "red", "real": "green"}

    def number(v: float, digits: int = 1) -> str:
        return "-" if v is None or math.isnan(v) else f"{v:.{digits}f}"

    rows = (
        ("original", "clean", "-", "-", "-"),
        (
            "adversarial",
            "adversarial",
            result.psnr_adversarial,
            result.psnr_face_adversarial,
            result.ssim_face_adversarial,
        ),
        (
            f"written (CRF {result.crf})",
            "written",
            result.psnr_written,
            result.psnr_face_written,
            result.ssim_face_written,
        ),
    )
    for label, stage, psnr, face_psnr, face_ssim in rows:
        p = getattr(result, f"prob_fake_{stage}")
        verdict = "fake" if p >= 0.5 else "real"
        table.add_row(
            label,
            f"{p:.4f}",
            f"[{colour[verdict]}]{verdict}[/]",
            f"{getattr(result, f'frames_real_{stage}')}/{result.frames}",
            psnr if isinstance(psnr, str) else number(psnr),
            face_psnr if isinstance(face_psnr, str) else number(face_psnr),
            face_ssim if isinstance(face_ssim, str) else number(face_ssim, 4),
        )
    return table
