"""Synthetic manipulations: local traces inside a blending mask, per method, seeded."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest

from dfrobust.synth.fakes import METHODS, fake_video
from dfrobust.synth.writer import INFO_FILE, SynthOptions, make_person, render_video, synthesize

OPTS = SynthOptions(pairs=3, frames=3, size=64)


def decode(path: Path) -> np.ndarray:
    """All frames of a video: (F, H, W, 3) uint8."""
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def read_info(root: Path) -> dict:
    return json.loads((root / INFO_FILE).read_text())


@pytest.fixture(scope="module")
def medium(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 pairs, 8 frames, 96 px, every method: enough people to fit the fairness checks."""
    root = tmp_path_factory.mktemp("synth") / "medium"
    synthesize(root, pairs=24, frames=8, size=96, seed=3, methods=tuple(METHODS), workers=2)
    return root


@pytest.fixture(scope="module")
def medium_c40(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same data set as ``medium``, at FF++'s stronger compression (CRF 40)."""
    root = tmp_path_factory.mktemp("synth") / "medium-c40"
    synthesize(root, pairs=24, frames=8, size=96, seed=3, methods=tuple(METHODS), compression="c40", workers=2)
    return root


def _fakes(method: str, target: str = "000", source: str = "001", seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(fake, mask)`` per frame of the fake ``target_source``, drawn before encoding."""
    t, s = make_person(target, OPTS), make_person(source, OPTS)
    frames = render_video(target, t, OPTS)
    rng = np.random.default_rng(seed)
    return list(fake_video(METHODS[method], t.identity, s.identity, t.pose, s.pose, frames, t.background, rng))


@pytest.mark.parametrize("method", list(METHODS))
def test_fake_frames_equal_the_target_outside_the_mask_before_encoding(method: str) -> None:
    target, source = make_person("000", OPTS), make_person("001", OPTS)
    frames = render_video("000", target, OPTS)
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


def test_the_four_ffpp_methods() -> None:
    assert list(METHODS) == ["Deepfakes", "FaceSwap", "Face2Face", "NeuralTextures"]
    assert all(name == method.name for name, method in METHODS.items())


@pytest.mark.parametrize("method", list(METHODS))
def test_fakes_are_float_frames_with_a_mask_in_unit_range(method: str) -> None:
    fakes = _fakes(method)
    assert len(fakes) == OPTS.frames
    for fake, mask in fakes:
        assert fake.dtype == np.float32 and fake.min() >= 0 and fake.max() <= 1
        assert mask.dtype == np.float32 and mask.min() >= 0 and mask.max() <= 1


@pytest.mark.parametrize("method", list(METHODS))
def test_the_generator_alone_decides_a_fakes_random_traces(method: str) -> None:
    first, again, other = _fakes(method, seed=4), _fakes(method, seed=4), _fakes(method, seed=5)
    for (a, mask_a), (b, mask_b) in zip(first, again):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(mask_a, mask_b)
    assert any(not np.array_equal(a, c) for (a, _), (c, _) in zip(first, other))  # tint (and warp) differ


def test_swaps_paste_the_sources_looks_reenactments_keep_the_targets() -> None:
    target = make_person("000", OPTS)
    frames = render_video("000", target, OPTS)
    source_pose = make_person("001", OPTS).pose  # one expression, two different faces
    faces = [make_person(v, OPTS).identity for v in ("001", "002")]
    for method in METHODS.values():
        fakes = [
            list(
                fake_video(
                    method,
                    target.identity,
                    face,
                    target.pose,
                    source_pose,
                    frames,
                    target.background,
                    rng=np.random.default_rng(0),
                )
            )
            for face in faces
        ]
        same = all(np.array_equal(a, b) for (a, _), (b, _) in zip(*fakes))
        assert same != method.swap_identity, method.name


def test_neural_textures_changes_only_the_mouth_region() -> None:
    target = make_person("000", OPTS)
    (_, inner), (_, mouth) = _fakes("Deepfakes")[0], _fakes("NeuralTextures")[0]
    assert 0 < (mouth > 0.5).sum() < 0.5 * (inner > 0.5).sum()
    rows = np.nonzero(mouth > 0.5)[0]
    assert rows.mean() > target.pose.cy[0]  # below the face centre
    assert (inner[mouth > 0.5] > 0).all()  # inside the region a face swap replaces


def _frame_features(root: Path, method: str, frames: int = 4):
    """Per sampled frame of the originals and ``method``'s fakes: whole-frame colour histogram +
    file size, the face crop, label, split, pair."""
    info = {rel: v for rel, v in read_info(root)["videos"].items() if v["method"] in ("original", method)}
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


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("compression", ["c23", "c40"])
def test_global_statistics_do_not_give_fakes_away(
    request: pytest.FixtureRequest, compression: str, method: str
) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rows = _frame_features(request.getfixturevalue("medium" if compression == "c23" else "medium_c40"), method)
    x = np.stack([r[0] for r in rows])
    y = np.array([r[2] for r in rows])
    groups = np.array([r[4] for r in rows])
    held_out = np.array([r[3] == "test" for r in rows])
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    # held-out pairs: the test split, and 4-fold cross-validation by pair (more samples)
    assert model.fit(x[~held_out], y[~held_out]).score(x[held_out], y[held_out]) < 0.7
    assert cross_val_score(model, x, y, groups=groups, cv=GroupKFold(4)).mean() < 0.7


@pytest.mark.slow
@pytest.mark.parametrize("method", list(METHODS))
def test_small_cnn_learns_the_face_traces(medium: Path, method: str) -> None:
    import torch
    import torch.nn.functional as F
    from torch import nn

    rows = _frame_features(medium, method, frames=8)
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
