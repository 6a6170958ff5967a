"""Acceptance: every result file is written atomically (temp name, then rename).

A scan of ``src/dfrobust`` for writes that bypass :mod:`dfrobust.atomicio`, and a check that
Lightning's own checkpoint writes (``ModelCheckpoint`` -> ``trainer.save_checkpoint``) go
through a temporary file too, so a ``kill -9`` mid-save never leaves a half-written ``last.ckpt``.
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest
import torch

SRC = Path(__file__).resolve().parents[2] / "src" / "dfrobust"
WRITE_MODE = re.compile(r"^[rbt+]*[wax][bt+]*$")
WRITE_METHODS = {
    "write_text",
    "write_bytes",
    "to_csv",
    "savefig",
    "save",
    "dump",
    "safe_dump",
    "save_file",
    "save_checkpoint",
}
IN_MEMORY = {"BytesIO", "StringIO"}
# Our own ``save`` methods that write through atomicio (checked below), not PIL's or numpy's.
ATOMIC_SAVES = {"history.save": "dfrobust.runs.History.save"}


def _name(node: ast.AST) -> str:
    """``f`` for ``f``, ``torch.save`` for ``torch.save``; '' for anything else."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _name(node.value)
        return f"{base}.{node.attr}" if base else node.attr
    return ""


def _safe_targets(tree: ast.AST) -> set[str]:
    """Names bound to an in-memory buffer or to the file ``atomic_open`` yields."""
    safe = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Call)
            and _name(node.value.func).split(".")[-1] in IN_MEMORY
        ):
            safe.update(t.id for t in node.targets if isinstance(t, ast.Name))
        if (
            isinstance(node, ast.withitem)
            and isinstance(node.context_expr, ast.Call)
            and _name(node.context_expr.func).split(".")[-1] == "atomic_open"
            and isinstance(node.optional_vars, ast.Name)
        ):
            safe.add(node.optional_vars.id)
    return safe


def _write_target(node: ast.Call, func: str, method: str) -> ast.AST | None:
    """The expression a write call writes into; None when the call always writes a named file."""
    if func in ("json.dump", "yaml.safe_dump", "yaml.dump", "torch.save", "np.save"):
        return node.args[1] if len(node.args) > 1 else None  # dump(obj, file)
    if method in ("savefig", "save"):
        return node.args[0] if node.args else None  # fig.savefig(file), image.save(file)
    if method == "open" and node.args:
        if isinstance(node.args[0], ast.Constant):  # Path(...).open("w") or open("name", "w")
            return node.func.value if isinstance(node.func, ast.Attribute) else None
        return node.args[0]  # open(f, "w"), av.open(f, "w")
    return None  # write_text / write_bytes / to_csv / save_checkpoint


def _is_write(node: ast.Call, func: str, method: str) -> bool:
    if func.removeprefix("self.") in ATOMIC_SAVES:
        return False
    if method in ("dump", "safe_dump") and len(node.args) < 2:
        return False  # yaml.safe_dump(obj) returns a string
    if method == "open":
        modes = [
            a.value
            for a in [*node.args[:2], *(k.value for k in node.keywords if k.arg == "mode")]
            if isinstance(a, ast.Constant) and isinstance(a.value, str)
        ]
        return any(WRITE_MODE.match(m) for m in modes)
    return isinstance(node.func, ast.Attribute) and method in WRITE_METHODS


def _direct_writes(path: Path, root: Path = SRC.parent) -> list[str]:
    """``file:line: call`` for each write in ``path`` that does not go through atomicio."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    safe = _safe_targets(tree)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = _name(node.func)
        method = func.split(".")[-1]
        if not _is_write(node, func, method):
            continue
        target = _write_target(node, func, method)
        if not (isinstance(target, ast.Name) and target.id in safe):
            found.append(f"{path.relative_to(root)}:{node.lineno}: {ast.unparse(node)[:100]}")
    return found


def test_no_result_file_bypasses_atomicio() -> None:
    offenders = [
        hit for path in sorted(SRC.rglob("*.py")) if path.name != "atomicio.py" for hit in _direct_writes(path)
    ]
    assert not offenders, "write these through dfrobust.atomicio (temp name, then rename):\n" + "\n".join(offenders)


@pytest.mark.parametrize(
    "code",
    [
        'open(p, "w").write("x")',
        'p.open("wb")',
        'p.write_text("x")',
        'p.write_bytes(b"")',
        "fig.savefig(p)",
        "torch.save(state, p)",
        "frame.to_csv(p)",
        'json.dump(obj, open(p, "a"))',
        'image.save(p, format="JPEG")',
        "trainer.save_checkpoint(p)",
        "yaml.safe_dump(obj, f)",
    ],
)
def test_the_scan_finds_each_kind_of_direct_write(tmp_path: Path, code: str) -> None:
    module = tmp_path / "bad.py"
    module.write_text(f"def f(p, f, fig, obj, state, frame, image, trainer):\n    {code}\n")
    assert _direct_writes(module, tmp_path), code


def test_the_scan_accepts_buffers_atomic_open_reads_and_atomic_saves(tmp_path: Path) -> None:
    module = tmp_path / "ok.py"
    module.write_text(
        "import io\nfrom dfrobust.atomicio import atomic_open\n"
        "def f(p, fig, image, state, history):\n"
        "    buf = io.BytesIO()\n    fig.savefig(buf, format='png')\n    torch.save(state, buf)\n"
        "    with atomic_open(p, 'wb') as f:\n        image.save(f, format='JPEG')\n"
        "    open(p).read()\n    p.open('rb')\n    text = yaml.safe_dump(state)\n    history.save(p)\n"
    )
    assert _direct_writes(module, tmp_path) == []
    for qualname in ATOMIC_SAVES.values():  # the allowed saves really are atomic
        module_name, cls, method = qualname.rsplit(".", 2)
        source = inspect.getsource(getattr(getattr(__import__(module_name, fromlist=[cls]), cls), method))
        assert re.search(r"\bwrite_(csv|text|json|bytes)\(|atomic_open\(", source), qualname


def test_lightning_checkpoints_are_saved_through_a_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``TorchCheckpointIO.save_checkpoint`` -> ``_atomic_save``: bytes go to a temporary file that
    fsspec's transaction moves into place on commit; a kill before the move keeps the old file."""
    from fsspec.implementations.local import LocalFileOpener
    from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
    from lightning.fabric.utilities.cloud_io import _atomic_save

    assert "_atomic_save(" in inspect.getsource(TorchCheckpointIO.save_checkpoint)
    last = tmp_path / "last.ckpt"
    _atomic_save({"epoch": 1}, last)

    def killed(self: LocalFileOpener) -> None:
        raise KeyboardInterrupt  # the process dies after writing the temporary file, before the move

    monkeypatch.setattr(LocalFileOpener, "commit", killed)
    with pytest.raises(KeyboardInterrupt):
        _atomic_save({"epoch": 2}, last)
    assert torch.load(last, weights_only=True) == {"epoch": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]
