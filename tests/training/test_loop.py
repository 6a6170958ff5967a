"""train(): the run folder it writes, resuming, and the ``dfrobust train`` command."""

from __future__ import annotations

import csv
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from dfrobust.cli import app
from dfrobust.cli.train import parse_overrides
from dfrobust.config import load_config
from dfrobust.errors import DfrobustError
from dfrobust.runs import History
from dfrobust.training import train
from dfrobust.training.loop import trainer_options
from dfrobust.training.module import selection_score


@pytest.fixture(scope="module")
def clean_run(tiny_config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("runs") / "clean"
    train(tiny_config(), run)
    return run


def test_clean_training_writes_the_whole_run_folder(clean_run: Path, tiny_config) -> None:
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
    assert load_config(clean_run / "config.yaml") == tiny_config()
    for name in ("best", "best-robust", "last"):
        checkpoint = torch.load(clean_run / "checkpoints" / f"{name}.ckpt", weights_only=True)
        assert checkpoint["hyper_parameters"]["config"]["model"]["name"] == "resnet10t"
    scores = [selection_score(a, loss) for a, loss in zip(history.column("val_auroc"), history.column("val_loss"))]
    best = torch.load(clean_run / "checkpoints" / "best.ckpt", weights_only=True)
    assert best["epoch"] == scores.index(max(scores))  # best.ckpt is the epoch of the highest score


def test_selection_prefers_auroc_and_breaks_ties_by_the_lower_loss() -> None:
    assert selection_score(1.0, 0.05) > selection_score(1.0, 0.2)  # tied AUROC: the lower loss wins
    assert selection_score(0.9991, 50.0) > selection_score(0.999, 0.0)  # a real AUROC difference wins
    scores = torch.tensor([selection_score(1.0, 0.0224), selection_score(1.0, 0.0168)])  # as Lightning logs them
    assert scores.dtype == torch.float32 and scores[1] > scores[0]


def test_existing_run_needs_resume_and_resume_needs_the_same_config(clean_run: Path, tiny_config) -> None:
    with pytest.raises(DfrobustError, match="already holds a run; pass --resume"):
        train(tiny_config(), clean_run)
    with pytest.raises(DfrobustError, match=r"different config \(train.lr changed"):
        train(tiny_config(lr="0.5"), clean_run, resume=True)


def test_a_config_without_manifest_is_refused_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(DfrobustError, match="no manifest: pass --manifest"):
        train(load_config(None, {"model.name": "resnet10t"}), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_trainer_options_map_device_to_accelerator_and_devices() -> None:
    def options(**overrides: str) -> dict:
        return trainer_options(load_config(None, overrides).train)

    assert options() == {
        "accelerator": "auto",
        "devices": "auto",
        "num_nodes": 1,
        "strategy": "auto",
        "precision": "32-true",
    }
    assert options(device="cuda:1")["accelerator"] == "gpu" and options(device="cuda:1")["devices"] == [1]
    assert options(device="cpu", devices="4")["devices"] == 1  # device forces one device
    assert options(accelerator="cuda", devices="2")["accelerator"] == "gpu"
    assert options(devices="0,1")["devices"] == "0,1"


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


def test_cli_train_with_yaml_and_overrides(tiny_manifest: Path, tiny_yaml: Path, tmp_path: Path) -> None:
    config, run = tiny_yaml, tmp_path / "cli"
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
def test_killed_run_resumes_and_lists_every_epoch_once(tiny_manifest: Path, tiny_yaml: Path, tmp_path: Path) -> None:
    config, run = tiny_yaml, tmp_path / "killed"
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
def test_two_process_ddp_on_cpu_writes_the_same_files(tiny_manifest: Path, tiny_yaml: Path, tmp_path: Path) -> None:
    config, run = tiny_yaml, tmp_path / "ddp"
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
