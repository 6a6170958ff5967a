"""The real-clip tests: found in $DFROBUST_TEST_DATA or ../shared/data, else skipped (or failed in CI)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from testdata import PROJECT_ROOT, SHARED_DATA, external_data_required, find_ffpp_sample

REAL_CLIP_TEST = "tests/data/test_video.py::test_real_video_frames_match_sequential_decode_across_the_keyframe"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("DFROBUST_TEST_DATA", "DFROBUST_REQUIRE_TEST_DATA", "CI"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_the_environment_variable_wins_over_shared_data(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env.setenv("DFROBUST_TEST_DATA", str(tmp_path))
    sample, reason = find_ffpp_sample()
    assert sample is None
    assert str(tmp_path / "ffpp_sample") in reason and "DFROBUST_TEST_DATA" in reason
    assert str(SHARED_DATA) not in reason
    (tmp_path / "ffpp_sample" / "original_sequences").mkdir(parents=True)
    assert find_ffpp_sample() == (tmp_path / "ffpp_sample", "")


def test_without_the_variable_shared_data_is_looked_in(clean_env: pytest.MonkeyPatch) -> None:
    sample, reason = find_ffpp_sample()
    if sample is None:
        assert str(SHARED_DATA / "ffpp_sample") in reason
    else:
        assert sample == SHARED_DATA / "ffpp_sample"


@pytest.mark.parametrize(
    ("env", "required"),
    [
        ({}, False),
        ({"CI": "true"}, True),
        ({"DFROBUST_REQUIRE_TEST_DATA": "1"}, True),
        ({"CI": "true", "DFROBUST_REQUIRE_TEST_DATA": "0"}, False),  # an explicit 0 wins over CI
        ({"CI": ""}, False),
    ],
)
def test_when_the_data_is_required(clean_env: pytest.MonkeyPatch, env: dict[str, str], required: bool) -> None:
    for name, value in env.items():
        clean_env.setenv(name, value)
    assert external_data_required() is required


@pytest.mark.parametrize(
    ("env", "outcome"),
    [({}, "1 skipped"), ({"CI": "true"}, "1 error")],  # error: the fixture fails, so the run does
)
def test_a_real_clip_test_without_the_clips_is_skipped_or_fails(
    tmp_path: Path, env: dict[str, str], outcome: str
) -> None:
    base = {k: v for k, v in os.environ.items() if k not in ("CI", "DFROBUST_REQUIRE_TEST_DATA")}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rsE", "-p", "no:cacheprovider", REAL_CLIP_TEST],
        cwd=PROJECT_ROOT,
        env={**base, "DFROBUST_TEST_DATA": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert outcome in proc.stdout, proc.stdout + proc.stderr
    reason = f"real FF++ clips not found in {tmp_path / 'ffpp_sample'}; set DFROBUST_TEST_DATA"
    assert reason in proc.stdout
    assert ("required here" in proc.stdout) == (outcome == "1 error")
    assert proc.returncode == (0 if outcome == "1 skipped" else 1)
