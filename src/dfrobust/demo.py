"""The one-command demo: synth -> extract -> train clean -> train FGSM-RS -> test both -> transfer -> report.

Each model is tested clean, under FGSM and PGD at five budgets, 1 to 16/255 (the accuracy-vs-eps curve),
and under Square and the ``auto`` ensemble (APGD-BCE, APGD-margin, Square) at the training
budget, with the ensemble's budgets cut so the whole demo fits in 5 minutes on 2 cores.

Everything lands under one folder (``demo/`` by default)::

    demo/ffpp/                   the synthetic FF++ root (dfrobust synth)
    demo/frames/frames.csv       K frames per video (dfrobust extract)
    demo/runs/clean/, demo/runs/fgsm_rs/   trained detectors (dfrobust train) + eval/ (dfrobust test),
                                 overall and per manipulation method (Deepfakes, Face2Face)
    demo/transfer/               the clean model's PGD frames scored by both models (dfrobust transfer)
    demo/report.html, report.md, report_*.png   the comparison (dfrobust report)

Each stage calls the library function its command calls, and each is resumable, so a
rerun skips finished work: synth and extract resume by themselves, a training run
whose ``history.csv`` holds every epoch is kept (a partial one resumes from
``last.ckpt``), an evaluation whose ``summary.json`` was made with the same options is
kept. ``force=True`` deletes the demo's own folders first. Python::

    result = run_demo(Path("demo"), fast=True)
    print(result.report.html)
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from dfrobust.errors import DfrobustError
from dfrobust.report import ReportPaths

log = logging.getLogger(__name__)

Advance = Callable[..., None]
ProgressFactory = Callable[[str, int, str], AbstractContextManager[Advance]]
CONFIG_NAMES = {"clean": "demo_clean.yaml", "fgsm_rs": "demo_fgsm_rs.yaml"}


@dataclass(frozen=True)
class DemoOptions:
    """The demo's size: data set, frames, training epochs, attack budgets and effort.

    ``sweep``: FGSM's and PGD's budgets (cheap, so a curve); ``eps``: the training budget,
    where the costly Square and ``auto`` run and whose PGD frames go to the transfer stage.
    ``apgd_steps`` and ``auto_queries`` are the ensemble's (100 and 5,000 in ``dfrobust test``).
    """

    pairs: int = 40
    methods: tuple[str, ...] = ("Deepfakes", "Face2Face")  # the configs train on Deepfakes: Face2Face unseen
    video_frames: int = 32
    size: int = 128
    frames_per_video: int = 10
    face_size: int = 64  # face crops (MTCNN, x1.3 box) at the demo configs' image_size
    epochs: int | None = None  # None: the epochs of configs/demo_*.yaml
    eps: float = 4 / 255
    sweep: tuple[float, ...] = (1 / 255, 2 / 255, 4 / 255, 8 / 255, 16 / 255)
    n_queries: int = 400
    pgd_steps: int = 10
    apgd_steps: int = 50
    auto_queries: int = 500
    eval_limit: int | None = 128
    sanity_frames: int = 64  # the masking checks' PGD at 32/255 and unbounded
    seed: int = 0


FULL = DemoOptions()
FAST = DemoOptions(
    pairs=6,
    video_frames=8,
    frames_per_video=4,
    epochs=1,
    sweep=(4 / 255, 8 / 255),
    n_queries=20,
    pgd_steps=3,
    apgd_steps=5,
    auto_queries=20,
    eval_limit=32,
)


@dataclass
class DemoResult:
    """What :func:`run_demo` produced: its settings, the report and each stage's wall time in seconds."""

    out: Path
    options: DemoOptions
    report: ReportPaths
    seconds: dict[str, float] = field(default_factory=dict)


@contextmanager
def _no_progress(description: str, total: int, unit: str) -> Iterator[Advance]:
    yield lambda n=1: None


def demo_config_path(name: str) -> Path:
    """A demo config (``demo_clean.yaml``), shipped inside the package (``configs/`` links to it)."""
    path = Path(__file__).resolve().parent / "configs" / name
    if not path.is_file():
        raise DfrobustError(f"demo config {path} is missing; reinstall dfrobust from a complete checkout")
    return path


def run_demo(
    out: str | os.PathLike = "demo",
    *,
    fast: bool = False,
    force: bool = False,
    options: DemoOptions | None = None,
    progress: ProgressFactory = _no_progress,
    workers: int | None = None,
) -> DemoResult:
    """Run (or resume) the whole pipeline into ``out`` and write ``out/report.html``.

    Args:
        fast: the small :data:`FAST` settings (about a minute on 2 cores) instead of :data:`FULL`.
        force: delete the demo's own folders under ``out`` first and redo every stage.
        options: explicit settings (override ``fast``).
        progress: ``progress(description, total, unit)`` -> context manager yielding
            ``advance(n=1)``; the CLI passes a Rich progress bar, the default shows nothing.
        workers: processes for synth and extract (default: one per core).
    """
    from dfrobust.report import write_report

    opts = options or (FAST if fast else FULL)
    out = Path(out)
    if force:
        for name in ("ffpp", "frames", "runs"):
            shutil.rmtree(out / name, ignore_errors=True)
    seconds: dict[str, float] = {}
    began = time.perf_counter()
    _synth(out / "ffpp", opts, progress, workers)
    seconds["synth"] = time.perf_counter() - began
    manifest = _extract(out / "ffpp", out / "frames", opts, progress, workers)
    seconds["extract"] = time.perf_counter() - began - sum(seconds.values())
    runs = {name: out / "runs" / name for name in CONFIG_NAMES}
    for name, run_dir in runs.items():
        _train(run_dir, demo_config_path(CONFIG_NAMES[name]), manifest, opts, progress)
        seconds[f"train {name}"] = time.perf_counter() - began - sum(seconds.values())
    for name, run_dir in runs.items():
        _test(run_dir, opts, progress)
        seconds[f"test {name}"] = time.perf_counter() - began - sum(seconds.values())
    _transfer(runs["clean"], list(runs.values()), out / "transfer", opts, progress)
    seconds["transfer"] = time.perf_counter() - began - sum(seconds.values())
    report = write_report(list(runs.values()), out / "report.html", cross=[out / "transfer"])
    seconds["report"] = time.perf_counter() - began - sum(seconds.values())
    log.info("demo: %s", ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items()))
    return DemoResult(out, opts, report, seconds)


def _synth(root: Path, opts: DemoOptions, progress: ProgressFactory, workers: int | None) -> None:
    from dfrobust.synth import synthesize

    with progress("synth", 2 * opts.pairs * (1 + len(opts.methods)), "videos") as advance:
        synthesize(
            root,
            pairs=opts.pairs,
            methods=opts.methods,
            frames=opts.video_frames,
            size=opts.size,
            seed=opts.seed,
            workers=workers,
            on_progress=advance,
        )


def _extract(root: Path, frames: Path, opts: DemoOptions, progress: ProgressFactory, workers: int | None) -> Path:
    from dfrobust.data.frames import ExtractConfig, extract_frames, select_videos

    # Face crops, as for FF++: the fakes' traces lie in the face, a small part of the frame.
    config = ExtractConfig(
        root=root,
        out=frames,
        frames=opts.frames_per_video,
        seed=opts.seed,
        faces=True,
        size=opts.face_size,
        workers=workers or len(os.sched_getaffinity(0)),
    )
    videos = select_videos(config)
    with progress("extract", len(videos[0]), "videos") as advance:
        extract_frames(config, on_progress=advance, videos=videos)
    return frames / "frames.csv"


def _train(run_dir: Path, config_path: Path, manifest: Path, opts: DemoOptions, progress: ProgressFactory) -> None:
    """Train one demo detector, or keep it when its history already holds every epoch."""
    from dfrobust.config import load_config
    from dfrobust.runs import History
    from dfrobust.training import train

    overrides = {"manifest": str(manifest), "seed": str(opts.seed)}
    if opts.epochs is not None:
        overrides["epochs"] = str(opts.epochs)
    config = load_config(config_path, overrides)
    last = run_dir / "checkpoints" / "last.ckpt"
    done = len(History.load(run_dir / "history.csv", missing_ok=True))
    if last.is_file() and done >= config.train.epochs:
        log.info("%s: trained already (%d epochs), kept", run_dir, done)
        return
    if not last.is_file() and run_dir.exists():
        shutil.rmtree(run_dir)  # an attempt that died before its first checkpoint
    with progress(f"train {run_dir.name}", config.train.epochs, "epochs") as advance:
        advance(done)
        train(config, run_dir, resume=last.is_file(), on_epoch=lambda row: advance())


def _eval_options(opts: DemoOptions):
    from dfrobust.evaluation import EvalOptions

    return EvalOptions(
        attacks=("clean", "fgsm", "pgd", "square", "auto"),
        eps=opts.sweep,
        attack_eps={"square": (opts.eps,), "auto": (opts.eps,)},
        n_queries=opts.n_queries,
        pgd_steps=opts.pgd_steps,
        apgd_steps=opts.apgd_steps,
        auto_queries=opts.auto_queries,
        limit=opts.eval_limit,
        seed=opts.seed,
        sanity_frames=opts.sanity_frames,
    )


def _test(run_dir: Path, opts: DemoOptions, progress: ProgressFactory) -> None:
    """Evaluate one run clean and under FGSM, PGD, Square and auto, unless done with these options."""
    from dfrobust.evaluation.run import prepare_run_eval, run_eval

    options = _eval_options(opts)
    summary = run_dir / "eval" / "summary.json"
    wanted = json.loads(json.dumps(asdict(options)))  # tuples become lists, as in the file
    if summary.is_file():
        saved = json.loads(summary.read_text(encoding="utf-8")).get("options", {})
        if {k: saved.get(k) for k in wanted} == wanted:
            log.info("%s: evaluated already, kept", run_dir)
            return
    job = prepare_run_eval(run_dir, options)
    with progress(f"test {run_dir.name}", job.steps, "steps") as advance:
        run_eval(job, on_progress=advance)


def _transfer(source: Path, targets: list[Path], out: Path, opts: DemoOptions, progress: ProgressFactory) -> None:
    """The clean model's PGD frames (white box) scored by every demo model; kept when done."""
    from dfrobust.evaluation import EvalOptions
    from dfrobust.evaluation.cross import transfer_evaluate

    options = EvalOptions(
        attacks=("pgd",), eps=(opts.eps,), pgd_steps=opts.pgd_steps, limit=opts.eval_limit, seed=opts.seed, sanity=False
    )
    with progress("transfer", 1 + len(targets), "evaluations") as advance:
        transfer_evaluate([source], targets, options, out, on_stage=lambda _: advance())
