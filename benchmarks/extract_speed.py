"""Frame extraction speed on the real FF++ sample videos, as ratios from one run.

(a) ``extract_frames`` per video (K frames, JPEGs, manifest) vs a bare PyAV decode of the
    same video up to its last wanted frame (target: overhead <= 10 %);
(b) ``--faces`` (MTCNN batched on frames down-scaled to 640 px) vs a naive pipeline
    (MTCNN per frame at full resolution, facenet-pytorch defaults), with the IoU of the
    two crops (targets: >= 2x faster, IoU >= 0.9);
(c) 2 worker processes vs 1 (target: >= 1.7x).

Run (a few minutes on 2 CPU cores):
    .venv/bin/python benchmarks/extract_speed.py
    .venv/bin/python benchmarks/extract_speed.py --data ../shared/data --frames 10
"""

from __future__ import annotations

import argparse
import csv
import os
import tempfile
import time
from pathlib import Path

import av

from dfrobust.data.faces import crop_resize, main_face, square_box
from dfrobust.data.ffpp import index_videos, official_splits_dir
from dfrobust.data.frames import ExtractConfig, extract_frames, sample_frame_indices, video_seed
from dfrobust.data.video import probe_video, read_frames


def get_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(__file__).resolve().parents[2] / "shared" / "data"
    parser.add_argument(
        "--data",
        type=Path,
        default=default,
        help="folder with ffpp_sample/ (the splits: the official ones shipped with dfrobust)",
    )
    parser.add_argument("--frames", type=int, default=10, help="frames per video")
    parser.add_argument("--repeats", type=int, default=3, help="(a): best of this many runs")
    parser.add_argument("--parts", default="abc", help="which comparisons to run, e.g. ac")
    return parser.parse_args()


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def best_of(repeats: int, fn, make_args) -> tuple[float, float]:
    """Shortest wall-clock and CPU time (all threads of this process) of ``repeats`` runs.

    CPU time is the figure to trust on a busy machine: other processes stretch the
    wall clock, not the work done.
    """
    walls, cpus = [], []
    for r in range(repeats):
        cpu = time.process_time()
        walls.append(timed(fn, *make_args(r))[0])
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def bare_decode(path: Path, last: int) -> None:
    """Plain in-order decode (same threading as ours) that stops at frame ``last``."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for i, _ in enumerate(container.decode(stream)):
            if i == last:
                break


def one_video_root(tmp: Path, root: Path, video_path: Path) -> Path:
    """An FF++ layout holding only ``video_path`` (a symlink), so one video can be timed alone."""
    single = tmp / f"root-{video_path.stem}"
    link = single / video_path.relative_to(root)
    link.parent.mkdir(parents=True)
    link.symlink_to(video_path)
    return single


def naive_faces(records, frames: int, out: Path) -> dict[tuple[str, int], tuple[int, ...]]:
    """Per-frame, full-resolution MTCNN (facenet-pytorch defaults, our choice among its faces)."""
    from facenet_pytorch import MTCNN

    mtcnn = MTCNN(keep_all=True)
    boxes = {}
    for record in records:
        info = probe_video(record.path)
        indices = sample_frame_indices(info.num_frames, frames, seed=video_seed(0, record))
        for index, rgb in read_frames(record.path, indices, info=info):
            found, scores = mtcnn.detect(rgb)
            if found is None:
                continue
            box = square_box(main_face(found, scores).box, info.width, info.height, 1.3)
            crop_resize(rgb, box, 256).save(out / f"{record.video}-{index}.jpg", quality=95)
            boxes[record.video, index] = box
    return boxes


def iou(a, b) -> float:
    inter = max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def compare_decode(records, root: Path, splits: Path, k: int, repeats: int, tmp: Path) -> None:
    print(f"(a) extraction vs bare decode up to the last wanted frame, per video (best of {repeats})\n")
    print(
        "| video | size | frames | last wanted | bare decode s (CPU s) | extract s (CPU s) "
        "| overhead wall | overhead CPU |"
    )
    print("|---|---|---|---|---|---|---|---|")
    bare_total, ours_total = [0.0, 0.0], [0.0, 0.0]
    extract_frames(ExtractConfig(root=root, splits_dir=splits, out=tmp / "warm-up", frames=1))
    for record in records:
        info = probe_video(record.path)
        last = sample_frame_indices(info.num_frames, k, seed=video_seed(0, record))[-1]
        single = one_video_root(tmp, root, record.path)
        t_bare = best_of(repeats, bare_decode, lambda r, path=record.path, last=last: (path, last))
        t_ours = best_of(
            repeats,
            extract_frames,
            lambda r, single=single, video=record.video: (
                ExtractConfig(root=single, splits_dir=splits, out=tmp / f"a-{video}-{r}", frames=k),
            ),
        )
        for j in (0, 1):
            bare_total[j] += t_bare[j]
            ours_total[j] += t_ours[j]
        print(
            f"| {record.method}/{record.video} | {info.width}x{info.height} | {info.num_frames} | "
            f"{last} | {_pair(t_bare)} | {_pair(t_ours)} | {_overhead(t_ours, t_bare)} |"
        )
    print(f"| all | | | | {_pair(bare_total)} | {_pair(ours_total)} | {_overhead(ours_total, bare_total)} |\n")


def _pair(t) -> str:
    return f"{t[0]:.2f} ({t[1]:.2f})"


def _overhead(ours, bare) -> str:
    return f"{ours[0] / bare[0] - 1:+.0%} | {ours[1] / bare[1] - 1:+.0%}"


def compare_faces(records, root: Path, splits: Path, k: int, tmp: Path) -> None:
    print("(b) --faces vs naive per-frame full-resolution MTCNN (both decode the same frames)\n")
    # Import torch and facenet-pytorch (about 4 s) before timing: otherwise whichever pipeline
    # runs first pays for it and the other gets it for free.
    import facenet_pytorch  # noqa: F401

    t_ours, summary = timed(
        extract_frames, ExtractConfig(root=root, splits_dir=splits, out=tmp / "b", frames=k, faces=True)
    )
    (tmp / "naive").mkdir()
    t_naive, naive = timed(naive_faces, records, k, tmp / "naive")
    with open(tmp / "b" / "frames.csv", newline="") as f:
        ours = {(r["video"], int(r["frame_index"])): tuple(map(int, r["face_box"].split())) for r in csv.DictReader(f)}
    ious = [iou(box, naive[key]) for key, box in ours.items() if key in naive]
    print("| pipeline | seconds | faces found | speed-up |")
    print("|---|---|---|---|")
    print(f"| naive (per frame, full resolution) | {t_naive:.1f} | {len(naive)} | 1.00x |")
    print(f"| ours (batched, 640 px) | {t_ours:.1f} | {summary['counts']['faces_found']} | {t_naive / t_ours:.2f}x |")
    print(f"\ncrop IoU ours vs naive over {len(ious)} frames: min {min(ious):.3f}, mean {sum(ious) / len(ious):.3f}\n")


def compare_workers(root: Path, splits: Path, k: int, tmp: Path) -> None:
    print("(c) workers, all sample videos\n")
    print("| crops | workers | seconds | speed-up |")
    print("|---|---|---|---|")
    for faces in (False, True):
        times = {}
        for workers in (1, 2):
            times[workers], _ = timed(
                extract_frames,
                ExtractConfig(
                    root=root, splits_dir=splits, out=tmp / f"c{workers}{faces}", frames=k, faces=faces, workers=workers
                ),
            )
            print(
                f"| {'faces' if faces else 'full frames'} | {workers} | {times[workers]:.1f} | "
                f"{times[1] / times[workers]:.2f}x |"
            )


def main() -> None:
    args = get_args()
    root, splits, k = args.data / "ffpp_sample", official_splits_dir(), args.frames
    records = index_videos(root, splits).records
    print(f"load average at start: {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores), K = {k}\n")
    with tempfile.TemporaryDirectory() as tmp:
        if "a" in args.parts:
            compare_decode(records, root, splits, k, args.repeats, Path(tmp))
        if "b" in args.parts:
            compare_faces(records, root, splits, k, Path(tmp))
        if "c" in args.parts:
            compare_workers(root, splits, k, Path(tmp))
    print(f"\nload average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
