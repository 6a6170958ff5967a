"""Case 9: a weights file or checkpoint carrying a pickle payload is refused, never unpickled."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from fault_helpers import assert_clean_failure, assert_clean_result, dfrobust, invoke

from dfrobust.config import load_config, save_config
from dfrobust.errors import DfrobustError
from dfrobust.models import create_model


class Payload:
    """Unpickling this object creates ``marker``: proof that code from the file ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def evil_file(path: Path, obj_key: str = "payload") -> Path:
    """A torch file that runs code on plain unpickling; ``path.parent / 'PWNED'`` is its marker."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": {}, "epoch": 0, obj_key: Payload(path.parent / "PWNED")}, path)
    return path


def evil_run(folder: Path, manifest: Path, name: str = "best") -> Path:
    """A run folder whose checkpoint ``name`` carries the payload (and a valid config.yaml)."""
    config = load_config(None, {"model.name": "resnet10t", "image_size": "32", "manifest": str(manifest)})
    folder.mkdir(parents=True)
    save_config(config, folder / "config.yaml")
    evil_file(folder / "checkpoints" / f"{name}.ckpt")
    return folder


@pytest.mark.parametrize("suffix", [".pt", ".pth", ".ckpt"])
def test_model_weights_with_a_payload_are_refused(tmp_path: Path, suffix: str) -> None:
    path = evil_file(tmp_path / f"weights{suffix}")
    with pytest.raises(DfrobustError, match="refusing to unpickle"):
        create_model("meso4", weights=path)
    assert not (tmp_path / "PWNED").exists()


def test_garbage_safetensors_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    path.write_bytes(b"\x80\x04not safetensors")
    with pytest.raises(DfrobustError, match="not a readable safetensors file"):
        create_model("meso4", weights=path)


def test_cli_predict_refuses_payload_weights_in_a_fresh_process(tmp_path: Path) -> None:
    image = tmp_path / "a.png"
    from PIL import Image

    Image.new("RGB", (64, 64)).save(image)
    weights = evil_file(tmp_path / "Meso4_DF.pt")
    proc = dfrobust("predict", image, "--model", "meso4", "--weights", weights)
    assert_clean_failure(proc, str(weights), "refusing to unpickle")
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("command", ["test", "predict"])
def test_cli_run_checkpoints_with_a_payload_are_refused(tiny_manifest: Path, tmp_path: Path, command: str) -> None:
    run = evil_run(tmp_path / "run", tiny_manifest)
    extra = [tiny_manifest.parent / "original/000/000.jpg"] if command == "predict" else []
    result = invoke(command, *extra, "--run", run)
    assert_clean_result(result, "refusing to load", str(run / "checkpoints" / "best.ckpt"))
    assert not (tmp_path / "run" / "PWNED").exists() and not (tmp_path / "run" / "checkpoints" / "PWNED").exists()
    assert not (run / "eval").exists()


def test_cli_test_refuses_a_payload_checkpoint_given_by_path(tiny_manifest: Path, tmp_path: Path) -> None:
    run = evil_run(tmp_path / "run", tiny_manifest)
    other = evil_file(tmp_path / "downloaded" / "model.ckpt")
    assert_clean_result(invoke("test", "--run", run, "--checkpoint", other), "refusing to load", str(other))
    assert not (other.parent / "PWNED").exists()


@pytest.mark.parametrize(
    ("damage", "message"), [("payload", "refusing to load"), ("truncated", "cannot read checkpoint")]
)
def test_train_resume_refuses_a_bad_last_checkpoint(
    tiny_manifest: Path, tmp_path: Path, damage: str, message: str
) -> None:
    run = evil_run(tmp_path / "run", tiny_manifest, name="last")
    last = run / "checkpoints" / "last.ckpt"
    if damage == "truncated":  # as a copy killed half-way leaves it
        torch.save({"state_dict": {"w": torch.zeros(1000)}, "epoch": 0}, last)
        last.write_bytes(last.read_bytes()[:300])
    result = invoke("train", "--run", run, "--resume")
    assert not (run / "checkpoints" / "PWNED").exists()  # weights_only=True: the payload never runs
    assert_clean_result(result, message, str(last))
