"""Do adversarial fake videos still pass as real after the upload's H.264 re-encode (CRF 23)?

Clips: the real FF++ c23 fakes in shared/data/ffpp_sample (manipulated_sequences/*/c23).
Detectors: the published MesoNets (meso4.df, mesoinception4.df, the authors' Keras weights).
Each clip is turned into an adversarial MP4 with ``dfrobust.adversarial_video.attack_video``
(the first --frames frames, MTCNN faces, PGD on the face crop with the label "fake", the
perturbation put back in the frame, H.264 CRF 23), at each eps, without and with EOT
(JPEG, blur, resize, noise). A video passes as real when the mean P(fake) of its face crops
is < 0.5 (DESIGN.md), scored on the original frames, on the adversarial frames before
encoding, and on the frames decoded from the written file (the same face boxes). The written
file is also scored by ``dfrobust predict``'s code (``predict_files``, faces found again by
MTCNN on the adversarial video, --predict-frames frames sampled), as a platform would.

Run (about 10-30 minutes on 2 busy CPU cores; the face boxes are found once per clip):
    .venv/bin/python benchmarks/video_evasion.py
    .venv/bin/python benchmarks/video_evasion.py --frames 16 --eps 4/255 --eot 4 --models meso4.df
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import torch

from dfrobust.adversarial_video import attack_video
from dfrobust.data.faces import create_detector
from dfrobust.predict import load_detector, predict_files

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"  # holds ffpp_sample/ (real FF++ clips, never shipped)


def get_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="folder holding ffpp_sample/")
    parser.add_argument("--models", default="meso4.df,mesoinception4.df")
    parser.add_argument("--clips", default="", help="only clips whose path contains this (e.g. Face2Face)")
    parser.add_argument("--eps", default="2/255,4/255,8/255")
    parser.add_argument("--frames", type=int, default=32, help="first N frames of each clip")
    parser.add_argument("--steps", type=int, default=10, help="PGD steps")
    parser.add_argument("--eot", type=int, default=8, help="EOT draws per step in the EOT runs")
    parser.add_argument("--crf", type=int, default=23)
    parser.add_argument("--predict-frames", type=int, default=10, help="frames dfrobust predict samples (0: skip)")
    parser.add_argument("--work", type=Path, default=None, help="where the adversarial videos go (default: temp)")
    parser.add_argument("--json", type=Path, default=None, help="also write every row as JSON here")
    parser.add_argument("--tables", type=Path, default=None, help="only print the tables of rows saved with --json")
    return parser.parse_args()


class CachedDetector:
    """MTCNN, remembering each frame's face: every run on a clip sees the same frames."""

    def __init__(self) -> None:
        self.detector, self.seen = create_detector("mtcnn"), {}

    def detect(self, frames):
        keys = [hashlib.sha1(f.tobytes()).hexdigest() for f in frames]
        todo = [i for i, k in enumerate(keys) if k not in self.seen]
        if todo:
            for i, face in zip(todo, self.detector.detect([frames[i] for i in todo])):
                self.seen[keys[i]] = face
        return [self.seen[k] for k in keys]


def main() -> None:
    args = get_args()
    if args.tables:
        print_tables(json.loads(args.tables.read_text()))
        return
    torch.manual_seed(0)
    clips = sorted((args.data / "ffpp_sample" / "manipulated_sequences").glob("*/c23/videos/*.mp4"))
    clips = [clip for clip in clips if args.clips in str(clip)]
    if not clips:
        raise SystemExit(f"no FF++ fake clips under {args.data / 'ffpp_sample'}")
    work = args.work or Path(tempfile.mkdtemp(prefix="video_evasion_"))
    detector = CachedDetector()
    eps_list = [float(Fraction(e)) for e in args.eps.split(",")]
    rows = []
    for name in args.models.split(","):
        model, transform = load_detector(model=name)
        for eps in eps_list:
            for eot in (1, args.eot):
                options = {"steps": args.steps, **({"eot": eot} if eot > 1 else {})}
                for clip in clips:
                    out = work / f"{name}_{round(eps * 255)}_{eot}_{clip.parts[-4]}_{clip.stem}.mp4"
                    began = time.perf_counter()
                    s = attack_video(
                        model,
                        clip,
                        out,
                        eps=eps,
                        options=options,
                        crf=args.crf,
                        max_frames=args.frames,
                        detector=detector,
                    )
                    platform = (
                        predict_files(
                            model, transform, [out], frames=args.predict_frames, faces=True, sampling="uniform"
                        )[0]
                        if args.predict_frames
                        else None
                    )
                    row = {
                        **{k: v for k, v in s.as_dict().items() if k != "boxes"},
                        "model": name,
                        "eps": round(eps * 255),
                        "eot": eot,
                        "clip": f"{clip.parts[-4]}/{clip.stem}",
                        "prob_fake_predict": platform.prob_fake if platform else None,
                        "seconds": time.perf_counter() - began,
                    }
                    rows.append(row)
                    print(
                        f"{name} eps {row['eps']}/255 eot {eot} {row['clip']}: P(fake) {s.prob_fake_clean:.3f} -> "
                        f"{s.prob_fake_adversarial:.3f} -> CRF {args.crf} {s.prob_fake_written:.3f} "
                        f"(predict {row['prob_fake_predict']}), face PSNR {s.psnr_face_written:.1f} dB, "
                        f"{row['seconds']:.0f} s",
                        flush=True,
                    )
        if args.json:  # after each detector, so an interrupted run keeps what it measured
            args.json.write_text(json.dumps(rows, indent=1))
    print_tables(rows)


def print_tables(rows: list[dict]) -> None:
    """Markdown: per detector, eps and EOT, fake videos passed as real at each stage."""
    first = rows[0]
    print(
        f"\n{len({r['clip'] for r in rows})} FF++ c23 fake clips, first {first['frames']} frames, "
        f"PGD-{first['options']['steps']}, x264 CRF {first['crf']}; a video passes as real when its mean P(fake) < 0.5\n"
    )
    predicted = any(r.get("prob_fake_predict") is not None for r in rows)
    crf = f"CRF {first['crf']}"
    print(
        f"| detector | eps | EOT | videos passed as real: original / adversarial / after {crf} "
        f"{'| dfrobust predict ' if predicted else ''}| frames passed as real: original / after {crf} "
        f"| mean P(fake): original / adversarial / after {crf} | PSNR dB after {crf}: frame / face "
        f"| face SSIM after {crf} | face PSNR dB before {crf} |"
    )
    print("|---" * (9 + predicted) + "|")
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["model"], r["eps"], r["eot"]), []).append(r)
    for (model, eps, eot), group in groups.items():
        videos = " / ".join(_passed(group, f"prob_fake_{stage}") for stage in ("clean", "adversarial", "written"))
        probs = " / ".join(f"{_mean(group, f'prob_fake_{stage}'):.3f}" for stage in ("clean", "adversarial", "written"))
        total = sum(r["frames"] for r in group)
        frames = " / ".join(
            f"{sum(r[f'frames_real_{stage}'] for r in group)}/{total}" for stage in ("clean", "written")
        )
        print(
            f"| {model} | {eps}/255 | {'x' + str(eot) if eot > 1 else 'no'} | {videos} "
            f"{'| ' + _passed(group, 'prob_fake_predict') + ' ' if predicted else ''}| {frames} | {probs} "
            f"| {_mean(group, 'psnr_written'):.1f} / {_mean(group, 'psnr_face_written'):.1f} "
            f"| {_mean(group, 'ssim_face_written'):.3f} | {_mean(group, 'psnr_face_adversarial'):.1f} |"
        )


def _passed(group: list[dict], key: str) -> str:
    """Videos passed as real (P(fake) < 0.5) of the group; ``-`` where not measured."""
    if all(r.get(key) is None for r in group):
        return "-"
    return f"{sum(r[key] is not None and r[key] < 0.5 for r in group)}/{len(group)}"


def _mean(group: list[dict], key: str) -> float:
    return sum(r[key] for r in group) / len(group)


if __name__ == "__main__":
    main()
