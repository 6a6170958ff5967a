"""How robust is the published MesoNet (Meso4_DF) to FGSM, PGD and Square at tiny budgets?

Frames: the authors' two sample faces (tests/data_files/mesonet/images) plus face crops of the
five real FF++ c23 videos in shared/data/ffpp_sample, extracted with the project's own
extraction (MTCNN, square x1.3 crop, 256 px JPEG q95). Model: Meso4 with the authors' Keras
weights (Meso4_DF.h5). Every frame is scored clean and under each attack at each eps with
``dfrobust.evaluation.evaluate`` (model in eval mode); the script prints P(fake) per frame
and condition, the summary per condition and the gradient-masking checks, as Markdown.

Run (about 2-4 minutes on 2 CPU cores; the crops are cached in --work):
    .venv/bin/python benchmarks/mesonet_robustness.py
    .venv/bin/python benchmarks/mesonet_robustness.py --frames 4 --eps 1/255,2/255 --n-queries 1000
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import torch

from dfrobust.atomicio import write_csv
from dfrobust.data.dataset import FFDataset
from dfrobust.data.frames import ExtractConfig, extract_frames
from dfrobust.data.manifest import MANIFEST_COLUMNS, read_manifest
from dfrobust.data.transforms import model_transform
from dfrobust.evaluation import EvalOptions, EvalResult, evaluate
from dfrobust.models import create_model

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"  # holds ffpp_sample/ (real FF++ clips, never shipped)
IMAGES = Path(__file__).resolve().parents[1] / "tests" / "data_files" / "mesonet" / "images"


def get_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="folder holding ffpp_sample/")
    parser.add_argument("--frames", type=int, default=4, help="frames sampled per video")
    parser.add_argument("--eps", default="1/255,2/255", help="comma-separated budgets")
    parser.add_argument("--n-queries", type=int, default=1000, help="Square's query budget")
    parser.add_argument("--pgd-steps", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--work",
        type=Path,
        default=Path(tempfile.gettempdir()) / "dfrobust_mesonet_robustness",
        help="where the face crops and the manifest go",
    )
    return parser.parse_args()


def build_manifest(data: Path, work: Path, frames: int, seed: int) -> Path:
    """Face crops of the ffpp_sample videos plus the two MesoNet faces, all in split 'test'."""
    crops = work / "crops"
    extract_frames(
        ExtractConfig(
            root=data / "ffpp_sample",
            out=crops,  # the official splits shipped with dfrobust
            frames=frames,
            seed=seed,
            faces=True,
        )
    )
    rows = [{**row, "path": str(crops / row["path"]), "split": "test"} for row in read_manifest(crops / "frames.csv")]
    for label, image in ((1, "df/df00204.jpg"), (0, "real/real00240.jpg")):
        rows.append(
            {
                "path": str(IMAGES / image),
                "video": Path(image).stem,
                "frame_index": 0,
                "label": label,
                "method": "mesonet-sample",
                "compression": "",
                "split": "test",
                "face_box": "",
            }
        )
    manifest = work / "frames.csv"
    write_csv(manifest, rows, MANIFEST_COLUMNS)
    return manifest


def _fmt(value: float, digits: int = 3) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def print_frames(result: EvalResult) -> None:
    """One row per frame: its label and P(fake) under every condition."""
    conditions = list(result.probs)
    print("| frame | label | " + " | ".join(c.label for c in conditions) + " |")
    print("|---|---|" + "---|" * len(conditions))
    for i, path in enumerate(result.paths):
        name = "/".join(Path(path).parts[-3:])
        probs = " | ".join(f"{float(result.probs[c][i]):.4f}" for c in conditions)
        print(f"| {name} | {'fake' if result.labels[i] else 'real'} | {probs} |")


def print_summary(result: EvalResult) -> None:
    """One row per condition: accuracy, AUC, video accuracy, ASR (a)-(d), Square queries, time."""
    print(
        "| condition | eps | acc | AUC | video acc | ASR(a) flip | ASR(b) 1-acc | ASR(c) evasion "
        "| ASR(d) videos | queries mean / median | seconds |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in result.rows():
        queries = "-" if math.isnan(r["queries_mean"]) else f"{r['queries_mean']:.0f} / {r['queries_median']:.0f}"
        cells = [
            _fmt(r[k])
            for k in ("accuracy", "auroc", "video_accuracy", "asr_flip", "asr_error", "asr_evasion", "asr_video")
        ]
        print(f"| {r['condition']} | {r['eps']} | " + " | ".join(cells) + f" | {queries} | {r['seconds']:.1f} |")
    print()
    for check in result.checks():
        print(f"- {check.message()}")


def main() -> None:
    args = get_args()
    manifest = build_manifest(args.data, args.work, args.frames, args.seed)
    model = create_model("meso4.df", pretrained=True)  # the authors' Meso4_DF.h5, shipped with dfrobust
    dataset = FFDataset(manifest, "test", model_transform(model), return_video=True)
    eps = tuple(float(Fraction(e)) for e in args.eps.split(","))
    options = EvalOptions(
        eps=eps,
        n_queries=args.n_queries,
        pgd_steps=args.pgd_steps,
        seed=args.seed,
        sanity_frames=len(dataset),
        examples=0,
    )
    began = time.perf_counter()
    result = evaluate(model, dataset, options)
    print(
        f"Meso4_DF on {len(dataset)} frames of {len(dataset.video_index)} videos/images, eps {args.eps}, "
        f"Square {args.n_queries} queries, PGD {args.pgd_steps} steps; "
        f"{time.perf_counter() - began:.0f} s, torch {torch.__version__}, {torch.get_num_threads()} threads\n"
    )
    print_frames(result)
    print()
    print_summary(result)


if __name__ == "__main__":
    main()
