"""The ``eval/`` folder of a run: the one module that writes and reads it.

What ``dfrobust test`` writes (each file atomically)::

    eval/clean.json, eval/<attack>_<eps>.json   one condition's metrics and success rates
    eval/predictions.csv                        one row per frame x condition (``broken_by``: the
                                                ensemble member that fooled the frame, ``auto`` only;
                                                ``compression``, and ``dataset`` when the manifest has it)
    eval/summary.csv                            one row per condition (all frames)
    eval/summary_by_group.csv                   one row per grouping x group x condition
                                                (:mod:`dfrobust.evaluation.groups`)
    eval/summary.json                           rows + ``groups`` ({grouping: rows}) + sanity checks +
                                                warnings + options; the ``auto`` rows also hold
                                                ``stages`` (per member)
    eval/examples/<attack>_<eps>/<k>_clean.png, <k>_adv.png
    eval/parts/                                 an unfinished evaluation's batches, written and
                                                read by :mod:`dfrobust.evaluation.parts`
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

from dfrobust.atomicio import atomic_open, write_csv, write_json
from dfrobust.attacks.registry import ATTACKS
from dfrobust.eps import eps_label, parse_fraction
from dfrobust.errors import DfrobustError
from dfrobust.evaluation.evaluate import EvalResult
from dfrobust.evaluation.groups import METHOD_NOTE, frame_values, group_rows
from dfrobust.evaluation.images import to_image
from dfrobust.evaluation.options import EvalOptions
from dfrobust.evaluation.success import ASR_KEYS, QUERY_KEYS
from dfrobust.metrics import METRIC_NAMES

log = logging.getLogger(__name__)

PREDICTION_FIELDS = (
    "path",
    "video",
    "method",
    "compression",
    "label",
    "condition",
    "eps",
    "prob_fake",
    "pred",
    "clean_correct",
    "queries",
    "broken_by",
)
SUMMARY_FIELDS = (
    "condition",
    "eps",
    "eps_value",
    "frames",
    *METRIC_NAMES,
    *(f"video_{m}" for m in METRIC_NAMES),
    *ASR_KEYS,
    *QUERY_KEYS,
    "seconds",
)
GROUP_FIELDS = ("grouping", "group", "real_frames", "fake_frames", *SUMMARY_FIELDS[:-1])


def save_eval(
    result: EvalResult, out_dir: str | os.PathLike, options: EvalOptions, meta: dict[str, Any]
) -> dict[str, Any]:
    """Write the eval files of ``result`` into ``out_dir``; returns the summary.json content.

    Args:
        meta: run, checkpoint, split... copied into summary.json as they are.
    """
    out_dir = Path(out_dir)
    rows, checks, groups = result.rows(), result.checks(), group_rows(result)
    _remove_stale(out_dir, {c.slug for c in result.probs})
    for row, condition in zip(rows, result.probs):
        mine = {
            g: [r for r in grows if (r["condition"], r["eps_value"]) == (row["condition"], row["eps_value"])]
            for g, grows in groups.items()
        }
        write_json(out_dir / f"{condition.slug}.json", {**meta, **row, "groups": mine})
    datasets = frame_values(result, "dataset")
    fields = (*PREDICTION_FIELDS[:3], "dataset", *PREDICTION_FIELDS[3:]) if datasets else PREDICTION_FIELDS
    write_csv(out_dir / "predictions.csv", _prediction_rows(result, datasets), fields)
    write_csv(out_dir / "summary.csv", ({k: _cell(row[k]) for k in SUMMARY_FIELDS} for row in rows), SUMMARY_FIELDS)
    grouped = [{k: _cell(r[k]) for k in GROUP_FIELDS} for grows in groups.values() for r in grows]
    write_csv(out_dir / "summary_by_group.csv", grouped, GROUP_FIELDS)
    warnings = [check.message() for check in checks if check.passed is False]
    for message in warnings:
        log.warning("possible gradient masking: %s", message)
    warnings += result.preflight
    summary = {
        **meta,
        "seed": options.seed,
        "options": {
            **asdict(options),
            "eps_labels": [eps_label(e) for e in options.eps],
            "attack_eps_labels": {a: [eps_label(e) for e in budgets] for a, budgets in options.attack_eps.items()},
        },
        "frames": len(result.labels),
        "videos": len(set(result.videos)),
        "rows": rows,
        "groups": groups,
        "groups_note": METHOD_NOTE,
        "checks": [{**asdict(c), "status": c.status, "message": c.message()} for c in checks],
        "warnings": warnings,
        "preflight": result.preflight,
        "examples": _save_examples(result, out_dir),
    }
    write_json(out_dir / "summary.json", summary)
    return summary


def _prediction_rows(result: EvalResult, datasets: list[str] | None) -> list[dict[str, Any]]:
    compressions = frame_values(result, "compression") or [""] * len(result.paths)
    clean_pred = result.preds(next(iter(result.probs)))
    clean_correct = (clean_pred == result.labels).tolist()
    rows = []
    for condition, probs in result.probs.items():
        pred, queries = result.preds(condition).tolist(), result.queries.get(condition)
        broken_by = result.broken_by.get(condition)
        for i, path in enumerate(result.paths):
            rows.append(
                {
                    "path": path,
                    "video": result.videos[i],
                    **({"dataset": datasets[i]} if datasets else {}),
                    "method": result.methods[i],
                    "compression": compressions[i],
                    "label": int(result.labels[i]),
                    "condition": condition.attack,
                    "eps": eps_label(condition.eps),
                    "prob_fake": f"{float(probs[i]):.6g}",
                    "pred": pred[i],
                    "clean_correct": int(clean_correct[i]),
                    "queries": "" if queries is None else int(queries[i]),
                    "broken_by": "" if broken_by is None else broken_by[i],
                }
            )
    return rows


def _save_examples(result: EvalResult, out_dir: Path) -> list[dict[str, Any]]:
    """Write each example's clean and attacked frame as lossless PNG; returns their records."""
    records = []
    for ex in result.examples:
        files = {}
        for kind, image in (("clean", ex.clean), ("adv", ex.adv)):
            relative = Path("examples") / ex.condition.slug / f"{ex.k}_{kind}.png"
            with atomic_open(out_dir / relative, "wb") as f:
                to_image(image).save(f, format="PNG")
            files[kind] = str(relative)
        records.append(
            {
                "condition": ex.condition.attack,
                "eps": eps_label(ex.condition.eps),
                "k": ex.k,
                "path": ex.path,
                "label": ex.label,
                "prob_clean": ex.prob_clean,
                "prob_adv": ex.prob_adv,
                **files,
            }
        )
    return records


def _remove_stale(out_dir: Path, slugs: set[str]) -> None:
    """Delete condition files and example folders of an earlier evaluation that this one lacks,
    so that the report never mixes two evaluations."""
    stale = [p for p in out_dir.glob("*.json") if _condition_of(p.stem) and p.stem not in slugs]
    examples = out_dir / "examples"
    stale_dirs = [d for d in examples.iterdir() if d.is_dir() and d.name not in slugs] if examples.is_dir() else []
    for path in stale:
        path.unlink()
    for folder in stale_dirs:
        shutil.rmtree(folder)
    if stale or stale_dirs:
        log.info("removed %d stale result(s) of an earlier evaluation from %s", len(stale) + len(stale_dirs), out_dir)


def _cell(value: Any) -> Any:
    """A CSV cell: NaN becomes empty, floats keep 6 significant digits."""
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6g}"
    return value


def _condition_of(slug: str) -> str | None:
    """The attack name a condition file's stem starts with (``pgd_4-255`` -> ``pgd``), or None."""
    return next((name for name in ATTACKS if slug == name or slug.startswith(f"{name}_")), None)


def parse_cell(text: Any) -> Any:
    """A CSV cell as a float when it is one (``true``/``false`` as 1/0), else the text."""
    if isinstance(text, (int, float)) or text is None:
        return math.nan if text is None else text
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return float(lowered == "true")
    try:
        return float(text)
    except ValueError:
        if "/" in text:
            try:
                return parse_fraction(text)
            except DfrobustError:
                pass
        return math.nan if not lowered or lowered in ("nan", "none", "null") else text


def read_csv_rows(path: Path) -> list[dict[str, Any]]:
    try:
        with open(path, newline="", encoding="utf-8") as f:
            return [{k: parse_cell(v) for k, v in row.items() if k} for row in csv.DictReader(f)]
    except (OSError, csv.Error, UnicodeDecodeError) as e:
        raise DfrobustError(f"cannot read {path}: {e}; re-run `dfrobust test` to rewrite it") from e


def read_summary(eval_dir: Path) -> tuple[list[dict[str, Any]], list[str], list[dict], list[dict]]:
    """Summary rows, gradient-masking warnings and checks, and example records.

    From summary.json, or else (rows only) summary.csv.
    """
    rows: list[dict[str, Any]] = []
    warnings: list[str] = []
    checks: list[dict] = []
    examples: list[dict] = []
    json_path, csv_path = eval_dir / "summary.json", eval_dir / "summary.csv"
    if json_path.is_file():
        try:
            data = json.loads(json_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise DfrobustError(f"cannot read {json_path}: {e}; re-run `dfrobust test`") from e
        rows = [
            {k: v if isinstance(v, (list, dict)) else parse_cell(v) for k, v in row.items()}  # stages: a list
            for row in data.get("rows", [])
        ]
        warnings = [str(w) for w in data.get("warnings", [])]
        checks = data.get("checks", [])
        examples = data.get("examples", [])
    if not rows and csv_path.is_file():
        rows = read_csv_rows(csv_path)
    for row in rows:
        row["condition"] = str(row.get("condition", "?"))
        eps = row.get("eps_value", row.get("eps"))  # eps is a label like 4/255, eps_value the float
        row["eps"] = eps if isinstance(eps, float) and not math.isnan(eps) else 0.0
    return rows, warnings, checks, examples


def read_groups(eval_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """``{grouping: rows}`` of summary.json (numbers parsed, ``eps`` a float as in
    :func:`read_summary`), else of summary_by_group.csv; empty when neither has groups."""
    groups: dict[str, list[dict[str, Any]]] = {}
    json_path, csv_path = eval_dir / "summary.json", eval_dir / "summary_by_group.csv"
    if json_path.is_file():
        try:
            data = json.loads(json_path.read_text(encoding="utf-8")).get("groups") or {}
        except (OSError, ValueError) as e:
            raise DfrobustError(f"cannot read {json_path}: {e}; re-run `dfrobust test`") from e
        rows = [{**r, "grouping": g} for g, grows in data.items() for r in grows if isinstance(r, dict)]
    else:
        rows = read_csv_rows(csv_path) if csv_path.is_file() else []
    for row in rows:
        row = {k: parse_cell(v) if k not in ("group", "grouping", "condition") else str(v) for k, v in row.items()}
        eps = row.get("eps_value", row.get("eps"))
        row["eps"] = eps if isinstance(eps, float) and not math.isnan(eps) else 0.0
        groups.setdefault(row["grouping"], []).append(row)
    return groups
