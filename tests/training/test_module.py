"""DetectorModule: the training step (clean or attacked), the loss, checkpoint guards."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
import torch

from dfrobust import attacks
from dfrobust.errors import DfrobustError
from dfrobust.runs import History, build_model
from dfrobust.training import train
from dfrobust.training.module import DetectorModule


@pytest.mark.parametrize(("method", "attack"), [("fgsm-rs", "fgsm_rs"), ("n-fgsm", "n_fgsm"), ("pgd", "pgd")])
def test_adversarial_training_step_attacks_in_train_mode(
    method: str, attack: str, tiny_config, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    original = attacks.ATTACKS[attack]

    def spy(model, x, y, **kwargs):
        result = original.fn(model, x, y, **kwargs)
        calls.append((model.training, kwargs, result.x_adv))
        return result

    monkeypatch.setitem(attacks.ATTACKS, attack, dataclasses.replace(original, fn=spy))
    config = tiny_config(adv=method, eps="4/255", steps="2")
    x, y = torch.rand(4, 3, 32, 32), torch.tensor([0, 1, 1, 0])
    weights = build_model(config, initial_weights=False).state_dict()
    for run in range(2):  # the same config and weights twice: the same adversarial batch
        module = DetectorModule(build_model(config, initial_weights=False), config).train()
        module.model.load_state_dict(weights)
        torch.manual_seed(run)  # the global RNG differs between the runs; the attack must not use it
        loss = module.training_step((x, y, torch.arange(4)), 0)
    loss.backward()
    assert len(calls) == 2 and calls[0][0]  # attacked once per step, in train mode
    assert torch.equal(calls[0][2], calls[1][2])
    assert calls[0][1]["eps"] == pytest.approx(4 / 255) and calls[0][1]["alpha"] is None
    assert ("steps" in calls[0][1]) == (method == "pgd")
    assert isinstance(calls[0][1]["generator"], torch.Generator)
    assert all(p.grad is not None for p in module.model.parameters() if p.requires_grad)


def test_clean_training_step_is_bce_on_the_unattacked_batch(tiny_config) -> None:
    config = tiny_config()
    module = DetectorModule(build_model(config, initial_weights=False), config).train()
    assert module.attack is None
    torch.manual_seed(0)
    x, y = torch.rand(4, 3, 32, 32), torch.tensor([0, 1, 1, 0])
    loss = module.training_step((x, y, torch.arange(4)), 0)
    # still in train mode: BatchNorm normalises with the same batch statistics as the step did
    expected = torch.nn.functional.binary_cross_entropy_with_logits(module.model(x), y.float())
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_pos_weight_weighs_the_fake_class(tiny_config) -> None:
    config = tiny_config()
    logits, y = torch.tensor([0.0, 0.0]), torch.tensor([1, 0])
    plain = DetectorModule(build_model(config, initial_weights=False), config).loss(logits, y)
    weighted = DetectorModule(build_model(config, initial_weights=False), config, pos_weight=3.0).loss(logits, y)
    assert weighted.item() == pytest.approx(2 * plain.item())  # (3 ln2 + ln2) / 2 against (ln2 + ln2) / 2


def test_a_checkpoint_of_non_finite_weights_is_refused(tiny_config) -> None:
    module = DetectorModule(build_model(tiny_config(), initial_weights=False), tiny_config())
    state = {k: v.clone() for k, v in module.state_dict().items()}
    module.on_save_checkpoint({"state_dict": state})  # finite: accepted
    name = next(k for k, v in state.items() if v.is_floating_point())
    state[name].view(-1)[0] = math.inf
    with pytest.raises(DfrobustError, match=f"not finite \\({name}"):
        module.on_save_checkpoint({"state_dict": state})


def test_nan_loss_stops_with_a_clear_error_and_keeps_last_checkpoint(
    tiny_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def loss_nan_from_epoch_1(self, logits, y):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), y.float())
        return loss * math.nan if self.current_epoch >= 1 and self.training else loss

    monkeypatch.setattr(DetectorModule, "loss", loss_nan_from_epoch_1)
    with pytest.raises(DfrobustError, match="training loss became nan at epoch 1.*last.ckpt still holds"):
        train(tiny_config(epochs="3"), tmp_path / "nan")
    last = torch.load(tmp_path / "nan" / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["epoch"] == 0
    assert all(v.isfinite().all() for v in last["state_dict"].values() if v.is_floating_point())
    assert History.load(tmp_path / "nan" / "history.csv").column("epoch") == [0]
