"""PSNR and SSIM: known values, identical images, clear errors."""

from __future__ import annotations

import math

import pytest
import torch

from dfrobust.errors import DfrobustError
from dfrobust.image_quality import mse, psnr, ssim


def test_psnr_of_a_constant_offset() -> None:
    x = torch.full((2, 3, 16, 16), 0.5)
    assert mse(x + 0.1, x) == pytest.approx(0.01)
    assert psnr(x + 0.1, x) == pytest.approx(20.0)
    assert psnr(x, x) == math.inf
    assert psnr(x * 255 + 25.5, x * 255, data_range=255) == pytest.approx(20.0)


def test_ssim_is_one_for_identical_images_and_falls_with_noise() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand((1, 3, 32, 32), generator=g)
    noisy = [(x + s * torch.randn(x.shape, generator=g)).clamp(0, 1) for s in (0.02, 0.1)]
    assert ssim(x, x) == pytest.approx(1.0)
    assert 1 > ssim(noisy[0], x) > ssim(noisy[1], x) > 0
    assert ssim(x * 255, noisy[0] * 255, data_range=255) == pytest.approx(ssim(x, noisy[0]), abs=1e-6)


def test_errors() -> None:
    with pytest.raises(DfrobustError, match="one shape"):
        psnr(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 9))
    with pytest.raises(DfrobustError, match="11x11"):
        ssim(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8))
