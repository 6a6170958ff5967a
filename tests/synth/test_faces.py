"""Procedural faces: seeded identities and poses, tight face boxes, the drawing itself."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from dfrobust.synth.faces import (
    Identity,
    Pose,
    face_boxes,
    render_background,
    render_face,
    sample_identity,
    sample_pose,
)

SIZE, FRAMES = 96, 6


def _person(seed: int, size: int = SIZE, frames: int = FRAMES) -> tuple[Identity, Pose, np.ndarray]:
    rng = np.random.default_rng(seed)
    identity = sample_identity(rng)
    return identity, sample_pose(rng, identity, frames, size), render_background(rng, size)


def _same(a, b) -> bool:
    """Dataclasses of floats and arrays, field by field."""
    return all(np.array_equal(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))


def test_identities_and_poses_are_a_function_of_the_seed() -> None:
    first, again, other = _person(7), _person(7), _person(8)
    assert _same(first[0], again[0]) and _same(first[1], again[1])
    np.testing.assert_array_equal(first[2], again[2])
    assert not _same(first[0], other[0]) and not _same(first[1], other[1])
    assert not np.array_equal(first[2], other[2])


def test_identities_vary_in_every_attribute() -> None:
    people = [sample_identity(np.random.default_rng(seed)) for seed in range(12)]
    for name in (f.name for f in dataclasses.fields(Identity) if f.name != "hair_style"):
        values = {np.asarray(getattr(p, name)).tobytes() for p in people}
        assert len(values) > 1, name
    assert {p.hair_style for p in people} <= {0, 1, 2}
    for p in people:
        for colour in (p.skin, p.hair, p.iris, p.lips, p.brows, p.shirt):
            assert colour.shape == (3,) and colour.dtype == np.float32 and (colour > 0).all() and (colour < 1).all()


def test_pose_has_one_value_per_frame_and_moves_smoothly() -> None:
    identity, pose, _ = _person(3, frames=40)
    for field in dataclasses.fields(Pose):
        values = getattr(pose, field.name)
        assert values.shape == (40,) and values.dtype == np.float32, field.name
    assert ((pose.blink >= 0) & (pose.blink <= 1)).all() and ((pose.mouth >= 0) & (pose.mouth <= 1)).all()
    radius = identity.face_radius * SIZE
    assert np.abs(np.diff(pose.cx)).max() < 0.1 * radius  # head motion, not jumps between frames
    assert np.ptp(pose.cx) > 0 and np.ptp(pose.scale) > 0  # but it moves
    assert (np.abs(pose.angle) < 0.2).all()  # a small in-plane rotation


@pytest.mark.parametrize("seed", range(4))
def test_face_boxes_lie_in_the_frame_and_fit_the_drawn_face(seed: int) -> None:
    identity, pose, background = _person(seed)
    boxes = face_boxes(identity, pose, SIZE)
    assert boxes.shape == (FRAMES, 4)
    assert (boxes >= 0).all() and (boxes <= SIZE).all()
    assert (boxes[:, 0] < boxes[:, 2]).all() and (boxes[:, 1] < boxes[:, 3]).all()
    for i, (x1, y1, x2, y2) in enumerate(boxes):
        assert x1 < pose.cx[i] < x2 and y1 < pose.cy[i] < y2
        changed = np.abs(render_face(identity, pose, i, background, body=False) - background).max(axis=2) > 1e-3
        ys, xs = np.nonzero(changed)
        # the face alone (no body) touches every side of its box, within the anti-aliased edge
        assert abs(xs.min() - x1) <= 1.5 and abs(xs.max() + 1 - x2) <= 1.5, (i, xs.min(), xs.max(), x1, x2)
        assert abs(ys.min() - y1) <= 1.5 and abs(ys.max() + 1 - y2) <= 1.5, (i, ys.min(), ys.max(), y1, y2)


def test_face_boxes_are_clipped_to_a_face_partly_out_of_frame() -> None:
    identity, pose, _ = _person(0)
    shifted = dataclasses.replace(pose, cx=np.full_like(pose.cx, 2.0))  # centre 2 px from the left edge
    boxes = face_boxes(identity, shifted, SIZE)
    assert (boxes[:, 0] == 0).all() and (boxes[:, 2] > 2).all()


def test_render_face_is_an_rgb_frame_in_unit_range() -> None:
    identity, pose, background = _person(1)
    frame = render_face(identity, pose, 0, background)
    assert frame.shape == (SIZE, SIZE, 3) and frame.dtype == np.float32
    assert frame.min() >= 0 and frame.max() <= 1
    assert np.abs(frame - background).mean() > 0.02  # a person was drawn
    np.testing.assert_array_equal(frame, render_face(identity, pose, 0, background))  # no hidden randomness
    assert background.shape == (SIZE, SIZE, 3) and background.min() >= 0 and background.max() <= 1


def test_render_face_of_a_box_equals_that_part_of_the_frame() -> None:
    identity, pose, background = _person(2)
    frame = render_face(identity, pose, 3, background)
    box = (20, 70, 15, 80)  # y0, y1, x0, x1
    part = render_face(identity, pose, 3, background, box=box)
    assert part.shape == (50, 65, 3)
    np.testing.assert_allclose(part, frame[20:70, 15:80], atol=1e-6)


def test_body_draws_only_outside_what_the_face_covers() -> None:
    identity, pose, background = _person(4)
    with_body = render_face(identity, pose, 0, background)
    face_only = render_face(identity, pose, 0, background, body=False)
    assert np.abs(with_body - face_only).max() > 0.1  # shoulders, neck, ears
    cx, cy = int(pose.cx[0]), int(pose.cy[0])
    np.testing.assert_allclose(with_body[cy - 2 : cy + 3, cx - 2 : cx + 3], face_only[cy - 2 : cy + 3, cx - 2 : cx + 3])


def test_different_identities_look_different_in_the_same_pose() -> None:
    identity, pose, background = _person(0)
    x1, y1, x2, y2 = face_boxes(identity, pose, SIZE)[0].astype(int)
    face = render_face(identity, pose, 0, background)[y1:y2, x1:x2]
    for seed in range(1, 6):
        other = sample_identity(np.random.default_rng(seed))
        assert np.abs(render_face(other, pose, 0, background)[y1:y2, x1:x2] - face).mean() > 0.04, seed


def test_blinks_and_talking_change_only_the_eyes_and_mouth() -> None:
    identity, pose, background = _person(5)
    open_pose = dataclasses.replace(pose, blink=np.zeros(FRAMES, np.float32), mouth=np.zeros(FRAMES, np.float32))
    closed = dataclasses.replace(open_pose, blink=np.ones(FRAMES, np.float32))
    talking = dataclasses.replace(open_pose, mouth=np.ones(FRAMES, np.float32))
    base = render_face(identity, open_pose, 0, background)
    eyes = np.abs(render_face(identity, closed, 0, background) - base).max(axis=2) > 0.05
    mouth = np.abs(render_face(identity, talking, 0, background) - base).max(axis=2) > 0.05
    assert eyes.any() and mouth.any()
    cy = pose.cy[0]
    assert np.nonzero(eyes)[0].mean() < cy < np.nonzero(mouth)[0].mean()  # eyes above the centre, mouth below
