"""What this machine offers: worker processes and the torch device.

Kept apart from the CLI so that library modules (extraction, data loading, evaluation)
can size their workers and pick a device without importing Typer or Rich (or torch, until a
device is asked for).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from dfrobust.errors import DfrobustError

if TYPE_CHECKING:
    import torch


def default_workers() -> int:
    """Worker processes by default: the cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def resolve_device(device: str) -> torch.device:
    """``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N``."""
    import torch  # deferred: extraction workers size themselves without loading torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.split(":")[0] not in ("cpu", "cuda"):
        raise DfrobustError(f"Expected device auto, cpu, cuda or cuda:N, but got {device!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise DfrobustError("--device cuda was asked for, but torch sees no CUDA GPU; use --device cpu or auto")
    return torch.device(device)
