"""Exact frame reading: the frames read are those a plain sequential decode yields."""

from __future__ import annotations

import hashlib

import av
import numpy as np
import pytest

from dfrobust.data.video import probe_video, read_frames
from dfrobust.errors import DfrobustError
from testdata import write_test_video


def sequential_frames(path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


@pytest.fixture(scope="module")
def short_gop_video(tmp_path_factory):
    return write_test_video(tmp_path_factory.mktemp("video") / "gop10.mp4", frames=50, gop=10)


def test_probe_counts_frames_and_keyframes(short_gop_video):
    info = probe_video(short_gop_video)
    assert info.num_frames == len(sequential_frames(short_gop_video)) == 50
    assert (info.width, info.height) == (64, 64)
    assert info.keyframes[0] == 0 and len(info.keyframes) >= 5  # a keyframe at least every 10
    assert list(info.pts) == sorted(info.pts)


@pytest.mark.parametrize(
    "indices",
    [[0, 1, 2], [49], [9, 10, 11], [3, 25, 26, 27, 48], [5, 5, 40, 12]],  # in and across GOPs
)
def test_read_frames_are_exactly_the_requested_ones(short_gop_video, indices):
    reference = sequential_frames(short_gop_video)
    got = list(read_frames(short_gop_video, indices))
    assert [i for i, _ in got] == sorted(set(indices))
    for i, rgb in got:
        assert rgb.shape == (64, 64, 3) and rgb.dtype == np.uint8
        assert np.array_equal(rgb, reference[i]), f"frame {i} differs from the sequential decode"


def test_read_frames_with_and_without_threads_agree(short_gop_video):
    a = dict(read_frames(short_gop_video, [7, 33], threads=True))
    b = dict(read_frames(short_gop_video, [7, 33], threads=False))
    assert all(np.array_equal(a[i], b[i]) for i in a)


def test_real_video_frames_match_sequential_decode_across_the_keyframe(ffpp_sample):
    """FF++ 004.mp4: keyframes at 0 and 250; frames on both sides, bit for bit."""
    real_video = ffpp_sample / "original_sequences/youtube/c23/videos/004.mp4"
    info = probe_video(real_video)
    assert info.num_frames == 309 and info.keyframes == (0, 250)
    wanted = [3, 249, 250, 251, 308]
    got = {i: hashlib.sha1(rgb.tobytes()).hexdigest() for i, rgb in read_frames(real_video, wanted, info=info)}
    with av.open(str(real_video)) as container:
        expected = {}
        for i, frame in enumerate(container.decode(video=0)):
            if i in wanted:
                expected[i] = hashlib.sha1(frame.to_ndarray(format="rgb24").tobytes()).hexdigest()
    assert got == expected


def test_out_of_range_index_is_refused(short_gop_video):
    with pytest.raises(ValueError, match=r"\[0, 50\)"):
        list(read_frames(short_gop_video, [50]))


def test_unreadable_file_raises_an_av_error(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video")
    with pytest.raises(av.error.FFmpegError):
        probe_video(bad)


def test_file_without_video_stream_is_a_clear_error(tmp_path):
    path = tmp_path / "audio.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 8000
        for packet in [*stream.encode(frame), *stream.encode()]:
            container.mux(packet)
    with pytest.raises(DfrobustError, match="no video stream"):
        probe_video(path)
