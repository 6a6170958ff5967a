"""Face detection on real FF++ frames and the square crop geometry."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from dfrobust.data.faces import (
    DlibDetector,
    MtcnnDetector,
    center_box,
    create_detector,
    crop_resize,
    main_face,
    square_box,
)
from dfrobust.data.video import read_frames
from dfrobust.errors import DfrobustError


def box_iou(a, b) -> float:
    inter = max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))
    area = lambda r: (r[2] - r[0]) * (r[3] - r[1])  # noqa: E731
    return inter / (area(a) + area(b) - inter)


def contains(crop, box) -> bool:
    return crop[0] <= box[0] and crop[1] <= box[1] and crop[2] >= box[2] and crop[3] >= box[3]


@pytest.fixture(scope="module")
def mtcnn() -> MtcnnDetector:
    return MtcnnDetector()


@pytest.fixture(scope="module")
def real_frames(ffpp_sample: Path) -> dict[str, list[np.ndarray]]:
    """Four frames of each real FF++ sample video (2 originals, 3 fakes), from its first 4 s
    (decoding further costs time)."""
    videos = sorted(ffpp_sample.rglob("*.mp4"))
    return {path.stem: [rgb for _, rgb in read_frames(path, [5, 35, 65, 95])] for path in videos}


def test_square_box_is_square_scaled_and_centred():
    x1, y1, x2, y2 = square_box((100, 100, 200, 180), 640, 480, scale=1.3)
    assert x2 - x1 == y2 - y1 == 130
    assert (x1 + x2) / 2 == pytest.approx(150, abs=1) and (y1 + y2) / 2 == pytest.approx(140, abs=1)


@pytest.mark.parametrize(
    "box", [(0, 0, 50, 60), (600, 400, 640, 480), (-20, 200, 80, 300), (560, -10, 650, 90), (300, 5, 420, 470)]
)
def test_square_box_near_edges_is_shifted_inside_and_still_contains_the_box(box):
    w, h = 640, 480
    crop = square_box(box, w, h, scale=1.3)
    clipped = (max(0, box[0]), max(0, box[1]), min(w, box[2]), min(h, box[3]))
    assert crop[2] - crop[0] == crop[3] - crop[1]
    assert crop[0] >= 0 and crop[1] >= 0 and crop[2] <= w and crop[3] <= h
    assert contains(crop, clipped)


def test_square_box_larger_than_the_frame_shrinks_to_its_shorter_side():
    assert square_box((100, 0, 500, 480), 640, 480, scale=1.3) == (60, 0, 540, 480)


def test_main_face_is_the_largest_confident_one():
    false_positive, face, small_face = (0, 0, 300, 300), (500, 0, 600, 120), (700, 0, 740, 50)
    assert main_face([false_positive, face, small_face], [0.96, 0.9999, 0.999]).box == face
    assert main_face([false_positive, small_face], [0.5, 0.8]).box == small_face  # none sure: most confident


def test_center_box_and_crop_resize():
    assert center_box(640, 480) == (80, 0, 560, 480)
    rgb = np.zeros((480, 640, 3), np.uint8)
    assert crop_resize(rgb, center_box(640, 480), 256).size == (256, 256)
    assert crop_resize(rgb).size == (640, 480)  # full frame, size kept
    assert crop_resize(rgb, None, 240).size == (320, 240)  # full frame: shorter side 240


@pytest.mark.slow
def test_mtcnn_finds_a_face_in_real_and_fake_ffpp_frames(mtcnn, real_frames):
    found = total = 0
    for name, frames in real_frames.items():
        h, w = frames[0].shape[:2]
        for face in mtcnn.detect(frames):
            total += 1
            if face is None:
                continue
            found += 1
            x1, y1, x2, y2 = face.box
            assert 0.95 <= face.score <= 1 and 40 < x2 - x1 < w / 2, name  # no false positive
            crop = square_box(face.box, w, h, 1.3)
            assert crop[2] - crop[0] == crop[3] - crop[1]
            assert contains(crop, (max(0, int(x1)), max(0, int(y1)), min(w, int(x2) + 1), min(h, int(y2) + 1)))
    assert found / total >= 0.95, f"faces in {found} of {total} frames"


def test_downscaled_detection_maps_boxes_back_to_full_resolution(mtcnn, real_frames):
    frame = real_frames["634"][0]  # 1280 x 720
    small = mtcnn.detect([frame])[0]
    full = MtcnnDetector(max_side=4096, min_face_size=80).detect([frame])[0]
    assert box_iou(small.box, full.box) > 0.9


def test_no_face_gives_none(mtcnn):
    assert mtcnn.detect([np.full((120, 160, 3), 128, np.uint8)] * 2) == [None, None]
    assert mtcnn.detect([]) == []


def test_unknown_detector_lists_the_choices():
    with pytest.raises(DfrobustError, match="mtcnn"):
        create_detector("haar")


def test_dlib_missing_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "dlib", None)  # makes `import dlib` fail
    with pytest.raises(DfrobustError, match="pip install dlib-bin"):
        DlibDetector()


def test_dlib_finds_the_face_mtcnn_finds(mtcnn, real_frames):
    pytest.importorskip("dlib", reason="optional: pip install dlib-bin")
    frames = real_frames["634"][:2]
    for theirs, ours in zip(create_detector("dlib").detect(frames), mtcnn.detect(frames)):
        assert theirs is not None and box_iou(theirs.box, ours.box) > 0.5
