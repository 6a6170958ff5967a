"""Tests for dfrobust.evaluation.success, dfrobust.evaluation(_run) and the ``dfrobust test`` command."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from typer.testing import CliRunner

from dfrobust.attacks import ATTACKS
from dfrobust.cli import app
from dfrobust.data.dataset import FFDataset
from dfrobust.data.transforms import build_transform
from dfrobust.eps import eps_label
from dfrobust.errors import DfrobustError
from dfrobust.evaluation import Condition, EvalOptions, evaluate
from dfrobust.evaluation.checks import gradient_masking_checks
from dfrobust.evaluation.evaluate import count_steps
from dfrobust.evaluation.images import jpeg_roundtrip, to_image
from dfrobust.evaluation.results import save_eval
from dfrobust.evaluation.success import query_stats, success_rates

runner = CliRunner()


class TinyNet(nn.Module):
    """A 32 px one-logit CNN, fitted in a second to the tiny manifest's bright-square fakes."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 5, stride=2, padding=2)
        self.fc = nn.Linear(8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv((x - 0.5) / 0.25)).mean((2, 3))).squeeze(-1)


@pytest.fixture(scope="module")
def split_frames(tiny_manifest: Path) -> FFDataset:
    return FFDataset(tiny_manifest, "test", build_transform((32, 32)), return_video=True)


@pytest.fixture(scope="module")
def net(split_frames: FFDataset) -> TinyNet:
    torch.manual_seed(0)
    model = TinyNet()
    x, y = torch.stack([split_frames[i][0] for i in range(len(split_frames))]), split_frames.labels.float()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(30):
        optimizer.zero_grad()
        nn.functional.binary_cross_entropy_with_logits(model(x), y).backward()
        optimizer.step()
    return model.eval()


def test_success_rates_on_a_hand_made_case() -> None:
    # video 0: real, 2 frames; video 1: fake, 2 frames; video 2: fake, 2 frames
    labels = torch.tensor([0, 0, 1, 1, 1, 1])
    videos = torch.tensor([0, 0, 1, 1, 2, 2])
    clean = torch.tensor([0, 1, 1, 1, 1, 0])  # 4 of 6 correct (frames 0, 2, 3, 4)
    adv = torch.tensor([1, 1, 1, 0, 0, 0])  # flips frames 0, 3, 4; 1 and 5 stay wrong
    rates = success_rates(labels, clean, adv, videos)
    assert rates["asr_flip"] == pytest.approx(3 / 4)
    assert rates["asr_error"] == pytest.approx(5 / 6)
    assert rates["asr_evasion"] == pytest.approx(3 / 4)  # fakes 3, 4, 5 called real
    assert rates["asr_video"] == pytest.approx(1 / 2)  # video 1: half flagged (not fooled); video 2: none


def test_success_rates_are_nan_without_a_reference_set() -> None:
    labels = torch.zeros(3, dtype=torch.long)
    rates = success_rates(labels, torch.ones(3), torch.ones(3), torch.arange(3))
    assert math.isnan(rates["asr_flip"]) and math.isnan(rates["asr_evasion"]) and math.isnan(rates["asr_video"])
    assert rates["asr_error"] == 1.0


def test_query_stats_of_successful_attacks_only() -> None:
    queries = torch.tensor([1, 2, 3, 10, 500])
    stats = query_stats(queries, torch.tensor([True, True, True, True, False]))
    assert stats == {"queries_mean": 4.0, "queries_median": 2.5}
    assert math.isnan(query_stats(queries, torch.zeros(5, dtype=torch.bool))["queries_mean"])
    assert math.isnan(query_stats(None, torch.ones(5, dtype=torch.bool))["queries_median"])


def test_gradient_masking_checks_warn_pass_and_skip() -> None:
    accuracy = {
        ("clean", "0"): 0.9,
        ("fgsm", "4/255"): 0.30,
        ("pgd", "4/255"): 0.50,
        ("square", "4/255"): 0.20,
        ("fgsm", "8/255"): 0.20,
        ("pgd", "8/255"): 0.05,
    }
    checks = {c.name: c for c in gradient_masking_checks(accuracy, ("32/255", 0.4))}
    assert checks["pgd_beats_fgsm@4/255"].status == "warn"  # PGD weaker than FGSM
    assert checks["square_not_beyond_pgd@4/255"].status == "warn"  # black-box beat white-box
    assert checks["pgd_beats_fgsm@8/255"].status == "pass"
    assert checks["square_not_beyond_pgd@8/255"].status == "skipped"  # no Square at 8/255
    assert checks["pgd_large_eps@32/255"].status == "warn"
    assert "pgd_accuracy 0.500" in checks["pgd_beats_fgsm@4/255"].message()
    assert gradient_masking_checks({("pgd", "4/255"): 0.1}, None)[-1].status == "skipped"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"attacks": ("clean", "cw")}, "Unknown attack"),
        ({"eps": (8.0,)}, "did you mean 8/255"),
        ({"eps": (-0.1,)}, "Expected eps in [0, 1]"),
        ({"n_queries": 0}, "n_queries"),
        ({"jpeg_quality": 0}, "jpeg_quality"),
        ({"limit": 0}, "limit"),
        ({"attacks": ("clean", "pgd"), "attack_eps": {"square": (4 / 255,)}}, "'square', which is not among"),
        ({"attacks": ("clean", "pgd"), "attack_eps": {"pgd": (8.0,)}}, "eps of pgd in [0, 1]"),
        ({"attacks": ("clean", "pgd"), "attack_eps": {"pgd": ()}}, "at least one eps for pgd"),
    ],
)
def test_options_reject_bad_values_with_the_fix(kwargs: dict, message: str) -> None:
    with pytest.raises(DfrobustError, match=message.replace("[", r"\[").replace("]", r"\]")):
        EvalOptions(**kwargs)


def test_conditions_labels_and_slugs() -> None:
    options = EvalOptions(attacks=("pgd", "fgsm"), eps=(4 / 255, 0.03))
    assert [c.slug for c in options.conditions] == ["clean", "pgd_4-255", "pgd_0.03", "fgsm_4-255", "fgsm_0.03"]
    assert eps_label(8 / 255) == "8/255" and eps_label(0) == "0"
    assert Condition("square", 2 / 255).label == "square 2/255"


def test_attack_eps_gives_an_attack_its_own_budgets() -> None:
    options = EvalOptions(attacks=("clean", "fgsm", "square"), eps=(1 / 255, 2 / 255), attack_eps={"square": 4 / 255})
    assert [c.label for c in options.conditions] == ["clean", "fgsm 1/255", "fgsm 2/255", "square 4/255"]
    assert options.budgets("square") == (4 / 255,) and options.budgets("fgsm") == (1 / 255, 2 / 255)
    # every attack has its own budgets: no --eps needed
    alone = EvalOptions(attacks=("clean", "pgd"), eps=(), attack_eps={"pgd": (8 / 255, 4 / 255)})
    assert [c.slug for c in alone.conditions] == ["clean", "pgd_8-255", "pgd_4-255"]


def test_jpeg_roundtrip_matches_pil_and_stays_in_range() -> None:
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    out = jpeg_roundtrip(x, 75)
    buf = io.BytesIO()
    to_image(x[1]).save(buf, format="JPEG", quality=75)
    expected = torch.from_numpy(np.asarray(Image.open(buf).convert("RGB")).copy()).permute(2, 0, 1) / 255
    assert out.shape == x.shape and out.dtype == torch.float32
    assert torch.equal(out[1], expected)
    assert 0 < (out - x).abs().mean() < 0.2


def test_evaluate_attacks_each_batch_once_per_condition_and_is_seeded(
    net: TinyNet, split_frames: FFDataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"fgsm": 0, "clean": 0}
    real_fgsm = ATTACKS["fgsm"]

    def counting_fgsm(*args, **kwargs):
        calls["fgsm"] += 1
        return real_fgsm.fn(*args, **kwargs)

    monkeypatch.setitem(ATTACKS, "fgsm", dataclasses.replace(real_fgsm, fn=counting_fgsm))
    options = EvalOptions(eps=(2 / 255, 16 / 255), n_queries=30, pgd_steps=3, batch_size=16, limit=40, sanity_frames=8)
    steps: list[int] = []
    first = evaluate(net, split_frames, options, on_progress=steps.append)
    batches = math.ceil(40 / 16)
    assert calls["fgsm"] == batches * 2
    assert sum(steps) == count_steps(len(split_frames), options) == 40  # frames, reported per batch
    assert len(steps) == batches
    assert len(first.labels) == 40 and not net.training
    second = evaluate(net, split_frames, options)
    for condition, probs in first.probs.items():
        assert torch.equal(probs, second.probs[condition]), condition
        assert ((probs >= 0) & (probs <= 1)).all()
    rows = {(r["condition"], r["eps"]): r for r in first.rows()}
    assert rows[("clean", "0")]["accuracy"] > 0.9  # the net learned the toy task
    assert rows[("pgd", "16/255")]["accuracy"] <= rows[("clean", "0")]["accuracy"]
    assert first.large_eps is not None and 0 <= first.large_eps[1] <= 1
    assert first.unbounded == 0.0  # no bound: PGD reaches any image, so every sanity frame breaks
    checks = {c.name: c for c in first.checks()}
    assert checks["pgd_unbounded"].status == "pass" and checks["pgd_unbounded"].values == {"pgd_accuracy": 0.0}
    assert checks["accuracy_falls_with_eps@pgd"].values["accuracy@16/255"] == rows[("pgd", "16/255")]["accuracy"]
    assert len(first.examples) == 4 * 6 and {e.label for e in first.examples} == {0, 1}


def test_evaluate_with_jpeg_scores_reencoded_frames(net: TinyNet, split_frames: FFDataset) -> None:
    plain = evaluate(net, split_frames, EvalOptions(attacks=("clean",), limit=8, sanity=False))
    jpeg = evaluate(net, split_frames, EvalOptions(attacks=("clean",), limit=8, sanity=False, jpeg_quality=10))
    clean = Condition("clean")
    assert not torch.allclose(plain.probs[clean], jpeg.probs[clean])


def test_save_eval_replaces_the_files_of_an_earlier_evaluation(
    net: TinyNet, split_frames: FFDataset, tmp_path: Path
) -> None:
    for eps in (2 / 255, 4 / 255):
        options = EvalOptions(attacks=("fgsm",), eps=(eps,), limit=8, sanity=False)
        save_eval(evaluate(net, split_frames, options), tmp_path, options, {"run": "x"})
    assert sorted(p.name for p in tmp_path.glob("*.json")) == ["clean.json", "fgsm_4-255.json", "summary.json"]
    assert [d.name for d in (tmp_path / "examples").iterdir()] == ["fgsm_4-255"]


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _rates_from_predictions(rows: list[dict[str, str]]) -> dict[str, float]:
    """ASR (a)-(d) recomputed from one condition's predictions.csv rows."""
    label = [int(r["label"]) for r in rows]
    pred = [int(r["pred"]) for r in rows]
    correct = [int(r["clean_correct"]) for r in rows]
    flipped = sum(c and p != y for c, p, y in zip(correct, pred, label))
    fake_videos: dict[str, list[int]] = {}
    for r, p in zip(rows, pred):
        if r["label"] == "1":
            fake_videos.setdefault(r["video"], []).append(p)
    return {
        "asr_flip": flipped / sum(correct),
        "asr_error": sum(p != y for p, y in zip(pred, label)) / len(rows),
        "asr_evasion": sum(p == 0 for p, y in zip(pred, label) if y == 1) / sum(label),
        "asr_video": sum(sum(v) / len(v) < 0.5 for v in fake_videos.values()) / len(fake_videos),
    }


def test_cli_test_end_to_end_on_a_trained_run(tiny_run: Path) -> None:
    result = runner.invoke(
        app,
        [
            "test",
            "--run",
            str(tiny_run),
            "--attacks",
            "clean,fgsm,pgd,square",
            "--eps",
            "2/255,8/255",
            "--n-queries",
            "30",
            "--pgd-steps",
            "3",
            "--limit",
            "24",
            "--batch-size",
            "12",
            "--device",
            "cpu",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "ASR(a)" in result.stdout and "sanity checks" in result.stdout and "pgd_large_eps" in result.stdout
    eval_dir = tiny_run / "eval"
    slugs = ["clean", "fgsm_2-255", "fgsm_8-255", "pgd_2-255", "pgd_8-255", "square_2-255", "square_8-255"]
    for slug in slugs:
        assert (eval_dir / f"{slug}.json").is_file(), slug
    for slug in slugs[1:]:
        pngs = sorted(p.name for p in (eval_dir / "examples" / slug).iterdir())
        assert pngs == [f"{k}_{kind}.png" for k in range(4) for kind in ("adv", "clean")]
    summary = json.loads((eval_dir / "summary.json").read_text())
    assert summary["seed"] == 0 and summary["checkpoint"] == "best" and summary["split"] == "test"
    assert {c["status"] for c in summary["checks"]} <= {"pass", "warn", "skipped"}
    masking = sum(c["status"] == "warn" for c in summary["checks"])
    assert len(summary["warnings"]) == masking + len(summary["preflight"])  # the preflight check ran too
    predictions = _read_csv(eval_dir / "predictions.csv")
    table = _read_csv(eval_dir / "summary.csv")
    assert len(table) == 7 and len(predictions) == 7 * summary["frames"] == 7 * 24
    broken = 0
    for row in table:
        for key in ("accuracy", "auroc", "f1", "video_accuracy", "asr_flip", "asr_error", "asr_evasion", "asr_video"):
            assert 0 <= float(row[key]) <= 1, (row["condition"], key)
        mine = [r for r in predictions if r["condition"] == row["condition"] and r["eps"] == row["eps"]]
        for key, value in _rates_from_predictions(mine).items():
            assert float(row[key]) == pytest.approx(value, abs=1e-5), (row["condition"], row["eps"], key)
        assert float(row["accuracy"]) == pytest.approx(1 - float(row["asr_error"]), abs=1e-5)
        if row["condition"] == "clean":
            assert row["queries_mean"] == "" and all(r["queries"] == "" for r in mine)
            continue
        budget = {"fgsm": 1, "pgd": 3, "square": 30}[row["condition"]]  # gradients or forwards per frame
        assert all(0 <= int(r["queries"]) <= budget for r in mine)
        hits = [int(r["queries"]) for r in mine if r["clean_correct"] == "1" and r["pred"] != r["label"]]
        assert bool(hits) == (float(row["asr_flip"]) > 0)  # queries are averaged over exactly these frames
        if hits:
            assert float(row["queries_mean"]) == pytest.approx(np.mean(hits), rel=1e-5)
            assert float(row["queries_median"]) == pytest.approx(np.median(hits), rel=1e-5)
        broken += len(hits)
    assert broken > 0  # some attack flipped some frame, so the query statistics above were checked


def test_cli_attack_eps_gives_square_its_own_budget(tiny_run: Path) -> None:
    args = ["test", "--run", str(tiny_run), "--attacks", "clean,fgsm,square", "--eps", "1/255,2/255"]
    args += ["--attack-eps", "square=8/255", "--n-queries", "5", "--limit", "8", "--no-sanity", "--device", "cpu"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads((tiny_run / "eval" / "summary.json").read_text())
    rows = [(r["condition"], r["eps"]) for r in summary["rows"]]
    assert rows == [("clean", "0"), ("fgsm", "1/255"), ("fgsm", "2/255"), ("square", "8/255")]
    assert summary["options"]["attack_eps_labels"] == {"square": ["8/255"]}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--attacks", "clean,cw"], "Unknown attack"),
        (["--eps", "8"], "did you mean 8/255"),
        (["--n-queries", "0"], "n_queries"),
        (["--checkpoint", "nope"], "no checkpoint"),
        (["--attack-eps", "square"], "Expected --attack-eps as ATTACK=EPS"),
        (["--attacks", "clean,pgd", "--attack-eps", "square=4/255"], "'square', which is not among"),
    ],
)
def test_cli_test_errors_are_one_clear_line(tiny_run: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["test", "--run", str(tiny_run), *args])
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output


def test_cli_test_names_a_missing_run_folder(tmp_path: Path) -> None:
    result = runner.invoke(app, ["test", "--run", str(tmp_path / "nope")])
    assert result.exit_code == 1 and "does not exist" in result.output
