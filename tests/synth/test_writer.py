"""The synthetic demo data set: layout, determinism, locality of the traces, fairness, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
from typer.testing import CliRunner

from dfrobust.cli import app
from dfrobust.errors import DfrobustError
from dfrobust.synth.fakes import METHODS, fake_video
from dfrobust.synth.writer import (
    INFO_FILE,
    SynthOptions,
    make_person,
    render_video,
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


@pytest.fixture(scope="module")
def medium(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 pairs, 8 frames, 96 px, Deepfakes: enough people to fit the fairness checks."""
    root = tmp_path_factory.mktemp("synth") / "medium"
    synthesize(root, pairs=24, frames=8, size=96, seed=3, workers=2)
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
    ffpp = pytest.importorskip("dfrobust.data.ffpp")
    found = ffpp.index_videos(tiny)
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


@pytest.mark.parametrize("method", list(METHODS))
def test_fake_frames_equal_the_target_outside_the_mask_before_encoding(method: str) -> None:
    opts = SynthOptions(pairs=3, frames=3, size=64)
    target, source = make_person("000", opts), make_person("001", opts)
    frames = render_video("000", target, opts)
    rng = np.random.default_rng(0)
    fakes = list(
        fake_video(
            METHODS[method], target.identity, source.identity, target.pose, source.pose, frames, target.background, rng
        )
    )
    for original, (fake, mask) in zip(frames, fakes):
        assert fake.shape == original.shape and mask.shape == original.shape[:2]
        np.testing.assert_array_equal(fake[mask == 0], original[mask == 0])
        assert (mask == 1).sum() > 30 and np.abs(fake - original)[mask == 1].mean() > 0.02


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


def _frame_features(root: Path, frames: int = 4):
    """Per sampled frame: whole-frame colour histogram + file size, the face crop, label, split."""
    info = read_info(root)["videos"]
    pair_of = {
        v: f"{s}{i}"
        for s in ("train", "val", "test")
        for i, pair in enumerate(json.loads((root / "splits" / f"{s}.json").read_text()))
        for v in pair
    }
    rows = []
    for rel, video in info.items():
        pixels = decode(root / rel)
        for k in np.linspace(0, len(pixels) - 1, frames).astype(int):
            img = pixels[k]
            hist = np.concatenate([np.histogram(img[..., c], 16, (0, 256))[0] for c in range(3)])
            x1, y1, x2, y2 = (float(t) for t in video["face_boxes"][k].split())
            cx, cy, r = (x1 + x2) / 2, (y1 + y2) / 2, max(x2 - x1, y2 - y1) * 0.65
            crop = np.pad(img, ((32, 32), (32, 32), (0, 0)))[
                int(cy - r) + 32 : int(cy + r) + 32, int(cx - r) + 32 : int(cx + r) + 32
            ]
            rows.append(
                (
                    np.append(hist / img[..., 0].size, (root / rel).stat().st_size / 1e4),
                    crop,
                    video["label"],
                    video["split"],
                    pair_of[rel.split("/")[-1][:3]],
                )
            )
    return rows


def test_global_statistics_do_not_give_fakes_away(medium: Path) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rows = _frame_features(medium)
    x = np.stack([r[0] for r in rows])
    y = np.array([r[2] for r in rows])
    groups = np.array([r[4] for r in rows])
    held_out = np.array([r[3] == "test" for r in rows])
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    # held-out pairs: the test split, and 4-fold cross-validation by pair (more samples)
    assert model.fit(x[~held_out], y[~held_out]).score(x[held_out], y[held_out]) < 0.7
    assert cross_val_score(model, x, y, groups=groups, cv=GroupKFold(4)).mean() < 0.7


@pytest.mark.slow
def test_small_cnn_learns_the_face_traces(medium: Path) -> None:
    import torch
    import torch.nn.functional as F
    from torch import nn

    rows = _frame_features(medium, frames=8)
    x = torch.cat(
        [
            F.interpolate(
                torch.from_numpy(r[1]).permute(2, 0, 1)[None].float() / 255,
                size=(48, 48),
                mode="bilinear",
                align_corners=False,
            )
            for r in rows
        ]
    )
    x, y = (x - 0.5) / 0.25, torch.tensor([float(r[2]) for r in rows])
    train = torch.tensor([r[3] == "train" for r in rows])
    torch.manual_seed(0)
    net = nn.Sequential(
        *(
            layer
            for c_in, c_out in ((3, 16), (16, 32), (32, 32))
            for layer in (nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(2))
        ),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(32, 1),
    )
    x_train, y_train = x[train], y[train]
    epochs, threads = 12, torch.get_num_threads()
    opt = torch.optim.Adam(net.parameters())
    steps = epochs * -(-len(x_train) // 16)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, 3e-3, total_steps=steps)
    torch.set_num_threads(1)  # a net this small only loses time to thread hand-offs
    try:
        for _ in range(epochs):
            for idx in torch.randperm(len(x_train)).split(16):
                flip = torch.rand(len(idx), 1, 1, 1) < 0.5
                xb = torch.where(flip, x_train[idx].flip(3), x_train[idx])
                loss = F.binary_cross_entropy_with_logits(net(xb).squeeze(1), y_train[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                schedule.step()
        net.eval()
        with torch.no_grad():
            predicted = (net(x[~train]).squeeze(1) > 0).float()
    finally:
        torch.set_num_threads(threads)
    assert (predicted == y[~train]).float().mean().item() >= 0.9  # held-out people (val + test)


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
