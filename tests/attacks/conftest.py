"""Fixtures of the attack tests: the tiny trained CNN, one thread."""

from __future__ import annotations

import pytest
import torch

from tinymodels import TinyCNN, trained_tiny_cnn


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny tensors: thread start-up costs more than it saves (20x on a busy 2-core machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def model() -> TinyCNN:
    """A fresh copy of the trained tiny CNN, in eval mode."""
    return trained_tiny_cnn()
