"""How visible a perturbation is: PSNR and SSIM of images against their originals.

SSIM follows Wang et al. (IEEE TIP 2004): an 11x11 Gaussian window of sigma 1.5, constants
``(0.01 L)^2`` and ``(0.03 L)^2`` for the data range ``L``, computed per channel over the
window positions inside the image ("valid"), and averaged, as scikit-image's
``structural_similarity(..., gaussian_weights=True, use_sample_covariance=False)``. PSNR over
a set of images uses their mean squared error, so identical frames do not make it infinite::

    psnr(x_adv, x), ssim(x_adv, x)    # (N, C, H, W) in [0, 1]: dB, and a value in [-1, 1]
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from dfrobust.errors import DfrobustError


def _check(a: torch.Tensor, b: torch.Tensor) -> None:
    if a.shape != b.shape or a.dim() != 4:
        raise DfrobustError(
            f"Expected two (N, C, H, W) tensors of one shape, got {tuple(a.shape)} and {tuple(b.shape)}"
        )


def mse(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean squared error of two (N, C, H, W) tensors, over everything (in float64)."""
    _check(a, b)
    return float(((a.double() - b.double()) ** 2).mean())


def psnr(a: torch.Tensor, b: torch.Tensor, data_range: float = 1.0) -> float:
    """PSNR in dB of ``a`` against ``b`` from their mean squared error (inf if identical)."""
    error = mse(a, b)
    return math.inf if error == 0 else 10 * math.log10(data_range**2 / error)


def ssim(a: torch.Tensor, b: torch.Tensor, data_range: float = 1.0) -> float:
    """Mean SSIM of ``a`` against ``b``, (N, C, H, W) with H, W >= 11.

    Computed in float32 on images scaled to [0, 1] (within about 1e-6 of float64 there).
    """
    _check(a, b)
    if min(a.shape[-2:]) < 11:
        raise DfrobustError(f"SSIM needs images of at least 11x11 pixels, got {tuple(a.shape[-2:])}")
    a, b = a.float() / data_range, b.float() / data_range
    t = torch.arange(11, dtype=torch.float32, device=a.device) - 5
    g = torch.exp(-(t**2) / (2 * 1.5**2))
    g = g / g.sum()
    maps = torch.cat([a, b, a * a, b * b, a * b], dim=1)  # one blur for the five local moments
    c = maps.shape[1]
    maps = F.conv2d(F.conv2d(maps, g.expand(c, 1, 1, 11), groups=c), g[:, None].expand(c, 1, 11, 1), groups=c)
    mu_a, mu_b, aa, bb, ab = maps.chunk(5, dim=1)
    var_a, var_b, cov = aa - mu_a**2, bb - mu_b**2, ab - mu_a * mu_b
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(s.double().mean())
