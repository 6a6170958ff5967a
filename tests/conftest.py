"""Shared test fixtures: where the real third-party test data lives."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FFPP_SAMPLE = SHARED_DATA / "ffpp_sample"
FFPP_SPLITS = SHARED_DATA / "ffpp_splits"
MESONET = SHARED_DATA / "mesonet"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The ../shared/data folder beside the project (also there in CI)."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"test data folder {SHARED_DATA} is missing (it lies beside the project root)")
    return SHARED_DATA
