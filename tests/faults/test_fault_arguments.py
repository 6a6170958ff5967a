"""Case 8: out-of-range eps, non-positive query budgets, unknown attack and model names."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from fault_helpers import assert_clean_failure, assert_clean_result, dfrobust, invoke

from dfrobust.attacks import ATTACKS, get_attack
from dfrobust.errors import DfrobustError
from dfrobust.models import create_model

BAD_EPS = [-1 / 255, 1.5, 8.0, float("nan")]


def tiny_model(x: torch.Tensor) -> torch.Tensor:
    return x.mean(dim=(1, 2, 3)) - 0.5


@pytest.mark.parametrize("name", sorted(ATTACKS))
@pytest.mark.parametrize("eps", BAD_EPS)
def test_every_attack_refuses_eps_outside_0_1(name: str, eps: float) -> None:
    x, y = torch.rand(2, 3, 8, 8), torch.tensor([0, 1])
    with pytest.raises(DfrobustError, match=r"Expected eps in \[0, 1\]"):
        get_attack(name).fn(tiny_model, x, y, eps=eps)


@pytest.mark.parametrize("n_queries", [0, -5])
def test_square_refuses_a_non_positive_query_budget(n_queries: int) -> None:
    with pytest.raises(DfrobustError, match=f"Expected n_queries to be a positive integer, got {n_queries}"):
        ATTACKS["square"].fn(tiny_model, torch.rand(2, 3, 8, 8), torch.tensor([0, 1]), eps=4 / 255, n_queries=n_queries)


def test_unknown_attack_and_model_names_list_the_choices() -> None:
    with pytest.raises(DfrobustError, match="Unknown attack 'cw'; expected one of: clean, fgsm, pgd, square"):
        get_attack("cw")
    with pytest.raises(DfrobustError, match="resnet1000"):
        create_model("resnet1000")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--eps", "-1/255"], "Expected eps in [0, 1]"),
        (["--eps", "2"], "did you mean 2/255"),
        (["--eps", "eight"], "Expected eps as a number or a fraction"),
        (["--n-queries", "0"], "Expected n_queries to be a positive integer, got 0"),
        (["--n-queries", "-3"], "Expected n_queries to be a positive integer, got -3"),
        (["--pgd-steps", "0"], "Expected pgd_steps to be a positive integer"),
        (["--attacks", "clean,deepfool"], "Unknown attack 'deepfool' for eval"),
    ],
)
def test_cli_test_refuses_bad_attack_options_before_any_work(tmp_path: Path, args: list[str], message: str) -> None:
    result = invoke("test", "--run", tmp_path / "run", *args)
    assert_clean_result(result, message)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--eps", "-1/255"], "adv.eps"),
        (["--eps", "1.5"], "adv.eps"),
        (["--adv", "cw"], "adv.method"),
        (["--set", "model.name=resnet1000"], "resnet1000"),
    ],
)
def test_cli_train_refuses_bad_options_before_any_work(
    tiny_manifest: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    result = invoke("train", "--manifest", tiny_manifest, "--run", tmp_path / "run", "--epochs", "1", *args)
    assert_clean_result(result, message)
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_cli_predict_names_an_unknown_model(tmp_path: Path) -> None:
    image = tmp_path / "a.png"
    image.write_bytes(b"")
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"")
    assert_clean_result(invoke("predict", image, "--model", "resnet1000", "--weights", weights), "resnet1000")


def test_a_bad_eps_in_a_fresh_process_is_one_line_exit_1(tmp_path: Path) -> None:
    proc = dfrobust("test", "--run", tmp_path, "--eps", "4/255,-1/255")
    assert_clean_failure(proc, "Expected eps in [0, 1]", "-0.0039")
    assert len(proc.stderr.strip().splitlines()) == 1
