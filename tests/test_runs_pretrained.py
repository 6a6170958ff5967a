"""A run configured with a pretrained tag (model.name: meso4.df) starts from the shipped weights
and its checkpoint reloads without them."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pytest
import torch

from dfrobust.config import load_config
from dfrobust.models import create_model
from dfrobust.runs import build_model, load_run_model


def test_a_tagged_config_starts_from_the_shipped_weights() -> None:
    config = load_config(None, {"model.name": "meso4.df", "model.pretrained": "true"})
    model = build_model(config, initial_weights=True)
    assert model.data_config["pretrained_tag"] == "meso4.df"
    shipped = create_model("meso4.df", pretrained=True)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), shipped.state_dict().values()))


def test_a_tagged_runs_checkpoint_reloads_without_the_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config(None, {"model.name": "meso4.f2f", "model.pretrained": "true", "image_size": "64"})
    torch.manual_seed(0)
    trained = create_model("meso4", input_size=(3, 64, 64)).eval()  # stands for the fine-tuned net
    checkpoint = tmp_path / "run" / "checkpoints" / "last.ckpt"
    checkpoint.parent.mkdir(parents=True)
    state = {f"model.{k}": v for k, v in trained.state_dict().items()}
    torch.save({"state_dict": state, "hyper_parameters": {"config": asdict(config)}}, checkpoint)

    def no_keras(*args: object, **kwargs: object) -> None:
        raise AssertionError("reloading a checkpoint must not read the pretrained weights")

    monkeypatch.setattr("dfrobust.models.factory.load_keras_mesonet", no_keras)
    model, loaded_config = load_run_model(tmp_path / "run", "last")
    assert loaded_config.model.name == "meso4.f2f"
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(x), trained(x))
