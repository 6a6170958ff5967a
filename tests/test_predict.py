"""Tests for dfrobust.predict and the ``dfrobust predict`` command."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dfrobust.cli import app
from dfrobust.data.ffpp import stable_seed
from dfrobust.data.frames import sample_frame_indices
from dfrobust.data.video import probe_video
from dfrobust.errors import DfrobustError
from dfrobust.predict import expand_paths, load_detector, predict_files
from testdata import MESONET_IMAGES, MESONET_WEIGHTS, write_test_video

runner = CliRunner()
MESO4 = ["--model", "meso4.df"]  # the pretrained tag: the weights shipped with dfrobust
MESO4_FILE = ["--model", "meso4", "--weights", str(MESONET_WEIGHTS / "Meso4_DF.h5")]
# Keras' own P(real) on these files (../shared/data/README.md); P(fake) = 1 - P(real).
KERAS_P_REAL = {
    "meso4.df": {"df00204.jpg": 0.041412, "real00240.jpg": 0.989748},
    "meso4.f2f": {"df00204.jpg": 0.831237, "real00240.jpg": 0.881023},
    "mesoinception4.df": {"df00204.jpg": 0.026218, "real00240.jpg": 1.000000},
    "mesoinception4.f2f": {"df00204.jpg": 0.998743, "real00240.jpg": 1.000000},
}


def _predict_json(*args: str) -> tuple[int, dict]:
    result = runner.invoke(app, ["predict", *args, "--json"])
    return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else {}


@pytest.mark.parametrize("tag", list(KERAS_P_REAL))
def test_pretrained_tags_score_the_mesonet_images_as_keras_does(tag: str) -> None:
    code, out = _predict_json(str(MESONET_IMAGES), "--model", tag, "--device", "cpu")
    assert code == 0
    assert out["model"] == tag and Path(out["weights"]).suffix == ".h5"
    scores = {Path(f["path"]).name: f["prob_fake"] for f in out["files"]}
    assert set(scores) == set(KERAS_P_REAL[tag])
    for name, p_real in KERAS_P_REAL[tag].items():
        assert scores[name] == pytest.approx(1 - p_real, abs=1e-4), name
    if tag == "meso4.df":
        verdicts = {Path(f["path"]).name: f["verdict"] for f in out["files"]}
        assert verdicts == {"df00204.jpg": "fake", "real00240.jpg": "real"}


def test_a_weights_file_scores_like_its_tag_and_faces_work_on_images() -> None:
    code, by_file = _predict_json(str(MESONET_IMAGES), *MESO4_FILE)
    assert code == 0 and by_file["weights"].endswith("Meso4_DF.h5")
    code, by_tag = _predict_json(str(MESONET_IMAGES), *MESO4, "--faces")  # aligned crops: face found
    assert code == 0
    for a, b in zip(by_file["files"], by_tag["files"]):
        assert b["faces_found"] == 1 and b["error"] is None and b["verdict"] == a["verdict"]
        assert b["prob_fake"] == pytest.approx(a["prob_fake"], abs=0.05)  # a re-crop of an aligned crop


def test_real_video_with_faces_and_a_pretrained_tag(ffpp_sample: Path) -> None:
    video = ffpp_sample / "original_sequences" / "youtube" / "c23" / "videos" / "634.mp4"
    code, out = _predict_json(str(video), *MESO4, "--faces", "--frames", "2")
    (result,) = out["files"]
    assert code == 0 and result["error"] is None and result["faces_found"] == 2
    assert result["verdict"] == "real"


def test_real_video_score_is_the_mean_of_the_frames_extraction_samples(ffpp_sample: Path) -> None:
    video = ffpp_sample / "original_sequences" / "youtube" / "c23" / "videos" / "634.mp4"
    code, out = _predict_json(str(video), *MESO4, "--frames", "3")
    (result,) = out["files"]
    assert code == 0 and result["kind"] == "video" and result["error"] is None
    frames = [f["prob_fake"] for f in result["frames"]]
    info = probe_video(video)  # the same frames as `dfrobust extract --frames 3 --seed 0` takes
    expected = sample_frame_indices(info.num_frames, 3, seed=stable_seed(0, "original", "634"))
    assert [f["index"] for f in result["frames"]] == expected
    assert 0 <= result["prob_fake"] <= 1
    assert result["prob_fake"] == pytest.approx(sum(frames) / 3)


def test_unreadable_files_are_reported_and_the_rest_go_on(tmp_path: Path) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    bad_video = tmp_path / "broken.mp4"
    bad_video.write_bytes(b"\x00" * 100)
    good = MESONET_IMAGES / "df" / "df00204.jpg"
    code, out = _predict_json(str(broken), str(good), str(bad_video), str(tmp_path / "missing.png"), *MESO4)
    assert code == 0
    errors = {Path(f["path"]).name: f["error"] for f in out["files"]}
    assert errors["df00204.jpg"] is None
    assert all(errors[name] for name in ("broken.jpg", "broken.mp4", "missing.png"))
    code, out = _predict_json(str(broken), *MESO4)
    assert code == 1 and out["files"][0]["verdict"] == "error"


def test_table_output_and_source_errors() -> None:
    result = runner.invoke(app, ["predict", str(MESONET_IMAGES / "real" / "real00240.jpg"), *MESO4])
    assert result.exit_code == 0 and "real00240.jpg" in result.stdout and "0.0103" in result.stdout
    result = runner.invoke(app, ["predict", "x.jpg", "--model", "meso4"])  # bare name: no weights
    assert result.exit_code == 1 and "--weights" in result.output and "meso4.df" in result.output
    result = runner.invoke(app, ["predict", "x.jpg", "--model", "meso4.dfdc"])
    assert result.exit_code == 1 and "meso4.dfdc needs --weights" in result.output
    with pytest.raises(DfrobustError, match="either a run"):
        load_detector()


def test_predict_with_a_run_and_face_crops(tiny_run: Path, tmp_path: Path) -> None:
    """A trained run scores a synthetic video; --faces centre-crops frames without a face."""
    video = write_test_video(tmp_path / "clip.mp4", frames=20, size=48)
    model, transform = load_detector(run=tiny_run, checkpoint="last")
    (plain,) = predict_files(model, transform, [video], frames=4)
    (cropped,) = predict_files(model, transform, [video], frames=4, faces=True)
    assert plain.error is None and len(plain.frames) == 4 and 0 <= plain.prob_fake <= 1
    assert [i for i, _ in plain.frames] == [i for i, _ in cropped.frames]  # same sampling
    assert plain.faces_found is None and cropped.faces_found == 0  # no face in a colour test card


def test_expand_paths_takes_media_files_of_folders(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    for name in ("a/x.PNG", "a/y.mp4", "a/notes.txt", "z.jpg"):
        (tmp_path / name).write_bytes(b"")
    shutil.copy(tmp_path / "z.jpg", tmp_path / "a" / "w.jpeg")
    found = expand_paths([tmp_path / "a", tmp_path / "z.jpg"])
    assert [p.name for p in found] == ["w.jpeg", "x.PNG", "y.mp4", "z.jpg"]
