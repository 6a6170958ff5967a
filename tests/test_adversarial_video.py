"""Adversarial videos: a playable copy with the input's frames, size, rate and audio; the
perturbation only inside the face box; the original untouched; nothing partial left behind."""

from __future__ import annotations

import hashlib
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from dfrobust.adversarial_video import attack_video, crops, frame_count, put_back
from dfrobust.data.faces import Face
from dfrobust.errors import DfrobustError
from testdata import write_test_video
from tinymodels import TinyCNN

BOX = (20, 16, 51, 47)  # the square box of the fixed "face" below (x1.3 of 24 px)


class FixedFace:
    """A face detector that always finds the same face (MTCNN is slow and finds none in test patterns)."""

    def detect(self, frames):
        return [Face((24.0, 20.0, 48.0, 44.0), 0.999) for _ in frames]


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def detector_model() -> TinyCNN:
    torch.manual_seed(0)
    model = TinyCNN().eval()
    model.data_config = {"input_size": (3, 32, 32)}
    return model


def _textured_video(path: Path, frames: int = 12, size: int = 128, audio: bool = False, rate: int = 30) -> Path:
    """A smoothly textured H.264 video drifting sideways (like a camera pan), optionally with AAC audio."""
    from PIL import Image

    rng = np.random.default_rng(0)
    coarse = rng.integers(40, 215, (size // 8, size // 8, 3)).astype(np.uint8)
    base = np.asarray(Image.fromarray(coarse).resize((size, size), Image.Resampling.BICUBIC)).astype(np.int16)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=rate, options={"crf": "18"})
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        sound = container.add_stream("aac", rate=16000) if audio else None
        for i in range(frames):
            rgb = np.clip(np.roll(base, i, axis=1) + rng.integers(-1, 2, base.shape), 0, 255).astype(np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode())
        if sound is not None:
            samples = frames * 16000 // rate
            wave = (0.2 * np.sin(np.arange(samples) * 2 * np.pi * 440 / 16000)).astype(np.float32)[None]
            for start in range(0, samples, 1024):
                chunk = av.AudioFrame.from_ndarray(wave[:, start : start + 1024], format="fltp", layout="mono")
                chunk.sample_rate, chunk.pts = 16000, start
                container.mux(sound.encode(chunk))
            container.mux(sound.encode())
    return path


def _decode(path: Path) -> tuple[list[np.ndarray], av.VideoStream, int]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
        return frames, (stream.width, stream.height, stream.average_rate), len(container.streams.audio)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_written_video_keeps_frames_size_rate_and_audio(tmp_path: Path, detector_model: TinyCNN) -> None:
    source = _textured_video(tmp_path / "in.mp4", audio=True)
    before = _digest(source)
    summary = attack_video(
        detector_model, source, tmp_path / "adv.mp4", eps=8 / 255, options={"steps": 2}, detector=FixedFace()
    )
    frames, (w, h, rate), audio_streams = _decode(tmp_path / "adv.mp4")
    original, (w0, h0, rate0), _ = _decode(source)
    assert len(frames) == len(original) == summary.frames == 12 and (w, h) == (w0, h0) == (128, 128)
    assert rate == rate0 == 30 and summary.fps == 30
    assert audio_streams == 1 and summary.audio
    assert _digest(source) == before  # the original is never modified
    assert summary.faces_found == 12 and summary.boxes == [BOX] * 12
    assert 0 <= summary.prob_fake_written <= 1 and summary.psnr_face_written < summary.psnr_written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adv.mp4", "in.mp4"]  # no temporary file left


def test_perturbation_stays_in_the_face_box(tmp_path: Path, detector_model: TinyCNN) -> None:
    """Lossless (CRF 0): outside the box the frames are those of a plain re-encode. CRF 23: the
    error outside the box is the codec's (its rate control shifts with the box's content)."""
    source = _textured_video(tmp_path / "in.mp4")
    inside = np.zeros((128, 128), bool)
    x1, y1, x2, y2 = BOX
    inside[y1:y2, x1:x2] = True
    near = np.zeros_like(inside)  # 4:2:0 chroma mixes pixel pairs across the box's edge
    near[y1 - 2 : y2 + 2, x1 - 2 : x2 + 2] = True
    change = {}
    for crf in (0, 23):
        videos = {}
        for name, attack, eps in (("adv", "pgd", 8 / 255), ("same", "clean", 0)):
            out = tmp_path / f"{name}{crf}.mp4"
            attack_video(detector_model, source, out, attack=attack, eps=eps, crf=crf, detector=FixedFace())
            videos[name] = np.stack(_decode(out)[0]).astype(np.float32)
        change[crf] = (np.abs(videos["adv"] - videos["same"]), np.abs(videos["same"] - _original(source)))
    attack_change, _ = change[0]
    assert attack_change[:, ~near].max() == 0 and attack_change[:, inside].mean() > 1
    attack_change, codec_error = change[23]
    assert attack_change[:, ~near].mean() < codec_error[:, ~near].mean()


def _original(path: Path) -> np.ndarray:
    return np.stack(_decode(path)[0]).astype(np.float32)


def test_put_back_changes_only_the_box_within_eps() -> None:
    rgb = np.full((40, 60, 3), 128, np.uint8)
    delta = torch.full((3, 8, 8), 4 / 255)
    out = put_back(rgb, (10, 5, 30, 25), delta)
    changed = np.any(out != rgb, axis=2)
    assert changed[5:25, 10:30].all() and changed.sum() == 400
    assert np.abs(out.astype(int) - rgb).max() == 4
    x = crops([out], [(10, 5, 30, 25)], (8, 8))
    assert x.shape == (1, 3, 8, 8) and torch.allclose(x, torch.full_like(x, 132 / 255))


def test_refuses_unreadable_input_and_overwriting_the_original(tmp_path: Path, detector_model: TinyCNN) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all")
    with pytest.raises(DfrobustError, match="cannot read the video"):
        attack_video(detector_model, broken, tmp_path / "out.mp4", detector=FixedFace())
    with pytest.raises(DfrobustError, match="cannot read the video"):
        frame_count(broken)
    with pytest.raises(DfrobustError, match="does not exist"):
        attack_video(detector_model, tmp_path / "missing.mp4", tmp_path / "out.mp4", detector=FixedFace())
    source = write_test_video(tmp_path / "in.mp4", frames=4)
    with pytest.raises(DfrobustError, match="never modified"):
        attack_video(detector_model, source, source, detector=FixedFace())
    with pytest.raises(DfrobustError, match="does not take n_queries"):
        attack_video(detector_model, source, tmp_path / "out.mp4", options={"n_queries": 5}, detector=FixedFace())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.mp4", "in.mp4"]


def test_max_frames_eot_and_seed_make_the_same_video(tmp_path: Path, detector_model: TinyCNN) -> None:
    source = write_test_video(tmp_path / "in.mp4", frames=10)
    options = {"steps": 2, "eot": 2}
    runs = [
        attack_video(
            detector_model,
            source,
            tmp_path / f"{k}.mp4",
            options=options,
            max_frames=6,
            batch_size=4,
            detector=FixedFace(),
        )
        for k in range(2)
    ]
    assert frame_count(tmp_path / "0.mp4") == 6 and runs[0].frames == 6
    assert runs[0].prob_fake_adversarial == runs[1].prob_fake_adversarial
    assert runs[0].options == {"steps": 2, "eot": 2}


def test_real_ffpp_clip_with_mtcnn(tmp_path: Path, ffpp_sample: Path) -> None:
    from dfrobust.predict import load_detector

    clips = sorted((ffpp_sample / "manipulated_sequences").glob("*/c23/videos/*.mp4"), key=lambda p: p.stat().st_size)
    model, _ = load_detector(model="meso4.df")
    summary = attack_video(
        model, clips[0], tmp_path / "adv.mp4", options={"steps": 3}, max_frames=3, preset="ultrafast"
    )
    assert summary.frames == 3 and summary.faces_found == 3
    assert summary.prob_fake_adversarial < summary.prob_fake_clean
    assert summary.psnr_face_adversarial > 40  # 4/255 is about 48 dB at most, above the codec's loss
