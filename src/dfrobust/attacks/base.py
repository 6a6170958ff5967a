"""What every attack shares: the result type, input checks, the losses and the projection.

The threat-model contract, stated once (DESIGN.md):

- ``model(x)`` maps images ``x: (N, 3, H, W)`` float in [0, 1] to logits ``(N,)``, the score
  for "fake" (the model owns its normalisation), so ``eps`` is in pixel units (8/255).
- ``y: (N,)`` labels, 0 real, 1 fake. Losses: BCE with logits, and the margin
  ``(2y - 1) * logit`` (> 0 means correctly classified), which does not saturate.
- Attacks never call ``.train()``/``.eval()`` (the caller owns the mode), never touch
  parameters or their ``.grad`` (gradients are taken w.r.t. the input only, with
  ``torch.autograd.grad``) and never seed global RNGs: randomness comes from an explicit
  ``torch.Generator`` on ``x``'s device.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import torch
import torch.nn.functional as F

from dfrobust.eps import check_eps
from dfrobust.errors import DfrobustError

Model = Callable[[torch.Tensor], torch.Tensor]
LOSSES = ("bce", "margin")


class AttackResult(NamedTuple):
    """What every attack returns.

    Attributes:
        x_adv: (N, C, H, W) adversarial images, detached, ``x``'s dtype and device, in [0, 1]
            and in the attack's ball around ``x``.
        queries: (N,) long, model evaluations spent per sample (forwards for black-box
            attacks, gradient evaluations for white-box ones; 0 where nothing was spent).
        logits: (N,) float32 logits of ``x_adv`` as the model scored them, or None for the
            training attacks (an extra forward in train mode would move BatchNorm statistics).
        success: (N,) bool, ``x_adv`` is misclassified (margin <= 0), or None with ``logits``.
        details: attack-specific extras, or None; the ensemble (``auto``) puts its per-frame
            ``broken_by`` and per-stage ``stages`` here (see :mod:`dfrobust.attacks.ensemble`).
    """

    x_adv: torch.Tensor
    queries: torch.Tensor
    logits: torch.Tensor | None = None
    success: torch.Tensor | None = None
    details: dict[str, Any] | None = None


class Attack(Protocol):
    """The registry's signature: ``attack(model, x, y, *, eps, generator=None, **options)``."""

    def __call__(
        self,
        model: Model,
        x: torch.Tensor,
        y: torch.Tensor,
        *,
        eps: float,
        generator: torch.Generator | None = None,
        **options: object,
    ) -> AttackResult: ...


def check_count(value: int, name: str) -> int:
    """``value`` if it is a positive integer, else a clear :class:`DfrobustError`."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise DfrobustError(f"Expected {name} to be a positive integer, got {value!r}")
    return value


def check_inputs(x: torch.Tensor, y: torch.Tensor, generator: Generator | None) -> None:
    """Shapes (N, C, H, W) and (N,), values in [0, 1], a generator on the images' device."""
    if x.dim() != 4 or y.shape != (x.shape[0],):
        raise DfrobustError(f"Expected images (N, C, H, W) and labels (N,), got {tuple(x.shape)} and {tuple(y.shape)}")
    lo, hi = torch.stack(torch.aminmax(x)).tolist()  # one device sync
    if lo < 0 or hi > 1:
        raise DfrobustError(
            f"Expected images in [0, 1], got values in [{lo:.3g}, {hi:.3g}]; pass unnormalised "
            "images (the model normalises them itself)"
        )
    if isinstance(generator, SampleGenerators):
        _check_count(generator, x.shape[0])  # CPU generators: their draws are moved to x's device
    elif generator is not None and generator.device.type != x.device.type:
        raise DfrobustError(
            f"Expected a torch.Generator on {x.device.type} (the images' device), got one on "
            f"{generator.device.type}; build it with torch.Generator(device=x.device)"
        )


def check_loss(loss: str) -> str:
    """``loss`` if it is one of :data:`LOSSES`."""
    if loss not in LOSSES:
        raise DfrobustError(f"Unknown loss {loss!r}; expected one of: {', '.join(LOSSES)}")
    return loss


def margin(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Margin ``(2y - 1) * logit``: (N,), > 0 where the one-logit model is correct."""
    if logits.shape != y.shape:
        raise DfrobustError(
            f"Expected the model to return one logit per image, shape {tuple(y.shape)}, got "
            f"{tuple(logits.shape)}; wrap two-class models so they return the 'fake' logit"
        )
    return (2 * y.to(logits.dtype) - 1) * logits


def per_sample_loss(logits: torch.Tensor, y: torch.Tensor, loss: str = "bce") -> torch.Tensor:
    """(N,) loss the attacker maximises: BCE, or the negated margin (scale-free, never saturates)."""
    m = margin(logits, y)  # also the shape check, with a clear message
    if loss == "margin":
        return -m
    return F.binary_cross_entropy_with_logits(logits, y.to(logits.dtype), reduction="none")


def loss_and_grad(
    model: Model, x_adv: torch.Tensor, y: torch.Tensor, loss: str = "bce"
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-sample loss (N,), logits (N,) and the loss's gradient w.r.t. the input only.

    The input is an fp32 leaf and the loss is taken in fp32, so this also works under autocast.
    The loss is summed, not averaged, so tiny per-sample gradients do not underflow.
    """
    with torch.enable_grad():
        x_adv = x_adv.detach().float().requires_grad_(True)
        logits = model(x_adv).float()
        losses = per_sample_loss(logits, y, loss)
        (grad,) = torch.autograd.grad(losses.sum(), x_adv)
    return losses.detach(), logits.detach(), grad


def input_grad(model: Model, x_adv: torch.Tensor, y: torch.Tensor, loss: str = "bce") -> torch.Tensor:
    """Gradient of the loss w.r.t. the input only; parameters' ``.grad`` stays untouched."""
    return loss_and_grad(model, x_adv, y, loss)[2]


class SampleGenerators:
    """One CPU ``torch.Generator`` per sample, so a sample's draws do not depend on its batch.

    Evaluation keys each frame's stream on (seed, frame, condition): the frame then gets the
    same adversarial example whatever its batch, shard, process or device. Accepted wherever
    an attack takes ``generator``; the draw helpers below (:func:`rand`, :func:`randint`,
    :func:`uniform`) draw per sample on the CPU and concatenate, then move the result to the
    images' device, so the numbers are the same on every device. ::

        gens = SampleGenerators([1234, 5678])      # one seed per sample
        x_adv = pgd(model, x, y, eps=4 / 255, generator=gens).x_adv
        gens.subset(torch.tensor([1]))             # the generators of sample 1 only (shared state)
    """

    device = torch.device("cpu")

    def __init__(self, seeds: list[int] | None = None, *, generators: list[torch.Generator] | None = None) -> None:
        self.generators = generators if generators is not None else [torch.Generator().manual_seed(s) for s in seeds]

    def __len__(self) -> int:
        return len(self.generators)

    def __getitem__(self, i: int) -> torch.Generator:
        return self.generators[i]

    def subset(self, index: torch.Tensor | list[int]) -> SampleGenerators:
        """The generators of samples ``index`` (a long index or a bool mask), sharing their state."""
        index = torch.as_tensor(index)
        if index.dtype == torch.bool:
            index = index.nonzero().squeeze(1)
        return SampleGenerators(generators=[self.generators[i] for i in index.tolist()])


Generator = torch.Generator | SampleGenerators


def subset(generator: Generator | None, index: torch.Tensor) -> Generator | None:
    """``generator`` for the samples ``index``: per-sample generators are indexed, others shared."""
    return generator.subset(index) if isinstance(generator, SampleGenerators) else generator


def rand(generator: Generator | None, n: int, shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """(n, *shape) float32 U(0, 1), from ``generator`` (per sample for :class:`SampleGenerators`)."""
    if isinstance(generator, SampleGenerators):
        _check_count(generator, n)
        draws = [torch.rand(shape, generator=g) for g in generator.generators]
        return (torch.stack(draws) if draws else torch.empty((0, *shape))).to(device)
    return torch.rand((n, *shape), generator=generator, device=device)


def randint(
    generator: Generator | None, low: int, high: int, n: int, shape: tuple[int, ...], device: torch.device
) -> torch.Tensor:
    """(n, *shape) int64 in [low, high), from ``generator`` (per sample for :class:`SampleGenerators`)."""
    if isinstance(generator, SampleGenerators):
        _check_count(generator, n)
        draws = [torch.randint(low, high, shape, generator=g) for g in generator.generators]
        return (torch.stack(draws) if draws else torch.empty((0, *shape), dtype=torch.long)).to(device)
    return torch.randint(low, high, (n, *shape), generator=generator, device=device)


def _check_count(generator: SampleGenerators, n: int) -> None:
    if len(generator) != n:
        raise DfrobustError(f"Expected one generator per sample ({n}), got {len(generator)}")


def uniform(x: torch.Tensor, bound: float, generator: Generator | None) -> torch.Tensor:
    """U(-bound, bound) noise shaped like ``x`` and in its memory format (channels_last stays
    channels_last), drawn from ``generator`` (default: torch's)."""
    if isinstance(generator, SampleGenerators):
        noise = rand(generator, x.shape[0], tuple(x.shape[1:]), x.device)
    else:
        noise = torch.rand(x.shape, generator=generator, device=x.device, dtype=torch.float32)
    return torch.empty_like(x, dtype=torch.float32).copy_((2 * noise - 1) * bound)


def ball(x: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-pixel bounds ``(lo, hi)`` of the L-inf eps-ball around ``x`` within [0, 1]; an
    iterative attack computes them once and projects each step with one ``clamp``."""
    return (x - eps).clamp(0, 1), (x + eps).clamp(0, 1)


def project(x_adv: torch.Tensor, x: torch.Tensor, eps: float) -> torch.Tensor:
    """Clip ``x_adv`` into the L-inf eps-ball around ``x`` and into [0, 1]."""
    return torch.clamp(x_adv, *ball(x, eps)).detach()


def query(model: Model, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and margins of one forward; inference mode skips autograd bookkeeping."""
    with torch.inference_mode():
        logits = model(x).float()
    return logits, margin(logits, y)


def scored(
    model: Model, x_adv: torch.Tensor, y: torch.Tensor, queries: torch.Tensor, dtype: torch.dtype
) -> AttackResult:
    """The :class:`AttackResult` of a finished attack: one forward scores ``x_adv``."""
    logits, m = query(model, x_adv, y)
    return AttackResult(x_adv.detach().to(dtype), queries, logits.clone(), (m <= 0).clone())


def spent(n: int, per_sample: int, device: torch.device) -> torch.Tensor:
    """(n,) long tensor of ``per_sample`` queries."""
    return torch.full((n,), per_sample, dtype=torch.long, device=device)


__all__ = ["LOSSES", "Attack", "AttackResult", "Model", "SampleGenerators", "check_eps", "margin", "per_sample_loss"]
