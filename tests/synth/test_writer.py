"""synthesize(): the FF++ layout and splits, determinism, the written fakes and masks, resuming, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
from typer.testing import CliRunner

from dfrobust.cli import app
from dfrobust.data.ffpp import index_videos
from dfrobust.errors import DfrobustError
from dfrobust.synth.fakes import METHODS
from dfrobust.synth.writer import (
    INFO_FILE,
    SynthOptions,
    split_pairs,
    synthesize,
    video_paths,
)


def decode(path: Path) -> np.ndarray:
    """All frames of a video: (F, H, W, 3) uint8."""
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def read_info(root: Path) -> dict:
    return json.loads((root / INFO_FILE).read_text())


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 pairs, 12 frames, 64 px, every method."""
    root = tmp_path_factory.mktemp("synth") / "tiny"
    synthesize(root, pairs=4, frames=12, size=64, methods=tuple(METHODS), workers=2)
    return root


def test_writes_the_ffpp_layout_with_official_style_splits(tiny: Path) -> None:
    splits = {s: json.loads((tiny / "splits" / f"{s}.json").read_text()) for s in ("train", "val", "test")}
    assert [len(p) for p in splits.values()] == [2, 1, 1]
    ids = [v for pairs in splits.values() for pair in pairs for v in pair]
    assert sorted(ids) == [f"{i:03d}" for i in range(8)]  # disjoint, 2P identities
    info = read_info(tiny)["videos"]
    for split, pairs in splits.items():
        for a, b in pairs:
            for v in (a, b):
                assert (tiny / video_paths("original", v)[0]).stat().st_size > 0
                assert info[video_paths("original", v)[0]]["split"] == split
            for method in METHODS:
                for t, s in ((a, b), (b, a)):
                    video, mask = video_paths(method, t, s)
                    assert (tiny / video).exists() and (tiny / mask).exists()
                    assert info[video]["split"] == split and info[video]["label"] == 1
    assert decode(tiny / video_paths("original", "000")[0]).shape == (12, 64, 64, 3)


def test_ffpp_index_reads_it_with_no_special_case(tiny: Path) -> None:
    found = index_videos(tiny)
    assert not found.missing
    assert len(found.records) == 8 + 8 * len(METHODS)
    assert {r.split for r in found.records} == {"train", "val", "test"}
    fakes = [r for r in found.records if r.label == 1]
    assert all(r.mask is not None and r.mask.exists() for r in fakes)


def test_split_proportions_match_ffpp() -> None:
    sizes = {s: len(p) for s, p in split_pairs(500, seed=0).items()}
    assert sizes == {"train": 360, "val": 70, "test": 70}
    assert split_pairs(40, 1) == split_pairs(40, 1) != split_pairs(40, 2)


def test_same_seed_same_pixels_other_seed_differs(tmp_path: Path) -> None:
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        synthesize(tmp_path / name, pairs=3, frames=4, size=64, seed=seed, workers=1)
    original = video_paths("original", "002")[0]
    fake = next(p for p in read_info(tmp_path / "a")["videos"] if "Deepfakes" in p)
    for rel in (original, fake):
        np.testing.assert_array_equal(decode(tmp_path / "a" / rel), decode(tmp_path / "b" / rel))
    other = decode(tmp_path / "c" / original).astype(int)
    assert np.abs(other - decode(tmp_path / "a" / original)).mean() > 10
    assert read_info(tmp_path / "a") == read_info(tmp_path / "b") != read_info(tmp_path / "c")


@pytest.mark.parametrize("method", list(METHODS))
def test_fake_keeps_target_background_and_pose(tiny: Path, method: str) -> None:
    a, b = json.loads((tiny / "splits" / "train.json").read_text())[0]
    video, mask_path = video_paths(method, a, b)
    info = read_info(tiny)["videos"]
    assert info[video]["face_boxes"] == info[video_paths("original", a)[0]]["face_boxes"]
    original = decode(tiny / video_paths("original", a)[0]).astype(np.float32)
    fake = decode(tiny / video).astype(np.float32)
    mask = decode(tiny / mask_path)[..., 0] > 8
    # grow the mask by 3 px: H.264 blocks smear a little of the change around it
    grown = np.zeros_like(mask)
    for dy in range(-3, 4):
        for dx in range(-3, 4):
            grown |= np.roll(mask, (dy, dx), axis=(1, 2))
    diff = np.abs(fake - original).mean(axis=3)
    assert diff[~grown].mean() < 4.0  # outside: re-encoding noise only (of 255)
    assert diff[mask].mean() > 2 * diff[~grown].mean() + 2  # inside: the manipulation


def test_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(DfrobustError, match="pairs"):
        synthesize(tmp_path / "x", pairs=2)
    with pytest.raises(DfrobustError, match="multiple of 16"):
        synthesize(tmp_path / "x", size=100)
    with pytest.raises(DfrobustError, match="Deepfakes, FaceSwap"):
        synthesize(tmp_path / "x", methods=["DeepFake"])
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(DfrobustError, match="not empty"):
        synthesize(tmp_path / "busy", pairs=3)


def test_resumes_only_the_same_data_set(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    first = synthesize(root, pairs=3, frames=3, size=64, workers=1)
    assert first.written == 12 and first.originals == 6 and first.fakes == 6
    lost = root / video_paths("original", "004")[0]
    lost.unlink()
    assert synthesize(root, pairs=3, frames=3, size=64, workers=1).written == 1
    assert lost.exists()
    with pytest.raises(DfrobustError, match="other options"):
        synthesize(root, pairs=3, frames=3, size=64, seed=5)


def test_cli_writes_a_tiny_set_and_reports_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "cli"
    args = ["synth", "--out", str(out), "--pairs", "3", "--frames", "3", "--size", "64"]
    result = runner.invoke(app, [*args, "--methods", "Deepfakes,NeuralTextures", "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "pairs in test" in result.output
    assert len(list((out / "manipulated_sequences" / "NeuralTextures" / "c23" / "videos").iterdir())) == 6
    bad = runner.invoke(app, [*args, "--methods", "Deepfake"])
    assert bad.exit_code == 1
    assert "choose from Deepfakes" in bad.output


def test_c40_writes_the_same_data_set_under_c40_at_a_higher_crf(tmp_path: Path) -> None:
    from dfrobust.data.layouts import index_root
    from dfrobust.synth.writer import make_person, render_video

    args = ["synth", "--pairs", "3", "--frames", "4", "--size", "64", "--workers", "1"]
    runner = CliRunner()
    for compression in ("c23", "c40"):
        result = runner.invoke(app, [*args, "--out", str(tmp_path / compression), "--compression", compression])
        assert result.exit_code == 0, result.output
    assert "--compression c40" in " ".join(result.output.split())  # the index hint
    c23, c40 = tmp_path / "c23", tmp_path / "c40"
    assert read_info(c40)["options"]["crf"] == 40 and read_info(c23)["options"]["crf"] == 23
    found = index_root(c40, compression="c40")
    assert len(found.records) == 12 and {r.compression for r in found.records} == {"c40"} and not found.missing
    original = video_paths("original", "000", compression="c40")[0]
    assert (c40 / original).stat().st_size < (c23 / video_paths("original", "000")[0]).stat().st_size
    opts = SynthOptions(pairs=3, frames=4, size=64)
    rendered = np.clip(np.stack(render_video("000", make_person("000", opts), opts)), 0, 1)
    loss = {
        c: np.abs(decode(root / video_paths("original", "000", compression=c)[0]) / 255 - rendered).mean()
        for c, root in (("c23", c23), ("c40", c40))
    }
    assert loss["c40"] > 1.2 * loss["c23"]
    video, fake = next((path, v) for path, v in read_info(c40)["videos"].items() if v["label"] == 1)
    assert "/c40/videos/" in video and (c40 / video).exists()
    np.testing.assert_array_equal(decode(c40 / fake["mask"]), decode(c23 / fake["mask"]))  # one set of masks


def test_compression_and_version_are_checked(tmp_path: Path) -> None:
    with pytest.raises(DfrobustError, match="Expected --compression one of c23, c40, but got 'c50'"):
        synthesize(tmp_path / "x", pairs=3, compression="c50")
    root = tmp_path / "old"
    synthesize(root, pairs=3, frames=2, size=64, workers=1)
    info = read_info(root)
    (root / INFO_FILE).write_text(json.dumps({**info, "version": info["version"] - 1}))
    with pytest.raises(DfrobustError, match="drawn by another dfrobust version"):
        synthesize(root, pairs=3, frames=2, size=64, workers=1)
