"""Evaluation after the codec: an H.264 round trip of every condition, deterministic for a seed."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dfrobust.data.dataset import FFDataset
from dfrobust.data.transforms import build_transform
from dfrobust.errors import DfrobustError
from dfrobust.evaluation import Condition, EvalOptions, evaluate
from dfrobust.evaluation.images import h264_roundtrip, parse_codec


class TinyNet(nn.Module):
    """An untrained 32 px one-logit CNN: enough for scores to move with the pixels."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 8, 5, stride=2, padding=2)
        self.fc = nn.Linear(8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv((x - 0.5) / 0.25)).mean((2, 3))).squeeze(-1)


def _smooth(n: int = 3, size: int = 32) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return F.interpolate(torch.rand((n, 3, size // 4, size // 4), generator=g), size=(size, size), mode="bilinear")


def test_h264_roundtrip_is_lossy_deterministic_and_per_image() -> None:
    x = _smooth()
    out = h264_roundtrip(x, 23)
    assert out.shape == x.shape and out.dtype == torch.float32 and out.min() >= 0 and out.max() <= 1
    assert 0 < (out - x).abs().mean() < 0.1
    assert torch.equal(out, h264_roundtrip(x, 23))  # x264 on one thread: the same bytes every run
    assert torch.equal(out[1:2], h264_roundtrip(x[1:2], 23))  # each image alone: independent of its batch
    assert (h264_roundtrip(x, 40) - x).abs().mean() > (out - x).abs().mean()  # higher CRF, more loss
    assert h264_roundtrip(x[:, :, :31, :29], 23).shape == (3, 3, 31, 29)  # odd sides are padded and cropped


def test_parse_codec() -> None:
    assert parse_codec("h264:crf23") == 23 and parse_codec("h264:crf0") == 0 and parse_codec(None) is None
    for bad in ("h265:crf23", "h264", "h264:crf52", "h264:q23"):
        with pytest.raises(DfrobustError, match="h264:crf23"):
            parse_codec(bad)
    with pytest.raises(DfrobustError, match="h264:crf23"):
        EvalOptions(codec="vp9")


def test_evaluate_after_the_codec_is_deterministic(tiny_manifest: Path) -> None:
    frames = FFDataset(tiny_manifest, "test", build_transform((32, 32)), return_video=True)
    net = TinyNet().eval()
    options = EvalOptions(attacks=("clean", "fgsm"), eps=(8 / 255,), limit=8, sanity=False, codec="h264:crf23")
    first, second = evaluate(net, frames, options), evaluate(net, frames, options)
    plain = evaluate(net, frames, EvalOptions(attacks=("clean", "fgsm"), eps=(8 / 255,), limit=8, sanity=False))
    for condition in (Condition("clean"), Condition("fgsm", 8 / 255)):
        assert torch.equal(first.probs[condition], second.probs[condition])
        assert not torch.equal(first.probs[condition], plain.probs[condition])


def test_eot_is_an_evaluation_budget() -> None:
    from dfrobust.attacks.registry import get_attack
    from dfrobust.evaluation.batch import budget_label

    options = EvalOptions(eot=3)
    assert get_attack("pgd").options(options, "eval") == {"steps": 10, "eot": 3}
    assert get_attack("fgsm").options(options, "eval") == {"eot": 3}
    assert budget_label(Condition("pgd", 4 / 255), options) == "pgd 4/255 (steps 10, eot 3)"
    assert budget_label(Condition("pgd", 4 / 255), EvalOptions()) == "pgd 4/255 (steps 10)"
    with pytest.raises(DfrobustError, match="eot"):
        EvalOptions(eot=0)


def test_evaluate_with_eot_uses_the_per_frame_generators(tiny_manifest: Path) -> None:
    frames = FFDataset(tiny_manifest, "test", build_transform((32, 32)), return_video=True)
    net = TinyNet().eval()
    options = EvalOptions(attacks=("clean", "pgd"), eps=(8 / 255,), pgd_steps=2, eot=2, limit=4, sanity=False)
    first, second = evaluate(net, frames, options), evaluate(net, frames, options)
    pgd_condition = Condition("pgd", 8 / 255)
    assert torch.equal(first.probs[pgd_condition], second.probs[pgd_condition])
