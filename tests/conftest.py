"""Shared test fixtures: where the real third-party test data lives."""

from __future__ import annotations

from pathlib import Path

import pytest

from testdata import SHARED_DATA, write_tiny_manifest


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The ../shared/data folder beside the project (also there in CI)."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"test data folder {SHARED_DATA} is missing (it lies beside the project root)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small learnable frames.csv (see :func:`write_tiny_manifest`); do not modify it."""
    return write_tiny_manifest(tmp_path_factory.mktemp("tiny_frames"))


@pytest.fixture(scope="session")
def tiny_run(tiny_manifest: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real run folder (config.yaml, Lightning checkpoints) trained in seconds on ``tiny_manifest``."""
    from dfrobust.config import load_config
    from dfrobust.training import train

    overrides = {
        "model.name": "resnet10t",
        "image_size": "32",
        "epochs": "2",
        "batch_size": "16",
        "workers": "0",
        "monitor_frames": "16",
        "monitor_steps": "2",
        "optimizer": "adamw",
        "lr": "0.003",
        "manifest": str(tiny_manifest),
    }
    run = tmp_path_factory.mktemp("runs") / "tiny"
    train(load_config(None, overrides), run)
    return run
