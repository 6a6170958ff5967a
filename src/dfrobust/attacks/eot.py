"""Expectation over transformation (EOT): gradients that survive compression, blur and resizing.

A platform re-encodes an uploaded video, which wipes out most small perturbations. EOT
(Athalye et al., ICML 2018, arXiv:1707.07397; for deepfake detectors Hussain et al., WACV
2021, "Adversarial Deepfakes") attacks the expected loss over random transformations
instead of the loss of the image itself: each step's gradient is the mean over ``eot``
draws, each draw one transformation picked at random from ``transforms`` with random
parameters, all drawn from the attack's generator::

    result = pgd(model, x, y, eps=4 / 255, eot=8, generator=torch.Generator().manual_seed(0))
    result = pgd(model, x, y, eps=4 / 255, eot=8, eot_transforms=("jpeg", "resize"))

The transformations (each on (N, 3, H, W) in [0, 1], differentiable):

- ``jpeg``: JPEG at a random quality, in torch: YCbCr, 4:2:0 chroma, 8x8 DCT, the standard
  IJG tables scaled by the quality; rounding is Shin & Song's (2017) ``r + (x - r) ** 3``
  with ``r = round(x)``, nearly exact forward, a useful gradient backward (a real codec
  cannot be differentiated, and attacks import no PIL).
- ``blur``: Gaussian blur of random sigma. ``resize``: bilinear down-scale by a random
  factor and back up. ``noise``: Gaussian noise of random standard deviation.

``eot=1`` without transformations is the plain gradient, bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from dfrobust.attacks.base import Generator, Model, SampleGenerators, check_count, loss_and_grad, per_sample_loss
from dfrobust.errors import DfrobustError

Transform = Callable[[torch.Tensor, torch.Generator | None], torch.Tensor]

JPEG_QUALITY = (50, 90)  # platforms re-encode at about 70-85
BLUR_SIGMA = (0.3, 1.2)  # pixels of the model's input
RESIZE_FACTOR = (0.5, 1.0)  # share of the side kept before scaling back up
NOISE_STD = (0.0, 0.02)  # in [0, 1] pixel units (0.02 is about 5/255)

# IJG (libjpeg) base quantisation tables, ITU T.81 Annex K.
_LUMA = (
    (16, 11, 10, 16, 24, 40, 51, 61),
    (12, 12, 14, 19, 26, 58, 60, 55),
    (14, 13, 16, 24, 40, 57, 69, 56),
    (14, 17, 22, 29, 51, 87, 80, 62),
    (18, 22, 37, 56, 68, 109, 103, 77),
    (24, 35, 55, 64, 81, 104, 113, 92),
    (49, 64, 78, 87, 103, 121, 120, 101),
    (72, 92, 95, 98, 112, 100, 103, 99),
)
_CHROMA = (
    (17, 18, 24, 47, 99, 99, 99, 99),
    (18, 21, 26, 66, 99, 99, 99, 99),
    (24, 26, 56, 99, 99, 99, 99, 99),
    (47, 66, 99, 99, 99, 99, 99, 99),
    *((99,) * 8,) * 4,
)
_RGB_TO_YCBCR = (
    (0.299, 0.587, 0.114),
    (-0.168736, -0.331264, 0.5),
    (0.5, -0.418688, -0.081312),
)
_YCBCR_TO_RGB = (
    (1.0, 0.0, 1.402),
    (1.0, -0.344136, -0.714136),
    (1.0, 1.772, 0.0),
)


def soft_round(x: torch.Tensor) -> torch.Tensor:
    """``round(x) + (x - round(x)) ** 3``: within 0.125 of rounding, gradient ``3 (x - round(x)) ** 2``."""
    r = torch.round(x).detach()
    return r + (x - r) ** 3


def quantisation_tables(quality: int, device: torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The (8, 8) luma and chroma tables libjpeg uses at ``quality`` in [1, 100]."""
    if not 1 <= quality <= 100:
        raise DfrobustError(f"Expected a JPEG quality in [1, 100], got {quality}")
    scale = 5000 / quality if quality < 50 else 200 - 2 * quality
    tables = torch.tensor((_LUMA, _CHROMA), dtype=torch.float32, device=device)
    tables = torch.floor((tables * scale + 50) / 100).clamp(1, 255)
    return tables[0], tables[1]


def _dct_matrix(device: torch.device) -> torch.Tensor:
    """The orthonormal 8-point DCT-II matrix D (JPEG's FDCT of a block B is D B D^T)."""
    k = torch.arange(8, dtype=torch.float32, device=device)
    d = torch.cos(math.pi * (2 * k[None, :] + 1) * k[:, None] / 16) * math.sqrt(2 / 8)
    d[0] /= math.sqrt(2)
    return d


def _quantise_blocks(plane: torch.Tensor, table: torch.Tensor, dct: torch.Tensor) -> torch.Tensor:
    """Level shift, 8x8 DCT, soft-rounded quantisation and back, on (N, H, W) with H, W multiples of 8."""
    n, h, w = plane.shape
    blocks = (plane - 128).reshape(n, h // 8, 8, w // 8, 8).transpose(2, 3)  # (N, H/8, W/8, 8, 8)
    coefficients = dct @ blocks @ dct.T
    coefficients = soft_round(coefficients / table) * table
    blocks = dct.T @ coefficients @ dct
    return blocks.transpose(2, 3).reshape(n, h, w) + 128


def jpeg(x: torch.Tensor, quality: int) -> torch.Tensor:
    """Differentiable JPEG round trip of (N, 3, H, W) in [0, 1] at ``quality`` (baseline, 4:2:0)."""
    n, _, h, w = x.shape
    pad_h, pad_w = -h % 16, -w % 16  # whole 16x16 macro-blocks, as the encoder pads them
    x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate") if pad_h or pad_w else x
    to_ycbcr = torch.tensor(_RGB_TO_YCBCR, dtype=x.dtype, device=x.device)
    ycbcr = torch.einsum("ij,njhw->nihw", to_ycbcr, x * 255)  # Y in [0, 255], Cb and Cr centred on 0
    luma_table, chroma_table = quantisation_tables(quality, x.device)
    dct = _dct_matrix(x.device).to(x.dtype)
    luma = _quantise_blocks(ycbcr[:, 0], luma_table, dct)
    chroma = F.avg_pool2d(ycbcr[:, 1:], 2) + 128  # 4:2:0 subsampling, stored offset by 128
    chroma = torch.stack([_quantise_blocks(chroma[:, c], chroma_table, dct) for c in (0, 1)], dim=1) - 128
    chroma = F.interpolate(chroma, scale_factor=2, mode="bilinear", align_corners=False)  # libjpeg's "fancy" upsampling
    ycbcr = torch.cat([luma[:, None], chroma], dim=1)
    rgb = torch.einsum("ij,njhw->nihw", torch.tensor(_YCBCR_TO_RGB, dtype=x.dtype, device=x.device), ycbcr)
    rgb = soft_round(rgb.clamp(0, 255)) / 255  # decoded to uint8
    return rgb[:, :, :h, :w].clamp(0, 1)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (N, C, H, W), radius 3 sigma, edges replicated."""
    radius = max(1, math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-(t**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    c = x.shape[1]
    x = F.pad(x, (radius, radius, radius, radius), mode="replicate")
    x = F.conv2d(x, kernel.expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, kernel[:, None].expand(c, 1, -1, 1), groups=c)


def _draw_device(generator: torch.Generator | None, x: torch.Tensor) -> torch.device:
    """Where a draw happens: on the generator's device (a per-sample generator is on the CPU)."""
    return x.device if generator is None else generator.device


def _uniform(bounds: tuple[float, float], generator: torch.Generator | None, device: torch.device) -> float:
    u = torch.rand((), generator=generator, device=device if generator is None else generator.device).item()
    return bounds[0] + u * (bounds[1] - bounds[0])


def random_jpeg(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """:func:`jpeg` at a quality drawn uniformly from :data:`JPEG_QUALITY`."""
    lo, hi = JPEG_QUALITY
    quality = int(torch.randint(lo, hi + 1, (), generator=generator, device=_draw_device(generator, x)).item())
    return jpeg(x, quality)


def random_blur(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """:func:`gaussian_blur` with sigma drawn from :data:`BLUR_SIGMA`."""
    return gaussian_blur(x, _uniform(BLUR_SIGMA, generator, x.device))


def random_resize(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Bilinear down-scale by a factor drawn from :data:`RESIZE_FACTOR` (anti-aliased), then back up."""
    h, w = x.shape[-2:]
    factor = _uniform(RESIZE_FACTOR, generator, x.device)
    small = F.interpolate(
        x, size=(max(1, round(h * factor)), max(1, round(w * factor))), mode="bilinear", antialias=True
    )
    return F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False).clamp(0, 1)


def random_noise(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Gaussian noise with a standard deviation drawn from :data:`NOISE_STD`, clipped to [0, 1]."""
    std = _uniform(NOISE_STD, generator, x.device)
    noise = torch.randn(x.shape, generator=generator, device=_draw_device(generator, x), dtype=x.dtype).to(x.device)
    return (x + std * noise).clamp(0, 1)


TRANSFORMS: dict[str, Transform] = {
    "jpeg": random_jpeg,
    "blur": random_blur,
    "resize": random_resize,
    "noise": random_noise,
}
DEFAULT_TRANSFORMS = tuple(TRANSFORMS)


def check_eot(eot: int, transforms: Sequence[str] | str | None = None) -> tuple[int, tuple[str, ...]]:
    """``eot`` and the transformation names to draw from.

    ``transforms=None`` means all of :data:`TRANSFORMS` when ``eot > 1`` and none for ``eot=1``
    (the plain attack); a comma-separated string is split; ``()`` means no transformation
    (``eot`` draws of a randomised model only).
    """
    eot = check_count(eot, "eot")
    if transforms is None:
        return eot, DEFAULT_TRANSFORMS if eot > 1 else ()
    if isinstance(transforms, str):
        transforms = [t.strip() for t in transforms.split(",") if t.strip()]
    names = tuple(dict.fromkeys(transforms))
    for name in names:
        if name not in TRANSFORMS:
            raise DfrobustError(f"Unknown EOT transformation {name!r}; expected some of: {', '.join(TRANSFORMS)}")
    return eot, names


def eot_generator(
    generator: torch.Generator | None, x: torch.Tensor, transforms: Sequence[str]
) -> torch.Generator | None:
    """The generator EOT draws from: the caller's, else (transformations to draw) one seeded 0."""
    if generator is not None or not transforms:
        return generator
    return torch.Generator(device=x.device).manual_seed(0)


def random_transform(x: torch.Tensor, transforms: Sequence[str], generator: Generator | None) -> torch.Tensor:
    """One draw: a transformation picked uniformly from ``transforms`` (identity if none), applied to the batch.

    With per-sample :class:`~dfrobust.attacks.base.SampleGenerators` each sample draws its own.
    """
    if not transforms:
        return x
    if isinstance(generator, SampleGenerators):
        return torch.cat([random_transform(x[i : i + 1], transforms, g) for i, g in enumerate(generator.generators)])
    pick = int(torch.randint(len(transforms), (), generator=generator, device=_draw_device(generator, x)).item())
    return TRANSFORMS[transforms[pick]](x, generator)


def eot_loss_and_grad(
    model: Model,
    x_adv: torch.Tensor,
    y: torch.Tensor,
    loss: str = "bce",
    *,
    eot: int = 1,
    transforms: Sequence[str] = (),
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`~dfrobust.attacks.base.loss_and_grad` in expectation over ``eot`` random transformations.

    Args:
        x_adv: (N, 3, H, W) in [0, 1]. y: (N,) labels.
        eot: draws per call. transforms: names from :data:`TRANSFORMS` (see :func:`check_eot`).
        generator: where every draw comes from (see :func:`eot_generator`).

    Returns:
        Mean per-sample loss (N,), mean logits (N,) and mean input gradient over the draws;
        with ``eot=1`` and no transformation exactly ``loss_and_grad``.
    """
    if eot == 1 and not transforms:
        return loss_and_grad(model, x_adv, y, loss)
    draws = []
    for _ in range(eot):
        with torch.enable_grad():
            x_in = x_adv.detach().float().requires_grad_(True)
            logits = model(random_transform(x_in, transforms, generator)).float()
            losses = per_sample_loss(logits, y, loss)
            (grad,) = torch.autograd.grad(losses.sum(), x_in)
        draws.append((losses.detach(), logits.detach(), grad))
    losses, logits, grads = (torch.stack(parts).mean(0) for parts in zip(*draws))
    return losses, logits, grads
