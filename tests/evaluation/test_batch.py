"""dfrobust.evaluation.batch: per-frame random streams make results independent of the batching."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dfrobust.data.dataset import FFDataset
from dfrobust.data.transforms import model_transform
from dfrobust.evaluation import EvalOptions, evaluate
from dfrobust.evaluation.batch import budget_label, frame_seed
from dfrobust.evaluation.options import Condition
from dfrobust.runs import load_run_model


def test_frame_seeds_are_stable_and_keyed_on_seed_condition_and_frame() -> None:
    seed = frame_seed(0, "pgd_4-255", "original/000/001.jpg")
    assert seed == frame_seed(0, "pgd_4-255", "original/000/001.jpg") and 0 <= seed < 2**63
    assert (
        len(
            {
                seed,
                frame_seed(1, "pgd_4-255", "original/000/001.jpg"),
                frame_seed(0, "pgd_8-255", "original/000/001.jpg"),
                frame_seed(0, "pgd_4-255", "original/000/002.jpg"),
            }
        )
        == 4
    )


def test_budget_label_names_the_registry_budgets() -> None:
    options = EvalOptions(pgd_steps=7)
    assert budget_label(Condition("pgd", 4 / 255), options) == "pgd 4/255 (steps 7)"
    assert budget_label(Condition("clean"), options) == "clean"


@pytest.mark.slow
def test_batch_size_7_and_64_give_the_same_decisions_and_probabilities(tiny_run: Path, tiny_manifest: Path) -> None:
    model, config = load_run_model(tiny_run, "best")
    dataset = FFDataset(tiny_manifest, "test", model_transform(model, config.data.image_size), return_video=True)
    common = {
        "attacks": ("clean", "pgd", "square", "auto"),  # auto runs APGD (BCE, margin) and Square
        "eps": (4 / 255,),
        "n_queries": 12,
        "pgd_steps": 3,
        "apgd_steps": 3,
        "auto_queries": 8,
        "limit": 24,
        "sanity_frames": 8,
    }
    small = evaluate(model, dataset, EvalOptions(**common, batch_size=7))
    large = evaluate(model, dataset, EvalOptions(**common, batch_size=64))
    assert small.paths == large.paths and small.large_eps == large.large_eps
    for condition, probs in small.probs.items():
        assert torch.equal(small.preds(condition), large.preds(condition)), condition
        assert torch.allclose(probs, large.probs[condition], atol=1e-5, rtol=0), condition
        if condition in small.queries:
            assert torch.equal(small.queries[condition], large.queries[condition]), condition
    assert small.broken_by == large.broken_by
    assert [(e.condition, e.k, e.path) for e in small.examples] == [(e.condition, e.k, e.path) for e in large.examples]
