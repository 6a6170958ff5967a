"""The preflight check warns about probabilities and zero gradients, and is silent otherwise."""

from __future__ import annotations

import warnings

import pytest
import torch

from dfrobust.attacks import preflight_check
from tinymodels import TinyCNN, tiny_data


def test_preflight_warns_on_probabilities_and_zero_gradients(model: TinyCNN) -> None:
    x, y = tiny_data()
    with pytest.warns(UserWarning, match="probabilities"):
        preflight_check(lambda t: torch.sigmoid(model(t)), x, y)
    with pytest.warns(UserWarning, match="gradients are all zero"):
        preflight_check(lambda t: model(torch.round(t)), x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        preflight_check(model, x, y)
