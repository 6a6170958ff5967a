"""Fixtures of the training tests: a config that trains in seconds on 2 cores."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from dfrobust.config import Config, load_config

TINY = {  # a run that takes seconds on 2 cores
    "data": {"image_size": 32, "batch_size": 16, "workers": 0},
    "model": {"name": "resnet10t"},
    "adv": {"monitor_frames": 16, "monitor_steps": 2},
    "train": {"epochs": 2, "optimizer": "adamw", "lr": 0.003},
}


@pytest.fixture(scope="session")
def tiny_config(tiny_manifest: Path) -> Callable[..., Config]:
    """``tiny_config(**overrides)``: the TINY config on ``tiny_manifest``, plus CLI-style overrides."""

    def make(**overrides: str) -> Config:
        flat = {f"{section}.{key}": str(value) for section, values in TINY.items() for key, value in values.items()}
        return load_config(None, {**flat, "manifest": str(tiny_manifest), **overrides})

    return make


@pytest.fixture
def tiny_yaml(tmp_path: Path) -> Path:
    """The TINY config as a YAML file (no manifest: the CLI passes it)."""
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY))
    return path
