"""The report's comparison plots (matplotlib, no pyplot state), each returned as PNG bytes.

Every function takes the :class:`dfrobust.report.RunResults` of one or more runs and
returns ``None`` when the runs hold nothing to draw (no eval results, no Square
rows, ...), so the report simply leaves that section out.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.figure import Figure
from PIL import Image, ImageDraw

from dfrobust.atomicio import write_bytes
from dfrobust.eps import eps_label
from dfrobust.errors import DfrobustError
from dfrobust.report.results import SUMMARY_METRICS, condition_rank
from dfrobust.runs import History

if TYPE_CHECKING:
    from dfrobust.report.results import RunResults

DPI = 90
TILE = 160  # pixels per example tile


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def _finite(value: Any) -> bool:
    return isinstance(value, float) and math.isfinite(value)


def _group_label(row: dict[str, Any]) -> str:
    return row["condition"] if not row["eps"] else f"{row['condition']} {eps_label(row['eps'])}"


def metric_bars(runs: Sequence[RunResults]) -> bytes | None:
    """Grouped bars: one panel per metric, groups = condition x eps, one bar per model."""
    metrics = [m for m in SUMMARY_METRICS if any(_finite(r.get(m)) for run in runs for r in run.summary)]
    groups = list(dict.fromkeys(_group_label(r) for run in runs for r in run.summary))
    if not metrics or not groups:
        return None
    ncols = min(3, len(metrics))
    nrows = math.ceil(len(metrics) / ncols)
    fig = Figure(
        figsize=(max(4.0, 0.5 * len(groups) * len(runs) + 1.5) * ncols / 1.4, 3.0 * nrows), layout="constrained"
    )
    width = 0.8 / len(runs)
    axes = fig.subplots(nrows, ncols, squeeze=False).flat
    for ax, metric in zip(axes, metrics):
        for i, run in enumerate(runs):
            values = {_group_label(r): r.get(metric) for r in run.summary}
            heights = [values[g] if _finite(values.get(g)) else 0.0 for g in groups]
            ax.bar(np.arange(len(groups)) + (i - (len(runs) - 1) / 2) * width, heights, width, label=run.name)
        ax.set_xticks(np.arange(len(groups)), groups, rotation=30, ha="right", fontsize="small")
        ax.set(title=metric, ylim=(0, 1.05))
        ax.grid(axis="y", alpha=0.3)
    for ax in list(fig.axes)[len(metrics) :]:
        ax.set_axis_off()
    fig.axes[0].legend(fontsize="small")
    return _png(fig)


def accuracy_vs_eps(runs: Sequence[RunResults]) -> bytes | None:
    """Accuracy against eps per model and attack; the clean accuracy is the point at eps 0."""
    fig = Figure(figsize=(6.5, 4.0), layout="constrained")
    ax = fig.subplots()
    colors = [f"C{i}" for i in range(10)]
    markers = "osD^v<>"
    drawn = False
    for i, run in enumerate(runs):
        clean = [r["accuracy"] for r in run.summary if r["condition"] == "clean" and _finite(r.get("accuracy"))]
        attacks = sorted({r["condition"] for r in run.summary if r["condition"] != "clean"}, key=condition_rank)
        for j, attack in enumerate(attacks):
            points = sorted(
                (r["eps"], r["accuracy"])
                for r in run.summary
                if r["condition"] == attack and _finite(r.get("accuracy"))
            )
            points = [(0.0, clean[0])] * bool(clean) + points
            if points:
                eps, acc = zip(*points)
                ax.plot(
                    [e * 255 for e in eps],
                    acc,
                    color=colors[i % 10],
                    marker=markers[j % len(markers)],
                    linestyle="-" if j % 2 == 0 else "--",
                    label=f"{run.name} {attack}",
                )
                drawn = True
    if not drawn:
        return None
    ax.set(xlabel="eps (x 1/255)", ylabel="accuracy", ylim=(-0.02, 1.02), title="accuracy vs eps")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return _png(fig)


def _roc(probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """FPR, TPR and AUC of scores ``probs`` (N,) for labels (N,) in {0, 1} (ties grouped)."""
    order = np.argsort(-probs, kind="stable")
    probs, labels = probs[order], labels[order]
    last_of_tie = np.r_[np.diff(probs) != 0, True]
    tp = np.cumsum(labels)[last_of_tie]
    fp = np.cumsum(1 - labels)[last_of_tie]
    tpr = np.r_[0.0, tp / max(tp[-1], 1)]
    fpr = np.r_[0.0, fp / max(fp[-1], 1)]
    return fpr, tpr, float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))  # trapezoid rule


def roc_curves(runs: Sequence[RunResults]) -> bytes | None:
    """One panel per condition, one ROC curve per model and eps, from predictions.csv."""
    curves: dict[str, list[tuple[str, np.ndarray, np.ndarray, float]]] = {}
    for run in runs:
        groups: dict[tuple[str, float], list[tuple[float, float]]] = {}
        for r in run.predictions:
            if _finite(r.get("prob_fake")) and _finite(r.get("label")):
                key = (str(r.get("condition", "?")), r["eps"] if _finite(r.get("eps")) else 0.0)
                groups.setdefault(key, []).append((r["prob_fake"], r["label"]))
        for (condition, eps), pairs in groups.items():
            probs, labels = np.array(pairs).T
            if labels.min() == labels.max():
                continue  # one class only: no ROC curve
            fpr, tpr, auc = _roc(probs, labels)
            label = f"{run.name}" + (f" eps {eps_label(eps)}" if eps else "") + f" (AUC {auc:.2f})"
            curves.setdefault(condition, []).append((label, fpr, tpr, auc))
    if not curves:
        return None
    conditions = sorted(curves, key=condition_rank)
    ncols = min(4, len(conditions))
    nrows = math.ceil(len(conditions) / ncols)
    fig = Figure(figsize=(3.6 * ncols, 3.5 * nrows), layout="constrained")
    for ax, condition in zip(fig.subplots(nrows, ncols, squeeze=False).flat, conditions):
        for label, fpr, tpr, _ in curves[condition]:
            ax.plot(fpr, tpr, label=label)
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
        ax.set(title=condition, xlabel="false positive rate", ylabel="true positive rate", aspect="equal")
        ax.legend(fontsize="x-small", loc="lower right")
    for ax in list(fig.axes)[len(conditions) :]:
        ax.set_axis_off()
    return _png(fig)


def success_curve(queries: Sequence[float], fooled: Sequence[bool]) -> tuple[np.ndarray, np.ndarray]:
    """Step curve ``(q, share)``: the share of attacked frames fooled within ``q`` queries.

    Args:
        queries: (N,) queries spent on each attacked frame.
        fooled: (N,) whether the frame ended misclassified.
    """
    queries, fooled = np.asarray(queries, dtype=float), np.asarray(fooled, dtype=bool)
    hits = np.sort(queries[fooled])
    budget = max(float(queries.max(initial=1.0)), 1.0)
    q = np.r_[0.0, hits, budget]
    share = np.r_[0.0, np.arange(1, len(hits) + 1), len(hits)] / max(len(queries), 1)
    return q, share


def square_queries(runs: Sequence[RunResults]) -> bytes | None:
    """Share of attacked frames fooled within q queries (Square), per model and eps.

    Attacked frames are those correctly classified on clean input (``clean_correct``);
    a frame counts as fooled once ``pred != label``, at its ``queries``.
    """
    fig = Figure(figsize=(6.5, 4.0), layout="constrained")
    ax = fig.subplots()
    drawn = False
    for run in runs:
        by_eps: dict[float, list[dict[str, Any]]] = {}
        for r in run.predictions:
            if str(r.get("condition", "")).lower() == "square" and r.get("clean_correct") == 1.0:
                by_eps.setdefault(r["eps"] if _finite(r.get("eps")) else 0.0, []).append(r)
        for eps, rows in sorted(by_eps.items()):
            if all(_finite(r.get("queries")) for r in rows):
                q, share = success_curve([r["queries"] for r in rows], [r.get("pred") != r.get("label") for r in rows])
                ax.step(q, share, where="post", label=f"{run.name} eps {eps_label(eps)} ({len(rows)} frames)")
                drawn = True
    if not drawn:
        return None
    ax.set(
        xlabel="queries",
        ylabel="share of attacked frames fooled",
        ylim=(-0.02, 1.02),
        title="Square attack success vs queries",
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return _png(fig)


def auto_stages(runs: Sequence[RunResults]) -> bytes | None:
    """Waterfall of the ``auto`` ensemble, one panel per model and eps: clean accuracy, the drop
    each member adds on the frames still robust, and the ensemble's robust accuracy."""
    panels = [
        (run, row, next((r["accuracy"] for r in run.summary if r["condition"] == "clean"), math.nan))
        for run in runs
        for row in run.summary
        if isinstance(row.get("stages"), list) and row["stages"]
    ]
    if not panels:
        return None
    ncols = min(3, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    width = max(3.2, 0.8 * (len(panels[0][1]["stages"]) + 2))
    fig = Figure(figsize=(width * ncols, 3.2 * nrows), layout="constrained")
    axes = list(fig.subplots(nrows, ncols, squeeze=False).flat)
    for ax, (run, row, clean) in zip(axes, panels):
        names = [str(s.get("attack", "?")) for s in row["stages"]]
        levels = [float(s.get("robust_accuracy", math.nan)) for s in row["stages"]]
        previous = [clean, *levels[:-1]]
        ax.bar(0, clean if _finite(clean) else 0.0, color="C0")
        for k, (before, after) in enumerate(zip(previous, levels), start=1):
            if _finite(before) and _finite(after):
                ax.bar(k, before - after, bottom=after, color="C3")
                drop = 100 * (before - after)
                ax.text(k, before + 0.02, f"-{drop:.1f}" if drop > 0 else "0", ha="center", fontsize="x-small")
        ax.bar(len(levels) + 1, levels[-1], color="C2")
        ax.text(len(levels) + 1, levels[-1] + 0.02, f"{100 * levels[-1]:.1f}%", ha="center", fontsize="x-small")
        ticks = ["clean", *names, "robust"]
        ax.set_xticks(range(len(ticks)), ticks, rotation=30, ha="right", fontsize="small")
        ax.set(ylim=(0, 1.1), ylabel="accuracy", title=f"{run.name} eps {eps_label(row['eps'])}")
        ax.grid(axis="y", alpha=0.3)
    for ax in axes[len(panels) :]:
        ax.set_axis_off()
    return _png(fig)


def _load_rgb(path: Any) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"), dtype=np.float32) / 255


def magnify(clean: np.ndarray, adv: np.ndarray) -> np.ndarray:
    """The perturbation made visible: 0.5 + k (adv - clean), k so the largest change fills [0, 1].

    Args:
        clean, adv: (H, W, 3) float in [0, 1]. Returns (H, W, 3) float in [0, 1].
    """
    delta = adv - clean
    peak = float(np.abs(delta).max())
    return np.clip(0.5 + delta * (0.5 / peak if peak > 0 else 0.0), 0, 1)


def examples(run: RunResults) -> bytes | None:
    """A grid of example frames: one row per example, columns clean, adversarial, perturbation.

    Drawn with PIL, not matplotlib (a grid of image axes is slow to lay out): each tile is
    scaled to ``TILE`` pixels with nearest-neighbour sampling; the first tile's title names
    the condition, the label and P(fake) clean -> adversarial.
    """
    items = [(folder, c, a, note) for folder, triples in run.examples.items() for c, a, note in triples]
    if not items:
        return None
    head, gap = 14, 6
    grid = Image.new("RGB", (3 * TILE + 4 * gap, len(items) * (TILE + head + gap) + gap), "white")
    draw = ImageDraw.Draw(grid)
    for i, (folder, clean_path, adv_path, note) in enumerate(items):
        clean, adv = _load_rgb(clean_path), _load_rgb(adv_path)
        if clean.shape != adv.shape:
            adv = clean  # a mismatched pair: show no perturbation rather than fail
        top = gap + i * (TILE + head + gap)
        titles = (f"{folder} {note}", "adversarial", "perturbation x k")
        for j, (img, title) in enumerate(zip((clean, adv, magnify(clean, adv)), titles)):
            tile = Image.fromarray(np.round(img * 255).astype(np.uint8)).resize((TILE, TILE), Image.NEAREST)
            left = gap + j * (TILE + gap)
            grid.paste(tile, (left, top + head))
            draw.text((left, top), title[:28], fill="black")
    buf = io.BytesIO()
    grid.save(buf, format="PNG")
    return buf.getvalue()


COMPARISONS: dict[str, Callable[[Sequence[RunResults]], bytes | None]] = {
    "bars": metric_bars,
    "accuracy_eps": accuracy_vs_eps,
    "roc": roc_curves,
    "square_queries": square_queries,
    "auto_stages": auto_stages,
}


def all_figures(runs: Sequence[RunResults]) -> dict[str, bytes]:
    """Every comparison plot plus ``examples_<i>`` per run, as PNG bytes (absent ones left out)."""
    figures = {key: make(runs) for key, make in COMPARISONS.items()}
    figures.update({f"examples_{i}": examples(run) for i, run in enumerate(runs)})
    return {key: png for key, png in figures.items() if png is not None}


_CURVES = ("accuracy", "precision", "recall", "f1", "auroc")
_PANELS = (  # (title, columns): a panel is drawn when any of its columns exists
    *((name, (f"train_{name}", f"val_{name}")) for name in _CURVES),
    ("video-level AUROC", ("train_video_auroc", "val_video_auroc")),
    ("loss", ("train_loss", "val_loss")),
    ("catastrophic overfitting monitor", ("val_pgd_accuracy",)),
)


def plot_history(
    history: History | str | os.PathLike | Iterable[Mapping[str, Any]], out_png: str | os.PathLike
) -> None:
    """Plot train vs val curves per epoch into a PNG grid, written atomically.

    Panels: accuracy, precision, recall, f1, auroc, video-level AUROC, loss, and
    the catastrophic-overfitting monitor (``val_pgd_accuracy``, epochs with a
    true ``co_flag`` marked in red), each only if its columns exist.

    Args:
        history: a :class:`History`, a ``history.csv`` path, or rows of dicts.
        out_png: where to write the PNG.
    """
    if isinstance(history, (str, os.PathLike)):
        history = History.load(history)
    elif not isinstance(history, History):
        history = History(history)
    panels = [(title, [c for c in cols if c in history.columns]) for title, cols in _PANELS]
    panels = [(title, cols) for title, cols in panels if cols]
    if len(history) == 0 or not panels:
        raise DfrobustError(
            f"nothing to plot: the history has {len(history)} epochs and none of the columns "
            f"{[c for _, cols in _PANELS for c in cols]}"
        )
    ncols = min(3, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig = Figure(figsize=(4.2 * ncols, 3.2 * nrows), layout="constrained")  # no pyplot state
    epochs = history.column("epoch")
    for ax, (title, cols) in zip(fig.subplots(nrows, ncols, squeeze=False).flat, panels):
        for col in cols:
            ax.plot(epochs, history.column(col), marker="o", markersize=3, label=col)
        flags = history.column("co_flag") if title.startswith("catastrophic") else []
        flagged = [i for i, flag in enumerate(flags) if flag > 0]  # NaN > 0 is False
        if flagged:
            values = history.column(cols[0])
            ax.scatter(
                [epochs[i] for i in flagged],
                [values[i] for i in flagged],
                color="red",
                s=40,
                zorder=3,
                label="CO flagged",
            )
        ax.set(title=title, xlabel="epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    for ax in fig.axes[len(panels) :]:
        ax.set_axis_off()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    write_bytes(out_png, buf.getvalue())
