"""Shared test fixtures: the real FF++ clips (never shipped) and small trained runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from testdata import REQUIRE_ENV, external_data_required, find_ffpp_sample, write_tiny_manifest


@pytest.fixture(scope="session")
def ffpp_sample() -> Path:
    """The real FF++ c23 sample clips (``ffpp_sample/``, FaceForensics++ layout).

    Looked for in ``$DFROBUST_TEST_DATA``, else ``../shared/data``. Absent: the test is
    skipped with the reason, or fails where the data is required (CI=true or
    DFROBUST_REQUIRE_TEST_DATA=1).
    """
    sample, reason = find_ffpp_sample()
    if sample is None:
        if external_data_required():
            pytest.fail(f"{reason} (required here: CI=true or {REQUIRE_ENV}=1)", pytrace=False)
        pytest.skip(reason)
    return sample


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
