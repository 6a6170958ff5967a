"""What this machine offers: the default number of workers and the torch device."""

from __future__ import annotations

import os

import pytest
import torch

from dfrobust import hardware
from dfrobust.errors import DfrobustError
from dfrobust.hardware import default_workers, resolve_device


def test_default_workers_counts_the_cores_this_process_may_use(monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_workers() >= 1
    if hasattr(os, "sched_getaffinity"):
        assert default_workers() == len(os.sched_getaffinity(0))
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 3})  # e.g. under taskset or a CPU quota
        assert default_workers() == 2


def test_default_workers_without_affinity_falls_back_to_cpu_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    assert hardware.default_workers() == 6
    monkeypatch.setattr(os, "cpu_count", lambda: None)  # unknown: one worker
    assert hardware.default_workers() == 1


def test_resolve_device_cpu_and_auto_without_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(DfrobustError, match="--device cuda was asked for, but torch sees no CUDA GPU"):
        resolve_device("cuda:0")


def test_resolve_device_picks_cuda_when_there_is_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)


@pytest.mark.parametrize("device", ["gpu", "tpu", "mps", "cuda-1", ""])
def test_resolve_device_names_the_accepted_forms(device: str) -> None:
    with pytest.raises(DfrobustError, match=f"Expected device auto, cpu, cuda or cuda:N, but got {device!r}"):
        resolve_device(device)
