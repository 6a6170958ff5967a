"""Synthetic manipulations of the demo data set, each leaving its method's kind of trace.

A fake ``a_b`` keeps every pixel of video ``a`` outside a soft blending mask
(background, hair, head pose: identical frame by frame); inside, it pastes a
re-rendered face:

- Deepfakes: identity ``b``'s inner face in ``a``'s pose and expression, rendered
  at low resolution and upsampled (blur), colour only half corrected, soft mask.
- FaceSwap: ``b``'s inner face, sharp, pasted slightly misplaced and rescaled
  (warped landmarks), no colour correction and a per-video tint (a colour mismatch
  with the forehead and neck), a hard mask edge (a visible boundary).
- Face2Face: ``a``'s own face with ``b``'s expression (blinks, mouth), slightly
  blurred and tinted.
- NeuralTextures: only ``a``'s mouth region re-rendered with ``b``'s mouth motion,
  at low resolution (a smeared mouth texture) and tinted.

The traces are local: they change neither the frame's mean colour systematically
nor the file size much, but a small CNN on face crops learns each method's (the
fairness tests in ``tests/synth/test_fakes.py`` check both, per method). FaceSwap's
and NeuralTextures' traces were strengthened in version 2 of the writer: with the
first settings the small CNN reached only 0.78 and 0.68 on held-out people.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image

from dfrobust.synth.faces import Canvas, Identity, Pose, render_face

Array = np.ndarray


@dataclass(frozen=True)
class Method:
    """The traces one synthetic manipulation method leaves."""

    name: str
    swap_identity: bool  # paste the source's face (face swap) or re-render the target's own
    source_expression: bool  # blinks and mouth follow the source video (reenactment)
    region: str  # "inner" (eyes, brows, nose, mouth, cheeks) or "mouth"
    downsample: float  # rendered at 1/downsample of the resolution, then upsampled
    colour_residual: float  # share of the colour difference left by the colour correction
    tint: float  # extra colour shift per video (random direction), in [0, 1] units
    feather: float  # width of the mask edge, in face half-widths
    warp: float  # misplacement and rescaling of the pasted face, in face half-widths


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("Deepfakes", True, False, "inner", 2.6, 0.6, 0.04, 0.12, 0.0),
        Method("FaceSwap", True, False, "inner", 1.0, 1.0, 0.08, 0.02, 0.06),
        Method("Face2Face", False, True, "inner", 1.6, 0.0, 0.04, 0.1, 0.0),
        Method("NeuralTextures", False, True, "mouth", 2.4, 0.0, 0.08, 0.08, 0.0),
    )
}


def fake_video(
    method: Method,
    target: Identity,
    source: Identity,
    target_pose: Pose,
    source_pose: Pose,
    frames: list[Array],
    background: Array,
    rng: np.random.Generator,
) -> Iterator[tuple[Array, Array]]:
    """Yield ``(fake frame, mask)`` for each frame of the target video.

    Args:
        frames: the target's frames, (H, W, 3) float32 in [0, 1] (with camera noise).
        background: the target's background, (H, W, 3).
        rng: draws this video's tint and warp.

    Yields:
        The fake frame, (H, W, 3) float32 in [0, 1], and its blending mask, (H, W) in [0, 1].
    """
    face = target
    if method.swap_identity:  # the source's looks on the target's head shape, hair and light
        keep = ("face_radius", "face_aspect", "hair_style", "fringe", "light", "hair")
        face = dataclasses.replace(source, **{k: getattr(target, k) for k in keep})
    pose = target_pose
    if method.source_expression:
        pose = dataclasses.replace(pose, blink=source_pose.blink, mouth=source_pose.mouth)
    if method.warp:
        shift = rng.uniform(-method.warp, method.warp, 2) * target.face_radius * frames[0].shape[0]
        pose = dataclasses.replace(
            pose,
            cx=pose.cx + np.float32(shift[0]),
            cy=pose.cy + np.float32(shift[1]),
            scale=pose.scale * np.float32(1 + rng.choice([-1, 1]) * method.warp),
        )
    tint = (rng.normal(0, 1, 3) * method.tint).astype(np.float32)
    for i, frame in enumerate(frames):
        yield _fake_frame(method, target, target_pose, face, pose, i, frame, background, tint)


def _fake_frame(
    method: Method,
    target: Identity,
    target_pose: Pose,
    face: Identity,
    pose: Pose,
    i: int,
    frame: Array,
    background: Array,
    tint: Array,
) -> tuple[Array, Array]:
    box = _face_box(target, target_pose, i, frame.shape[0])
    mask = _region_mask(method, target, target_pose, i, background, box)
    pasted = _blur(render_face(face, pose, i, background, box, body=False), method.downsample)
    y0, y1, x0, x1 = box
    original = frame[y0:y1, x0:x1]
    inside = mask > 0.5
    if inside.any():  # colour correction towards the target's face, left partly undone
        gap = original[inside].mean(axis=0) - pasted[inside].mean(axis=0)
        pasted = pasted + (1 - method.colour_residual) * gap + tint
    out, full_mask = frame.copy(), np.zeros(frame.shape[:2], np.float32)
    out[y0:y1, x0:x1] = original + mask[..., None] * (np.clip(pasted, 0, 1) - original)
    full_mask[y0:y1, x0:x1] = mask
    return out, full_mask


def _region_mask(
    method: Method, target: Identity, pose: Pose, i: int, background: Array, box: tuple[int, int, int, int]
) -> Array:
    """The soft blending mask over ``box``, in the target's pose: (h, w) in [0, 1]."""
    canvas = Canvas(target, pose, i, background, box)
    soft = method.feather * canvas.px
    if method.region == "mouth":
        ellipse = (0, target.mouth_y + 0.05, target.mouth_w + 0.15, 0.3)
    else:
        ellipse = (0, 0.15, 0.82, min(0.95, target.face_aspect - 0.3))
    win, cover = canvas.ellipse(*ellipse, soft=soft)
    mask = np.zeros((canvas.h, canvas.w), np.float32)
    mask[win] = cover
    return mask


def _face_box(identity: Identity, pose: Pose, i: int, size: int) -> tuple[int, int, int, int]:
    """Pixel box ``(y0, y1, x0, x1)`` around the face of frame ``i``, with a margin."""
    r = identity.face_radius * size * float(pose.scale[i]) * identity.face_aspect * 1.1 + 4
    cx, cy = float(pose.cx[i]), float(pose.cy[i])
    x0, x1 = max(0, int(cx - r)), min(size, int(cx + r) + 1)
    y0, y1 = max(0, int(cy - r)), min(size, int(cy + r) + 1)
    return y0, y1, x0, x1


def _blur(img: Array, factor: float) -> Array:
    """Downsample by ``factor`` (box filter) and upsample back (bilinear): a low-res generator."""
    if factor <= 1:
        return img
    h, w = img.shape[:2]
    small = (max(1, round(w / factor)), max(1, round(h / factor)))
    pil = Image.fromarray((img * 255 + 0.5).astype(np.uint8))
    up = pil.resize(small, Image.BOX).resize((w, h), Image.BILINEAR)
    return np.asarray(up, np.float32) / 255
