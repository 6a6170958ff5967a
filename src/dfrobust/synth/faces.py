"""Procedural faces for the demo data set: identities, head motion, vectorised drawing.

Every shape is an ellipse in *face-local* coordinates (origin at the face centre,
unit = the face's half-width, ``v`` pointing down the face), given by an
approximate signed distance and turned into an anti-aliased coverage in [0, 1];
layers are alpha-composited with numpy over the whole pixel grid. No per-pixel
Python. Randomness comes only from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

Array = np.ndarray
_SKIN_LIGHT = np.array([0.96, 0.80, 0.69], np.float32)
_SKIN_DARK = np.array([0.38, 0.24, 0.16], np.float32)
_HAIR = np.array(
    [
        [0.08, 0.06, 0.05],
        [0.30, 0.19, 0.10],
        [0.55, 0.38, 0.20],
        [0.85, 0.70, 0.42],
        [0.60, 0.25, 0.10],
        [0.62, 0.62, 0.62],
    ],
    np.float32,
)  # black, brown, light brown, blond, red, grey
_IRIS = np.array([[0.30, 0.18, 0.08], [0.25, 0.45, 0.70], [0.30, 0.50, 0.30], [0.45, 0.48, 0.50]], np.float32)
_TEXTURE_SIZE = 48  # texels across the 3-unit-wide skin texture: ~1.5 px grain at 128 px


@dataclass(frozen=True)
class Identity:
    """How one synthetic person looks: colours (RGB in [0, 1]), face geometry, textures.

    Geometry is in face-local units (the face's half-width); ``face_radius`` is that
    half-width as a fraction of the frame size.
    """

    skin: Array
    hair: Array
    iris: Array
    lips: Array
    brows: Array
    shirt: Array
    face_radius: float
    face_aspect: float  # half-height / half-width of the face ellipse
    hair_style: int  # 0 bald, 1 short, 2 long
    fringe: float  # where the hair meets the forehead (v, negative = up)
    eye_x: float
    eye_y: float
    eye_w: float
    eye_h: float
    brow_y: float
    brow_tilt: float
    nose_len: float
    nose_w: float
    mouth_y: float
    mouth_w: float
    lip_h: float
    blush: float
    light: Array  # (2,) direction of the light in face-local coordinates
    texture: Array  # (T, T) float32 skin grain in [-1, 1]
    texture_amp: float
    noise_sigma: float  # camera noise of this "recording"


@dataclass(frozen=True)
class Pose:
    """Head motion and expression of one video, one value per frame (arrays of shape (F,))."""

    cx: Array  # face centre, pixels
    cy: Array
    scale: Array  # multiplies the identity's face_radius
    angle: Array  # in-plane rotation, radians
    blink: Array  # 0 open .. 1 closed
    mouth: Array  # 0 closed .. 1 wide open


def sample_identity(rng: np.random.Generator) -> Identity:
    """Draw a random person; every attribute varies by identity."""
    tone = rng.uniform()
    skin = (1 - tone) * _SKIN_LIGHT + tone * _SKIN_DARK + rng.normal(0, 0.02, 3)
    hair = _HAIR[rng.integers(len(_HAIR))] * rng.uniform(0.8, 1.15)
    style = int(rng.choice(3, p=[0.1, 0.45, 0.45]))
    angle = rng.uniform(0, 2 * np.pi)
    texture = rng.uniform(-1, 1, (_TEXTURE_SIZE, _TEXTURE_SIZE)).astype(np.float32)

    def uni(low: float, high: float) -> float:
        return float(rng.uniform(low, high))

    return Identity(
        skin=_rgb(skin),
        hair=_rgb(hair),
        iris=_rgb(_IRIS[rng.integers(len(_IRIS))] * rng.uniform(0.8, 1.2)),
        lips=_rgb(skin * np.array([0.85, 0.55, 0.55]) + rng.normal(0, 0.03, 3)),
        brows=_rgb(hair * 0.7 + rng.normal(0, 0.02, 3)),
        shirt=_rgb(rng.uniform(0.1, 0.9, 3)),
        face_radius=uni(0.15, 0.185),
        face_aspect=uni(1.2, 1.4),
        hair_style=style,
        fringe=uni(-1.05, -0.88),
        eye_x=uni(0.36, 0.46),
        eye_y=uni(-0.22, -0.1),
        eye_w=uni(0.16, 0.22),
        eye_h=uni(0.07, 0.1),
        brow_y=uni(-0.45, -0.36),
        brow_tilt=uni(-0.25, 0.25),
        nose_len=uni(0.3, 0.45),
        nose_w=uni(0.1, 0.16),
        mouth_y=uni(0.5, 0.62),
        mouth_w=uni(0.25, 0.38),
        lip_h=uni(0.05, 0.08),
        blush=uni(0.0, 0.12),
        light=np.array([np.cos(angle), np.sin(angle)], np.float32) * uni(0.1, 0.3),
        texture=texture,
        texture_amp=uni(0.05, 0.08),
        noise_sigma=uni(0.0, 0.012),
    )


def sample_pose(rng: np.random.Generator, identity: Identity, frames: int, size: int) -> Pose:
    """Smooth head motion (translation, scale, small rotation), blinks and talking."""
    t = np.arange(frames, dtype=np.float32)

    def wobble(amp: float) -> Array:
        freq, phase = rng.uniform(0.01, 0.05), rng.uniform(0, 2 * np.pi)
        return (amp * np.sin(2 * np.pi * freq * t + phase)).astype(np.float32)

    radius = identity.face_radius * size
    cx = size * (0.5 + rng.uniform(-0.04, 0.04)) + radius * wobble(0.25)
    cy = size * (0.44 + rng.uniform(-0.03, 0.03)) + radius * wobble(0.15)
    blink = np.zeros(frames, np.float32)
    for start in np.flatnonzero(rng.uniform(size=frames) < 0.05):
        profile = np.array([0.6, 1.0, 0.5], np.float32)[: frames - start]
        blink[start : start + len(profile)] = np.maximum(blink[start : start + len(profile)], profile)
    talk = np.clip(np.sin(2 * np.pi * rng.uniform(0.08, 0.2) * t + rng.uniform(0, 6)), 0, None)
    return Pose(
        cx=cx.astype(np.float32),
        cy=cy.astype(np.float32),
        scale=1 + wobble(0.05),
        angle=float(rng.uniform(-0.08, 0.08)) + wobble(0.07),
        blink=blink,
        mouth=(rng.uniform(0.2, 0.9) * talk).astype(np.float32),
    )


def face_boxes(identity: Identity, pose: Pose, size: int) -> Array:
    """Per-frame bounding box ``(x1, y1, x2, y2)`` in pixels of the rotated face ellipse, (F, 4)."""
    rx = identity.face_radius * size * pose.scale
    ry = rx * identity.face_aspect
    c, s = np.cos(pose.angle), np.sin(pose.angle)
    hx, hy = np.hypot(rx * c, ry * s), np.hypot(rx * s, ry * c)
    boxes = np.stack([pose.cx - hx, pose.cy - hy, pose.cx + hx, pose.cy + hy], axis=1)
    return np.clip(boxes, 0, size)


def render_background(rng: np.random.Generator, size: int) -> Array:
    """A static room-like backdrop: gradient, soft blobs, a few panels, fine grain. (H, W, 3)."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    c1, c2 = rng.uniform(0.15, 0.85, (2, 3)).astype(np.float32)
    theta = rng.uniform(0, 2 * np.pi)
    ramp = np.clip(0.5 + (x - 0.5) * np.cos(theta) + (y - 0.5) * np.sin(theta), 0, 1)
    img = c1 + (c2 - c1) * ramp[..., None]
    for _ in range(rng.integers(1, 4)):  # panels: a door, a picture, a window
        x0, y0 = rng.uniform(-0.1, 0.9, 2)
        w, h = rng.uniform(0.1, 0.4, 2)
        inside = (x > x0) & (x < x0 + w) & (y > y0) & (y < y0 + h)
        img[inside] = img[inside] * 0.4 + 0.6 * rng.uniform(0.1, 0.9, 3).astype(np.float32)
    blobs = rng.normal(0, 1, (6, 6)).astype(np.float32)
    img += 0.06 * _resize(blobs, size)[..., None]
    img += rng.uniform(0.0, 0.05) * rng.uniform(-1, 1, (size, size, 1)).astype(np.float32)
    return np.clip(img, 0, 1).astype(np.float32)


class Canvas:
    """An RGB frame plus its face-local coordinates; shapes are drawn only inside their box."""

    def __init__(
        self, identity: Identity, pose: Pose, i: int, background: Array, box: tuple[int, int, int, int] | None = None
    ) -> None:
        size = background.shape[0]
        y0, y1, x0, x1 = box or (0, size, 0, size)
        self.px = float(identity.face_radius * size * pose.scale[i])
        # face centre and rotation, with the centre in this canvas's own pixel frame
        self.cx, self.cy = float(pose.cx[i]) - x0, float(pose.cy[i]) - y0
        self.cos, self.sin = float(np.cos(pose.angle[i])), float(np.sin(pose.angle[i]))
        dx = np.arange(x1 - x0, dtype=np.float32)[None, :] + 0.5 - self.cx
        dy = np.arange(y1 - y0, dtype=np.float32)[:, None] + 0.5 - self.cy
        self.u = (self.cos * dx + self.sin * dy) / self.px
        self.v = (-self.sin * dx + self.cos * dy) / self.px
        self.img = background[y0:y1, x0:x1].copy()
        self.h, self.w = y1 - y0, x1 - x0

    def window(self, cx: float, cy: float, radius: float) -> tuple[slice, slice]:
        """Pixel box holding a disc of ``radius`` (local units) around local (cx, cy)."""
        x = self.cx + (self.cos * cx - self.sin * cy) * self.px
        y = self.cy + (self.sin * cx + self.cos * cy) * self.px
        r = radius * self.px + 4
        x0, x1 = int(max(0, x - r)), int(min(self.w, x + r + 1))
        y0, y1 = int(max(0, y - r)), int(min(self.h, y + r + 1))
        return slice(y0, max(y0, y1)), slice(x0, max(x0, x1))

    def ellipse(
        self, cx: float, cy: float, rx: float, ry: float, soft: float = 1.0, tilt: float = 0.0
    ) -> tuple[tuple[slice, slice], Array]:
        """Coverage in [0, 1] of an ellipse inside its window; ``soft``: edge width in pixels."""
        win = self.window(cx, cy, max(rx, ry) + soft / self.px)
        du, dv = self.u[win] - cx, self.v[win] - cy
        if tilt:
            du, dv = np.cos(tilt) * du + np.sin(tilt) * dv, -np.sin(tilt) * du + np.cos(tilt) * dv
        k = np.sqrt((du / rx) ** 2 + (dv / ry) ** 2)
        grad = np.sqrt((du / rx**2) ** 2 + (dv / ry**2) ** 2) + 1e-6
        # signed distance ~ k (k - 1) / |grad k| (local units), as a share of the edge width
        return win, np.clip(0.5 - k * (k - 1) / grad * (self.px / soft), 0, 1)

    def paint(self, win: tuple[slice, slice], alpha: Array, colour: Array | float) -> None:
        """Alpha-composite ``colour`` ((3,) or (h, w, 3) over the window) onto the window."""
        part = self.img[win]
        part += alpha[..., None] * (colour - part)


def render_face(
    identity: Identity,
    pose: Pose,
    i: int,
    background: Array,
    box: tuple[int, int, int, int] | None = None,
    body: bool = True,
) -> Array:
    """Draw frame ``i`` of ``identity`` moving as ``pose`` in front of ``background``.

    Args:
        box: draw only this pixel box ``(y0, y1, x0, x1)`` of the frame (a swap needs the face).
        body: draw what lies behind the face (shoulders, neck, back hair, ears); a swap,
            pasted inside the face, can skip them.

    Returns:
        (H, W, 3) float32 in [0, 1]: the frame, or its ``box``.
    """
    c = Canvas(identity, pose, i, background, box)
    p, asp = identity, identity.face_aspect
    if body:
        _draw_body(c, p)
    win, face = c.ellipse(0, 0, 1, asp)
    grain = _sample(p.texture, c.u[win], c.v[win])
    c.paint(win, face, p.skin * (1 + p.texture_amp * grain)[..., None])
    for side in (-1, 1):
        win_b, blush = c.ellipse(side * 0.5, 0.3, 0.25, 0.18, soft=6)
        c.paint(win_b, blush * p.blush * 4, _BLUSH)
        _draw_eye(c, p, side, float(pose.blink[i]))
        c.paint(*c.ellipse(side * p.eye_x, p.brow_y, p.eye_w * 1.2, 0.035, tilt=side * p.brow_tilt), p.brows)
    nose_y = p.eye_y + p.nose_len + 0.1
    win_n, bridge = c.ellipse(p.light[0] * -0.3, nose_y - p.nose_len / 2, 0.04, p.nose_len / 2, 2)
    c.paint(win_n, 0.5 * bridge, p.skin * 0.7)  # the bridge's shadow, away from the light
    for side in (-1, 1):
        c.paint(*c.ellipse(side * p.nose_w * 0.5, nose_y + 0.03, 0.04, 0.025), p.skin * 0.35)
    _draw_mouth(c, p, float(pose.mouth[i]))
    u, v = c.u[win], c.v[win]
    if p.hair_style:
        c.paint(win, face * np.clip((p.fringe + 0.3 * u**2 - v) * c.px, 0, 1), _hair(c, win, p))
    shade = np.clip(p.light[0] * u + p.light[1] * v / asp, -0.6, 0.6)  # a lit, round face
    c.img[win] *= (1 + face * shade)[..., None]
    return np.clip(c.img, 0, 1)


_BLUSH = np.array([0.85, 0.3, 0.3], np.float32)
_SCLERA = np.array([0.93, 0.92, 0.9], np.float32)
_MOUTH = np.array([0.25, 0.05, 0.06], np.float32)


def _draw_body(c: Canvas, p: Identity) -> None:
    asp = p.face_aspect
    c.paint(*c.ellipse(0, asp + 1.7, 2.3, 1.1), p.shirt)  # shoulders
    c.paint(*c.ellipse(0, asp + 0.2, 0.5, 0.7), p.skin * 0.8)  # neck
    if p.hair_style:
        bottom = asp - 0.1 if p.hair_style == 2 else 0.0
        win, back = c.ellipse(0, -0.2, 1.2, asp + 0.2)
        c.paint(win, back * np.clip((bottom - c.v[win]) * c.px, 0, 1), _hair(c, win, p))
    for side in (-1, 1):
        c.paint(*c.ellipse(side * 0.98, -0.05, 0.17, 0.3), p.skin * 0.9)  # ears


def _hair(c: Canvas, win: tuple[slice, slice], p: Identity) -> Array:
    """Hair colour with strands, over a window: (h, w, 3)."""
    u, v = c.u[win], c.v[win]
    return p.hair * (1 + 0.12 * np.sin(u * 40 + 3 * np.sin(v * 3)))[..., None]


def _draw_eye(c: Canvas, p: Identity, side: int, blink: float) -> None:
    ex, open_h = side * p.eye_x, p.eye_h * (1 - 0.95 * blink)
    c.paint(*c.ellipse(ex, p.eye_y, p.eye_w + 0.03, open_h + 0.03), p.brows * 0.6)  # lashes
    win, sclera = c.ellipse(ex, p.eye_y, p.eye_w, open_h)
    c.paint(win, sclera, _SCLERA)
    for radius, colour in ((0.9, p.iris), (0.4, 0.05)):  # iris, pupil: inside the open eye
        win_i, disc = c.ellipse(ex, p.eye_y, p.eye_h * radius, p.eye_h * radius)
        c.paint(win_i, disc * _crop(sclera, win, win_i), colour)


def _draw_mouth(c: Canvas, p: Identity, opening: float) -> None:
    c.paint(*c.ellipse(0, p.mouth_y, p.mouth_w, p.lip_h + 0.1 * opening), p.lips)
    c.paint(*c.ellipse(0, p.mouth_y, p.mouth_w * 0.8, 0.09 * opening + 0.012), _MOUTH)


def _crop(alpha: Array, win: tuple[slice, slice], inner: tuple[slice, slice]) -> Array:
    """The part of ``alpha`` (drawn over ``win``) that lies in the smaller window ``inner``."""
    return alpha[
        inner[0].start - win[0].start : inner[0].stop - win[0].start,
        inner[1].start - win[1].start : inner[1].stop - win[1].start,
    ]


def _sample(texture: Array, u: Array, v: Array) -> Array:
    """Nearest texel of a texture spanning u, v in [-1.5, 1.5]."""
    n = texture.shape[0]
    iu = np.clip(((u + 1.5) * (n / 3)).astype(np.int32), 0, n - 1)
    iv = np.clip(((v + 1.5) * (n / 3)).astype(np.int32), 0, n - 1)
    return texture[iv, iu]


def _resize(img: Array, size: int) -> Array:
    """Bicubic resize of a 2-D float array to (size, size)."""
    return np.asarray(Image.fromarray(img, mode="F").resize((size, size), Image.BICUBIC))


def _rgb(x: Array) -> Array:
    return np.clip(np.asarray(x, np.float32), 0.02, 0.98)
