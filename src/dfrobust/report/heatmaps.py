"""Heat maps of the generalisation results: per method, train x test set, source x target.

Each function returns PNG bytes, or None when there is nothing to draw:

- :func:`method_heatmap`: per run, manipulation method x condition, accuracy and AUC
  (the ``method`` groups of ``summary.json``: a method's fakes with all real frames).
- :func:`matrix_heatmap`: a ``cross.json`` (train x test set) or ``transfer.json``
  (source x target run), one panel per metric and condition.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.figure import Figure

from dfrobust.report.generalisation import condition_label
from dfrobust.report.plots import _png
from dfrobust.report.results import condition_rank

if TYPE_CHECKING:
    from dfrobust.report.results import RunResults

Panel = tuple[str, list[str], list[str], np.ndarray]  # title, row labels, column labels, values


def _value(v: Any) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else math.nan


def heatmap_panels(panels: Sequence[Panel], ncols: int = 2) -> bytes | None:
    """Draw annotated [0, 1] heat maps, ``ncols`` per row: green good for the detector (high
    accuracy or AUC, low attack success ``asr_*``), red bad; each cell shows its value (no colour bar)."""
    panels = [p for p in panels if p[3].size and np.isfinite(p[3]).any()]
    if not panels:
        return None
    ncols = min(ncols, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    width = max(len(p[2]) for p in panels)
    height = max(len(p[1]) for p in panels)
    fig = Figure(figsize=(ncols * (2.2 + 1.0 * width), nrows * (1.2 + 0.45 * height)), layout="constrained")
    axes = list(fig.subplots(nrows, ncols, squeeze=False).flat)
    for ax, (title, rows, cols, values) in zip(axes, panels):
        cmap = "RdYlGn_r" if "asr" in title else "RdYlGn"  # an attack's success is the detector's failure
        ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=0, vmax=1, aspect="auto")
        ax.set_xticks(range(len(cols)), cols, rotation=30, ha="right", fontsize="small")
        ax.set_yticks(range(len(rows)), rows, fontsize="small")
        for (i, j), v in np.ndenumerate(values):
            ax.text(j, i, "-" if math.isnan(v) else f"{v:.2f}", ha="center", va="center", fontsize="small")
        ax.set_title(title, fontsize="medium")
    for ax in axes[len(panels) :]:
        ax.set_axis_off()
    return _png(fig)


def _grid(rows: Sequence[Mapping[str, Any]], row_key: str, col_key: str, metric: str) -> Panel:
    """Rows' ``metric`` as a (row_key values) x (col_key values) array, first-seen order."""
    names = list(dict.fromkeys(str(r[row_key]) for r in rows))
    cols = list(dict.fromkeys(str(r[col_key]) for r in rows))
    values = np.full((len(names), len(cols)), math.nan)
    for r in rows:
        values[names.index(str(r[row_key])), cols.index(str(r[col_key]))] = _value(r.get(metric))
    return metric, names, cols, values


def method_heatmap(runs: Sequence[RunResults]) -> bytes | None:
    """Per run: method x condition accuracy and AUC (frame level)."""
    panels: list[Panel] = []
    for run in runs:
        rows = sorted(run.groups.get("method", []), key=lambda r: (condition_rank(r["condition"]), r["eps"]))
        rows = [{**r, "label": condition_label(r["condition"], r["eps"])} for r in rows]
        for metric, name in (("accuracy", "accuracy"), ("auroc", "AUC")):
            _, methods, conditions, values = _grid(rows, "group", "label", metric)
            panels.append((f"{run.name}: {name}", methods, conditions, values))
    return heatmap_panels(panels)


def matrix_heatmap(result: Mapping[str, Any]) -> bytes | None:
    """A cross or transfer matrix: clean AUC and video AUC, then accuracy per attack condition
    (cross); per attack condition the target's accuracy and the evasion rate (transfer)."""
    row_key, col_key = ("train", "test") if result.get("kind") == "cross" else ("source", "target")
    rows = [r for r in result.get("rows", []) if isinstance(r, Mapping)]
    conditions = list(dict.fromkeys(condition_label(r["condition"], r["eps"]) for r in rows))
    panels: list[Panel] = []
    for condition in conditions:
        mine = [r for r in rows if condition_label(r["condition"], r["eps"]) == condition]
        if result.get("kind") == "cross":
            metrics = ("auroc", "video_auroc", "accuracy") if condition == "clean" else ("accuracy",)
        else:
            metrics = ("accuracy", "asr_evasion")
        for metric in metrics:
            _, names, cols, values = _grid(mine, row_key, col_key, metric)
            panels.append((f"{condition}: {metric}", names, cols, values))
    return heatmap_panels(panels, ncols=3)
