"""The APGD masking checks: saturated BCE gradients and more iterations not weaker, in numbers."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from dfrobust.data.dataset import FFDataset
from dfrobust.data.transforms import build_transform
from dfrobust.evaluation import EvalOptions, evaluate
from dfrobust.evaluation.checks import SATURATION_HINT, gradient_masking_checks
from tinymodels import ScaledLogits


def _by_name(checks) -> dict:
    return {c.name: c for c in checks}


def test_margin_breaking_clearly_more_than_bce_flags_saturation() -> None:
    accuracy = {("clean", "0"): 0.9, ("apgd", "4/255"): 0.85, ("apgd_margin", "4/255"): 0.10}
    check = _by_name(gradient_masking_checks(accuracy))["margin_not_beyond_bce@4/255"]
    assert check.status == "warn"
    assert SATURATION_HINT in check.message() and "75.0 points" in check.message()
    assert "apgd_accuracy 0.850" in check.message() and "apgd_margin_accuracy 0.100" in check.message()
    fine = {("apgd", "4/255"): 0.11, ("apgd_margin", "4/255"): 0.10}
    assert _by_name(gradient_masking_checks(fine))["margin_not_beyond_bce@4/255"].status == "pass"


def test_saturation_is_read_from_the_ensembles_stages() -> None:
    stages = {
        "8/255": [
            {"attack": "apgd", "robust_accuracy": 0.8},
            {"attack": "apgd_margin", "robust_accuracy": 0.3},
            {"attack": "square", "robust_accuracy": 0.3},
        ]
    }
    checks = _by_name(gradient_masking_checks({("auto", "8/255"): 0.3, ("pgd", "8/255"): 0.5}, stages=stages))
    assert checks["margin_not_beyond_bce@8/255"].status == "warn"
    assert checks["margin_not_beyond_bce@8/255"].values == {"apgd_accuracy": 0.8, "accuracy_after_apgd_margin": 0.3}
    # the ensemble's APGD stage (0.8) is weaker than PGD (0.5): more iterations made it weaker
    assert checks["apgd_not_weaker_than_pgd@8/255"].status == "warn"


def test_apgd_must_not_be_weaker_than_pgd() -> None:
    accuracy = {("pgd", "4/255"): 0.30, ("apgd", "4/255"): 0.40, ("pgd", "8/255"): 0.2, ("apgd", "8/255"): 0.1}
    checks = _by_name(gradient_masking_checks(accuracy))
    assert checks["apgd_not_weaker_than_pgd@4/255"].status == "warn"
    assert "apgd_accuracy 0.400, pgd_accuracy 0.300" in checks["apgd_not_weaker_than_pgd@4/255"].message()
    assert checks["apgd_not_weaker_than_pgd@8/255"].status == "pass"


def test_no_apgd_no_new_checks() -> None:
    names = [c.name for c in gradient_masking_checks({("pgd", "4/255"): 0.1, ("fgsm", "4/255"): 0.2})]
    assert not any(n.startswith(("margin_not", "apgd_not")) for n in names)
    assert names[-2:] == ["pgd_large_eps", "pgd_unbounded"]


def test_accuracy_must_fall_as_eps_grows() -> None:
    accuracy = {("pgd", "1/255"): 0.8, ("pgd", "2/255"): 0.5, ("pgd", "8/255"): 0.6, ("pgd", "4/255"): 0.3}
    accuracy |= {("fgsm", "2/255"): 0.6, ("fgsm", "4/255"): 0.61, ("square", "4/255"): 0.9}
    checks = _by_name(gradient_masking_checks(accuracy))
    rose = checks["accuracy_falls_with_eps@pgd"]
    assert rose.status == "warn" and "it rose from 4/255 to 8/255" in rose.message()
    assert list(rose.values) == ["accuracy@1/255", "accuracy@2/255", "accuracy@4/255", "accuracy@8/255"]
    assert checks["accuracy_falls_with_eps@fgsm"].status == "pass"  # +0.01: within the tolerance
    assert "accuracy_falls_with_eps@square" not in checks  # one budget: nothing to compare
    # a single step of size eps overshoots at large eps: FGSM may rise without masking
    overshoot = {("fgsm", "8/255"): 0.24, ("fgsm", "16/255"): 0.31}
    assert _by_name(gradient_masking_checks(overshoot))["accuracy_falls_with_eps@fgsm"].status == "warn"
    names = _by_name(gradient_masking_checks(overshoot, single_step=["fgsm"]))
    assert "accuracy_falls_with_eps@fgsm" not in names


def test_an_unbounded_attack_must_reach_zero_accuracy() -> None:
    def unbounded(value):
        return _by_name(gradient_masking_checks({("pgd", "4/255"): 0.1}, unbounded=value))["pgd_unbounded"]

    assert unbounded(0.0).status == "pass"
    assert unbounded(0.25).status == "warn" and "pgd_accuracy 0.250" in unbounded(0.25).message()
    assert unbounded(None).status == "skipped"


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 5, stride=2, padding=2)
        self.fc = nn.Linear(8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv((x - 0.5) / 0.25)).mean((2, 3))).squeeze(-1)


def test_evaluation_flags_a_saturated_detector(tiny_manifest: Path) -> None:
    """Logits x 1e4: PGD and APGD-BCE see robustness that APGD-margin and auto break; the check says so."""
    frames = FFDataset(tiny_manifest, "test", build_transform((32, 32)), return_video=True)
    torch.manual_seed(0)
    net = _Net()
    x, y = torch.stack([frames[i][0] for i in range(len(frames))]), frames.labels.float()
    optimizer = torch.optim.Adam(net.parameters(), lr=0.05)
    for _ in range(30):
        optimizer.zero_grad()
        nn.functional.binary_cross_entropy_with_logits(net(x), y).backward()
        optimizer.step()
    options = EvalOptions(
        attacks=("clean", "pgd", "apgd", "apgd_margin", "auto"),
        eps=(16 / 255,),
        pgd_steps=5,
        apgd_steps=10,
        auto_queries=20,
        limit=24,
        sanity=False,
        examples=0,
    )
    result = evaluate(ScaledLogits(net.eval(), 1e4), frames, options)
    accuracy = {r["condition"]: r["accuracy"] for r in result.rows()}
    assert accuracy["pgd"] >= accuracy["clean"] - 0.05 and accuracy["apgd"] >= accuracy["clean"] - 0.05
    assert accuracy["apgd_margin"] < accuracy["clean"] - 0.2 and accuracy["auto"] <= accuracy["apgd_margin"] + 0.05
    checks = _by_name(result.checks())
    assert checks["margin_not_beyond_bce@16/255"].status == "warn"
    assert SATURATION_HINT in checks["margin_not_beyond_bce@16/255"].message()
    assert checks["apgd_not_weaker_than_pgd@16/255"].status == "pass"  # both stand still: equally blind


class _Quantised(nn.Module):
    """Gradient masking by construction: rounding the input has a zero gradient everywhere."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 20 * (torch.round(x).mean((1, 2, 3)) - 0.5)


def test_an_unbounded_pgd_exposes_a_zero_gradient_detector(tiny_manifest: Path) -> None:
    frames = FFDataset(tiny_manifest, "test", build_transform((16, 16)), return_video=True)
    options = EvalOptions(attacks=("clean", "pgd"), eps=(4 / 255,), pgd_steps=3, limit=24, sanity_frames=24, examples=0)
    result = evaluate(_Quantised(), frames, options)
    check = _by_name(result.checks())["pgd_unbounded"]
    assert result.unbounded is not None and result.unbounded > 0.2  # PGD cannot move without a gradient
    assert check.status == "warn" and "lead nowhere" in check.message()
