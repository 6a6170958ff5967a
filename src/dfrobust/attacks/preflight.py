"""Checks before an evaluation that warn about setups where attacks underestimate robustness."""

from __future__ import annotations

import warnings

import torch

from dfrobust.attacks.base import Model, input_grad, margin


def preflight_check(model: Model, x: torch.Tensor, y: torch.Tensor) -> None:
    """Warn about setups that make attacks underestimate robustness (as AutoAttack's checks).

    Checks one small batch: outputs in [0, 1] look like probabilities, not logits; input
    gradients that are all zero hint at gradient masking, where only black-box attacks
    (Square) give a trustworthy robust accuracy.
    """
    x, y = x[:16], y[:16]
    with torch.no_grad():
        logits = model(x.detach().float()).float()
    margin(logits, y)  # shape check
    if logits.min() >= 0 and logits.max() <= 1:
        warnings.warn(
            "Model outputs all lie in [0, 1]: they look like probabilities, but attacks expect "
            "raw logits (drop the final sigmoid).",
            stacklevel=2,
        )
    if not input_grad(model, x, y).any():
        warnings.warn(
            "Input gradients are all zero: gradient-based attacks (FGSM, PGD) will fail, which "
            "hints at gradient masking; check robustness with the black-box Square attack.",
            stacklevel=2,
        )
