"""``dfrobust attack-video``: writes a playable MP4 and its summary; ``dfrobust predict`` scores it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import dfrobust.adversarial_video
from dfrobust.cli import app
from dfrobust.data.faces import Face
from dfrobust.data.video import probe_video
from testdata import write_test_video

runner = CliRunner()
FAST = ["--model", "meso4.df", "--steps", "2", "--preset", "ultrafast", "--device", "cpu"]


class FixedFace:
    def detect(self, frames):
        return [Face((16.0, 16.0, 48.0, 48.0), 0.999) for _ in frames]


@pytest.fixture
def fixed_face(monkeypatch: pytest.MonkeyPatch) -> None:
    """MTCNN finds no face in a test pattern and is slow: a detector with a fixed face instead."""
    monkeypatch.setattr(dfrobust.adversarial_video, "create_detector", lambda name: FixedFace())


def test_attack_video_then_predict(tmp_path: Path, fixed_face: None) -> None:
    source = write_test_video(tmp_path / "in.mp4", frames=6, size=64)
    out = tmp_path / "adv.mp4"
    result = runner.invoke(
        app, ["attack-video", str(source), "--out", str(out), *FAST, "--eot", "2", "--max-frames", "4", "--json"]
    )
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    saved = json.loads((tmp_path / "adv.json").read_text())
    assert printed["frames"] == saved["frames"] == 4 and saved["options"] == {"steps": 2, "eot": 2}
    assert saved["model"] == "meso4.df" and len(saved["boxes"]) == 4
    assert probe_video(out).num_frames == 4
    scored = runner.invoke(app, ["predict", str(out), "--model", "meso4.df", "--frames", "2", "--json"])
    assert scored.exit_code == 0, scored.output
    assert 0 <= json.loads(scored.stdout)["files"][0]["prob_fake"] <= 1


def test_table_output(tmp_path: Path, fixed_face: None) -> None:
    source = write_test_video(tmp_path / "in.mp4", frames=4, size=64)
    result = runner.invoke(app, ["attack-video", str(source), "--out", str(tmp_path / "a.mp4"), *FAST])
    assert result.exit_code == 0, result.output
    assert "written (CRF 23)" in result.stdout and "face SSIM" in result.stdout


def test_clear_errors_and_no_partial_output(tmp_path: Path, fixed_face: None) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 100)
    result = runner.invoke(app, ["attack-video", str(broken), "--out", str(tmp_path / "o.mp4"), *FAST])
    assert result.exit_code == 1 and "cannot read the video" in result.output
    source = write_test_video(tmp_path / "in.mp4", frames=4, size=64)
    result = runner.invoke(
        app, ["attack-video", str(source), "--out", str(tmp_path / "o.mp4"), *FAST, "--attack", "square", "--eot", "2"]
    )
    assert result.exit_code == 1 and "does not take" in result.output
    result = runner.invoke(app, ["attack-video", str(source), "--out", str(tmp_path / "o.gif"), *FAST])
    assert result.exit_code == 1 and ".mp4" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.mp4", "in.mp4"]


def test_real_fake_clip_plays_and_predict_scores_it(tmp_path: Path, ffpp_sample: Path) -> None:
    """Done when: a real FF++ fake becomes an adversarial MP4 that predict scores (MTCNN, 3 frames)."""
    clip = min(ffpp_sample.glob("manipulated_sequences/*/c23/videos/*.mp4"), key=lambda p: p.stat().st_size)
    out = tmp_path / "adv.mp4"
    result = runner.invoke(app, ["attack-video", str(clip), "--out", str(out), *FAST, "--max-frames", "3"])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "adv.json").read_text())
    assert summary["faces_found"] == 3 and summary["prob_fake_adversarial"] < summary["prob_fake_clean"]
    scored = runner.invoke(app, ["predict", str(out), "--model", "meso4.df", "--faces", "--frames", "3", "--json"])
    assert scored.exit_code == 0, scored.output
    assert json.loads(scored.stdout)["files"][0]["faces_found"] == 3
