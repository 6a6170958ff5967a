"""Tests for dfrobust.config, dfrobust.training and the ``dfrobust train`` command."""

from __future__ import annotations

import csv
import dataclasses
import functools
import logging
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml
from typer.testing import CliRunner

from dfrobust import attacks
from dfrobust.cli import app
from dfrobust.cli.train import parse_overrides
from dfrobust.config import Config, load_config, save_config
from dfrobust.errors import DfrobustError
from dfrobust.runs import History, build_model, load_run_model
from dfrobust.training import train
from dfrobust.training.callbacks import HistoryWriter
from dfrobust.training.module import DetectorModule

TINY = {  # a run that takes seconds on 2 cores
    "data": {"image_size": 32, "batch_size": 16, "workers": 0},
    "model": {"name": "resnet10t"},
    "adv": {"monitor_frames": 16, "monitor_steps": 2},
    "train": {"epochs": 2, "optimizer": "adamw", "lr": 0.003},
}


def tiny_config(manifest: Path, **overrides: str) -> Config:
    flat = {f"{section}.{key}": str(value) for section, values in TINY.items() for key, value in values.items()}
    return load_config(None, {**flat, "manifest": str(manifest), **overrides})


def _tiny_yaml(path: Path) -> Path:
    path.write_text(yaml.safe_dump(TINY))
    return path


@pytest.fixture(scope="module")
def clean_run(tiny_manifest: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("runs") / "clean"
    train(tiny_config(tiny_manifest), run)
    return run


def test_config_overrides_fractions_and_clear_errors() -> None:
    config = load_config(None, {"eps": "8/255", "lr": "0.1", "adv": "fgsm-rs", "num-nodes": "2", "workers": "none"})
    assert config.adv.eps == pytest.approx(8 / 255) and config.train.lr == 0.1
    # "fgsm-rs" (the paper's spelling) names the registry's fgsm_rs
    assert config.adv.method == "fgsm_rs" and config.train.num_nodes == 2 and config.data.workers is None
    with pytest.raises(DfrobustError, match="unknown config key 'foo'; valid keys: data.manifest"):
        load_config(None, {"foo": "1"})
    with pytest.raises(DfrobustError, match="did you mean 8/255"):
        load_config(None, {"eps": "8"})
    with pytest.raises(DfrobustError, match="one of none, pgd, fgsm_rs, n_fgsm"):
        load_config(None, {"adv": "fgsm"})


def test_config_yaml_round_trip_and_unknown_yaml_key(tmp_path: Path) -> None:
    config = load_config(None, {"eps": "4/255", "schedule": "onecycle", "devices": "0,1"})
    save_config(config, tmp_path / "config.yaml")
    assert load_config(tmp_path / "config.yaml") == config
    (tmp_path / "bad.yaml").write_text("train:\n  learning_rate: 0.1\n")
    with pytest.raises(DfrobustError, match=r"bad.yaml: unknown key 'train.learning_rate'"):
        load_config(tmp_path / "bad.yaml")


def test_parse_overrides_accepts_both_forms_and_rejects_strays() -> None:
    assert parse_overrides(["--lr", "0.1", "--train.epochs=3"], ["adv.eps=4/255"]) == {
        "lr": "0.1",
        "train.epochs": "3",
        "adv.eps": "4/255",
    }
    with pytest.raises(DfrobustError, match="--lr needs a value"):
        parse_overrides(["--lr"], [])
    with pytest.raises(DfrobustError, match="unexpected argument 'oops'"):
        parse_overrides(["oops"], [])


def test_clean_training_writes_the_whole_run_folder(clean_run: Path, tiny_manifest: Path) -> None:
    history = History.load(clean_run / "history.csv")
    assert history.column("epoch") == [0, 1]
    for name in (
        "train_loss",
        "train_auroc",
        "train_video_auroc",
        "val_loss",
        "val_auroc",
        "val_video_eer",
        "val_pgd_accuracy",
        "co_flag",
        "lr",
        "epoch_time",
    ):
        assert all(math.isfinite(v) for v in history.column(name)), name
    assert max(history.column("val_auroc")) > 0.9  # the toy task is learnable
    assert (clean_run / "plots" / "history.png").stat().st_size > 1000
    assert load_config(clean_run / "config.yaml") == tiny_config(tiny_manifest)
    for name in ("best", "best-robust", "last"):
        checkpoint = torch.load(clean_run / "checkpoints" / f"{name}.ckpt", weights_only=True)
        assert checkpoint["hyper_parameters"]["config"]["model"]["name"] == "resnet10t"


def test_load_run_model_restores_the_trained_weights(clean_run: Path) -> None:
    model, config = load_run_model(clean_run, "last", map_location="cpu")
    assert not model.training and config.data.image_size == 32
    state = torch.load(clean_run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    assert torch.equal(model.state_dict()["net.conv1.0.weight"], state["model.net.conv1.0.weight"])
    assert model(torch.rand(2, 3, 32, 32)).shape == (2,)


def test_load_run_model_refuses_pickled_code_and_names_missing_checkpoints(clean_run: Path, tmp_path: Path) -> None:
    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"config": functools.partial(print, "pwned")}}, evil)
    with pytest.raises(DfrobustError, match=f"refusing to load {evil}"):
        load_run_model(clean_run, evil)
    with pytest.raises(DfrobustError, match="available in .*: best, best-robust, last"):
        load_run_model(clean_run, tmp_path / "nope.ckpt")


def test_existing_run_needs_resume_and_resume_needs_the_same_config(clean_run: Path, tiny_manifest: Path) -> None:
    with pytest.raises(DfrobustError, match="already holds a run; pass --resume"):
        train(tiny_config(tiny_manifest), clean_run)
    with pytest.raises(DfrobustError, match=r"different config \(train.lr changed"):
        train(tiny_config(tiny_manifest, lr="0.5"), clean_run, resume=True)


@pytest.mark.parametrize(("method", "attack"), [("fgsm-rs", "fgsm_rs"), ("n-fgsm", "n_fgsm"), ("pgd", "pgd")])
def test_adversarial_training_step_attacks_in_train_mode(
    method: str, attack: str, tiny_manifest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    original = attacks.ATTACKS[attack]

    def spy(model, x, y, **kwargs):
        result = original.fn(model, x, y, **kwargs)
        calls.append((model.training, kwargs, result.x_adv))
        return result

    monkeypatch.setitem(attacks.ATTACKS, attack, dataclasses.replace(original, fn=spy))
    config = tiny_config(tiny_manifest, adv=method, eps="4/255", steps="2")
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


def test_nan_loss_stops_with_a_clear_error_and_keeps_last_checkpoint(
    tiny_manifest: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def loss_nan_from_epoch_1(self, logits, y):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), y.float())
        return loss * math.nan if self.current_epoch >= 1 and self.training else loss

    monkeypatch.setattr(DetectorModule, "loss", loss_nan_from_epoch_1)
    with pytest.raises(DfrobustError, match="training loss became nan at epoch 1.*last.ckpt still holds"):
        train(tiny_config(tiny_manifest, epochs="3"), tmp_path / "nan")
    last = torch.load(tmp_path / "nan" / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["epoch"] == 0
    assert all(v.isfinite().all() for v in last["state_dict"].values() if v.is_floating_point())
    assert History.load(tmp_path / "nan" / "history.csv").column("epoch") == [0]


def test_history_writer_flags_a_pgd_accuracy_collapse(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    writer = HistoryWriter(tmp_path, co_drop=0.2)
    for epoch, robust in enumerate([0.40, 0.55, 0.30, 0.50]):
        trainer = SimpleNamespace(
            current_epoch=epoch,
            is_global_zero=True,
            sanity_checking=False,
            optimizers=[SimpleNamespace(param_groups=[{"lr": 0.1}])],
        )
        module = SimpleNamespace(epoch_values={"train_loss": 0.5, "val_auroc": 0.9, "val_pgd_accuracy": robust})
        with caplog.at_level(logging.WARNING):
            writer.on_validation_end(trainer, module)
    assert History.load(tmp_path / "history.csv").column("co_flag") == [0, 0, 1, 0]
    assert "catastrophic overfitting" in caplog.text and "0.300" in caplog.text


def test_cli_train_with_yaml_and_overrides(tiny_manifest: Path, tmp_path: Path) -> None:
    config = _tiny_yaml(tmp_path / "tiny.yaml")
    run = tmp_path / "cli"
    args = [
        "train",
        "--config",
        str(config),
        "--manifest",
        str(tiny_manifest),
        "--run",
        str(run),
        "--epochs",
        "1",
        "--batch-size",
        "24",
        "--set",
        "adv.monitor_frames=8",
        "--adv",
        "fgsm-rs",
        "--eps",
        "4/255",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "val_pgd_accuracy" in result.output
    saved = load_config(run / "config.yaml")
    assert saved.data.batch_size == 24 and saved.adv.monitor_frames == 8 and saved.train.epochs == 1
    assert saved.adv.method == "fgsm_rs" and saved.adv.eps == pytest.approx(4 / 255)
    bad = CliRunner().invoke(app, ["train", "--config", str(config), "--run", str(tmp_path / "x"), "--lr_max", "1"])
    assert bad.exit_code == 1 and "unknown config key 'lr_max'" in bad.output


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "dfrobust", "train", *args]


@pytest.mark.slow
def test_killed_run_resumes_and_lists_every_epoch_once(tiny_manifest: Path, tmp_path: Path) -> None:
    config, run = _tiny_yaml(tmp_path / "tiny.yaml"), tmp_path / "killed"
    epochs = 4
    proc = subprocess.Popen(
        _cli("--config", str(config), "--manifest", str(tiny_manifest), "--run", str(run), "--epochs", str(epochs)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    history = run / "history.csv"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if history.exists() and len(History.load(history)) >= 2:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)  # mid-way through the third epoch
    proc.wait()
    assert len(History.load(history)) < epochs, "the run finished before it could be killed"
    done = subprocess.run(_cli("--run", str(run), "--resume"), capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    with open(history, newline="") as f:
        epochs_listed = [int(float(row["epoch"])) for row in csv.DictReader(f)]
    assert epochs_listed == list(range(epochs))
    steps_per_epoch = 48 // 16  # the tiny train split, batch 16
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == epochs * steps_per_epoch


@pytest.mark.slow
def test_two_process_ddp_on_cpu_writes_the_same_files(tiny_manifest: Path, tmp_path: Path) -> None:
    config, run = _tiny_yaml(tmp_path / "tiny.yaml"), tmp_path / "ddp"
    done = subprocess.run(
        _cli(
            "--config",
            str(config),
            "--manifest",
            str(tiny_manifest),
            "--run",
            str(run),
            "--epochs",
            "1",
            "--accelerator",
            "cpu",
            "--devices",
            "2",
            "--strategy",
            "ddp",
        ),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("val_pgd_accuracy") == 1  # one summary table: rank 0 only
    for name in (
        "config.yaml",
        "history.csv",
        "plots/history.png",
        "checkpoints/best.ckpt",
        "checkpoints/best-robust.ckpt",
        "checkpoints/last.ckpt",
    ):
        assert (run / name).is_file(), name
    history = History.load(run / "history.csv")
    assert history.column("epoch") == [0] and math.isfinite(history.column("val_video_auroc")[0])
