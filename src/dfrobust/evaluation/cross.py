"""Cross protocols: several runs on several test sets, and attacks transferred between runs.

:func:`cross_evaluate` scores every run on every test set (another data set, compression or
set of methods: any ``frames.csv``), clean and under the chosen attacks, and writes the
train-set x test-set matrix::

    DIR/cross.json, DIR/cross.csv    one row per run x test set x condition
    DIR/cells/<run>__<test set>/     each cell's eval folder (as ``dfrobust test`` writes it)

:func:`transfer_evaluate` attacks each source run (white box), saves its frames
(:mod:`dfrobust.evaluation.adversarial_frames`) and scores every target run on them::

    DIR/adv/<source>/frames.csv                 the source's clean and attacked frames (PNG)
    DIR/sources/<source>/                       the source's own evaluation
    DIR/cells/<source>__to__<target>/           the target's eval folder on those frames
    DIR/transfer.json, DIR/transfer.csv         one row per source x target x condition

Numbers of a row: ``accuracy`` (robust accuracy under an attack condition), ``auroc``,
``video_accuracy``, ``video_auroc`` and ``asr_evasion`` (the share of fake frames called
real). A finished cell whose ``summary.json`` was made with the same options is kept, so a
rerun only evaluates what is missing.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from dfrobust.atomicio import write_csv, write_json
from dfrobust.errors import DfrobustError
from dfrobust.evaluation.options import EvalOptions
from dfrobust.evaluation.run import prepare_run_eval, run_eval

log = logging.getLogger(__name__)

MATRIX_METRICS = ("frames", "accuracy", "auroc", "video_accuracy", "video_auroc", "asr_evasion")
CROSS_FIELDS = ("train", "test", "condition", "eps", *MATRIX_METRICS, "run", "manifest")
TRANSFER_FIELDS = ("source", "target", "condition", "eps", *MATRIX_METRICS, "clean_accuracy")
Stage = Callable[[str], None]


def unique_labels(paths: Sequence[str | os.PathLike], manifests: bool = False) -> list[str]:
    """Short unique names: a run's folder name; a manifest's folder name for ``frames.csv``, else its
    file name without ``.csv`` (``name-2`` on clashes)."""
    labels: list[str] = []
    for path in paths:
        resolved = Path(path).resolve()
        name = (
            resolved.parent.name
            if manifests and resolved.stem == "frames"
            else resolved.stem
            if manifests
            else resolved.name
        )
        labels.append(
            name if name not in labels else next(f"{name}-{i}" for i in range(2, 999) if f"{name}-{i}" not in labels)
        )
    return labels


def _cell(
    run: str | os.PathLike,
    out_dir: Path,
    options: EvalOptions,
    *,
    manifest: str | os.PathLike | None,
    split: str,
    checkpoint: str,
    device: str,
    save_adv: Path | None = None,
) -> dict[str, Any]:
    """One run on one set of frames into ``out_dir``: the saved summary when it was made with
    the same options and frames, else a fresh evaluation's."""
    wanted = json.loads(json.dumps(asdict(options)))
    summary_path = out_dir / "summary.json"
    done = save_adv is None or (save_adv / "frames.csv").is_file()
    if summary_path.is_file() and done:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        same = {k: summary.get("options", {}).get(k) for k in wanted} == wanted
        same_frames = summary.get("manifest") == str(manifest or summary.get("manifest"))
        if same and same_frames and summary.get("run") == str(run) and summary.get("groups"):
            log.info("%s: evaluated already, kept", out_dir)
            return summary
    job = prepare_run_eval(run, options, checkpoint=checkpoint, split=split, manifest=manifest, device=device)
    job.out_dir = out_dir
    summary = run_eval(job, save_adv=save_adv)
    if summary is None:  # another process holds the merge
        raise DfrobustError(f"{out_dir} is being written by another process; rerun when it is done")
    return summary


def _matrix_row(row: dict[str, Any]) -> dict[str, Any]:
    return {"condition": row["condition"], "eps": row["eps"], **{k: row.get(k) for k in MATRIX_METRICS}}


def cross_evaluate(
    runs: Sequence[str | os.PathLike],
    manifests: Sequence[str | os.PathLike],
    options: EvalOptions,
    out: str | os.PathLike,
    *,
    split: str = "test",
    checkpoint: str = "best",
    device: str = "auto",
    on_stage: Stage | None = None,
) -> dict[str, Any]:
    """Evaluate every run on every manifest's ``split``; write and return ``cross.json``."""
    if not runs or not manifests:
        raise DfrobustError("Expected at least one --run and one --manifest")
    for manifest in manifests:
        if not Path(manifest).is_file():
            raise DfrobustError(f"test set {manifest} not found; pass a frames.csv written by `dfrobust extract`")
    out, stage = Path(out), on_stage or (lambda _: None)
    run_labels, test_labels = unique_labels(runs), unique_labels(manifests, manifests=True)
    rows, cells = [], {}
    for run, train in zip(runs, run_labels):
        for manifest, test in zip(manifests, test_labels):
            stage(f"{train} on {test}")
            cell_dir = out / "cells" / f"{train}__{test}"
            kw = {"split": split, "checkpoint": checkpoint, "device": device}
            summary = _cell(run, cell_dir, options, manifest=manifest, **kw)
            cells[f"{train}|{test}"] = str(cell_dir)
            rows += [
                {"train": train, "test": test, **_matrix_row(r), "run": str(run), "manifest": str(manifest)}
                for r in summary["rows"]
            ]
    result = {
        "kind": "cross",
        "runs": dict(zip(run_labels, map(str, runs))),
        "test_sets": dict(zip(test_labels, map(str, manifests))),
        "split": split,
        "checkpoint": checkpoint,
        "options": asdict(options),
        "rows": rows,
        "cells": cells,
    }
    write_json(out / "cross.json", result)
    write_csv(out / "cross.csv", map(_csv_row, rows), CROSS_FIELDS)
    return result


def transfer_evaluate(
    sources: Sequence[str | os.PathLike],
    targets: Sequence[str | os.PathLike],
    options: EvalOptions,
    out: str | os.PathLike,
    *,
    split: str = "test",
    checkpoint: str = "best",
    device: str = "auto",
    on_stage: Stage | None = None,
) -> dict[str, Any]:
    """Attack each source, score each target on the source's frames; write and return
    ``transfer.json`` (one row per source x target x attack condition of ``options``)."""
    if not sources or not targets:
        raise DfrobustError("Expected at least one --source and one --target run")
    out, stage = Path(out), on_stage or (lambda _: None)
    # One name per run folder: a run given as source and target is the white-box diagonal.
    distinct = list(dict.fromkeys(_resolved(p) for p in (*sources, *targets)))
    name = dict(zip(distinct, unique_labels(distinct)))
    source_labels, target_labels = [name[_resolved(p)] for p in sources], [name[_resolved(p)] for p in targets]
    kw = {"split": split, "checkpoint": checkpoint, "device": device}
    scoring = EvalOptions(attacks=("clean",), batch_size=options.batch_size, seed=options.seed, sanity=False)
    rows, cells = [], {}
    for source, src in zip(sources, source_labels):
        stage(f"attacking {src}")
        adv = out / "adv" / src
        _cell(source, out / "sources" / src, replace(options, sanity=False), manifest=None, save_adv=adv, **kw)
        for target, tgt in zip(targets, target_labels):
            stage(f"{src} frames on {tgt}")
            cell_dir = out / "cells" / f"{src}__to__{tgt}"
            summary = _cell(target, cell_dir, scoring, manifest=adv / "frames.csv", **kw)
            cells[f"{src}|{tgt}"] = str(cell_dir)
            by_attack = {r["group"]: r for r in summary.get("groups", {}).get("attack", [])}
            clean = by_attack.get("clean", {}).get("accuracy")
            for group, row in by_attack.items():
                if group == "clean":
                    continue
                condition, _, eps = group.partition(" ")
                metrics = {k: row.get(k) for k in MATRIX_METRICS}
                rows.append(
                    {
                        "source": src,
                        "target": tgt,
                        "condition": condition,
                        "eps": eps,
                        **metrics,
                        "clean_accuracy": clean,
                    }
                )
    result = {
        "kind": "transfer",
        "sources": dict(zip(source_labels, map(str, sources))),
        "targets": dict(zip(target_labels, map(str, targets))),
        "split": split,
        "checkpoint": checkpoint,
        "options": asdict(options),
        "rows": rows,
        "cells": cells,
        "note": "accuracy: the target's accuracy on the source's attacked frames; clean_accuracy: on "
        "the same frames unattacked (PNG at the source's input size); asr_evasion: fake frames called real",
    }
    write_json(out / "transfer.json", result)
    write_csv(out / "transfer.csv", map(_csv_row, rows), TRANSFER_FIELDS)
    return result


def _resolved(path: str | os.PathLike) -> Path:
    return Path(path).resolve()


def _csv_row(row: dict[str, Any]) -> dict[str, Any]:
    """Floats with 6 significant digits, NaN and None empty (as summary.csv)."""
    return {
        k: ("" if v is None or v != v else f"{v:.6g}") if isinstance(v, float) or v is None else v
        for k, v in row.items()
    }
