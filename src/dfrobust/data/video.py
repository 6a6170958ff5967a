"""Exact random-access frame reading with PyAV.

Frame ``i`` of a video is the ``i``-th frame a plain sequential decode yields
(0-based, display order). We index frames by their presentation timestamps
(pts), read cheaply by demuxing packets without decoding, so a frame is
identified by its pts and never by "the first frame after a seek" (PyAV's
``seek()`` lands on the keyframe at or before the target).

FF++ c23 files have a keyframe every 210-250 frames in 300-750 frames, so one
in-order decode that stops after the last wanted frame is as fast as seeking;
we seek only when the next wanted frame lies beyond the next keyframe, which
skips whole groups of pictures and pays off for videos with short keyframe
intervals.

Example::

    info = probe_video("000.mp4")
    for index, rgb in read_frames("000.mp4", [3, 120, 299], info=info):
        ...  # rgb: (H, W, 3) uint8
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import av
import numpy as np

from dfrobust.errors import DfrobustError


@dataclass(frozen=True)
class VideoInfo:
    """What a demux pass (no decoding) tells about a video's first video stream.

    Attributes:
        num_frames: frames a sequential decode yields (packets that are not discarded).
        width, height: frame size in pixels.
        pts: presentation timestamps in display order; ``pts[i]`` is frame ``i``.
        keyframes: indices of the keyframes (where decoding can start), sorted.
    """

    num_frames: int
    width: int
    height: int
    pts: tuple[int, ...]
    keyframes: tuple[int, ...]


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Count frames and locate keyframes by demuxing packets (milliseconds, no decoding).

    ``stream.frames`` from the container header may be 0 or wrong, so we count
    packets. Raises ``av.error.FFmpegError`` for unreadable files and
    :class:`DfrobustError` for files without a video stream or timestamps.
    """
    if os.path.getsize(path) == 0:
        raise DfrobustError(f"{path}: empty file (0 bytes); download it again")
    with av.open(os.fspath(path)) as container:
        stream = _video_stream(container, path)
        packets = [(p.pts, p.is_keyframe) for p in container.demux(stream) if p.size and not p.is_discard]
        width, height = stream.codec_context.width, stream.codec_context.height
    if any(pts is None for pts, _ in packets):
        raise DfrobustError(f"{path}: video packets carry no timestamps; remux it (ffmpeg -c copy)")
    packets.sort()
    return VideoInfo(
        num_frames=len(packets),
        width=width,
        height=height,
        pts=tuple(pts for pts, _ in packets),
        keyframes=tuple(i for i, (_, key) in enumerate(packets) if key),
    )


def read_frames(
    path: str | os.PathLike,
    indices: Iterable[int],
    *,
    info: VideoInfo | None = None,
    threads: bool = True,
) -> Iterator[tuple[int, np.ndarray]]:
    """Decode exactly the frames ``indices`` (in increasing order) as RGB arrays.

    Args:
        path: the video file.
        indices: 0-based frame indices; duplicates are read once.
        info: the result of :func:`probe_video`, to avoid probing twice.
        threads: let FFmpeg decode with frame and slice threads (about 1.4x
            faster on 2 cores); turn off when each worker process has one core.

    Yields:
        ``(index, rgb)`` with ``rgb`` of shape (H, W, 3), uint8, for each wanted
        index in increasing order.
    """
    info = info or probe_video(path)
    wanted = sorted(set(indices))
    if wanted and not 0 <= wanted[0] <= wanted[-1] < info.num_frames:
        raise ValueError(f"frame indices must lie in [0, {info.num_frames}), got {wanted}")
    index_of = {pts: i for i, pts in enumerate(info.pts)}
    with av.open(os.fspath(path)) as container:
        stream = _video_stream(container, path)
        if threads:
            stream.thread_type = "AUTO"
        frames: Iterator[av.VideoFrame] | None = None
        position = -1  # index of the last decoded frame
        for target in wanted:
            before = bisect.bisect_right(info.keyframes, target) - 1
            keyframe = info.keyframes[before] if before >= 0 else 0
            if keyframe > position + 1:
                # Decoding on from `position` would pass `keyframe` anyway: jump there.
                container.seek(info.pts[keyframe], stream=stream, backward=True, any_frame=False)
                frames = container.decode(stream)
            elif frames is None:
                frames = container.decode(stream)
            for frame in frames:
                position = index_of.get(frame.pts, position + 1)
                if position >= target:
                    break
            if position != target:
                raise DfrobustError(f"{path}: frame {target} could not be decoded (got {position})")
            yield target, frame.to_ndarray(format="rgb24")


def _video_stream(container: av.container.InputContainer, path: str | os.PathLike) -> av.VideoStream:
    if not container.streams.video:
        raise DfrobustError(f"{path}: no video stream")
    return container.streams.video[0]
