"""The training configuration: frozen dataclasses, YAML files and ``key=value`` overrides.

A config is read from YAML (sections ``data``, ``model``, ``adv``, ``train``), then
overridden key by key from the command line, then checked once in ``__post_init__``::

    config = load_config("configs/fgsm_rs.yaml", {"adv.eps": "8/255", "lr": "0.01"})
    save_config(config, "runs/x/config.yaml")

An override key is ``section.field`` or just ``field`` when the name is unique
(``lr``, ``eps``, ``manifest``); ``adv`` alone means ``adv.method``. Values are
strings parsed by the field's type: floats accept fractions (``4/255``), ``none``
or ``null`` clears an optional field.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dfrobust.atomicio import write_text
from dfrobust.attacks.registry import attack_names
from dfrobust.eps import parse_fraction
from dfrobust.errors import DfrobustError

BALANCE_MODES = ("sampler", "weight", "none")
OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("cosine", "onecycle")
PRECISIONS = ("32-true", "32", "bf16-mixed", "16-mixed", "bf16-true", "64-true")
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps")
ALIASES = {"adv": "adv.method", "device": "train.device"}


def _check_choice(name: str, value: Any, choices: tuple) -> None:
    if value not in choices:
        raise DfrobustError(f"Expected {name} to be one of {', '.join(choices)}, but got {value!r}")


def _check_range(name: str, value: float, low: float, high: float, hint: str = "") -> None:
    if not low <= value <= high:
        raise DfrobustError(f"Expected {name} in [{low}, {high}], but got {value}{hint}")


@dataclass(frozen=True)
class DataConfig:
    """Where the frames are and how they are batched.

    ``image_size`` overrides the model's input size (square side in pixels);
    ``workers`` None means one per available core. ``methods``: the manipulation methods
    whose fakes train and validate, comma-separated (``Deepfakes``); every real frame is
    kept and the test split stays whole, so per-method results show seen against unseen
    methods (FF++'s cross-manipulation protocol). None: every method.
    """

    manifest: str = ""
    batch_size: int = 64
    workers: int | None = None
    balance: str = "sampler"
    augment: bool = True
    image_size: int | None = None
    methods: str | None = None

    def __post_init__(self) -> None:
        if self.methods is not None and not self.method_list:
            raise DfrobustError(f"Expected data.methods as names like Deepfakes,Face2Face, but got {self.methods!r}")
        _check_choice("data.balance", self.balance, BALANCE_MODES)
        _check_range("data.batch_size", self.batch_size, 1, 1 << 16)
        if self.workers is not None:
            _check_range("data.workers", self.workers, 0, 256)
        if self.image_size is not None:
            _check_range("data.image_size", self.image_size, 8, 4096)

    @property
    def method_list(self) -> tuple[str, ...] | None:
        """``methods`` split at commas, or None for every method."""
        if self.methods is None:
            return None
        return tuple(m.strip() for m in self.methods.split(",") if m.strip())


@dataclass(frozen=True)
class ModelConfig:
    """Which detector: a ``dfrobust.models`` registry name, and its starting weights."""

    name: str = "resnet18"
    pretrained: bool = False
    weights: str | None = None

    def __post_init__(self) -> None:
        if not self.name:
            raise DfrobustError("Expected model.name, e.g. resnet18 or meso4, but got an empty name")


@dataclass(frozen=True)
class AdvConfig:
    """The adversary used for training and the catastrophic-overfitting monitor.

    ``eps``/``alpha`` are in pixel units of [0, 1] images (4/255); ``alpha`` None
    takes the method's default (1.25 eps for FGSM-RS). ``steps`` are PGD-AT's
    steps. The monitor runs PGD-``monitor_steps`` at ``eps`` on the first
    ``monitor_frames`` validation frames and flags a drop of more than
    ``co_drop`` below its best accuracy.
    """

    method: str = "none"
    eps: float = 4 / 255
    alpha: float | None = None
    steps: int = 10
    monitor_frames: int = 256
    monitor_steps: int = 10
    co_drop: float = 0.2

    def __post_init__(self) -> None:
        # Registry names use "_"; "fgsm-rs" (the paper's spelling, older configs) means fgsm_rs.
        object.__setattr__(self, "method", self.method.replace("-", "_"))
        _check_choice("adv.method", self.method, ("none", *attack_names("train")))
        hint = f"; did you mean {self.eps:g}/255?" if self.eps > 1 else ""
        _check_range("adv.eps", self.eps, 0.0, 1.0, hint)
        if self.alpha is not None:
            _check_range("adv.alpha", self.alpha, 0.0, 1.0)
        _check_range("adv.steps", self.steps, 1, 1000)
        _check_range("adv.monitor_frames", self.monitor_frames, 0, 1 << 20)
        _check_range("adv.monitor_steps", self.monitor_steps, 1, 1000)
        _check_range("adv.co_drop", self.co_drop, 0.0, 1.0)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and hardware: everything handed to the Lightning ``Trainer``.

    ``devices`` is an int, ``"auto"`` or a list like ``"0,1"``; ``device`` forces one
    device (``cpu``, ``cuda``, ``cuda:1``) and overrides ``accelerator``/``devices``.
    """

    epochs: int = 10
    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "cosine"
    precision: str = "32-true"
    seed: int = 0
    accelerator: str = "auto"
    devices: int | str = "auto"
    num_nodes: int = 1
    strategy: str = "auto"
    device: str | None = None

    def __post_init__(self) -> None:
        _check_range("train.epochs", self.epochs, 1, 100_000)
        _check_choice("train.optimizer", self.optimizer, OPTIMIZERS)
        _check_range("train.lr", self.lr, 1e-12, 100.0)
        _check_choice("train.schedule", self.schedule, SCHEDULES)
        _check_choice("train.precision", str(self.precision), PRECISIONS)
        _check_choice("train.accelerator", self.accelerator, ACCELERATORS)
        _check_range("train.num_nodes", self.num_nodes, 1, 100_000)
        if self.device is not None and self.device.split(":")[0] not in ("cpu", "cuda", "mps"):
            raise DfrobustError(f"Expected train.device like cpu, cuda or cuda:1, but got {self.device!r}")


@dataclass(frozen=True)
class Config:
    """A whole training run; ``asdict(config)`` is what config.yaml and checkpoints hold."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    adv: AdvConfig = field(default_factory=AdvConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], source: str = "config") -> Config:
        """Build from nested plain values (YAML or a checkpoint); unknown keys are errors."""
        unknown = set(values) - set(SECTIONS)
        if unknown:
            raise DfrobustError(f"{source}: unknown section(s) {sorted(unknown)}; expected {sorted(SECTIONS)}")
        built = {}
        for name, section_cls in SECTIONS.items():
            section = values.get(name) or {}
            if not isinstance(section, Mapping):
                raise DfrobustError(f"{source}: Expected section {name!r} to be a mapping, but got {section!r}")
            types_ = typing.get_type_hints(section_cls)
            built[name] = section_cls(
                **{k: _coerce(f"{name}.{k}", v, types_.get(k), source) for k, v in section.items()}
            )
        return cls(**built)


SECTIONS: dict[str, type] = {"data": DataConfig, "model": ModelConfig, "adv": AdvConfig, "train": TrainConfig}


def config_keys() -> list[str]:
    """Every overridable key as ``section.field``."""
    return [f"{s}.{f.name}" for s, cls in SECTIONS.items() for f in dataclasses.fields(cls)]


def resolve_key(key: str) -> str:
    """Map ``lr``, ``num-nodes``, ``adv`` or ``train.lr`` to the full ``section.field`` key."""
    key = ALIASES.get(key, key).replace("-", "_")
    keys = config_keys()
    if key in keys:
        return key
    matches = [k for k in keys if k.split(".", 1)[1] == key]
    if len(matches) == 1:
        return matches[0]
    raise DfrobustError(f"unknown config key {key!r}; valid keys: {', '.join(keys)}")


def _coerce(key: str, value: Any, hint: Any, source: str) -> Any:
    """Convert a YAML or command-line value to the field's declared type."""
    if hint is None:
        section, name = key.split(".", 1)
        valid = ", ".join(k for k in config_keys() if k.startswith(section + "."))
        raise DfrobustError(f"{source}: unknown key {key!r}; valid keys: {valid}")
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    optional = type(None) in options
    if value is None or (optional and isinstance(value, str) and value.lower() in ("none", "null", "")):
        if optional:
            return None
        raise DfrobustError(f"{source}: {key} needs a value, but got {value!r}")
    for option in (o for o in options if o is not type(None)):
        try:
            return _convert(value, option)
        except (TypeError, ValueError, DfrobustError):
            continue
    names = " or ".join(o.__name__ for o in options)
    raise DfrobustError(f"{source}: Expected {key} to be {names}, but got {value!r}")


def _convert(value: Any, target: type) -> Any:
    if target is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "yes", "1", "on"):
            return True
        if text in ("false", "no", "0", "off"):
            return False
        raise ValueError(value)
    if target is int:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError(value)
        return int(str(value).strip()) if isinstance(value, str) else int(value)
    if target is float:
        return parse_fraction(value)
    if isinstance(value, list):  # a YAML list for a comma-separated setting (data.methods)
        return ",".join(str(v) for v in value)
    return str(value)


def load_config(path: str | os.PathLike | None, overrides: Mapping[str, Any] = ()) -> Config:
    """Read a YAML config (or the defaults when ``path`` is None) and apply overrides.

    Args:
        path: a YAML file with the sections of :class:`Config`.
        overrides: ``{key: value}`` with keys as accepted by :func:`resolve_key`.
    """
    values: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except OSError as e:
            raise DfrobustError(f"cannot read config {path}: {e.strerror or e}") from e
        except yaml.YAMLError as e:
            raise DfrobustError(f"config {path} is not valid YAML: {e}") from e
        if not isinstance(loaded, (dict, type(None))):
            raise DfrobustError(f"config {path}: Expected a mapping of sections, but got {type(loaded).__name__}")
        values = {k: dict(v or {}) if isinstance(v, Mapping) else v for k, v in (loaded or {}).items()}
    for key, value in dict(overrides).items():
        section, name = resolve_key(key).split(".", 1)
        values.setdefault(section, {})[name] = value
    return Config.from_dict(values, source=str(path) if path else "config")


def save_config(config: Config, path: str | os.PathLike) -> None:
    """Write the resolved config as YAML (atomically), the run folder's ``config.yaml``."""
    write_text(path, yaml.safe_dump(asdict(config), sort_keys=False))


def config_differences(a: Config, b: Config) -> list[str]:
    """``section.field`` keys whose values differ between two configs."""
    flat_a, flat_b = _flatten(asdict(a)), _flatten(asdict(b))
    return [k for k in flat_a if flat_a[k] != flat_b.get(k)]


def _flatten(values: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    return {f"{s}.{k}": v for s, section in values.items() for k, v in section.items()}
