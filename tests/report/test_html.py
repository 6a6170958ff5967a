"""Tests of dfrobust.report / dfrobust.report.plots / ``dfrobust report`` on small fake run folders."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from dfrobust.cli import app
from dfrobust.eps import eps_label
from dfrobust.errors import DfrobustError
from dfrobust.report import ReportPaths, load_run, load_runs, summary_table, write_report
from dfrobust.report.plots import _roc, magnify, success_curve

EPS = 4 / 255
CONDITIONS = (("clean", 0.0), ("fgsm", EPS), ("pgd", EPS), ("square", EPS))


def _write_csv(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def make_run(path: Path, robust: bool, with_eval: bool = True, seed: int = 0) -> Path:
    """A fake run folder with the files and columns `dfrobust train` / `test` write."""
    rng = np.random.default_rng(seed)
    path.mkdir(parents=True)
    (path / "config.yaml").write_text(
        f"model:\n  name: meso4\nadv:\n  method: {'fgsm-rs' if robust else 'none'}\n"
        "  note: '<script>alert(1)</script>'\n",
        encoding="utf-8",
    )
    history = []
    for epoch in range(4):
        row = {"epoch": epoch, "lr": 0.01}
        for stage in ("train", "val"):
            for m in ("accuracy", "precision", "recall", "f1", "auroc", "loss"):
                row[f"{stage}_{m}"] = round(0.6 + 0.08 * epoch + rng.uniform(-0.02, 0.02), 4)
        if robust:
            row["val_pgd_accuracy"] = [0.3, 0.45, 0.5, 0.1][epoch]
            row["co_flag"] = int(epoch == 3)
        history.append(row)
    _write_csv(path / "history.csv", history)
    if not with_eval:
        return path
    predictions, summary = [], []
    for condition, eps in CONDITIONS:
        strength = 0.0 if condition == "clean" else (0.3 if robust else 0.9)
        labels = rng.integers(0, 2, 60)
        probs = np.clip(
            np.where(labels == 1, 0.8, 0.2) + rng.normal(0, 0.15, 60) - (2 * labels - 1) * strength, 0.0, 1.0
        )
        preds = (probs >= 0.5).astype(int)
        for i, (y, p, pred) in enumerate(zip(labels, probs, preds)):
            predictions.append(
                {
                    "path": f"frames/{i}.jpg",
                    "video": f"v{i // 6}",
                    "method": "Deepfakes" if y else "original",
                    "label": int(y),
                    "condition": condition,
                    "eps": eps,
                    "prob_fake": float(p),
                    "pred": int(pred),
                    "clean_correct": "true" if rng.uniform() < 0.9 else "false",
                    "queries": int(rng.integers(1, 300)) if condition == "square" else "",
                }
            )
        acc = float((preds == labels).mean())
        summary.append(
            {
                "condition": condition,
                "eps": eps_label(eps),
                "eps_value": eps,
                "accuracy": acc,
                "precision": 0.7,
                "recall": 0.6,
                "f1": 0.65,
                "auroc": float(roc_auc_score(labels, probs)),
                "asr_flip": 1 - acc if condition != "clean" else None,
                "asr_error": 1 - acc,
                "queries_mean": 120.0 if condition == "square" else None,
            }
        )
    _write_csv(path / "eval" / "predictions.csv", predictions)
    slug = f"pgd_{eps_label(EPS).replace('/', '-')}"
    (path / "eval" / "summary.json").write_text(
        json.dumps(
            {
                "rows": summary,
                "checks": [
                    {
                        "name": "pgd_beats_fgsm@4/255",
                        "status": "warn" if robust else "pass",
                        "values": {"pgd_accuracy": 0.5, "fgsm_accuracy": 0.4},
                    }
                ],
                "warnings": ["pgd_beats_fgsm@4/255: warn: PGD <b>weaker</b> than FGSM"] if robust else [],
                "examples": [
                    {
                        "condition": "pgd",
                        "eps": "4/255",
                        "k": k,
                        "label": int(k < 2),
                        "prob_clean": 0.9,
                        "prob_adv": 0.1,
                        "clean": f"examples/{slug}/{k}_clean.png",
                        "adv": f"examples/{slug}/{k}_adv.png",
                    }
                    for k in range(3)
                ],
            }
        ),
        encoding="utf-8",
    )
    for k in range(3):
        folder = path / "eval" / "examples" / slug
        folder.mkdir(parents=True, exist_ok=True)
        clean = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
        adv = np.clip(clean.astype(int) + rng.choice([-4, 4], clean.shape), 0, 255).astype(np.uint8)
        Image.fromarray(clean).save(folder / f"{k}_clean.png")
        Image.fromarray(adv).save(folder / f"{k}_adv.png")
    return path


@pytest.fixture(scope="module")
def two_runs_report(tmp_path_factory: pytest.TempPathFactory) -> ReportPaths:
    """The report of a clean and an FGSM-RS run, written once (plotting takes seconds)."""
    root = tmp_path_factory.mktemp("runs")
    runs = [make_run(root / "clean", robust=False), make_run(root / "fgsm_rs", robust=True, seed=1)]
    return write_report(runs, root / "out" / "report.html")


def _sparse_run(path: Path) -> Path:
    """A run with only a two-row summary.csv and a one-column history."""
    _write_csv(
        path / "eval" / "summary.csv",
        [
            {"condition": "clean", "eps": "0", "accuracy": "0.9"},
            {"condition": "pgd", "eps": "0.03137254901960784", "accuracy": "0.1"},
        ],
    )
    _write_csv(path / "history.csv", [{"epoch": 0, "val_accuracy": 0.5}, {"epoch": 1, "val_accuracy": 0.7}])
    return path


def _images(page: str) -> list[bytes]:
    return [base64.b64decode(data) for data in re.findall(r'<img src="data:image/png;base64,([^"]+)"', page)]


def test_report_is_self_contained_with_every_section(two_runs_report: ReportPaths) -> None:
    paths = two_runs_report
    page = paths.html.read_text(encoding="utf-8")
    # 4 comparison plots + (history + examples) per run, all embedded, all valid PNGs
    images = _images(page)
    assert len(images) == len(re.findall(r"<img ", page)) == 8
    for png in images:
        assert Image.open(io.BytesIO(png)).size[0] > 100
    assert sorted(p.name for p in paths.images) == sorted(
        [
            "report_bars.png",
            "report_accuracy_eps.png",
            "report_roc.png",
            "report_square_queries.png",
            "report_examples_0.png",
            "report_examples_1.png",
            "report_history_0.png",
            "report_history_1.png",
        ]
    )
    assert all(p.is_file() for p in paths.images)
    # offline: no script, no external resource
    assert "<script" not in page.lower() and not re.search(r"(src|href)=\"(https?:)?//", page)
    for heading in (
        "Summary",
        "Accuracy vs eps",
        "ROC curves",
        "Square attack",
        "Attack success rates",
        "Training history",
        "Example frames",
        "Resolved config",
        "Run clean",
        "Run fgsm_rs",
    ):
        assert heading in page
    assert "catastrophic overfitting flagged at epoch(s) [3]" in page
    assert "asr_flip" in page and "queries_mean" in page
    # escaped text from configs and summary.json
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "PGD &lt;b&gt;weaker&lt;/b&gt; than FGSM" in page
    assert "<td>fgsm_rs</td><td>pgd_beats_fgsm@4/255</td><td>warn</td><td>pgd_accuracy 0.500, " in page
    markdown = paths.markdown.read_text(encoding="utf-8")
    assert "| model | condition | eps | accuracy | auroc | asr_flip | asr_error |" in markdown
    assert "| fgsm_rs | pgd | 4/255 |" in markdown and "![report_roc](report_roc.png)" in markdown


def test_run_without_eval_gets_its_history_and_config(tmp_path: Path) -> None:
    run = make_run(tmp_path / "only_trained", robust=True, with_eval=False)
    paths = write_report([run], tmp_path / "r.html")
    page = paths.html.read_text(encoding="utf-8")
    assert len(_images(page)) == 1 and "Training history (4 epochs)" in page
    assert "Summary" not in page and "Gradient-masking" not in page
    assert [p.name for p in paths.images] == ["r_history_0.png"]


def test_missing_columns_and_files_are_skipped_not_fatal(tmp_path: Path) -> None:
    run = _sparse_run(tmp_path / "sparse")
    paths = write_report([run], tmp_path / "sparse.html")
    page = paths.html.read_text(encoding="utf-8")
    assert "<td>pgd</td><td>8/255</td><td>0.100</td>" in page
    assert "ROC" not in page and "Square attack" not in page  # no predictions.csv
    assert {p.name for p in paths.images} == {"sparse_bars.png", "sparse_accuracy_eps.png", "sparse_history_0.png"}


def test_examples_carry_label_and_scores_from_summary_json(tmp_path: Path) -> None:
    run = load_run(make_run(tmp_path / "r", robust=True))
    [(folder, triples)] = run.examples.items()
    assert folder == "pgd_4-255" and len(triples) == 2  # at most MAX_EXAMPLES, a real and a fake first
    assert [(clean.name, note) for clean, _, note in triples] == [
        ("0_clean.png", "fake 0.90->0.10"),
        ("2_clean.png", "real 0.90->0.10"),
    ]


def test_errors_name_the_folder(tmp_path: Path) -> None:
    with pytest.raises(DfrobustError, match="does not exist"):
        load_run(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DfrobustError, match="empty holds no config.yaml"):
        load_run(tmp_path / "empty")


def test_same_folder_names_get_unique_labels(tmp_path: Path) -> None:
    a = make_run(tmp_path / "a" / "run", robust=False)
    b = make_run(tmp_path / "b" / "run", robust=True)
    header, rows = summary_table(load_runs([a, b]))
    assert header[:3] == ["model", "condition", "eps"]
    assert {r[0] for r in rows} == {"run", "run-2"} and len(rows) == 8


def test_roc_matches_sklearn_with_ties() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 200).astype(float)
    probs = np.round(rng.uniform(size=200) * 0.5 + labels * 0.3, 1)  # many ties
    fpr, tpr, auc = _roc(probs, labels)
    assert auc == pytest.approx(roc_auc_score(labels, probs))
    assert fpr[0] == tpr[0] == 0 and fpr[-1] == tpr[-1] == 1


def test_success_curve_counts_fooled_frames_within_q_queries() -> None:
    q, share = success_curve([5, 1, 300, 20], [True, True, False, True])
    assert q.tolist() == [0, 1, 5, 20, 300]
    assert share.tolist() == [0, 0.25, 0.5, 0.75, 0.75]


def test_magnify_fills_the_range_around_grey() -> None:
    clean = np.full((4, 4, 3), 0.5, np.float32)
    adv = clean.copy()
    adv[0, 0, 0], adv[1, 1, 1] = 0.5 + 2 / 255, 0.5 - 1 / 255
    out = magnify(clean, adv)
    assert out[0, 0, 0] == pytest.approx(1.0) and out[1, 1, 1] == pytest.approx(0.25)
    assert out[2, 2, 2] == 0.5 and magnify(clean, clean).tolist() == np.full_like(clean, 0.5).tolist()


def test_cli_report_prints_the_table_and_writes_files(tmp_path: Path) -> None:
    out = tmp_path / "cli" / "report.html"
    result = CliRunner().invoke(app, ["report", str(_sparse_run(tmp_path / "sparse")), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "sparse" in result.stdout and "8/255" in result.stdout
    assert out.is_file() and out.with_suffix(".md").is_file()
    missing = CliRunner().invoke(app, ["report", str(tmp_path / "nope"), "--out", str(out)])
    assert missing.exit_code == 1 and "does not exist" in missing.output


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    pytest.skip("headless Chromium not found (install Debian's `chromium` package to run this test)")


def _headless(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    profile = tmp_path / "profile"
    command = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--window-size=1200,900",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=90, check=True)


def test_report_renders_in_headless_chromium(two_runs_report: ReportPaths, tmp_path: Path) -> None:
    paths = two_runs_report
    # A test-only copy with a script that counts the loaded images (the report has no JS).
    probe = tmp_path / "probe.html"
    probe.write_text(
        paths.html.read_text(encoding="utf-8").replace(
            "</body>",
            (
                "<script>window.addEventListener('load', () => { const imgs = [...document.images];"
                "document.body.setAttribute('data-loaded', imgs.filter(i => i.complete && i.naturalWidth > 0).length"
                " + '/' + imgs.length); });</script></body>"
            ),
        ),
        encoding="utf-8",
    )
    dom = _headless(
        ["--run-all-compositor-stages-before-draw", "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()],
        tmp_path,
    ).stdout
    loaded = re.search(r'data-loaded="(\d+)/(\d+)"', dom)
    assert loaded, dom[:500]
    assert loaded.group(1) == loaded.group(2) == "8"
    shot = tmp_path / "shot.png"
    _headless([f"--screenshot={shot}", paths.html.resolve().as_uri()], tmp_path)
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.shape == (900, 1200) and pixels.std() > 10


def _generalisation_report(root: Path) -> ReportPaths:
    """A run with per-method groups in summary.json, and hand-written cross/transfer matrices."""
    run = make_run(root / "clean", robust=False)
    summary_path = run / "eval" / "summary.json"
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    summary["groups"] = {
        "method": [
            {
                "group": m,
                "condition": c,
                "eps": eps_label(e),
                "eps_value": e,
                "real_frames": 30,
                "fake_frames": 15,
                "accuracy": a,
                "auroc": a + 0.05,
            }
            for m, a in (("Deepfakes", 0.9), ("FaceSwap", 0.6))
            for c, e in (("clean", 0.0), ("pgd", EPS))
        ]
    }
    summary_path.write_text(json.dumps(summary), encoding="utf-8")
    metrics = {
        "frames": 40,
        "accuracy": 0.7,
        "auroc": 0.8,
        "video_accuracy": 0.75,
        "video_auroc": 0.85,
        "asr_evasion": 0.2,
    }
    cross = [
        {"train": "clean", "test": t, "condition": c, "eps": e, **metrics}
        for t in ("ffpp_c23", "celebdf")
        for c, e in (("clean", "0"), ("pgd", "4/255"))
    ]
    (root / "cross").mkdir()
    (root / "cross" / "cross.json").write_text(json.dumps({"kind": "cross", "rows": cross}), encoding="utf-8")
    transfer = [
        {"source": "clean", "target": t, "condition": "pgd", "eps": "4/255", **metrics, "clean_accuracy": 0.9}
        for t in ("clean", "fgsm_rs")
    ]
    (root / "cross" / "transfer.json").write_text(json.dumps({"kind": "transfer", "rows": transfer}), encoding="utf-8")
    return write_report([run], root / "out" / "report.html", cross=[root / "cross"])


def test_generalisation_sections_per_method_cross_and_transfer(tmp_path: Path) -> None:
    paths = _generalisation_report(tmp_path)
    page = paths.html.read_text(encoding="utf-8")
    for heading in (
        "Per manipulation method",
        "Cross evaluation: train set x test set",
        "Transfer attacks: source x target",
    ):
        assert f"<h2>{heading}</h2>" in page
    assert "all real frames" in page and "<td>FaceSwap</td><td>pgd 4/255</td>" in page
    assert "<td>clean</td><td>celebdf</td><td>pgd</td><td>4/255</td>" in page
    assert {"report_methods.png", "report_matrix_0.png", "report_matrix_1.png"} <= {p.name for p in paths.images}
    markdown = paths.markdown.read_text(encoding="utf-8")
    assert "## Per manipulation method" in markdown and "| clean | fgsm_rs | pgd | 4/255 |" in markdown


def test_generalisation_sections_render_in_headless_chromium(tmp_path: Path) -> None:
    _chromium()  # skips without a browser, before any work
    paths = _generalisation_report(tmp_path)
    dom = _headless(["--dump-dom", paths.html.resolve().as_uri()], tmp_path).stdout
    assert "Transfer attacks: source x target" in dom and dom.count("<img") == len(_images(paths.html.read_text()))
    shot = tmp_path / "shot.png"
    _headless([f"--screenshot={shot}", paths.html.resolve().as_uri()], tmp_path)
    assert np.asarray(Image.open(shot).convert("L"), dtype=float).std() > 10
